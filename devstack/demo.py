"""Demo data through the gateway, the way real clients would send it."""

from __future__ import annotations

import io
import json
import random
import time
import uuid
from datetime import date, timedelta

import httpx

from devstack.infra import REPO_ROOT
from devstack.tokens import development_token
from shared.auth import Role

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# Quanzhou's county-level units (晋江 350582 first: the LTC pilot county).
REGIONS = ("350582", "350583", "350503", "350504", "350505", "350521", "350524", "350525", "350526")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰志红梅建文辉"
# Codes of the demo catalogue (services/settlement/data/catalogue.csv), priced within the limit price.
ITEMS = (
    ("XJ01CA0010201", "12.50"),  # 阿莫西林胶囊, 甲类
    ("XA02BC0220601", "36.80"),  # 雷贝拉唑肠溶片, 乙类 (10% 先行自付)
    ("00110200010000", "6.00"),  # 普通门诊诊查费
    ("00250300170000", "18.00"),  # 血常规检查 (at most 2 a day: the rest is self-paid)
)
SETTLEMENT_DATA = REPO_ROOT / "services" / "settlement" / "data"
# 定点医药机构 (illustrative): the first is the one the demo hospital token and the e2e tests use.
INSTITUTIONS: tuple[dict[str, object], ...] = (
    {"code": "H35058200001", "name": "晋江市医院", "level": 3, "region_code": "350582", "institution_type": "hospital"},
    {"code": "H35058200002", "name": "晋江市中医院", "level": 2, "region_code": "350582", "institution_type": "hospital"},
    {"code": "H35050300001", "name": "泉州市鲤城区人民医院", "level": 2, "region_code": "350503",
     "institution_type": "hospital"},
    {"code": "C35058200101", "name": "晋江市青阳街道社区卫生服务中心", "level": 1, "region_code": "350582",
     "institution_type": "clinic"},
    {"code": "P35058200201", "name": "晋江市定点零售药店", "level": 0, "region_code": "350582",
     "institution_type": "pharmacy"},
)  # fmt: skip


class DemoDataError(RuntimeError):
    def __init__(self, answer: httpx.Response) -> None:
        super().__init__(
            f"{answer.request.method} {answer.request.url.path} answered {answer.status_code}: {answer.text}"
        )


def resident_id(rng: random.Random, region: str) -> str:
    born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 80))
    first17 = f"{region}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
    check = _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]
    return first17 + check


def load_reference(gateway: str) -> dict[str, int]:
    """Settlement's reference data through the ops routes: catalogue, policies, institutions.

    Idempotent: the catalogue is replaced by the same file, the same policy versions are no-ops, the
    institutions are PUT.
    """
    ops = {"Authorization": f"Bearer {development_token(Role.OPS, 'demo-ops')}"}
    csv_headers = {**ops, "Content-Type": "text/csv; charset=utf-8"}
    with httpx.Client(base_url=gateway, timeout=30) as client:
        catalogue = client.put(
            "/api/v1/settlement/catalogue",
            content=(SETTLEMENT_DATA / "catalogue.csv").read_bytes(),
            headers=csv_headers,
        )
        if catalogue.status_code != 200:
            raise DemoDataError(catalogue)
        policies = client.post(
            "/api/v1/settlement/policies",
            content=(SETTLEMENT_DATA / "policies.csv").read_bytes(),
            headers=csv_headers,
        )
        if policies.status_code != 200:
            raise DemoDataError(policies)
        for institution in INSTITUTIONS:
            body = {k: v for k, v in institution.items() if k != "code"}
            answer = client.put(f"/api/v1/settlement/institutions/{institution['code']}", json=body, headers=ops)
            if answer.status_code != 200:
                raise DemoDataError(answer)
    loaded = policies.json()
    return {
        "catalogue items": catalogue.json()["items"],
        "policy versions": len(loaded["inserted"]) + len(loaded["unchanged"]),
        "institutions": len(INSTITUTIONS),
    }


def demo_enrollment(rng: random.Random, scheme: str, year: int, region: str) -> dict[str, object]:
    """An enrollment paid at once: employees with an employer and a monthly base, some residents 资助参保."""
    body: dict[str, object] = {"scheme": scheme, "year": year, "region_code": region, "contribution": {}}
    if scheme == "employee":
        body["employer_code"] = f"91{region}DEMO{rng.randrange(1, 50):04d}"
        body["contribution_base"] = f"{rng.randrange(4000, 20001, 500)}.00"
    elif rng.random() < 0.08:
        body["assistance_category"] = rng.choice(["extreme_poverty", "minimum_living", "poverty_risk"])
    return body


