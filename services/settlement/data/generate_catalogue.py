"""Generate the demo catalogue (catalogue.csv). Deterministic; the names are real item names, the
codes, classes, prices and restrictions are illustrative, not Quanzhou's published catalogue.

    .venv/bin/python -m services.settlement.data.generate_catalogue > services/settlement/data/catalogue.csv
"""

from __future__ import annotations

import csv
import random
import sys
from decimal import Decimal

from services.settlement.catalogue import COLUMNS

# (name, ATC-like group, forms with base price, class, restriction tag)
WESTERN = [
    ("阿莫西林", "J01CA", ["胶囊 0.25g", "颗粒 0.125g"], "A", ""),
    ("头孢呋辛", "J01DC", ["注射用 0.75g", "片 0.25g"], "A", "day:6"),
    ("头孢曲松", "J01DD", ["注射用 1g"], "A", "day:4"),
    ("头孢哌酮舒巴坦", "J01DD", ["注射用 1.5g"], "B", "day:4"),
    ("美罗培南", "J01DH", ["注射用 0.5g"], "B", "level:2;day:6"),
    ("亚胺培南西司他丁", "J01DH", ["注射用 1g"], "B", "level:2;day:4"),
    ("替加环素", "J01AA", ["注射用 50mg"], "B", "level:3;day:2"),
    ("万古霉素", "J01XA", ["注射用 0.5g"], "B", "level:2;day:4"),
    ("左氧氟沙星", "J01MA", ["片 0.5g", "注射液 0.5g"], "A", "age:18-"),
    ("莫西沙星", "J01MA", ["片 0.4g", "注射液 0.4g"], "B", "age:18-"),
    ("阿奇霉素", "J01FA", ["片 0.25g", "注射用 0.5g"], "A", ""),
    ("克拉霉素", "J01FA", ["片 0.25g"], "A", ""),
    ("甲硝唑", "J01XD", ["片 0.2g", "注射液 0.5g"], "A", ""),
    ("氟康唑", "J02AC", ["胶囊 50mg", "注射液 0.2g"], "A", ""),
    ("伏立康唑", "J02AC", ["片 200mg", "注射用 200mg"], "B", "level:2"),
    ("阿昔洛韦", "J05AB", ["片 0.2g"], "A", ""),
    ("奥司他韦", "J05AH", ["胶囊 75mg", "颗粒 15mg"], "B", "stay:10"),
    ("恩替卡韦", "J05AF", ["片 0.5mg"], "A", ""),
    ("替诺福韦", "J05AF", ["片 300mg"], "B", ""),
    ("奥美拉唑", "A02BC", ["肠溶胶囊 20mg", "注射用 40mg"], "A", "day:2"),
    ("泮托拉唑", "A02BC", ["肠溶片 40mg", "注射用 40mg"], "B", "day:2"),
    ("雷贝拉唑", "A02BC", ["肠溶片 10mg"], "B", ""),
    ("蒙脱石", "A07BC", ["散 3g"], "A", ""),
    ("多潘立酮", "A03FA", ["片 10mg"], "A", ""),
    ("二甲双胍", "A10BA", ["片 0.5g", "缓释片 0.5g"], "A", ""),
    ("格列美脲", "A10BB", ["片 2mg"], "A", ""),
    ("阿卡波糖", "A10BF", ["片 50mg"], "A", ""),
    ("西格列汀", "A10BH", ["片 100mg"], "B", ""),
    ("达格列净", "A10BK", ["片 10mg"], "B", ""),
    ("门冬胰岛素", "A10AB", ["注射液 3ml:300U"], "B", ""),
    ("甘精胰岛素", "A10AE", ["注射液 3ml:300U"], "B", ""),
    ("硝苯地平", "C08CA", ["控释片 30mg"], "A", ""),
    ("氨氯地平", "C08CA", ["片 5mg"], "A", ""),
    ("缬沙坦", "C09CA", ["胶囊 80mg"], "A", ""),
    ("厄贝沙坦", "C09CA", ["片 150mg"], "A", ""),
    ("美托洛尔", "C07AB", ["缓释片 47.5mg", "片 25mg"], "A", ""),
    ("阿托伐他汀", "C10AA", ["片 20mg"], "A", ""),
    ("瑞舒伐他汀", "C10AA", ["片 10mg"], "A", ""),
    ("阿司匹林", "B01AC", ["肠溶片 100mg"], "A", ""),
    ("氯吡格雷", "B01AC", ["片 75mg"], "A", ""),
    ("替格瑞洛", "B01AC", ["片 90mg"], "B", "level:2"),
    ("利伐沙班", "B01AF", ["片 10mg"], "B", ""),
    ("低分子肝素钙", "B01AB", ["注射液 0.4ml:4100IU"], "B", "day:2"),
    ("人血白蛋白", "B05AA", ["注射液 10g"], "B", "level:2;day:2;stay:20"),
    ("氯化钠", "B05XA", ["注射液 0.9% 250ml", "注射液 0.9% 100ml"], "A", ""),
    ("葡萄糖", "B05BA", ["注射液 5% 250ml"], "A", ""),
    ("氯化钾", "B05XA", ["缓释片 0.5g", "注射液 10ml:1.5g"], "A", ""),
    ("呋塞米", "C03CA", ["片 20mg", "注射液 2ml:20mg"], "A", ""),
    ("螺内酯", "C03DA", ["片 20mg"], "A", ""),
    ("地塞米松", "H02AB", ["注射液 1ml:5mg"], "A", ""),
    ("甲泼尼龙", "H02AB", ["片 4mg", "注射用 40mg"], "B", ""),
    ("左甲状腺素", "H03AA", ["片 50μg"], "A", ""),
    ("布洛芬", "M01AE", ["缓释胶囊 0.3g", "混悬液 100ml"], "A", ""),
    ("塞来昔布", "M01AH", ["胶囊 0.2g"], "B", "age:18-"),
    ("对乙酰氨基酚", "N02BE", ["片 0.5g", "口服溶液 100ml"], "A", ""),
    ("吗啡", "N02AA", ["注射液 1ml:10mg", "缓释片 30mg"], "A", "level:2"),
    ("曲马多", "N02AX", ["缓释片 0.1g"], "B", ""),
    ("丙泊酚", "N01AX", ["乳状注射液 20ml:0.2g"], "A", "level:2"),
    ("利多卡因", "N01BB", ["注射液 5ml:0.1g"], "A", ""),
    ("艾司唑仑", "N05CD", ["片 1mg"], "A", ""),
    ("奥氮平", "N05AH", ["片 5mg"], "B", ""),
    ("舍曲林", "N06AB", ["片 50mg"], "B", ""),
    ("丙戊酸钠", "N03AG", ["缓释片 0.5g"], "A", ""),
    ("左乙拉西坦", "N03AX", ["片 0.5g"], "B", ""),
    ("多奈哌齐", "N06DA", ["片 5mg"], "B", "age:50+"),
    ("沙丁胺醇", "R03AC", ["气雾剂 100μg×200揿"], "A", ""),
    ("布地奈德", "R03BA", ["吸入混悬液 2ml:1mg"], "B", "day:2"),
    ("孟鲁司特", "R03DC", ["片 10mg", "咀嚼片 4mg"], "B", ""),
    ("氨溴索", "R05CB", ["片 30mg", "注射液 2ml:15mg"], "A", ""),
    ("氯雷他定", "R06AX", ["片 10mg"], "A", ""),
    ("坦索罗辛", "G04CA", ["缓释胶囊 0.2mg"], "B", "sex:M"),
    ("非那雄胺", "G04CB", ["片 5mg"], "B", "sex:M;age:40+"),
    ("黄体酮", "G03DA", ["软胶囊 0.1g", "注射液 1ml:20mg"], "A", "sex:F"),
    ("缩宫素", "H01BB", ["注射液 1ml:10U"], "A", "sex:F;level:1"),
    ("米非司酮", "G03XB", ["片 25mg"], "B", "sex:F;age:18-"),
    ("雌二醇", "G03CA", ["片 1mg"], "B", "sex:F"),
    ("阿仑膦酸钠", "M05BA", ["片 70mg"], "B", "age:50+"),
    ("骨化三醇", "A11CC", ["软胶囊 0.25μg"], "B", ""),
    ("维生素B12", "B03BA", ["注射液 1ml:0.5mg"], "A", ""),
    ("重组人促红素", "B03XA", ["注射液 3000IU"], "B", "level:2"),
    ("紫杉醇", "L01CD", ["注射液 5ml:30mg"], "B", "level:2"),
    ("顺铂", "L01XA", ["注射液 6ml:30mg"], "A", "level:2"),
    ("奥沙利铂", "L01XA", ["注射用 50mg"], "B", "level:2"),
    ("吉非替尼", "L01EB", ["片 250mg"], "B", "level:2"),
    ("奥希替尼", "L01EB", ["片 80mg"], "B", "level:3"),
    ("曲妥珠单抗", "L01FD", ["注射用 150mg"], "B", "level:3"),
    ("信迪利单抗", "L01FF", ["注射液 10ml:100mg"], "B", "level:3"),
    ("他克莫司", "L04AD", ["胶囊 1mg"], "B", "level:3"),
    ("昂丹司琼", "A04AA", ["注射液 2ml:4mg"], "B", "day:3"),
    ("小儿氨酚黄那敏", "N02BE", ["颗粒 6袋"], "B", "age:-14"),
    ("小儿布洛芬", "M01AE", ["栓 50mg"], "B", "age:-12"),
    ("口服补液盐Ⅲ", "A07CA", ["散 5.125g"], "A", "age:-14"),
    ("七氟烷", "N01AB", ["吸入用 250ml"], "B", "level:2"),
    ("乙肝人免疫球蛋白", "J06BB", ["注射液 200IU"], "C", "sex:F"),
]

