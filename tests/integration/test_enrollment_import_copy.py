"""Enrollment's set-based import writes a chunk's enrollments, contributions and outbox events by COPY
(docs/decisions/0010): against the real, migrated PostgreSQL, the app called in-process as bench/imports.py
calls it. What COPY writes is what the events promise, in order, once; a chunk the database refuses leaves
nothing of itself and its rows go one by one, so only the bad row is rejected, whole."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from devstack.population import COLUMNS, generate
from devstack.stack import Stack
from devstack.tokens import development_token
from shared.auth import Role
from shared.business_time import business_today
from shared.events.contracts import payload_class
from shared.settings import plain_url
from tests.integration.enrollment_app import enrollment_app

IMPORT = "/api/v1/enrollment/imports/persons"
HEADERS = {
    "Authorization": f"Bearer {development_token(Role.OPS, 'import-copy-test')}",
    "Content-Type": "text/csv",
}


@dataclass
class Importer:
    client: httpx.AsyncClient
    url: str  # the app's own database (plain postgresql:// URL)

    async def post(self, rows: list[dict[str, str]]) -> dict[str, object]:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        answer = await self.client.post(IMPORT, content=out.getvalue().encode(), headers=HEADERS)
        assert answer.status_code == 200, answer.text
        report: dict[str, object] = answer.json()
        return report

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()


@pytest.fixture
async def importer(infra: Stack) -> AsyncIterator[Importer]:
    """The enrollment app on a database of its own, migrated by enrollment's Alembic migrations (a test here may
    add a constraint the shared enrollment database must not have)."""
    async with enrollment_app(infra, "impcopy") as (client, url):
        yield Importer(client, plain_url(url))


def _people(count: int, seed: int) -> list[dict[str, str]]:
    rows = list(generate(count, seed=seed))
    assert any(r["scheme"] for r in rows)
    assert any(r["scheme"] == "employee" for r in rows)
    return rows


async def test_copied_rows_and_events_are_complete_ordered_and_written_once(importer: Importer) -> None:
    rows = _people(60, seed=11)
    rows[1] |= {"scheme": "resident", "year": rows[0]["year"] or str(business_today().year), "employer_code": "",
                "contribution_base": "", "assistance_category": "minimum_living"}  # fmt: skip
    enrolled = sum(1 for r in rows if r["scheme"])
    report = await importer.post(rows)
    assert (report["applied"], report["unchanged"], report["rejected"]) == (60, 0, [])

    counts = (
        await importer.fetch(
            "SELECT (SELECT count(*) FROM persons), (SELECT count(*) FROM enrollments WHERE status = 'active'),"
            " (SELECT count(*) FROM contributions c JOIN enrollments e ON e.id = c.enrollment_id"
            "  AND e.person_no = c.person_no AND e.year = c.year)"
        )
    )[0]
    assert tuple(counts) == (60, enrolled, enrolled)

    events = await importer.fetch(
        "SELECT id, event_id, event_type, topic, key, subject, shard, source, payload, headers, published_at"
        " FROM outbox ORDER BY id"
    )
    assert len(events) == 60 + 2 * enrolled
    assert len({e["event_id"] for e in events}) == len(events)
    assert all(e["event_id"].version == 7 and e["event_id"].variant == uuid.RFC_4122 for e in events)
    by_person: dict[str, list[str]] = {}
    for e in events:
        assert e["topic"] == e["event_type"]
        assert e["subject"] == e["key"]
        assert e["source"] == "/yibao/enrollment"
        assert e["published_at"] is None
        assert e["headers"] == events[0]["headers"]
        assert isinstance(json.loads(e["headers"]), dict)
        contract = payload_class(e["event_type"])
        assert contract is not None
        payload = contract.model_validate_json(e["payload"])  # the contract reads it back
        assert payload.key() == e["key"]
        by_person.setdefault(e["key"], []).append(e["event_type"])
    # What the events say is what was stored (enrollments and contributions travel as COPY text, decision 0014).
    stored_enrollments = {
        str(r["id"]): r
        for r in await importer.fetch(
            "SELECT id, person_no, scheme, year, region_code, effective_from, effective_to, employer_code,"
            " assistance_category, retiree FROM enrollments"
        )
    }
    stored_contributions = {
        str(r["id"]): r
        for r in await importer.fetch(
            "SELECT id, enrollment_id, person_no, year, individual, employer, subsidy, personal_account_credit"
            " FROM contributions"
        )
    }
    categories = []
    for e in events:
        body = json.loads(e["payload"])
        if e["event_type"] == "enrollment.activated":
            row = stored_enrollments[body["enrollment_id"]]
            assert (row["person_no"], row["scheme"], row["year"], row["region_code"]) == (
                body["person_no"], body["scheme"], body["year"], body["region_code"],
            )  # fmt: skip
            assert (str(row["effective_from"]), str(row["effective_to"])) == (
                body["effective_from"], body["effective_to"],
            )  # fmt: skip
            assert (row["employer_code"], row["retiree"]) == (body["employer_code"], body["retiree"])
            assert row["assistance_category"] == body["assistance_category"]  # the import used to leave it out
            categories.append(body["assistance_category"])
        elif e["event_type"] == "contribution.posted":
            row = stored_contributions[body["contribution_id"]]
            assert (str(row["enrollment_id"]), row["person_no"], row["year"]) == (
                body["enrollment_id"], body["person_no"], body["year"],
            )  # fmt: skip
            amounts = ("individual", "employer", "subsidy", "personal_account_credit")
            assert [f"{row[a]:.2f}" for a in amounts] == [body[a] for a in amounts]
    assert "minimum_living" in categories
    assert len(stored_enrollments) == len(stored_contributions) == enrolled
    stored = {r["person_no"] for r in await importer.fetch("SELECT person_no FROM persons")}
    assert set(by_person) == stored
    # Per person in the order the single routes publish them (the relay publishes by id).
    assert sorted(map(tuple, by_person.values())) == sorted(
        [("person.registered", "contribution.posted", "enrollment.activated")] * enrolled
        + [("person.registered",)] * (60 - enrolled)
    )

    again = await importer.post(rows)  # a re-run is harmless: nothing new, no event twice
    assert (again["applied"], again["unchanged"], again["rejected"]) == (0, 60, [])
    assert len(await importer.fetch("SELECT id FROM outbox")) == len(events)


async def test_a_chunk_the_database_refuses_goes_row_by_row_and_only_the_bad_row_is_rejected(
    importer: Importer,
) -> None:
    enrolled = [r for r in _people(80, seed=12) if r["scheme"]]
    bad = enrolled[0]
    bad_region = bad["hukou_region_code"][:6]
    others = [r for r in enrolled if r["hukou_region_code"][:6] != bad_region][:4]
    assert len(others) == 4
    rows = [*others[:2], bad, *others[2:]]
    # A refusal the import's own checks cannot foresee: the enrollments COPY fails for the third row's region.
    conn = await asyncpg.connect(importer.url)
    try:
        await conn.execute(
            f"ALTER TABLE enrollments ADD CONSTRAINT ck_test_refused CHECK (region_code <> '{bad_region}')"
        )
    finally:
        await conn.close()

    report = await importer.post(rows)

    assert (report["applied"], report["unchanged"]) == (4, 0), report
    rejected = report["rejected"]
    assert isinstance(rejected, list)
    assert [r["line"] for r in rejected] == [4], report  # the header is line 1
    # Whole or nothing per row: the refused row left no person, enrollment, contribution or event behind.
    counts = (
        await importer.fetch(
            "SELECT (SELECT count(*) FROM persons), (SELECT count(*) FROM enrollments),"
            " (SELECT count(*) FROM contributions), (SELECT count(*) FROM outbox),"
            " (SELECT count(*) FROM enrollments WHERE region_code = $1)",
            bad_region,
        )
    )[0]
    assert tuple(counts) == (4, 4, 4, 12, 0)


async def test_rows_naming_a_region_outside_the_tree_are_rejected_as_the_single_route_refuses_them(
    importer: Importer,
) -> None:
    """A row's hukou or residence code must name a node of the region tree (the grid cells it lists, a county's
    six digits), as POST /persons requires; such a row is rejected whole with the field and the code, the others
    are applied, and a re-run changes nothing."""
    good = _people(6, seed=13)
    good[0] |= {"hukou_region_code": "350582103201001", "residence_region_code": "350582"}  # grid cell, county
    bad = _people(4, seed=14)
    bad[0]["hukou_region_code"] = "350582105201"  # 深沪镇 lists no village 201
    bad[1]["residence_region_code"] = "350582103201009"  # 岸兜村 lists no grid cell 009
    bad[2]["hukou_region_code"] = "350503001001"  # deeper than the tree: 丰泽区 lists no towns
    bad[3] |= {"hukou_region_code": "110105", "residence_region_code": "110105"}  # outside the city
    rows = [good[0], bad[0], *good[1:3], bad[1], bad[2], *good[3:], bad[3]]

    report = await importer.post(rows)

    assert (report["applied"], report["unchanged"]) == (6, 0), report
    reasons = {r["line"]: r["reason"] for r in report["rejected"]}  # type: ignore[attr-defined]
    assert sorted(reasons) == [3, 6, 7, 11]  # the header is line 1
    assert reasons[3].startswith("hukou_region_code 350582105201 is not in the region tree")
    assert reasons[6].startswith("residence_region_code 350582103201009 is not in the region tree")
    assert reasons[7].startswith("hukou_region_code 350503001001 is not in the region tree")
    assert "hukou_region_code 110105" in reasons[11]
    assert "residence_region_code 110105" in reasons[11]
    # Nothing of a rejected row was kept: six persons, their enrollments, contributions and events only.
    enrolled = sum(1 for r in good if r["scheme"])
    counts = await importer.fetch(
        "SELECT (SELECT count(*) FROM persons), (SELECT count(*) FROM enrollments),"
        " (SELECT count(*) FROM contributions), (SELECT count(*) FROM outbox),"
        " (SELECT count(*) FROM persons WHERE hukou_region_code = '350582103201001'"
        "  AND residence_region_code = '350582')"
    )
    assert tuple(counts[0]) == (6, enrolled, enrolled, 6 + 2 * enrolled, 1)

    again = await importer.post(rows)
    assert (again["applied"], again["unchanged"], again["rejected"]) == (0, 6, report["rejected"])

    # The single-record route refuses the same row in the same words, and a PATCH cannot move a person there.
    json_headers = {"Authorization": HEADERS["Authorization"]}
    single = await importer.client.post(
        "/api/v1/enrollment/persons",
        json={k: bad[0][k] for k in ("id_number", "name", "hukou_region_code", "residence_region_code")},
        headers=json_headers,
    )
    assert single.status_code == 422, single.text
    problem = single.json()
    assert problem["type"].endswith("/region-not-in-tree")
    assert problem["detail"] == reasons[3]
    assert [e["field"] for e in problem["errors"]] == ["hukou_region_code"]
    person_no = (await importer.fetch("SELECT min(person_no) AS p FROM persons"))[0]["p"]
    moved = await importer.client.patch(
        f"/api/v1/enrollment/persons/{person_no}",
        json={"residence_region_code": "350582103201009"},
        headers=json_headers,
    )
    assert moved.status_code == 422, moved.text
    assert moved.json()["errors"][0]["field"] == "residence_region_code"
    assert (await importer.fetch("SELECT count(*) AS n FROM persons"))[0]["n"] == 6
