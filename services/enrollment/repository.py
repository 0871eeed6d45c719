"""All of enrollment's SQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Date,
    String,
    and_,
    bindparam,
    column,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    values,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction
from sqlalchemy.orm import InstrumentedAttribute

from services.enrollment.lifecycle import LIVE_STATES
from services.enrollment.models import (
    Base,
    Contribution,
    CoverageCount,
    CoverageSnapshot,
    Enrollment,
    FamilyBinding,
    Filing,
    HukouBaseline,
    Person,
    person_no_seq,
)
from services.enrollment.service import format_person_no
from shared.db import CopyRefused, copy_records, copy_text, copy_text_value


class DuplicateRow(Exception):
    pass


async def next_person_no(session: AsyncSession) -> str:
    return format_person_no(int(await session.scalar(person_no_seq.next_value()) or 0))


async def person_by_hash(session: AsyncSession, id_hash: str) -> Person | None:
    result: Person | None = await session.scalar(select(Person).where(Person.id_hash == id_hash))
    return result


async def get_person(session: AsyncSession, person_no: str) -> Person | None:
    return await session.get(Person, person_no)


async def lock_person(session: AsyncSession, person_no: str) -> Person | None:
    """Lock the person row: one person's enrollment writes then queue instead of racing each other into the
    one-live-enrollment key (ux_enrollments_one_live_per_year); the key stays the guarantee."""
    result: Person | None = await session.scalar(
        select(Person).where(Person.person_no == person_no).with_for_update().execution_options(populate_existing=True)
    )
    return result


async def add(session: AsyncSession, row: Base) -> None:
    """Insert now, so a unique-key race surfaces here as DuplicateRow, not at commit."""
    try:
        # Add inside the savepoint: a failed insert then rolls back only the savepoint and leaves the row out.
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise DuplicateRow(str(exc.orig)) from exc


async def enrollments_of(session: AsyncSession, person_no: str) -> list[Enrollment]:
    rows = await session.scalars(select(Enrollment).where(Enrollment.person_no == person_no).order_by(Enrollment.year))
    return list(rows)


async def live_enrollment_for_year(session: AsyncSession, person_no: str, year: int) -> Enrollment | None:
    """The pending, active or suspended enrollment of that year, locked against a concurrent payment."""
    result: Enrollment | None = await session.scalar(
        select(Enrollment)
        .where(Enrollment.person_no == person_no, Enrollment.year == year, Enrollment.status.in_(LIVE_STATES))
        .order_by(Enrollment.effective_from.desc())
        .limit(1)
        .with_for_update()
    )
    return result


async def enrollment_locked(session: AsyncSession, person_no: str, enrollment_id: UUID) -> Enrollment | None:
    result: Enrollment | None = await session.scalar(
        select(Enrollment).where(Enrollment.id == enrollment_id, Enrollment.person_no == person_no).with_for_update()
    )
    return result


async def live_enrollments_of(session: AsyncSession, person_no: str) -> list[Enrollment]:
    rows = await session.scalars(
        select(Enrollment)
        .where(Enrollment.person_no == person_no, Enrollment.status.in_(LIVE_STATES))
        .order_by(Enrollment.effective_from)
        .with_for_update()
    )
    return list(rows)


async def overlapping_live_enrollment(
    session: AsyncSession, person_no: str, starts: date, ends: date
) -> Enrollment | None:
    """The live enrollment that holds the person between those dates (what the one-live-enrollment key protects)."""
    result: Enrollment | None = await session.scalar(
        select(Enrollment)
        .where(
            Enrollment.person_no == person_no,
            Enrollment.status.in_(LIVE_STATES),
            Enrollment.effective_from <= ends,
            Enrollment.effective_to >= starts,
        )
        .limit(1)
    )
    return result


async def last_terminated_on(session: AsyncSession, person_no: str, year: int) -> date | None:
    """The latest termination day among the person's enrollments of that year (a scheme switch starts after it)."""
    result: date | None = await session.scalar(
        select(func.max(Enrollment.terminated_on)).where(
            Enrollment.person_no == person_no, Enrollment.year == year, Enrollment.status == "terminated"
        )
    )
    return result


