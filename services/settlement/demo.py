"""Demo inpatient stays (住院) for Quanzhou 2026, priced from the demo catalogue. Pure data.

Each stay lists items by their catalogue name (resolved to codes by `stay_lines`) with quantity and
unit price; prices are the catalogue limit price unless a line says otherwise. Illustrative bills,
not real patients.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from services.settlement.service import CatalogueItem, LineInput


@dataclass(frozen=True)
class DemoStay:
    label: str
    institution_level: int
    days: int
    sex: Literal["M", "F"]
    age: int
    admitted: date
    items: tuple[tuple[str, int, Decimal | None], ...]  # (catalogue name, quantity, unit price or limit price)


def _ward(days: int, *, icu: int = 0, level1: bool = False) -> tuple[tuple[str, int, Decimal | None], ...]:
    return (
        ("普通病房床位费(三人间)", days - icu, None),
        ("重症监护病房床位费", icu, None),
        ("住院诊查费", days, None),
        ("一级护理" if level1 else "二级护理", days, None),
        ("血常规检查", 3, None),
        ("肝功能检查", 2, None),
        ("肾功能检查", 2, None),
        ("常规心电图", 1, None),
        ("静脉输液", days * 2, None),
        ("一次性使用输液器(常规型)", days * 2, None),
        ("氯化钠注射液 0.9% 250ml", days * 2, None),
    )


DEMO_STAYS: tuple[DemoStay, ...] = (
    DemoStay(
        "community-acquired pneumonia, secondary hospital",
        2,
        8,
        "M",
        67,
        date(2026, 3, 2),
        (
            *_ward(8),
            ("头孢哌酮舒巴坦注射用 1.5g", 16, None),
            ("阿奇霉素注射用 0.5g", 5, None),
            ("氨溴索注射液 2ml:15mg", 16, None),
            ("C反应蛋白测定", 3, None),
            ("降钙素原检测", 2, None),
            ("胸部CT平扫", 1, None),
            ("雾化吸入", 16, None),
            ("布地奈德吸入混悬液 2ml:1mg", 16, None),
            ("痰热清注射液 10ml", 8, None),
            ("连花清瘟胶囊 0.35g×24粒", 1, None),
        ),
    ),
    DemoStay(
        "laparoscopic cholecystectomy, secondary hospital",
        2,
        6,
        "F",
        52,
        date(2026, 4, 10),
        (
            *_ward(6),
            ("腹腔镜胆囊切除术", 1, None),
            ("全身麻醉", 1, None),
            ("丙泊酚乳状注射液 20ml:0.2g", 2, None),
            ("腹部彩色多普勒超声", 1, None),
            ("一次性使用腔镜吻合器(常规型)", 1, None),
            ("可吸收缝线(常规型)", 3, None),
            ("头孢呋辛注射用 0.75g", 6, None),
            ("泮托拉唑注射用 40mg", 6, None),
            ("止血夹(常规型)", 4, None),
        ),
    ),
    DemoStay(
        "total hip replacement, tertiary hospital",
        3,
        12,
        "F",
        71,
        date(2026, 5, 6),
        (
            *_ward(12, level1=True),
            ("全髋关节置换术", 1, None),
            ("全身麻醉", 1, None),
            ("人工髋关节(陶瓷-聚乙烯)(加强型)", 1, None),
            ("骨科螺钉(常规型)", 3, None),
            ("低分子肝素钙注射液 0.4ml:4100IU", 12, None),
            ("头孢呋辛注射用 0.75g", 9, None),
            ("运动疗法", 10, None),
            ("康复评定", 2, None),
            ("人血白蛋白注射液 10g", 4, None),
        ),
    ),
    DemoStay(
        "acute myocardial infarction with PCI, tertiary hospital",
        3,
        9,
        "M",
        63,
        date(2026, 2, 14),
        (
            *_ward(9, icu=3, level1=True),
            ("冠状动脉造影术", 1, None),
            ("经皮冠状动脉支架置入术", 1, None),
            ("冠状动脉药物洗脱支架(常规型)", 2, None),
            ("PTCA球囊扩张导管(常规型)", 2, None),
            ("造影导管(常规型)", 2, None),
            ("替格瑞洛片 90mg", 18, None),
            ("阿司匹林肠溶片 100mg", 9, None),
            ("阿托伐他汀片 20mg", 9, None),
            ("心肌酶谱", 4, None),
            ("心脏彩色多普勒超声", 1, None),
            ("动态心电图", 1, None),
            ("丹红注射液 10ml", 14, None),
        ),
    ),
    DemoStay(
        "appendectomy, primary hospital",
        1,
        5,
        "M",
        34,
        date(2026, 6, 20),
        (
            *_ward(5),
            ("阑尾切除术", 1, None),
            ("椎管内麻醉", 1, None),
            ("甲硝唑注射液 0.5g", 10, None),
            ("头孢曲松注射用 1g", 5, None),
            ("可吸收缝线(常规型)", 2, None),
            ("一次性使用切口保护套(常规型)", 1, None),
        ),
    ),
    DemoStay(
        "caesarean section, secondary hospital",
        2,
        5,
        "F",
        29,
        date(2026, 8, 3),
        (
            *_ward(5),
            ("剖宫产术", 1, None),
            ("椎管内麻醉", 1, None),
            ("缩宫素注射液 1ml:10U", 4, None),
            ("头孢呋辛注射用 0.75g", 6, None),
            ("可吸收缝线(常规型)", 3, None),
            ("导尿包(常规型)", 1, None),
            ("益母草颗粒 15g×10袋", 1, None),
            ("医用外科口罩(常规型)", 10, None),
        ),
    ),
    DemoStay(
        "ischaemic stroke, tertiary hospital",
        3,
        14,
        "M",
        74,
        date(2026, 9, 12),
        (
            *_ward(14, level1=True),
            ("头颅磁共振平扫", 1, None),
            ("头颅CT平扫", 2, None),
            ("血塞通注射液 2ml:100mg", 28, None),
            ("阿司匹林肠溶片 100mg", 14, None),
            ("氯吡格雷片 75mg", 14, None),
            ("瑞舒伐他汀片 10mg", 14, None),
            ("针刺", 10, None),
            ("运动疗法", 20, None),
            ("康复评定", 2, None),
            ("安宫牛黄丸 3g×1丸", 8, None),
        ),
    ),
    DemoStay(
        "COPD exacerbation, primary hospital",
        1,
        7,
        "M",
        78,
        date(2026, 11, 5),
        (
            *_ward(7),
            ("左氧氟沙星注射液 0.5g", 7, None),
            ("甲泼尼龙注射用 40mg", 5, None),
            ("沙丁胺醇气雾剂 100μg×200揿", 1, None),
            ("氧气吸入", 120, None),
            ("雾化吸入", 14, None),
            ("胸部X线摄影", 1, None),
            ("氨溴索片 30mg", 21, None),
        ),
    ),
    DemoStay(
        "breast cancer surgery and first chemotherapy, tertiary hospital",
        3,
        16,
        "F",
        49,
        date(2026, 10, 8),
        (
            *_ward(16, level1=True),
            ("乳腺癌改良根治术", 1, None),
            ("全身麻醉", 1, None),
            ("紫杉醇注射液 5ml:30mg", 8, None),
            ("曲妥珠单抗注射用 150mg", 3, None),
            ("昂丹司琼注射液 2ml:4mg", 12, None),
            ("负压引流装置(常规型)", 1, None),
            ("重组人促红素注射液 3000IU", 4, None),
            ("正电子发射断层扫描(PET/CT)", 1, None),
        ),
    ),
)


def stay_lines(stay: DemoStay, catalogue: dict[str, CatalogueItem]) -> tuple[LineInput, ...]:
    """The stay's lines with codes and prices from the catalogue (names must resolve; zero quantities dropped)."""
    by_name = {item.name: item for item in catalogue.values()}
    lines: list[LineInput] = []
    for name, quantity, price in stay.items:
        if quantity == 0:
            continue
        item = by_name.get(name)
        if item is None:
            raise KeyError(f"demo stay {stay.label!r}: no catalogue item named {name!r}")
        unit = price if price is not None else (item.limit_price or Decimal("50.00"))
        lines.append(LineInput(item_code=item.code, quantity=quantity, unit_price=unit))
    return tuple(lines)
