from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from devstack.demo import resident_id
from devstack.stack import Stack
from devstack.tokens import development_token
from shared.auth import Role
from shared.business_time import business_today

INSTITUTION = "H35058200001"


def problem(answer: httpx.Response, status: int, kind: str) -> dict[str, object]:
    """The answer is an RFC 9457 problem of this status and kind; its body."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json", answer.text
    body: dict[str, object] = answer.json()
    assert body["type"] == f"https://yibao.dev/problems/{kind}", answer.text
    return body


def bearer(role: Role, subject: str = "", institution: str | None = None) -> dict[str, str]:
    token = development_token(role, subject or f"{role.value}-e2e", institution=institution)
    return {"Authorization": f"Bearer {token}"}


OPS = bearer(Role.OPS)
AUDITOR = bearer(Role.AUDITOR)
HOSPITAL = bearer(Role.HOSPITAL, "his-e2e", INSTITUTION)


@pytest.fixture
async def gateway(running_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running_stack.gateway_url, timeout=30) as client:
        yield client


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def enrollment_body(scheme: str, year: int, region_code: str, **extra: object) -> dict[str, object]:
    """An enrollment paid at once (the contribution rides along), so it is active when the POST returns."""
    body: dict[str, object] = {"scheme": scheme, "year": year, "region_code": region_code, "contribution": {}}
    if scheme == "employee":
        body |= {"employer_code": "91350582E2E000001", "contribution_base": "6000.00"}
    return body | extra


async def insured_person(gateway: httpx.AsyncClient, *, scheme: str = "resident") -> str:
    """Register and enroll a fresh person, and wait until settlement knows they are covered."""
    rng = random.Random()
    answer = await gateway.post(
        "/api/v1/enrollment/persons",
        json={
            "id_number": resident_id(rng, "350582"),
            "name": "测试人",
            "hukou_region_code": "350582",
            "residence_region_code": "350582",
        },
        headers=OPS,
    )
    assert answer.status_code == 201, answer.text
    person_no: str = answer.json()["person_no"]
    enrolled = await gateway.post(
        f"/api/v1/enrollment/persons/{person_no}/enrollments",
        json=enrollment_body(scheme, business_today().year, "350582"),
        headers=OPS,
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["status"] == "active", enrolled.text

    return person_no


async def settle_when_eligible(
    gateway: httpx.AsyncClient,
    body: dict[str, object],
    key: str,
    *,
    timeout: float = 20,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a settlement, retrying while settlement's eligibility projection catches up."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await gateway.post(
            "/api/v1/settlement/settlements",
            json=body,
            headers={**HOSPITAL, "Idempotency-Key": key, **(headers or {})},
        )
        kind = answer.json().get("type", "") if answer.status_code == 422 else ""
        if kind.endswith(("/not-insured", "/person-unknown")) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            continue
        return answer


def claim(person_no: str, *, lines: list[dict[str, object]] | None = None, quantity: int = 2) -> dict[str, object]:
    return {
        "person_no": person_no,
        "visit_type": "inpatient",
        "admitted_on": business_today().replace(day=1).isoformat(),
        "discharged_on": business_today().isoformat(),
        # A doctor of its own: points accumulate per doctor across the session (医保医师记分), and a
        # shared one would be suspended by the findings of other tests.
        "practitioner_code": f"D{random.randrange(10**9):09d}",
        "diagnoses": ["J18.9"],
        "lines": lines
        if lines is not None
        else [
            # Codes of the demo catalogue the test session loads (services/settlement/data/catalogue.csv).
            {"item_code": "XJ01CA0010201", "quantity": quantity, "unit_price": "12.50"},  # 阿莫西林胶囊, 甲类
            {"item_code": "XR05CB0690402", "quantity": 1, "unit_price": "980.00"},  # 氨溴索注射液, 甲类
            {"item_code": "XA02BC0220601", "quantity": 1, "unit_price": "36.80"},  # 雷贝拉唑肠溶片, 乙类 10%
        ],
    }


async def designated_institution(gateway: httpx.AsyncClient, code: str) -> str:
    """Register `code` with settlement as an active 定点医院, as settlement refuses unknown institutions."""
    hospital = {"name": f"e2e {code}", "level": 3, "region_code": "350582", "institution_type": "hospital"}
    put = await gateway.put(f"/api/v1/settlement/institutions/{code}", json=hospital, headers=OPS)
    assert put.status_code == 200, put.text
    return code