async def has_paid_enrollment(session: AsyncSession, person_no: str, *, years: tuple[int, ...]) -> bool:
    """Whether the person had an enrollment that was ever activated in one of those years (连续参保)."""
    found = await session.scalar(
        select(func.count())
        .select_from(Enrollment)
        .where(Enrollment.person_no == person_no, Enrollment.year.in_(years), Enrollment.activated_at.is_not(None))
    )
    return bool(found)


async def paid_so_far(session: AsyncSession, enrollment_id: UUID) -> tuple[Decimal, Decimal, Decimal]:
    """Sum of (individual, employer, subsidy) posted towards an enrollment."""
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(Contribution.individual), 0),
                func.coalesce(func.sum(Contribution.employer), 0),
                func.coalesce(func.sum(Contribution.subsidy), 0),
            ).where(Contribution.enrollment_id == enrollment_id)
        )
    ).one()
    return Decimal(row[0]), Decimal(row[1]), Decimal(row[2])


async def contributions_of(session: AsyncSession, person_no: str) -> list[Contribution]:
    rows = await session.scalars(
        select(Contribution).where(Contribution.person_no == person_no).order_by(Contribution.posted_at)
    )
    return list(rows)


def savepoint(session: AsyncSession) -> AsyncSessionTransaction:
    """A savepoint for one imported row: an error inside rolls back that row alone."""
    return session.begin_nested()


async def flush(session: AsyncSession) -> None:
    await session.flush()


async def active_schemes(session: AsyncSession, person_no: str, on: date) -> frozenset[str]:
    """Schemes in which the person is actively covered on that date."""
    rows = await session.scalars(
        select(Enrollment.scheme).where(
            Enrollment.person_no == person_no,
            Enrollment.status == "active",
            Enrollment.effective_from <= on,
            Enrollment.effective_to >= on,
        )
    )
    return frozenset(rows)


async def is_retiree(session: AsyncSession, person_no: str, on: date) -> bool:
    found = await session.scalar(
        select(func.count())
        .select_from(Enrollment)
        .where(
            Enrollment.person_no == person_no,
            Enrollment.status == "active",
            Enrollment.retiree.is_(True),
            Enrollment.effective_from <= on,
            Enrollment.effective_to >= on,
        )
    )
    return bool(found)


async def filings_of(session: AsyncSession, person_no: str) -> list[Filing]:
    rows = await session.scalars(
        select(Filing).where(Filing.person_no == person_no).order_by(Filing.valid_from, Filing.filed_at)
    )
    return list(rows)


async def filing_locked(session: AsyncSession, person_no: str, filing_id: UUID) -> Filing | None:
    result: Filing | None = await session.scalar(
        select(Filing).where(Filing.id == filing_id, Filing.person_no == person_no).with_for_update()
    )
    return result


async def current_bindings(session: AsyncSession, person_no: str) -> list[FamilyBinding]:
    """The employee's current 家庭共济 bindings."""
    rows = await session.scalars(
        select(FamilyBinding)
        .where(FamilyBinding.person_no == person_no, FamilyBinding.unbound_on.is_(None))
        .order_by(FamilyBinding.bound_on, FamilyBinding.id)
    )
    return list(rows)


async def current_bindings_involving(session: AsyncSession, person_no: str) -> list[FamilyBinding]:
    """The current 家庭共济 bindings where the person is the employee or the relative, locked."""
    rows = await session.scalars(
        select(FamilyBinding)
        .where(
            (FamilyBinding.person_no == person_no) | (FamilyBinding.relative_person_no == person_no),
            FamilyBinding.unbound_on.is_(None),
        )
        .order_by(FamilyBinding.id)
        .with_for_update()
    )
    return list(rows)


