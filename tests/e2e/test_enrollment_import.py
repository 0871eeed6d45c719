"""Batch import through the gateway on the real stack: per-row report, idempotent re-run, nothing half-written."""

from __future__ import annotations

import json
import random
from datetime import date

import httpx

from devstack.demo import resident_id
from tests.e2e.conftest import OPS
from tests.e2e.test_enrollment import BASE, YEAR


def ids(n: int) -> list[str]:
    rng = random.Random()
    return [resident_id(rng, "350582") for _ in range(n)]


async def test_persons_import_reports_rejections_and_reruns_harmlessly(gateway: httpx.AsyncClient) -> None:
    a, b, c, d, half = ids(5)
    bad_check_digit = a[:17] + ("0" if a[17] != "0" else "1")
    csv_text = "\n".join(
        [
            "id_number,name,hukou_region_code,residence_region_code,scheme,year,employer_code,contribution_base",
            f"{a},甲,350582103201001,350582103201001,resident,{YEAR},,",
            f"{b},乙,350582103201,350582103201,employee,{YEAR},91350582IMP0001,6000.00",
            f"{c},丙,350582,350582,,,,",
            f"{bad_check_digit},丁,350582,350582,,,,",  # line 5: invalid ID
            f"{d},,350582,350582,,,,",  # line 6: no name
            f"{half},戊,350582,350582,employee,{YEAR},,",  # line 7: the person is fine, the enrollment is not
        ]
    )
    url = f"{BASE}/imports/persons"
    first = await gateway.post(url, content=csv_text.encode(), headers={**OPS, "Content-Type": "text/csv"})
    assert first.status_code == 200, first.text
    report = first.json()
    assert (report["rows"], report["applied"], report["unchanged"]) == (6, 3, 0)
    assert [r["line"] for r in report["rejected"]] == [5, 6, 7]
    assert "check_digit" in report["rejected"][0]["reason"]
    assert "name" in report["rejected"][1]["reason"]
    assert "employer" in report["rejected"][2]["reason"]
    assert all(number not in first.text for number in (a, b, c, d, half, bad_check_digit))

    again = await gateway.post(url, content=csv_text.encode(), headers={**OPS, "Content-Type": "text/csv"})
    assert again.status_code == 200
    assert (again.json()["applied"], again.json()["unchanged"]) == (0, 3)
    assert again.json()["rejected"] == report["rejected"]

    # Line 7 left nothing behind: its person can still be registered afresh.
    fresh = await gateway.post(
        f"{BASE}/persons",
        json={"id_number": half, "name": "戊", "hukou_region_code": "350582", "residence_region_code": "350582"},
        headers=OPS,
    )
    assert fresh.status_code == 201, fresh.text


async def test_deaths_import_terminates_and_is_idempotent(gateway: httpx.AsyncClient) -> None:
    (alive,) = ids(1)
    registered = await gateway.post(
        f"{BASE}/imports/persons",
        params={"format": "jsonl"},
        content=json.dumps(
            {"id_number": alive, "name": "己", "hukou_region_code": "350582", "residence_region_code": "350582",
             "scheme": "resident", "year": YEAR}, ensure_ascii=False
        ).encode(),
        headers={**OPS, "Content-Type": "application/x-ndjson"},
    )  # fmt: skip
    assert registered.status_code == 200, registered.text
    assert registered.json()["applied"] == 1
    (unknown,) = ids(1)
    today = date.today().isoformat()
    lines = "\n".join(
        [
            json.dumps({"id_number": alive, "died_on": today}),
            json.dumps({"id_number": unknown, "died_on": today}),
            json.dumps({"id_number": alive, "died_on": "yesterday"}),
        ]
    )
    url = f"{BASE}/imports/deaths?format=jsonl"
    first = await gateway.post(url, content=lines.encode(), headers=OPS)
    assert first.status_code == 200, first.text
    assert first.json()["applied"] == 1
    assert [r["line"] for r in first.json()["rejected"]] == [2, 3]
    again = await gateway.post(url, content=lines.encode(), headers=OPS)
    assert (again.json()["applied"], again.json()["unchanged"]) == (0, 1)

    found = await gateway.post(
        f"{BASE}/persons",
        json={"id_number": alive, "name": "己", "hukou_region_code": "350582", "residence_region_code": "350582"},
        headers=OPS,
    )
    person_no = found.json()["person_no"]
    enrollments = (await gateway.get(f"{BASE}/persons/{person_no}/enrollments", headers=OPS)).json()
    assert [(e["status"], e["status_reason"]) for e in enrollments] == [("terminated", "death")]


async def test_a_file_that_cannot_be_read_is_a_problem(gateway: httpx.AsyncClient) -> None:
    no_header = await gateway.post(f"{BASE}/imports/deaths", content=b"id_number\n123\n", headers=OPS)
    assert no_header.status_code == 422
    assert no_header.json()["type"].endswith("/import-file-invalid")
    not_utf8 = await gateway.post(f"{BASE}/imports/persons", content="姓名".encode("gbk"), headers=OPS)
    assert not_utf8.status_code == 422
    unknown_kind = await gateway.post(f"{BASE}/imports/rosters", content=b"", headers=OPS)
    assert unknown_kind.status_code == 422