TCM = [
    ("连花清瘟胶囊", ["0.35g×24粒"], "A", ""),
    ("复方丹参滴丸", ["27mg×180丸"], "A", ""),
    ("银黄颗粒", ["4g×10袋"], "A", ""),
    ("板蓝根颗粒", ["10g×20袋"], "A", ""),
    ("六味地黄丸", ["浓缩丸 200丸"], "A", ""),
    ("逍遥丸", ["水丸 6g×10袋"], "A", ""),
    ("藿香正气水", ["10ml×10支"], "A", ""),
    ("安宫牛黄丸", ["3g×1丸"], "B", "level:2;stay:6"),
    ("速效救心丸", ["40mg×180粒"], "A", ""),
    ("血塞通注射液", ["2ml:100mg"], "B", "level:2;day:4"),
    ("丹红注射液", ["10ml"], "B", "level:2;day:4"),
    ("参麦注射液", ["20ml"], "B", "level:2;day:3"),
    ("痰热清注射液", ["10ml"], "B", "level:2;day:2"),
    ("喜炎平注射液", ["2ml:50mg"], "B", "level:2;day:4"),
    ("通心络胶囊", ["0.26g×30粒"], "B", ""),
    ("脑心通胶囊", ["0.4g×48粒"], "B", ""),
    ("稳心颗粒", ["9g×9袋"], "B", ""),
    ("金水宝胶囊", ["0.33g×63粒"], "B", ""),
    ("百令胶囊", ["0.5g×42粒"], "B", ""),
    ("片仔癀", ["3g×1粒"], "C", ""),
    ("云南白药胶囊", ["0.25g×32粒"], "A", ""),
    ("三七伤药片", ["0.3g×36片"], "A", ""),
    ("小儿豉翘清热颗粒", ["2g×6袋"], "B", "age:-14"),
    ("小儿肺热咳喘口服液", ["10ml×6支"], "B", "age:-14"),
    ("妇科千金片", ["0.32g×72片"], "A", "sex:F"),
    ("桂枝茯苓胶囊", ["0.31g×60粒"], "A", "sex:F"),
    ("益母草颗粒", ["15g×10袋"], "A", "sex:F"),
    ("前列舒通胶囊", ["0.4g×36粒"], "B", "sex:M"),
    ("癃闭舒胶囊", ["0.3g×36粒"], "B", "sex:M"),
    ("养血清脑颗粒", ["4g×15袋"], "B", ""),
    ("复方血栓通胶囊", ["0.5g×36粒"], "B", ""),
    ("蓝芩口服液", ["10ml×12支"], "B", ""),
    ("清开灵颗粒", ["3g×20袋"], "A", ""),
    ("双黄连口服液", ["10ml×10支"], "A", ""),
    ("仙灵骨葆胶囊", ["0.5g×40粒"], "B", "age:40+"),
    ("麝香保心丸", ["22.5mg×42丸"], "A", ""),
    ("苏合香丸", ["3g×10丸"], "A", ""),
    ("季德胜蛇药片", ["0.4g×30片"], "A", ""),
    ("马应龙麝香痔疮膏", ["10g"], "A", ""),
    ("强力枇杷露", ["150ml"], "C", ""),
]