async def bindings_of(session: AsyncSession, person_no: str) -> list[FamilyBinding]:
    """Every binding where the person is the employee or the relative, current ones first."""
    rows = await session.scalars(
        select(FamilyBinding)
        .where((FamilyBinding.person_no == person_no) | (FamilyBinding.relative_person_no == person_no))
        .order_by(FamilyBinding.unbound_on.is_not(None), FamilyBinding.bound_on, FamilyBinding.id)
    )
    return list(rows)


async def binding_locked(session: AsyncSession, person_no: str, binding_id: UUID) -> FamilyBinding | None:
    result: FamilyBinding | None = await session.scalar(
        select(FamilyBinding)
        .where(FamilyBinding.id == binding_id, FamilyBinding.person_no == person_no)
        .with_for_update()
    )
    return result


async def is_bound_relative(session: AsyncSession, holder: str, relative: str) -> bool:
    """Whether `relative` is currently bound to `holder`'s personal account."""
    found = await session.scalar(
        select(func.count())
        .select_from(FamilyBinding)
        .where(
            FamilyBinding.person_no == holder,
            FamilyBinding.relative_person_no == relative,
            FamilyBinding.unbound_on.is_(None),
        )
    )
    return bool(found)


def _covered_on(on: date) -> ColumnElement[bool]:
    """An enrollment covers `on`: paid (activated), within its dates, not suspended by then and not
    terminated before. A terminated enrollment still covered the days up to its termination day, unless a
    suspension had stopped its cover earlier (terminating keeps `suspended_from`). A termination before
    cover began leaves no covered day, though `effective_to` stays at `effective_from` (a date range cannot
    be empty), so `terminated_on` decides, as in settlement's `Coverage.covers`. Every column read here is
    carried in ix_enrollments_covering (migration 0011), so counts stay index-only."""
    return and_(
        Enrollment.activated_at.is_not(None),
        Enrollment.effective_from <= on,
        Enrollment.effective_to >= on,
        Enrollment.status.in_(("active", "suspended", "terminated")),
        or_(Enrollment.suspended_from.is_(None), Enrollment.suspended_from > on),
        or_(Enrollment.terminated_on.is_(None), Enrollment.terminated_on >= on),
    )


def _alive_on(on: date) -> ColumnElement[bool]:
    return or_(Person.died_on.is_(None), Person.died_on >= on)


def _under(code: ColumnElement[str] | InstrumentedAttribute[str], prefix: str) -> ColumnElement[bool]:
    """code LIKE 'prefix%', the pattern written into the statement, not sent as a parameter: asyncpg prepares
    each statement, and after five runs on a connection PostgreSQL may keep a generic plan, which cannot turn
    `LIKE $1` into an index range, so every later village's count read all 7 million persons (bench `coverage`,
    decision 0019). Region prefixes are digits only: nothing to escape, and a statement per node is cached."""
    if not prefix.isdigit():  # a wildcard or a quote has no place in a region prefix (the routes check it too)
        raise ValueError(f"not a region prefix: {prefix!r}")
    return code.like(bindparam("under_prefix", prefix + "%", unique=True, literal_execute=True))


# Every basic scheme (shared.events.contracts.Scheme): coverage counts a person once per scheme they are covered in.
_SCHEMES = values(column("scheme", String), name="schemes").data([("employee",), ("resident",)])


# A node whose prefix is this short (the city, 4 digits) holds nearly every person: its count is one pass over all
# persons and enrollments (hash joins), as the snapshot's. Any narrower node is counted from its own persons.
_WHOLE_CITY_PREFIX_LENGTH = 4


class CountTooSlow(Exception):
    """A live count ran past its time limit; PostgreSQL stopped it (the transaction is aborted)."""


