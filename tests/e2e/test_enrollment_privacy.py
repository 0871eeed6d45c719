"""Search by resident ID and the proof that no full ID leaves enrollment: responses, events, logs."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import httpx

from devstack.demo import resident_id
from devstack.stack import Stack
from shared.business_time import business_today
from shared.settings import database_url_for
from tests.e2e.conftest import HOSPITAL, OPS, enrollment_body
from tests.e2e.test_enrollment import BASE, YEAR


async def test_search_and_no_full_id_in_responses_events_or_logs(
    gateway: httpx.AsyncClient, running_stack: Stack
) -> None:
    rng = random.Random()
    number, imported = resident_id(rng, "350582"), resident_id(rng, "350582")
    answers: list[httpx.Response] = []

    async def call(method: str, url: str, **kw: object) -> httpx.Response:
        answer = await gateway.request(method, url, **kw)  # type: ignore[arg-type]
        answers.append(answer)
        return answer

    registered = await call(
        "POST", f"{BASE}/persons", headers=OPS,
        json={"id_number": number, "name": "隐私测试", "hukou_region_code": "350582105202",
              "residence_region_code": "350582105202"},
    )  # fmt: skip
    assert registered.status_code == 201
    person_no = registered.json()["person_no"]
    assert registered.json()["id_number_masked"] == number[:6] + "********" + number[-4:]
    await call("POST", f"{BASE}/persons", headers=OPS, json={"id_number": number, "name": "重复",
               "hukou_region_code": "350582", "residence_region_code": "350582"})  # fmt: skip
    await call(
        "POST", f"{BASE}/persons/{person_no}/enrollments", headers=OPS, json=enrollment_body("resident", YEAR, "350582")
    )
    await call(
        "POST", f"{BASE}/imports/persons", headers={**OPS, "Content-Type": "text/csv"},
        content=f"id_number,name,hukou_region_code,residence_region_code\n{imported},导入,350582,350582\n".encode(),
    )  # fmt: skip

    by_id = await call("POST", f"{BASE}/persons/search", headers=OPS, json={"id_number": number})
    assert [p["person_no"] for p in by_id.json()["items"]] == [person_no]
    by_name = await call(
        "POST", f"{BASE}/persons/search", headers=OPS, json={"name": "隐私测试", "region_code": "350582105"}
    )
    assert person_no in [p["person_no"] for p in by_name.json()["items"]]
    nobody = await call("POST", f"{BASE}/persons/search", headers=OPS, json={"id_number": resident_id(rng, "350583")})
    assert nobody.json()["items"] == []
    no_criteria = await call("POST", f"{BASE}/persons/search", headers=OPS, json={})
    assert no_criteria.status_code == 422
    hospital = await call("POST", f"{BASE}/persons/search", headers=HOSPITAL, json={"id_number": number})
    assert hospital.status_code == 403

    await call("POST", f"{BASE}/persons/{person_no}/death", headers=OPS, json={"died_on": business_today().isoformat()})

    for answer in answers:
        assert number not in answer.text
        assert imported not in answer.text

    conn = await asyncpg.connect(database_url_for("enrollment", running_stack.database_url))
    try:
        published = await conn.fetchval("SELECT count(*) FROM outbox WHERE subject = $1", person_no)
        leaking = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE position($1 in convert_from(payload, 'UTF8')) > 0 "
            "OR position($2 in convert_from(payload, 'UTF8')) > 0 OR position($1 in headers::text) > 0",
            number,
            imported,
        )
        stored_clear = await conn.fetchval(
            "SELECT count(*) FROM persons WHERE position($1 in row(persons.*)::text) > 0", number
        )
    finally:
        await conn.close()
    assert published >= 4  # registered, contribution, activated, terminated, deceased
    assert leaking == 0
    assert stored_clear == 0  # only the keyed hash, the mask and the AES-GCM copy are stored

    await asyncio.sleep(1)  # let the log handlers flush
    logs = sorted((running_stack.var / "log").glob("*.log"))
    assert logs
    for log in logs:
        text = log.read_text(encoding="utf-8", errors="replace")
        assert number not in text, f"full resident ID in {log.name}"
        assert imported not in text, f"full resident ID in {log.name}"
