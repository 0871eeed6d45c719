"""Batch import through the gateway on the real stack: per-row report, idempotent re-run, nothing half-written."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import asyncpg
import httpx
import pytest

from devstack.demo import resident_id
from devstack.population import import_file
from devstack.stack import Stack
from shared.business_time import business_today
from shared.settings import database_url_for
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
    today = business_today().isoformat()
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
    unknown_kind = await gateway.post(f"{BASE}/imports/marriages", content=b"", headers=OPS)
    assert unknown_kind.status_code == 422


async def _events_of(running_stack: Stack, person_no: str) -> list[tuple[str, dict[str, object]]]:
    conn = await asyncpg.connect(database_url_for("enrollment", running_stack.database_url))
    try:
        rows = await conn.fetch(
            "SELECT event_type, convert_from(payload, 'UTF8') AS payload FROM outbox WHERE subject = $1 ORDER BY id",
            person_no,
        )
    finally:
        await conn.close()
    return [(r["event_type"], json.loads(r["payload"])) for r in rows]


# Values that differ between two persons by nature (numbers, ids, instants, what the ID itself says).
_OWN = {"person_no", "id_number_masked", "birth_date", "sex", "enrollment_id", "contribution_id", "registered_at",
        "posted_at"}  # fmt: skip


async def test_set_based_rows_write_what_the_single_routes_write(
    gateway: httpx.AsyncClient, running_stack: Stack
) -> None:
    """A new person imported set-based: the same stored enrollment and contribution, and the same events with the
    same payloads, as the same person registered and enrolled through the single-record routes."""
    single, imported = ids(2)
    registered = await gateway.post(
        f"{BASE}/persons",
        json={"id_number": single, "name": "单笔", "hukou_region_code": "350582103201001",
              "residence_region_code": "350582103201"},
        headers=OPS,
    )  # fmt: skip
    assert registered.status_code == 201, registered.text
    single_no = registered.json()["person_no"]
    enrolled = await gateway.post(
        f"{BASE}/persons/{single_no}/enrollments",
        json={"scheme": "employee", "year": YEAR, "region_code": "350582", "employer_code": "91350582SAME00001",
              "contribution_base": "7300.00", "contribution": {}},
        headers=OPS,
    )  # fmt: skip
    assert enrolled.status_code == 201, enrolled.text
    csv_text = (
        "id_number,name,hukou_region_code,residence_region_code,scheme,year,employer_code,contribution_base\n"
        f"{imported},批量,350582103201001,350582103201,employee,{YEAR},91350582SAME00001,7300.00\n"
    )
    report = await gateway.post(
        f"{BASE}/imports/persons", content=csv_text.encode(), headers={**OPS, "Content-Type": "text/csv"}
    )
    assert report.status_code == 200, report.text
    assert report.json()["applied"] == 1, report.text
    found = await gateway.post(f"{BASE}/persons/search", json={"id_number": imported}, headers=OPS)
    (person,) = found.json()["items"]
    imported_no = person["person_no"]
    assert person["id_number_masked"] == imported[:6] + "********" + imported[-4:]
    assert person["hukou_region_code"] == "350582103201001"

    def same(record: dict[str, object]) -> dict[str, object]:
        return {k: v for k, v in record.items() if k not in _OWN | {"id", "created_at", "activated_at", "paid_on"}}

    ours = (await gateway.get(f"{BASE}/persons/{imported_no}/enrollments", headers=OPS)).json()
    theirs = (await gateway.get(f"{BASE}/persons/{single_no}/enrollments", headers=OPS)).json()
    assert [same(e) for e in ours] == [same(e) for e in theirs]
    assert ours[0]["status"] == "active"
    paid = (await gateway.get(f"{BASE}/persons/{imported_no}/contributions", headers=OPS)).json()
    paid_single = (await gateway.get(f"{BASE}/persons/{single_no}/contributions", headers=OPS)).json()
    assert [same(c) for c in paid] == [same(c) for c in paid_single]

    events, single_events = await _events_of(running_stack, imported_no), await _events_of(running_stack, single_no)
    assert [t for t, _ in events] == ["person.registered", "contribution.posted", "enrollment.activated"]
    assert [(t, same(p)) for t, p in events] == [(t, same(p)) for t, p in single_events]
    assert all(imported not in json.dumps(p) for _, p in events)
    assert events[0][1]["hukou_region_code"] == "350582103201"  # events stop at the village (12 digits)
    assert (events[0][1]["birth_date"], events[0][1]["sex"]) == (person["birth_date"], person["sex"])


async def test_duplicates_existing_persons_and_new_years_in_one_file(gateway: httpx.AsyncClient) -> None:
    """One file mixing new persons, a repeated ID, a person already enrolled and one enrolling for another year."""
    new, twice, known = ids(3)
    first = await gateway.post(
        f"{BASE}/imports/persons",
        content=(f"id_number,name,hukou_region_code,residence_region_code,scheme,year\n"
                 f"{known},旧,350582,350582,resident,{YEAR}\n").encode(),
        headers={**OPS, "Content-Type": "text/csv"},
    )  # fmt: skip
    assert first.json()["applied"] == 1, first.text
    lines = [
        "id_number,name,hukou_region_code,residence_region_code,scheme,year",
        f"{new},新,350582,350582,resident,{YEAR}",  # 2: new
        f"{twice},重,350582,350582,,",  # 3: new
        f"{twice.lower()},重,350582,350582,resident,{YEAR}",  # 4: the same ID again (x or X alike)
        f"{known},旧,350582,350582,resident,{YEAR}",  # 5: enrolled by the first file
        f"{known},旧,350582,350582,resident,{YEAR + 1}",  # 6: the same person again in one file
    ]
    answer = await gateway.post(
        f"{BASE}/imports/persons", content="\n".join(lines).encode(), headers={**OPS, "Content-Type": "text/csv"}
    )
    report = answer.json()
    assert (report["rows"], report["applied"], report["unchanged"]) == (5, 2, 1), report
    assert [(r["line"], r["reason"]) for r in report["rejected"]] == [
        (4, "the same resident ID as line 3: one row per person a file"),
        (6, "the same resident ID as line 5: one row per person a file"),
    ]
    next_year = await gateway.post(
        f"{BASE}/imports/persons",
        content=(f"id_number,name,hukou_region_code,residence_region_code,scheme,year\n"
                 f"{known},旧,350582,350582,resident,{YEAR + 1}\n").encode(),
        headers={**OPS, "Content-Type": "text/csv"},
    )  # fmt: skip
    assert (next_year.json()["applied"], next_year.json()["rejected"]) == (1, []), next_year.text
    found = await gateway.post(f"{BASE}/persons/search", json={"id_number": known}, headers=OPS)
    known_no = found.json()["items"][0]["person_no"]
    years = (await gateway.get(f"{BASE}/persons/{known_no}/enrollments", headers=OPS)).json()
    assert sorted((e["year"], e["status"]) for e in years) == [(YEAR, "active"), (YEAR + 1, "active")]


async def test_two_concurrent_imports_of_one_file_register_each_person_once(
    gateway: httpx.AsyncClient, running_stack: Stack
) -> None:
    numbers = ids(300)
    body = "\n".join(
        ["id_number,name,hukou_region_code,residence_region_code,scheme,year"]
        + [f"{n},并发,350582105202,350582105202,resident,{YEAR}" for n in numbers]
    ).encode()
    headers = {**OPS, "Content-Type": "text/csv"}
    a, b = await asyncio.gather(
        gateway.post(f"{BASE}/imports/persons", content=body, headers=headers),
        gateway.post(f"{BASE}/imports/persons", content=body, headers=headers),
    )
    assert (a.status_code, b.status_code) == (200, 200), (a.text, b.text)
    assert a.json()["applied"] + b.json()["applied"] == 300
    assert a.json()["unchanged"] + b.json()["unchanged"] == 300
    assert a.json()["rejected"] == b.json()["rejected"] == []
    conn = await asyncpg.connect(database_url_for("enrollment", running_stack.database_url))
    try:
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM persons WHERE name = '并发'),"
            " (SELECT count(*) FROM enrollments e JOIN persons p USING (person_no) WHERE p.name = '并发'),"
            " (SELECT count(*) FROM outbox o JOIN persons p ON o.subject = p.person_no"
            "  WHERE p.name = '并发' AND o.event_type = 'person.registered')"
        )
    finally:
        await conn.close()
    assert counts is not None
    assert tuple(counts) == (300, 300, 300)


ROSTER_HEADER = "employer_code,id_number,name,hukou_region_code,residence_region_code,contribution_base,starts_on"


async def _search(gateway: httpx.AsyncClient, number: str) -> str:
    found = await gateway.post(f"{BASE}/persons/search", json={"id_number": number}, headers=OPS)
    person_no: str = found.json()["items"][0]["person_no"]
    return person_no


async def test_employer_roster_registers_and_enrolls_employees_idempotently(gateway: httpx.AsyncClient) -> None:
    """单位参保花名册: a new employee is registered and enrolled from the start date; a registered person without
    cover is enrolled; one already holding a live enrollment of the year is refused with the reason."""
    new, unenrolled, resident = ids(3)
    setup = await gateway.post(
        f"{BASE}/imports/persons",
        content=("id_number,name,hukou_region_code,residence_region_code,scheme,year\n"
                 f"{unenrolled},未参保,350582,350582,,\n"
                 f"{resident},居民,350582,350582,resident,{YEAR}\n").encode(),
        headers={**OPS, "Content-Type": "text/csv"},
    )  # fmt: skip
    assert setup.json()["applied"] == 2, setup.text
    roster = "\n".join(
        [
            ROSTER_HEADER,
            f"91350582ROSTER01,{new},新员工,350582103201,350582103201,6000.00,{YEAR}-03-01",  # 2: new person
            f"91350582ROSTER01,{unenrolled},未参保,350582,350582,8000,{YEAR}-01-01",  # 3: registered, no cover
            f"91350582ROSTER01,{resident},居民,350582,350582,6000.00,{YEAR}-01-01",  # 4: holds a resident enrollment
            f"91350582ROSTER01,{ids(1)[0]},日期,350582,350582,6000.00,{YEAR}-02-30",  # 5: no such day
            f"91350582ROSTER01,{ids(1)[0]},基数,350582,350582,100.00,{YEAR}-01-01",  # 6: base under the floor
        ]
    ).encode()
    url = f"{BASE}/imports/rosters"
    first = await gateway.post(url, content=roster, headers={**OPS, "Content-Type": "text/csv"})
    assert first.status_code == 200, first.text
    report = first.json()
    assert (report["rows"], report["applied"], report["unchanged"]) == (5, 2, 0), report
    reasons = {r["line"]: r["reason"] for r in report["rejected"]}
    assert sorted(reasons) == [4, 5, 6]
    assert "already holds a live basic enrollment" in reasons[4]
    assert "is not a date" in reasons[5]
    assert "between" in reasons[6]

    again = await gateway.post(url, content=roster, headers={**OPS, "Content-Type": "text/csv"})
    assert (again.json()["applied"], again.json()["unchanged"]) == (0, 2), again.text
    assert again.json()["rejected"] == report["rejected"]

    enrollments = (await gateway.get(f"{BASE}/persons/{await _search(gateway, new)}/enrollments", headers=OPS)).json()
    assert [(e["scheme"], e["status"], e["employer_code"], e["contribution_base"], e["effective_from"])
            for e in enrollments] == [("employee", "active", "91350582ROSTER01", "6000.00", f"{YEAR}-03-01")]  # fmt: skip
    paid = (await gateway.get(f"{BASE}/persons/{await _search(gateway, unenrolled)}/enrollments", headers=OPS)).json()
    assert [(e["scheme"], e["status"], e["contribution_base"]) for e in paid] == [("employee", "active", "8000.00")]

    # Another employer's roster naming the same employee for the same year is not "unchanged": it is refused.
    moved = await gateway.post(
        url,
        content=f"{ROSTER_HEADER}\n91350582ROSTER02,{new},新员工,350582,350582,6000.00,{YEAR}-06-01\n".encode(),
        headers={**OPS, "Content-Type": "text/csv"},
    )
    assert moved.json()["applied"] == 0, moved.text
    assert "already holds a live basic enrollment" in moved.json()["rejected"][0]["reason"]


async def test_hukou_baselines_import_feeds_the_coverage_denominator(gateway: httpx.AsyncClient) -> None:
    """户籍人口基数 by region: an imported figure replaces the region file's for that node and the sums above it."""
    village, grid, other_grid = "350582109201", "350582109201001", "350582109201002"  # 龙湖镇 衙口村

    async def baselines() -> dict[str, int]:
        answer = await gateway.get(f"{BASE}/stats/coverage", params={"region": village}, headers=OPS)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return {line["code"]: line["hukou_baseline"] for line in [body["region"], *body["children"]]}

    original = await baselines()
    assert original == {village: 2833, grid: 1558, other_grid: 1275}  # services/enrollment/data/regions.csv
    url = f"{BASE}/imports/baselines"
    headers = {**OPS, "Content-Type": "text/csv"}
    text = "\n".join(
        [
            "region_code,hukou_population",
            f"{grid},1600",
            f"{village},3000",
            "350582999999,100",  # 4: not in the tree
            f"{other_grid},-5",  # 5
            f"{other_grid},12.5",  # 6
            f"{grid},1700",  # 7: the same region twice
        ]
    ).encode()
    try:
        first = await gateway.post(url, content=text, headers=headers)
        assert first.status_code == 200, first.text
        report = first.json()
        assert (report["rows"], report["applied"], report["unchanged"]) == (6, 2, 0), report
        assert [r["line"] for r in report["rejected"]] == [4, 5, 6, 7]
        assert "not in the region tree" in report["rejected"][0]["reason"]
        assert await baselines() == {village: 3000, grid: 1600, other_grid: 1275}

        again = await gateway.post(url, content=text, headers=headers)
        assert (again.json()["applied"], again.json()["unchanged"]) == (0, 2)

        # A new figure for the village alone, as JSON lines.
        jsonl = json.dumps({"region_code": village, "hukou_population": 2900}).encode()
        changed = await gateway.post(url, params={"format": "jsonl"}, content=jsonl, headers=OPS)
        assert (changed.json()["applied"], changed.json()["unchanged"]) == (1, 0), changed.text
        assert (await baselines())[village] == 2900
    finally:  # other tests read this village's figures: put the file's back
        restore = f"region_code,hukou_population\n{village},2833\n{grid},1558\n".encode()
        assert (await gateway.post(url, content=restore, headers=headers)).status_code == 200
    assert await baselines() == original