async def insured_counts_within(
    session: AsyncSession, prefix: str, child_prefix_length: int, on: date, *, limit_s: float
) -> dict[tuple[str, str], int]:
    """`insured_counts`, stopped by PostgreSQL after `limit_s` (statement_timeout, for this statement: the setting
    is local to the transaction and put back afterwards)."""
    previous = await session.scalar(text("SELECT current_setting('statement_timeout')"))
    limit = f"{max(1, round(limit_s * 1000))}ms"
    await session.execute(text("SELECT set_config('statement_timeout', :limit, true)"), {"limit": limit})
    try:
        counts = await insured_counts(session, prefix, child_prefix_length, on)
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == "57014":  # query_canceled: the statement timeout
            raise CountTooSlow from exc
        raise
    await session.execute(text("SELECT set_config('statement_timeout', :previous, true)"), {"previous": previous})
    return counts


async def insured_counts(
    session: AsyncSession, prefix: str, child_prefix_length: int, on: date
) -> dict[tuple[str, str], int]:
    """Persons alive on `on` whose hukou lies under `prefix` and who are covered on `on`,
    counted by (first child_prefix_length digits of the hukou code, scheme).

    Each person counts once per scheme they are covered in. Below the city, the node's persons are read by the
    hukou prefix (ix_persons_hukou_covering) and each one's covering schemes looked up by person
    (ix_enrollments_covering; both index-only, migrations 0010 and 0011): work in proportion to the node's persons. The
    persons × schemes semi-join (`_city_insured_counts`) was misestimated by the planner (the join of the covering
    enrollments with the scheme list taken for two rows) into a pass over every covering enrollment of the city
    probing persons one by one, whatever the node: a village of 2,000 persons took as long as the city (bench
    `coverage`, decision 0019)."""
    if len(prefix) <= _WHOLE_CITY_PREFIX_LENGTH:
        return await _city_insured_counts(session, prefix, child_prefix_length, on)
    child_prefix = func.left(Person.hukou_region_code, child_prefix_length).label("child_prefix")
    covered = (
        select(Enrollment.scheme)
        .where(Enrollment.person_no == Person.person_no, _covered_on(on))
        .distinct()
        .lateral("covered_schemes")
    )
    rows = await session.execute(
        select(child_prefix, covered.c.scheme, func.count())
        .select_from(Person)
        .join(covered, true())
        .where(_under(Person.hukou_region_code, prefix), _alive_on(on))
        .group_by(child_prefix, covered.c.scheme)
    )
    return {(str(p), str(s)): int(n) for p, s, n in rows.all()}


async def _city_insured_counts(
    session: AsyncSession, prefix: str, child_prefix_length: int, on: date
) -> dict[tuple[str, str], int]:
    """`insured_counts` for a node holding nearly everyone: a semi-join (EXISTS) of persons × schemes against the
    covering enrollments, no sort of every covered person (count(DISTINCT) spilt to disk; decision 0006)."""
    child_prefix = func.left(Person.hukou_region_code, child_prefix_length).label("child_prefix")
    covered = (
        select(Enrollment.person_no)
        .where(Enrollment.person_no == Person.person_no, Enrollment.scheme == _SCHEMES.c.scheme, _covered_on(on))
        .exists()
    )
    rows = await session.execute(
        select(child_prefix, _SCHEMES.c.scheme, func.count())
        .select_from(Person)
        .join(_SCHEMES, true())
        .where(_under(Person.hukou_region_code, prefix), _alive_on(on), covered)
        .group_by(child_prefix, _SCHEMES.c.scheme)
    )
    return {(str(p), str(s)): int(n) for p, s, n in rows.all()}


