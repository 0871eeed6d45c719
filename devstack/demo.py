"""Demo data through the gateway, the way real clients would send it."""

from __future__ import annotations

import io
import json
import random
import time
import uuid
from datetime import date, timedelta

import httpx

from devstack.tokens import development_token
from shared.auth import Role

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# Quanzhou's county-level units (晋江 350582 first: the LTC pilot county).
REGIONS = ("350582", "350583", "350503", "350504", "350505", "350521", "350524", "350525", "350526")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰志红梅建文辉"
ITEMS = (
    ("XA01AAA001", "12.50"),  # a class-A drug
    ("XB05BAC002", "36.80"),  # a class-B drug
    ("001102000010000", "25.00"),  # a consultation (诊查费)
    ("250101001", "18.00"),  # a lab test (血常规)
)


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