async def test_the_cli_posts_chunks_in_parallel_and_reports_file_lines(
    running_stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """python -m devstack.population import --kind rosters: chunks of 2 rows, two in flight; a rejected row is
    reported with its line in the file, not in its chunk."""
    a, b, c, d = ids(4)
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "\n".join(
            [
                ROSTER_HEADER,
                f"91350582CLI00001,{a},甲,350582,350582,6000.00,{YEAR}-01-01",
                f"91350582CLI00001,{b},乙,350582,350582,6000.00,{YEAR}-01-01",
                f"91350582CLI00001,{c},丙,350582,350582,99.00,{YEAR}-01-01",  # line 4: base under the floor
                f"91350582CLI00001,{d},丁,350582,350582,6000.00,{YEAR}-01-01",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    totals = await asyncio.to_thread(
        import_file, roster, running_stack.gateway_url, chunk=2, kind="rosters", parallel=2
    )
    assert totals == {"rows": 4, "applied": 3, "unchanged": 0, "rejected": 1}
    assert "line 4: the contribution base must lie between" in capsys.readouterr().err
    again = await asyncio.to_thread(import_file, roster, running_stack.gateway_url, chunk=2, kind="rosters")
    assert again == {"rows": 4, "applied": 0, "unchanged": 3, "rejected": 1}