async def take_coverage_snapshot(session: AsyncSession, on: date) -> CoverageSnapshot:
    """Count, once, the persons alive and covered on `on` by full hukou code and scheme (the same
    rule as `insured_counts`), replacing any earlier snapshot of that day. Concurrent takers of one
    day queue on its row; the last to commit stands."""
    taken = await session.scalar(
        pg_insert(CoverageSnapshot)
        .values(as_of=on)
        .on_conflict_do_update(index_elements=["as_of"], set_={"taken_at": func.now()})
        .returning(CoverageSnapshot)
    )
    await session.execute(delete(CoverageCount).where(CoverageCount.as_of == on))
    covered = (
        select(Enrollment.person_no)
        .where(Enrollment.person_no == Person.person_no, Enrollment.scheme == _SCHEMES.c.scheme, _covered_on(on))
        .exists()
    )
    counts = (
        select(literal(on, Date), Person.hukou_region_code, _SCHEMES.c.scheme, func.count())
        .select_from(Person)
        .join(_SCHEMES, true())
        .where(_alive_on(on), covered)
        .group_by(Person.hukou_region_code, _SCHEMES.c.scheme)
    )
    await session.execute(
        insert(CoverageCount).from_select(["as_of", "hukou_region_code", "scheme", "insured"], counts)
    )
    assert taken is not None  # INSERT … ON CONFLICT DO UPDATE … RETURNING always returns the row
    return taken


async def coverage_snapshot(session: AsyncSession, on: date | None, *, today: date) -> CoverageSnapshot | None:
    """The snapshot of `on`, or when `on` is None the latest one of a day up to `today`: a snapshot of a
    day to come (taken for planning) is no count of the insured now."""
    query = select(CoverageSnapshot)
    query = (
        query.where(CoverageSnapshot.as_of == on)
        if on is not None
        else query.where(CoverageSnapshot.as_of <= today).order_by(CoverageSnapshot.as_of.desc())
    )
    return (await session.scalars(query.limit(1))).first()


async def coverage_snapshots(
    session: AsyncSession, *, limit: int, on: date | None = None
) -> list[tuple[CoverageSnapshot, int]]:
    """The latest snapshots (or the one of `on`), newest first, each with its insured count summed
    over schemes and codes."""
    insured = (
        select(func.coalesce(func.sum(CoverageCount.insured), 0))
        .where(CoverageCount.as_of == CoverageSnapshot.as_of)
        .scalar_subquery()
    )
    query = select(CoverageSnapshot, insured)
    if on is not None:
        query = query.where(CoverageSnapshot.as_of == on)
    rows = await session.execute(query.order_by(CoverageSnapshot.as_of.desc()).limit(limit))
    return [(snapshot, int(total)) for snapshot, total in rows.all()]


async def snapshot_insured_counts(
    session: AsyncSession, on: date, prefix: str, child_prefix_length: int
) -> dict[tuple[str, str], int]:
    """`insured_counts` from the snapshot of `on`: a sum over its rows under `prefix` (one per hukou
    code and scheme: a few thousand for a city) instead of a pass over every person."""
    child_prefix = func.left(CoverageCount.hukou_region_code, child_prefix_length).label("child_prefix")
    rows = await session.execute(
        select(child_prefix, CoverageCount.scheme, func.sum(CoverageCount.insured))
        .where(CoverageCount.as_of == on, _under(CoverageCount.hukou_region_code, prefix))
        .group_by(child_prefix, CoverageCount.scheme)
    )
    return {(str(p), str(s)): int(n) for p, s, n in rows.all()}


def _page_size(limit: int) -> ColumnElement[int]:
    """LIMIT written into the statement, as `_under`'s prefix: a generic plan, not knowing a page is 100 rows, took
    walking persons in person_no order for cheap and read all of them to fill a village's page."""
    return literal_column(str(int(limit)))


async def uninsured_under(
    session: AsyncSession, prefix: str, on: date, *, limit: int, after: str | None
) -> list[Person]:
    """Living hukou residents under `prefix` without active cover on `on` (outreach lists), by person_no."""
    covered = select(Enrollment.person_no).where(Enrollment.person_no == Person.person_no, _covered_on(on))
    query = (
        select(Person)
        .where(_under(Person.hukou_region_code, prefix), _alive_on(on), ~covered.exists())
        .order_by(Person.person_no)
        .limit(_page_size(limit))
    )
    if after is not None:
        query = query.where(Person.person_no > after)
    return list(await session.scalars(query))


