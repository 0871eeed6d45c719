"""The database holds one live basic enrollment per person at any date (migration 0008): a unique key on
(person_no, year) among live rows, with checks that keep every row within its year and a live row up to 31
December. Written straight in SQL, past the service's own checks, as a buggy writer or a race would write."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date

import asyncpg
import pytest

from devstack.stack import Stack
from shared.settings import database_url_for, plain_url

_INSERT = (
    "INSERT INTO enrollments (id, person_no, scheme, year, region_code, status, effective_from, effective_to)"
    " VALUES ($1, $2, $3, $4, '350582', $5, $6, $7)"
)


@pytest.fixture
async def enrollment_db(infra: Stack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(plain_url(database_url_for("enrollment", infra.database_url)))
    try:
        yield conn
    finally:
        await conn.close()


async def _person(conn: asyncpg.Connection) -> str:
    person_no = f"T{uuid.uuid4().int % 10**11:011d}"
    await conn.execute(
        "INSERT INTO persons (person_no, id_hash, id_masked, name, birth_date, sex, hukou_region_code,"
        " residence_region_code) VALUES ($1, $2, '350582********0000', '测试', '1990-01-01', 'F', '350582', '350582')",
        person_no,
        uuid.uuid4().hex,
    )
    return person_no


async def _enroll(
    conn: asyncpg.Connection, person_no: str, year: int, status: str, starts: date, ends: date, scheme: str = "resident"
) -> None:
    await conn.execute(_INSERT, uuid.uuid4(), person_no, scheme, year, status, starts, ends)


async def test_a_second_live_enrollment_in_the_year_is_refused_whatever_its_scheme_or_start(
    enrollment_db: asyncpg.Connection,
) -> None:
    person = await _person(enrollment_db)
    await _enroll(enrollment_db, person, 2026, "active", date(2026, 1, 1), date(2026, 12, 31))
    for status in ("pending", "active", "suspended"):
        with pytest.raises(asyncpg.UniqueViolationError, match="ux_enrollments_one_live_per_year"):
            await _enroll(enrollment_db, person, 2026, status, date(2026, 7, 1), date(2026, 12, 31), "employee")


async def test_terminated_rows_and_other_years_do_not_count(enrollment_db: asyncpg.Connection) -> None:
    person = await _person(enrollment_db)
    # A scheme switch: the first enrollment terminated on 30 June, the next live from 1 July; next year's too.
    await _enroll(enrollment_db, person, 2026, "terminated", date(2026, 1, 1), date(2026, 6, 30), "employee")
    await _enroll(enrollment_db, person, 2026, "active", date(2026, 7, 1), date(2026, 12, 31))
    await _enroll(enrollment_db, person, 2027, "pending", date(2027, 1, 1), date(2027, 12, 31))
    live = await enrollment_db.fetchval(
        "SELECT count(*) FROM enrollments WHERE person_no = $1 AND status <> 'terminated'", person
    )
    assert live == 2


@pytest.mark.parametrize(
    ("status", "year", "starts", "ends"),
    [
        ("active", 2026, date(2026, 1, 1), date(2026, 6, 30)),  # live but ending before 31 December
        ("suspended", 2026, date(2026, 3, 1), date(2026, 11, 30)),
        ("active", 2026, date(2025, 12, 1), date(2026, 12, 31)),  # starts in the year before
        ("terminated", 2026, date(2026, 1, 1), date(2027, 1, 31)),  # ends in the year after
    ],
)
async def test_dates_that_would_let_live_rows_of_one_year_miss_each_other_are_refused(
    enrollment_db: asyncpg.Connection, status: str, year: int, starts: date, ends: date
) -> None:
    person = await _person(enrollment_db)
    with pytest.raises(asyncpg.CheckViolationError):
        await _enroll(enrollment_db, person, year, status, starts, ends)
    assert await enrollment_db.fetchval("SELECT count(*) FROM enrollments WHERE person_no = $1", person) == 0