def load_population(client: httpx.Client, ops: dict[str, str], persons: int, seed: int) -> int:
    """A small synthetic Jinjiang population (villages and grids) through the batch import, so coverage by
    region has something to show. Idempotent: a re-run reports the rows as unchanged."""
    from devstack.population import generate, write_csv  # population builds on this module's names

    out = io.StringIO()
    write_csv(generate(persons, seed=seed), out)
    answer = client.post(
        "/api/v1/enrollment/imports/persons",
        content=out.getvalue().encode(),
        headers={**ops, "Content-Type": "text/csv"},
        timeout=120,
    )
    if answer.status_code != 200:
        raise DemoDataError(answer)
    report = answer.json()
    applied: int = report["applied"] + report["unchanged"]
    print(f"    population {applied}/{persons} (batch import, {len(report['rejected'])} rejected)")
    return applied


def load(
    gateway: str, *, persons: int = 40, settlements: int = 20, seed: int = 2026, population: int = 300
) -> dict[str, int]:
    rng = random.Random(seed)
    load_reference(gateway)
    ops = {"Authorization": f"Bearer {development_token(Role.OPS, 'demo-ops')}"}
    hospital = {"Authorization": f"Bearer {development_token(Role.HOSPITAL, 'demo-his', institution='H35058200001')}"}
    year = date.today().year
    registered: list[str] = []
    with httpx.Client(base_url=gateway, timeout=15) as client:
        for i in range(persons):
            region = rng.choice(REGIONS)
            body = {
                "id_number": resident_id(rng, region),
                "name": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                "hukou_region_code": region,
                "residence_region_code": region,
            }
            answer = client.post("/api/v1/enrollment/persons", json=body, headers=ops)
            if answer.status_code not in (201, 409):  # 409: loaded by an earlier run
                raise DemoDataError(answer)
            person_no = answer.json()["person_no"]
            registered.append(person_no)
            scheme = "employee" if rng.random() < 0.45 else "resident"
            enrolled = client.post(
                f"/api/v1/enrollment/persons/{person_no}/enrollments",
                json=demo_enrollment(rng, scheme, year, region),
                headers=ops,
            )
            if enrolled.status_code not in (201, 409):
                raise DemoDataError(enrolled)
            print(f"\r    persons {i + 1}/{persons}", end="", flush=True)
        print()
        settled = 0
        deadline = time.monotonic() + 60
        for i in range(settlements):
            person_no = registered[i % len(registered)]
            lines = [
                {"item_code": code, "quantity": rng.randint(1, 40 if n == 0 else 5), "unit_price": price}
                for n, (code, price) in enumerate(rng.sample(ITEMS, k=rng.randint(1, len(ITEMS))))
            ]
            visit = "inpatient" if rng.random() < 0.3 else "outpatient"
            admitted = date.today() - timedelta(days=rng.randint(3, 10))
            claim: dict[str, object] = {
                "person_no": person_no,
                "visit_type": visit,
                "admitted_on": admitted.isoformat(),
                "discharged_on": (
                    admitted + timedelta(days=rng.randint(1, 3) if visit == "inpatient" else 0)
                ).isoformat(),
                "practitioner_code": f"D35058200{rng.randint(1, 9)}",
                "diagnoses": [rng.choice(["J18.9", "I10", "E11.9", "K35.8"])],
                "lines": lines,
            }
            # The key follows the body: a re-run replays the same claims instead of adding more.
            key = str(uuid.uuid5(uuid.NAMESPACE_URL, "demo:" + json.dumps(claim, sort_keys=True)))
            while True:
                answer = client.post(
                    "/api/v1/settlement/settlements", json=claim, headers={**hospital, "Idempotency-Key": key}
                )
                # Eligibility reaches settlement through events; wait for it the first time.
                if answer.status_code == 422 and time.monotonic() < deadline:
                    time.sleep(0.3)
                    continue
                if answer.status_code != 201:
                    raise DemoDataError(answer)
                break
            settled += 1
            print(f"\r    settlements {settled}/{settlements}", end="", flush=True)
        print()
        imported = load_population(client, ops, population, seed) if population else 0
    return {"persons": len(registered), "settlements": settled, "population": imported}