async def search_persons(
    session: AsyncSession, *, name: str | None, region_prefix: str | None, limit: int, after: str | None
) -> list[Person]:
    query = select(Person).order_by(Person.person_no).limit(_page_size(limit))
    if name is not None:
        query = query.where(Person.name == name)
    if region_prefix is not None:
        query = query.where(_under(Person.hukou_region_code, region_prefix))
    if after is not None:
        query = query.where(Person.person_no > after)
    return list(await session.scalars(query))


# --- set-based batch import: a chunk of rows in a handful of statements ---

_PERSONS_BY_HASH = text("SELECT id_hash, person_no FROM persons WHERE id_hash = ANY(CAST(:hashes AS varchar[]))")

_LIVE_ENROLLMENT_KEYS = text(
    "SELECT person_no, scheme, year, employer_code FROM enrollments"
    " WHERE person_no = ANY(CAST(:person_nos AS varchar[])) AND status IN ('pending', 'active', 'suspended')"
)

# person_no as format_person_no does it; ON CONFLICT: a concurrent import registered the ID first (that row is
# then applied one by one). Unnamed sequence values are lost, which a sequence allows anyway.
_INSERT_PERSONS = text(
    "INSERT INTO persons (person_no, id_hash, id_masked, id_number_encrypted, name, birth_date, sex,"
    " hukou_region_code, residence_region_code)"
    " SELECT 'P' || lpad(nextval('person_no_seq')::text, 11, '0'), h, m, e, n, b, s, hk, rs FROM unnest("
    "CAST(:hashes AS varchar[]), CAST(:masked AS varchar[]), CAST(:encrypted AS bytea[]), CAST(:names AS varchar[]),"
    " CAST(:births AS date[]), CAST(:sexes AS varchar[]), CAST(:hukou AS varchar[]), CAST(:residence AS varchar[])"
    ") AS r(h, m, e, n, b, s, hk, rs)"
    " ON CONFLICT (id_hash) DO NOTHING"
    " RETURNING id_hash, person_no, registered_at"
)


class NewActiveEnrollment(NamedTuple):
    """An imported person's enrollment, paid at once (so active): one COPY record, in the table's column order."""

    id: UUID
    person_no: str
    scheme: str
    year: int
    region_code: str
    status: str
    effective_from: date
    effective_to: date
    created_at: datetime
    employer_code: str | None
    contribution_base: Decimal | None
    assistance_category: str | None
    retiree: bool
    coverage_reason: str
    activated_at: datetime


class NewContribution(NamedTuple):
    """An imported person's contribution for the enrollment's year: one COPY record, in the table's column order."""

    id: UUID
    enrollment_id: UUID
    person_no: str
    year: int
    individual: Decimal
    employer: Decimal
    subsidy: Decimal
    personal_account_credit: Decimal
    paid_on: date
    posted_at: datetime


async def person_nos_by_hash(session: AsyncSession, hashes: list[str]) -> dict[str, str]:
    """id_hash → person_no of those already registered: one statement for a chunk."""
    rows = await session.execute(_PERSONS_BY_HASH, {"hashes": hashes})
    return {str(h): str(p) for h, p in rows.all()}


async def live_enrollment_keys(session: AsyncSession, person_nos: list[str]) -> set[tuple[str, str, int, str | None]]:
    """(person_no, scheme, year, employer_code) of every pending, active or suspended enrollment of those persons."""
    if not person_nos:
        return set()
    rows = await session.execute(_LIVE_ENROLLMENT_KEYS, {"person_nos": person_nos})
    return {(str(p), str(s), int(y), e) for p, s, y, e in rows.all()}


async def insert_persons(session: AsyncSession, columns: dict[str, list[object]]) -> dict[str, tuple[str, datetime]]:
    """Insert persons from column arrays; id_hash → (person_no, registered_at) of those inserted (not conflicting)."""
    rows = await session.execute(_INSERT_PERSONS, columns)
    return {str(h): (str(p), at) for h, p, at in rows.all()}