SERVICES = [
    ("普通门诊诊查费", "1102", 6, "A", ""),
    ("副主任医师门诊诊查费", "1102", 15, "A", "level:2"),
    ("主任医师门诊诊查费", "1102", 25, "A", "level:3"),
    ("急诊监护费", "1104", 40, "A", "day:1"),
    ("普通病房床位费(三人间)", "1105", 35, "A", "day:1"),
    ("普通病房床位费(双人间)", "1105", 60, "A", "day:1"),
    ("重症监护病房床位费", "1105", 180, "A", "level:2;day:1"),
    ("住院诊查费", "1106", 20, "A", "day:1"),
    ("一级护理", "1203", 36, "A", "day:1"),
    ("二级护理", "1203", 22, "A", "day:1"),
    ("特级护理", "1203", 120, "A", "level:2;day:1"),
    ("静脉输液", "1206", 8, "A", "day:4"),
    ("肌肉注射", "1206", 3, "A", "day:4"),
    ("氧气吸入", "1207", 3, "A", "day:24"),
    ("雾化吸入", "1208", 8, "A", "day:3"),
    ("导尿", "1209", 25, "A", "day:2"),
    ("血常规检查", "2503", 20, "A", "day:2"),
    ("尿常规检查", "2503", 10, "A", "day:2"),
    ("肝功能检查", "2504", 60, "A", "day:1"),
    ("肾功能检查", "2504", 40, "A", "day:1"),
    ("血脂四项", "2504", 40, "A", ""),
    ("糖化血红蛋白测定", "2504", 55, "A", ""),
    ("C反应蛋白测定", "2505", 30, "A", "day:1"),
    ("降钙素原检测", "2505", 150, "B", "day:1"),
    ("凝血四项", "2503", 80, "A", "day:1"),
    ("乙肝两对半定量", "2505", 90, "A", ""),
    ("心肌酶谱", "2504", 90, "A", "day:2"),
    ("常规心电图", "3101", 25, "A", "day:2"),
    ("动态心电图", "3101", 180, "A", ""),
    ("腹部彩色多普勒超声", "2204", 160, "A", ""),
    ("心脏彩色多普勒超声", "2204", 220, "A", ""),
    ("胸部X线摄影", "2101", 70, "A", ""),
    ("头颅CT平扫", "2103", 220, "A", "level:2"),
    ("胸部CT平扫", "2103", 220, "A", "level:2"),
    ("上腹部CT增强", "2103", 500, "B", "level:2"),
    ("头颅磁共振平扫", "2104", 450, "B", "level:2"),
    ("腰椎磁共振平扫", "2104", 450, "B", "level:2"),
    ("正电子发射断层扫描(PET/CT)", "2301", 7000, "C", "level:3"),
    ("电子胃镜检查", "3107", 260, "A", ""),
    ("电子结肠镜检查", "3107", 320, "A", ""),
    ("血液透析", "3109", 400, "A", "level:2;day:1"),
    ("腹膜透析", "3109", 120, "A", "day:1"),
    ("经皮冠状动脉支架置入术", "3311", 4200, "A", "level:3"),
    ("冠状动脉造影术", "3311", 1800, "A", "level:3"),
    ("腹腔镜胆囊切除术", "3313", 2200, "A", "level:2"),
    ("阑尾切除术", "3313", 900, "A", ""),
    ("腹股沟疝修补术", "3313", 1000, "A", ""),
    ("全髋关节置换术", "3315", 4800, "A", "level:2"),
    ("全膝关节置换术", "3315", 4800, "A", "level:2"),
    ("白内障超声乳化摘除术", "3304", 1800, "A", "level:2"),
    ("剖宫产术", "3314", 1600, "A", "sex:F;level:1"),
    ("单胎顺产接生", "3314", 800, "A", "sex:F"),
    ("经尿道前列腺电切术", "3312", 2400, "A", "sex:M;level:2"),
    ("子宫肌瘤剔除术", "3314", 2000, "A", "sex:F;level:2"),
    ("乳腺癌改良根治术", "3308", 3200, "A", "level:2"),
    ("全身麻醉", "3302", 800, "A", "level:2"),
    ("椎管内麻醉", "3302", 500, "A", ""),
    ("针刺", "4101", 15, "A", "day:1"),
    ("艾灸", "4101", 15, "B", "day:1"),
    ("推拿治疗", "4102", 30, "B", "day:1"),
    ("中药熏洗治疗", "4103", 30, "B", "day:1"),
    ("康复评定", "3404", 60, "A", ""),
    ("运动疗法", "3404", 50, "A", "day:2"),
    ("新生儿护理", "1203", 25, "A", "age:-0;day:1"),
    ("儿童智力测验", "3103", 60, "A", "age:-14"),
    ("骨密度测定", "2101", 90, "B", "age:50+"),
    ("近视激光矫正术", "3304", 6000, "C", ""),
    ("牙齿美白", "3310", 800, "C", ""),
]