def _copy_field(value: str | int | bool | date | Decimal | None) -> str:
    """One value as a COPY text field: ISO 8601 dates and instants (with their offset), plain decimal text."""
    if value is None or isinstance(value, str):
        return copy_text_value(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, date):  # and datetime
        return value.isoformat()
    return str(value)


def _copy_fields(values: tuple[str | int | bool | date | Decimal | None, ...]) -> str:
    return "\t".join(map(_copy_field, values))


def contribution_copy_lines(rows: list[NewContribution]) -> list[str]:
    """The rows as COPY text lines, in NewContribution's column order; the year, amounts, day and instant repeat
    across a chunk and are formatted once per combination."""
    tails: dict[tuple[object, ...], str] = {}
    lines = []
    for r in rows:
        key = r[3:]
        tail = tails.get(key)
        if tail is None:
            tail = tails[key] = _copy_fields(key)
        lines.append(f"{r.id}\t{r.enrollment_id}\t{copy_text_value(r.person_no)}\t{tail}\n")
    return lines


async def copy_active_enrollments(session: AsyncSession, rows: list[NewActiveEnrollment]) -> None:
    """COPY, not parameter arrays: a chunk's thousands of rows cost less to send and to insert (decision 0010)."""
    await copy_records(session, "enrollments", NewActiveEnrollment._fields, rows)


async def copy_contributions(session: AsyncSession, rows: list[NewContribution]) -> None:
    """As text: asyncpg's binary encoding of the four amounts cost more than the rest of the row, and text costs
    PostgreSQL less extra than it saves here (decision 0014; for enrollments and the outbox it does not)."""
    await copy_text(session, "contributions", NewContribution._fields, contribution_copy_lines(rows))


class SetWriteRefused(Exception):
    """The database refused a set statement of an import chunk (a value it will not take): nothing of it stayed."""


@asynccontextmanager
async def all_or_nothing(session: AsyncSession) -> AsyncIterator[None]:
    """A savepoint around a chunk's set statements: if the database refuses one, all of them roll back."""
    try:
        async with session.begin_nested():
            yield
    except DBAPIError as exc:
        raise SetWriteRefused(str(exc.orig)) from exc
    except CopyRefused as exc:
        raise SetWriteRefused(str(exc)) from exc


# --- hukou population baselines (户籍人口基数) ---

# Only a changed figure is written (and returned): re-importing a file reports its rows as unchanged.
_UPSERT_BASELINES = text(
    "INSERT INTO hukou_baselines (region_code, hukou_population)"
    " SELECT c, n FROM unnest(CAST(:codes AS varchar[]), CAST(:populations AS integer[])) AS r(c, n)"
    " ON CONFLICT (region_code) DO UPDATE SET hukou_population = EXCLUDED.hukou_population, imported_at = now()"
    " WHERE hukou_baselines.hukou_population IS DISTINCT FROM EXCLUDED.hukou_population"
    " RETURNING region_code"
)


async def upsert_baselines(session: AsyncSession, baselines: dict[str, int]) -> set[str]:
    """Store the figures; the region codes whose figure was new or changed."""
    if not baselines:
        return set()
    codes = sorted(baselines)  # one lock order for concurrent imports
    rows = await session.execute(_UPSERT_BASELINES, {"codes": codes, "populations": [baselines[c] for c in codes]})
    return {str(code) for (code,) in rows.all()}


async def imported_baselines(session: AsyncSession, prefix: str) -> dict[str, int]:
    """region code → imported hukou population, for the regions under `prefix` (the node itself included)."""
    rows = await session.execute(
        select(HukouBaseline.region_code, HukouBaseline.hukou_population).where(
            _under(HukouBaseline.region_code, prefix)
        )
    )
    return {str(code): int(n) for code, n in rows.all()}