CONSUMABLES = [
    ("一次性使用输液器", "01", 3, "A", "day:4"),
    ("一次性使用无菌注射器", "01", 1, "A", "day:10"),
    ("留置针", "01", 25, "A", "stay:6"),
    ("导尿包", "02", 30, "A", "stay:4"),
    ("中心静脉导管", "02", 450, "B", "level:2;stay:2"),
    ("冠状动脉药物洗脱支架", "03", 800, "B", "level:3;stay:3"),
    ("PTCA球囊扩张导管", "03", 600, "B", "level:3;stay:3"),
    ("心脏起搏器(双腔)", "03", 26000, "B", "level:3;stay:1"),
    ("人工髋关节(陶瓷-聚乙烯)", "04", 7200, "B", "level:2;stay:2"),
    ("人工膝关节", "04", 5500, "B", "level:2;stay:2"),
    ("人工晶状体(非球面)", "05", 1200, "B", "level:2;stay:2"),
    ("人工晶状体(多焦点)", "05", 9000, "C", ""),
    ("一次性使用腔镜吻合器", "06", 3800, "B", "level:2;stay:2"),
    ("一次性使用切口保护套", "06", 180, "B", "stay:1"),
    ("可吸收缝线", "06", 90, "B", "stay:6"),
    ("疝修补补片", "06", 1600, "B", "stay:1"),
    ("骨科接骨板", "07", 2600, "B", "level:2;stay:3"),
    ("骨科螺钉", "07", 300, "B", "level:2;stay:12"),
    ("椎间融合器", "07", 6000, "B", "level:3;stay:2"),
    ("医用纱布敷料", "08", 5, "A", "day:6"),
    ("水胶体敷料", "08", 60, "B", "day:2"),
    ("负压引流装置", "08", 350, "B", "stay:3"),
    ("一次性使用吸痰管", "09", 3, "A", "day:12"),
    ("气管插管", "09", 60, "A", "stay:3"),
    ("一次性使用呼吸管路", "09", 150, "B", "stay:3"),
    ("血液透析器", "10", 150, "B", "day:1"),
    ("血液透析管路", "10", 60, "A", "day:1"),
    ("胰岛素笔用针头", "11", 2, "B", "day:4"),
    ("血糖试纸", "11", 4, "B", "day:7"),
    ("心电电极片", "12", 1, "A", "day:10"),
    ("一次性使用无菌手套", "12", 2, "A", "day:20"),
    ("医用外科口罩", "12", 1, "C", ""),
    ("弹力绷带", "13", 15, "A", "stay:6"),
    ("医用石膏绷带", "13", 20, "A", "stay:6"),
    ("医用冰袋", "13", 10, "C", ""),
    ("宫内节育器", "14", 120, "B", "sex:F"),
    ("输尿管支架管", "15", 900, "B", "level:2;stay:2"),
    ("造影导管", "03", 400, "B", "level:3;stay:3"),
    ("止血夹", "06", 120, "B", "stay:10"),
    ("一次性使用电子内镜活检钳", "06", 80, "B", "stay:4"),
]

FORM_CODES = {"片": "01", "胶": "02", "颗": "03", "注": "04", "缓": "05", "肠": "06", "软": "07"}


def apply_tag(tag: str, row: dict[str, str]) -> None:
    for part in filter(None, tag.split(";")):
        kind, _, value = part.partition(":")
        if kind == "sex":
            row["sex"] = value
        elif kind == "age":
            low, _, high = value.partition("-") if "-" in value else (value.rstrip("+"), "", "")
            row["min_age"] = low.rstrip("+")
            row["max_age"] = high
        elif kind == "level":
            row["min_institution_level"] = value
        elif kind == "day":
            row["max_qty_per_day"] = value
        elif kind == "stay":
            row["max_qty_per_stay"] = value


def money(value: float | Decimal) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def rows() -> list[dict[str, str]]:
    rng = random.Random(350500)
    out: list[dict[str, str]] = []

    def add(code: str, name: str, category: str, cls: str, price: float, tag: str, **extra: str) -> None:
        row = dict.fromkeys(COLUMNS, "")
        row.update(code=code, name=name, category=category, **{"class": cls})
        if cls == "B":
            row["preselfpay_ratio"] = rng.choice(["0.05", "0.10", "0.10", "0.15", "0.20"])
            if category == "医用耗材":
                row["preselfpay_ratio"] = rng.choice(["0.20", "0.30"])
        if cls != "C":
            row["limit_price"] = money(price)
        apply_tag(tag, row)
        row["valid_from"] = "2026-01-01"
        row.update(extra)
        out.append(row)

    for i, (name, atc, forms, cls, tag) in enumerate(WESTERN, start=1):
        for j, form in enumerate(forms, start=1):
            fc = FORM_CODES.get(form[0], "09")
            code = f"X{atc}{i:03d}{fc}{j:02d}"
            base = rng.choice([0.8, 1.5, 3.2, 6.5, 12, 18, 35, 68, 120, 260]) * (4 if form.startswith("注") else 1)
            if atc.startswith("L01") or atc.startswith("L04"):
                base *= 20
            add(code, f"{name}{form}", "西药", cls, base, tag)
    for i, (name, specs, cls, tag) in enumerate(TCM, start=1):
        for j, spec in enumerate(specs, start=1):
            price = rng.choice([12, 18.5, 26, 32, 45, 58, 86]) * (3 if "注射液" in name else 1)
            if "安宫" in name or "片仔癀" in name:
                price = 480
            add(f"Z{i:04d}{j:02d}0001", f"{name} {spec}", "中成药", cls, price, tag)
    for i, (name, group, price, cls, tag) in enumerate(SERVICES, start=1):
        add(f"00{group}{i:04d}0000", name, "诊疗项目", cls, price, tag)
    for i, (name, group, price, cls, tag) in enumerate(CONSUMABLES, start=1):
        for j, spec in enumerate(("常规型", "加强型"), start=1):
            add(f"C{group}{i:03d}{j:02d}0000", f"{name}({spec})", "医用耗材", cls, price * (1 + 0.35 * (j - 1)), tag)
    # A mid-year price cut: old version valid to 30 June, new version from 1 July (国谈续约降价).
    for row in [r for r in out if r["class"] == "B" and r["category"] == "西药"][:12]:
        row["valid_to"] = "2026-06-30"
        new = dict(row)
        new["valid_from"], new["valid_to"] = "2026-07-01", ""
        new["limit_price"] = money(Decimal(row["limit_price"]) * Decimal("0.85"))
        out.append(new)
    # Local items: Quanzhou hospital preparations (医疗机构制剂) and one of Fuzhou's, not valid in Quanzhou.
    for i, name in enumerate(["泉州清热合剂", "复方土茯苓颗粒", "金银花露", "消肿止痛膏"], start=1):
        add(f"Z350500{i:03d}0001", f"{name}(院内制剂)", "中成药", "B", 18 + 6 * i, "", region="350500")
    add("Z3501000010001", "福州止咳合剂(院内制剂)", "中成药", "B", 22, "", region="350100")
    # An item dropped from the catalogue at the end of 2025.
    add("XB05XA99901", "转化糖电解质注射液 250ml", "西药", "B", 25, "", valid_from="2024-01-01", valid_to="2025-12-31")
    return out


def main() -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows())


if __name__ == "__main__":
    main()
