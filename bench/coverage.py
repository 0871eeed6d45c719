"""`coverage`: GET /stats/coverage and its snapshot, and the uninsured list, at city scale (only when named).

On a fresh database migrated by enrollment's own Alembic migrations, `BENCH_COVERAGE_PERSONS` (7,000,000) persons
are loaded DIRECTLY by set-based SQL (INSERT … SELECT from generate_series) into the service's own `persons` and
`enrollments` tables: the import path is far too slow for millions and is benched by `import`; the point here is the
read side. The rows bypass the service's validation (IDs, hashes and ciphertexts are synthetic placeholders that
only respect the constraints: a unique 64-hex `id_hash`, a mask, 48 bytes standing for the AES-GCM copy).

The population (reproducible: setseed):
- hukou codes over the demo region tree (services/enrollment/data/regions.csv), each node taking its own share of
  the hukou baseline: a leaf its baseline, an inner node the part of its baseline its listed children do not hold
  (persons registered to a Jinjiang town's own code, whose villages the file lists only two or three of); so the
  city, Jinjiang, a town and a village hold persons in proportion to the baselines (devstack.population spreads
  over leaves only, which would leave a Jinjiang town a few thousand persons, not its 50,000-100,000);
  residence the same code for 85%, another node otherwise; an age pyramid as devstack.population's;
- about 1.2% deceased (half this year: their enrollment terminated on the day of death; half last year);
- about 96% enrolled this year, employees (employer, base) among the working-age, residents otherwise, 资助参保
  groups among residents; of them about 1% pending (not paid), 0.5% suspended (欠费) and 0.5% terminated this year;
- `BENCH_COVERAGE_YEARS` (2) years of enrollments: last year's too, as a database in service for a while holds.

Then VACUUM ANALYZE, and each figure the median of `BENCH_COVERAGE_RUNS` (3) runs through the real routes of the
enrollment app built in-process as services/enrollment/main.py builds it (httpx ASGI transport, as `import` does):
the live coverage of the city, a county (晋江市), its most populous town and that town's most populous village; the
day's snapshot taken (POST /stats/coverage/snapshots); the snapshot read for the same nodes; the first page (100)
of the village's uninsured residents. The bench fails if a snapshot's counts differ from the live ones at any node.
Beside them: load time, table and index sizes, and EXPLAIN (ANALYZE, BUFFERS) of the statements under the town,
village and uninsured figures (captured from the repository functions themselves).

`ratio` = a plain pass (count persons alive under the city by county, no enrollment probe) / the live city count,
alternated in the same run: what the live statement costs beyond reading every person once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import date
from functools import partial
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench.harness import BenchContext, BenchResult, env_int, median, register
from devstack.demo import GIVEN, SURNAMES
from devstack.infra import REPO_ROOT, say
from devstack.tokens import development_token
from services.enrollment import repository
from services.enrollment.api import router
from services.enrollment.regions import Level, Region, RegionTree, parse_regions
from services.enrollment.settings import Settings
from shared.app import create_service_app
from shared.auth import Role
from shared.settings import async_url, plain_url

DEFAULT_PERSONS = 7_000_000  # issue 4: a city of 7 million and more
ENROLLMENT = REPO_ROOT / "services" / "enrollment"
CITY = "350500000000"  # 泉州市
COUNTY = "350582000000"  # 晋江市: the county the tree drills down to grid cells
COVERAGE = "/api/v1/enrollment/stats/coverage"
SNAPSHOTS = "/api/v1/enrollment/stats/coverage/snapshots"
UNINSURED = "/api/v1/enrollment/stats/uninsured"
UNINSURED_PAGE = 100  # the route's default page

# What a city's users may wait for (other_targets_met): a drill-down read or an outreach page answers within a
# second, a snapshot read at any level within 100 ms, and the nightly snapshot takes minutes at most.
SNAPSHOT_READ_TARGET_MS = 100.0
NODE_TARGET_MS = 1000.0  # live town and village, the village's uninsured page
SNAPSHOT_TAKE_TARGET_MS = 300_000.0

# The load: persons in chunks (one statement each, its enrollments with it), secondary indexes and foreign keys
# dropped first and rebuilt after, exactly as the migrations defined them (checked), as any bulk load does.
LOAD_CHUNK = 500_000
_LOADED_TABLES = ("persons", "enrollments")
SHARE_EMPLOYEE = 0.45  # of the working-age enrolled, as devstack.population
ASSISTANCE = (  # 资助参保 categories and shares among residents, as devstack.population
    ("extreme_poverty", 0.004),
    ("minimum_living", 0.025),
    ("poverty_risk", 0.01),
    ("severe_disability", 0.008),
)


def persons_wanted() -> int:
    return env_int("BENCH_COVERAGE_PERSONS", DEFAULT_PERSONS)


def runs_wanted() -> int:
    return max(1, env_int("BENCH_COVERAGE_RUNS", 3))


def years_wanted() -> int:
    return min(2, max(1, env_int("BENCH_COVERAGE_YEARS", 2)))


def own_shares(tree: RegionTree) -> list[tuple[str, int]]:
    """(code, persons registered to that very code per the baselines): a leaf's baseline, an inner node's baseline
    less its children's (the part the file does not list below it)."""
    shares = []
    for region in tree.by_code.values():
        own = region.hukou_baseline - sum(child.hukou_baseline for child in region.children)
        if own > 0:
            shares.append((region.code, own))
    return shares


def _most_populous(children: list[Region]) -> Region:
    return max(children, key=lambda r: (r.hukou_baseline, r.code))


def drill_path(tree: RegionTree) -> dict[str, Region]:
    """city › 晋江市 › its most populous town › that town's most populous village."""
    city, county = tree.by_code[CITY], tree.by_code[COUNTY]
    town = _most_populous(county.children)
    village = _most_populous(town.children)
    assert (city.level, county.level, town.level, village.level) == (
        Level.CITY,
        Level.COUNTY,
        Level.TOWN,
        Level.VILLAGE,
    )
    return {"city": city, "county": county, "town": town, "village": village}


# -- the load ----------------------------------------------------------------------------------------------------

# One chunk of persons n in [lo, hi], and their enrollments, in one statement. Every draw is random() after setseed:
# reproducible (INSERT … SELECT runs serially). :today is the bench's day; :year its year.
_AGE = (  # triangular(0, 95, 38), as devstack.population's age pyramid, by its inverse distribution function
    "least(99, floor(CASE WHEN r_age < 38.0 / 95 THEN sqrt(r_age * 95 * 38)"
    " ELSE 95 - sqrt((1 - r_age) * 95 * 57) END))::int"
)
_DRAWS = (
    "SELECT n, random() AS r_age, random() AS r_day, random() AS r_hukou, random() AS r_res, random() AS r_other,"
    " random() AS r_sex, random() AS r_died, random() AS r_died_day, random() AS r_s1, random() AS r_s2,"
    " random() AS r_s3 FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS n"
)
# (S608: the statements are built from this module's constants only, never from input.)
_PERSON_ROWS = (
    "SELECT n, 'P' || lpad(n::text, 11, '0') AS person_no, birth,"  # noqa: S608
    " CASE WHEN r_died < 0.006 THEN greatest(birth, make_date(CAST(:year AS int), 1, 1) + floor(r_died_day *"
    "   (CAST(:today AS date) - make_date(CAST(:year AS int), 1, 1)))::int)"
    "  WHEN r_died < 0.012 THEN greatest(birth, make_date(CAST(:year AS int) - 1, 1, 1) + floor(r_died_day * 365)::int)"
    " END AS died_on,"
    " hukou, CASE WHEN r_res < 0.85 THEN hukou ELSE (CAST(:codes AS varchar[]))[1 + floor(r_other *"
    "   cardinality(CAST(:codes AS varchar[])))::int] END AS residence,"
    " r_sex, r_s1, r_s2, r_s3"
    " FROM (SELECT d.*, CAST(:today AS date) - (" + _AGE + " * 365 + floor(r_day * 365)::int) AS birth,"
    "  (CAST(:codes AS varchar[]))[width_bucket(r_hukou, CAST(:bounds AS float8[]))] AS hukou"
    "  FROM (" + _DRAWS + ") AS d) AS p"
)
_INSERT_PERSONS = (
    "INSERT INTO persons (person_no, id_hash, id_masked, id_number_encrypted, name, birth_date, sex,"  # noqa: S608
    " hukou_region_code, residence_region_code, registered_at, died_on)"
    " SELECT person_no, encode(sha256(convert_to('bench-coverage:' || n, 'UTF8')), 'hex'),"
    " left(hukou, 6) || '********' || lpad((n % 10000)::text, 4, '0'),"
    " decode(md5('nonce' || n) || md5('body' || n) || md5('tag' || n), 'hex'),"
    " substr(:surnames, 1 + floor(r_s1 * char_length(:surnames))::int, 1)"
    "  || substr(:given, 1 + floor(r_s2 * char_length(:given))::int, 1)"
    "  || substr(:given, 1 + floor(r_s3 * char_length(:given))::int, 1),"
    " birth, CASE WHEN r_sex < 0.5 THEN 'M' ELSE 'F' END, hukou, residence,"
    " make_date(CAST(:year AS int) - 1, 1, 1) + (n % 600)::int, died_on"
    " FROM (" + _PERSON_ROWS + ") AS q"
)


def _enrollments_of_year(year_offset: int) -> str:
    """Enrollments of year :year - year_offset for the chunk's persons (read back from persons by primary key).

    This year: ~96% enrolled; of them ~1% pending (unpaid), 0.5% suspended (欠费 since a day this year), 0.5%
    terminated this year; those who died this year terminated on the day of death. Last year: the same enrolled
    share, active to 31 December (a past year's live enrollment stays active), or terminated on death."""
    y = f"(CAST(:year AS int) - {year_offset})"
    this_year = year_offset == 0
    starts = f"greatest(make_date({y}, 1, 1), birth_date)"
    # A status draw per person: this year's mix, or last year's all active.
    status = (
        f"CASE WHEN died_on <= make_date({y}, 12, 31) THEN 'terminated' WHEN r_status < 0.010 THEN 'pending'"
        " WHEN r_status < 0.015 THEN 'suspended' WHEN r_status < 0.020 THEN 'terminated' ELSE 'active' END"
        if this_year
        else f"CASE WHEN died_on <= make_date({y}, 12, 31) THEN 'terminated' ELSE 'active' END"
    )
    # A termination this year (not by death) falls between the start and yesterday.
    terminated_on = (
        f"CASE WHEN died_on <= make_date({y}, 12, 31) THEN died_on"
        f" ELSE {starts} + floor(r_day * greatest(0, CAST(:today AS date) - 1 - {starts}))::int END"
    )
    assistance = " ".join(
        f"WHEN r_assist < {sum(s for _, s in ASSISTANCE[: i + 1])} THEN '{category}'"
        for i, (category, _) in enumerate(ASSISTANCE)
    )
    alive_then = f"(died_on IS NULL OR died_on >= make_date({y}, 1, 1)) AND birth_date <= " + (
        "CAST(:today AS date)" if this_year else f"make_date({y}, 12, 31)"
    )
    return (
        "INSERT INTO enrollments (id, person_no, scheme, year, region_code, status, effective_from, effective_to,"  # noqa: S608
        " created_at, employer_code, contribution_base, assistance_category, retiree, coverage_reason,"
        " activated_at, suspended_from, terminated_on, status_reason)"
        f" SELECT gen_random_uuid(), person_no, scheme, {y}, left(hukou_region_code, 6) || '000000', status,"
        f" {starts}, CASE WHEN status = 'terminated' THEN {terminated_on} ELSE make_date({y}, 12, 31) END,"
        f" make_date({y} - 1, 10, 1), CASE WHEN scheme = 'employee' THEN '91350582POP'"
        "  || lpad((1 + floor(r_employer * 399))::int::text, 5, '0') END,"
        " CASE WHEN scheme = 'employee' THEN 4000 + 100 * floor(r_employer * 161) END,"
        f" CASE WHEN scheme = 'resident' THEN CASE {assistance} END END, false, 'bench: loaded by SQL',"
        f" CASE WHEN status <> 'pending' THEN make_date({y}, 1, 1) - 30 END,"
        f" CASE WHEN status = 'suspended' THEN {starts} + floor(r_day * greatest(0, CAST(:today AS date) - {starts}))"
        "  ::int END,"
        f" CASE WHEN status = 'terminated' THEN {terminated_on} END,"
        f" CASE WHEN status = 'terminated' THEN CASE WHEN died_on <= make_date({y}, 12, 31) THEN 'death'"
        " ELSE 'moved out' END END"
        " FROM (SELECT p.*, " + status + " AS status,"  # noqa: S608
        f"  CASE WHEN extract(year FROM age(make_date({y}, 1, 1), birth_date)) BETWEEN 18 AND 59"
        f"   AND r_scheme < {SHARE_EMPLOYEE} THEN 'employee' ELSE 'resident' END AS scheme"
        "  FROM (SELECT person_no, birth_date, died_on, hukou_region_code, random() AS r_enrolled,"
        "   random() AS r_status, random() AS r_scheme, random() AS r_day, random() AS r_assist,"
        "   random() AS r_employer FROM persons"
        "   WHERE person_no BETWEEN 'P' || lpad(CAST(:lo AS bigint)::text, 11, '0')"
        " AND 'P' || lpad(CAST(:hi AS bigint)::text, 11, '0')"
        f"  ) AS p WHERE r_enrolled < 0.96 AND {alive_then}) AS e"
    )


_SCHEMA_OBJECTS = """
SELECT 'constraint' AS kind, c.conname AS name, c.conrelid::regclass::text AS on_table,
       pg_get_constraintdef(c.oid) AS definition, c.contype::text AS subtype
FROM pg_constraint c
WHERE (c.conrelid = ANY($1::regclass[]) AND c.contype IN ('u', 'f'))
   OR (c.conrelid = 'enrollments'::regclass AND c.contype = 'p')
   OR (c.confrelid = 'enrollments'::regclass AND c.contype = 'f')
UNION ALL
SELECT 'index', i.indexrelid::regclass::text, i.indrelid::regclass::text, pg_get_indexdef(i.indexrelid), ''
FROM pg_index i
WHERE i.indrelid = ANY($1::regclass[]) AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY 1, 2
"""
# Drop foreign keys first (one points at enrollments' primary key), then keys, then indexes; rebuild the other way.
_DROP_ORDER = {"f": 0, "p": 1, "u": 1, "": 2}
_BUILD_ORDER = {"p": 0, "u": 0, "": 1, "f": 2}


async def _schema_objects(conn: asyncpg.Connection) -> list[tuple[str, str, str, str, str]]:
    """What the load drops and rebuilds: the loaded tables' secondary indexes, unique keys and foreign keys, and
    enrollments' primary key (random UUIDs) with the foreign key pointing at it. persons' primary key stays: its
    keys arrive in order (cheap appends), and each chunk's enrollments read their persons back through it."""
    rows = await conn.fetch(_SCHEMA_OBJECTS, list(_LOADED_TABLES))
    return [(r["kind"], r["name"], r["on_table"], r["definition"], r["subtype"]) for r in rows]


def _comparable(obj: tuple[str, str, str, str, str]) -> tuple[str, ...]:
    """A schema object with its definition stripped of casts and parentheses: PostgreSQL deparses a re-created
    partial index's `status IN (...)` with its casts placed differently."""
    kind, name, table, definition, subtype = obj
    for noise in ("::character varying", "::text", "[]", "(", ")", " "):
        definition = definition.replace(noise, "")
    return kind, name, table, definition, subtype


async def load_population(url: str, tree: RegionTree, persons: int, today: date) -> dict[str, Any]:
    """Fill persons and enrollments by set-based SQL; the figures of the load."""
    shares = own_shares(tree)
    total = sum(n for _, n in shares)
    bounds, codes, cumulative = [], [], 0
    for code, n in shares:
        bounds.append(cumulative / total)
        codes.append(code)
        cumulative += n
    params: dict[str, object] = {
        "codes": codes,
        "bounds": bounds,
        "surnames": SURNAMES,
        "given": GIVEN,
        "today": today,
        "year": today.year,
    }
    engine = create_async_engine(async_url(url))
    conn = await asyncpg.connect(plain_url(url))
    figures: dict[str, Any] = {}
    try:
        before = await _schema_objects(conn)
        # Unique keys and secondary indexes are built once after the load (a sort each), and foreign keys checked
        # once (a join each), instead of 7 million random index insertions and probes; rebuilt as they were.
        for kind, name, table, _definition, _sub in sorted(before, key=lambda o: _DROP_ORDER[o[4]]):
            if kind == "constraint":
                await conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            else:
                await conn.execute(f"DROP INDEX {name}")
        started = time.perf_counter()
        async with engine.begin() as db:
            await db.execute(text("SELECT setseed(0.2026)"))
            for lo in range(1, persons + 1, LOAD_CHUNK):
                hi = min(persons, lo + LOAD_CHUNK - 1)
                await db.execute(text(_INSERT_PERSONS), params | {"lo": lo, "hi": hi})
                for offset in range(years_wanted()):
                    await db.execute(text(_enrollments_of_year(offset)), params | {"lo": lo, "hi": hi})
                say(f"coverage bench: {hi:,} of {persons:,} persons loaded ({time.perf_counter() - started:.0f} s)")
            await db.execute(text("SELECT setval('person_no_seq', CAST(:n AS bigint))"), {"n": persons})
        figures["load_rows_s"] = time.perf_counter() - started
        rebuilt = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '512MB'")  # this session's index builds only
        for kind, name, table, definition, _sub in sorted(before, key=lambda o: _BUILD_ORDER[o[4]]):
            if kind == "constraint":
                await conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            else:
                await conn.execute(definition)
        figures["load_indexes_s"] = time.perf_counter() - rebuilt
        after = await _schema_objects(conn)
        if list(map(_comparable, after)) != list(map(_comparable, before)):
            raise RuntimeError(
                "the loaded tables' indexes and constraints differ from the migrations' after the rebuild: "
                f"missing {sorted(set(before) - set(after))}, new {sorted(set(after) - set(before))}"
            )
        vacuumed = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE) persons, enrollments")
        figures["load_vacuum_analyze_s"] = time.perf_counter() - vacuumed
        figures["load_total_s"] = time.perf_counter() - started
        figures["persons"] = await conn.fetchval("SELECT count(*) FROM persons")
        figures["enrollments"] = await conn.fetchval("SELECT count(*) FROM enrollments")
        figures["deceased"] = await conn.fetchval("SELECT count(*) FROM persons WHERE died_on IS NOT NULL")
        figures["enrollments_by_year_status"] = {
            f"{r['year']} {r['status']}": r["n"]
            for r in await conn.fetch("SELECT year, status, count(*) AS n FROM enrollments GROUP BY 1, 2 ORDER BY 1, 2")
        }
    finally:
        await conn.close()
        await engine.dispose()
    return figures


async def relation_sizes(url: str) -> dict[str, Any]:
    """Bytes of each loaded table (heap) and each of its indexes, and the totals."""
    conn = await asyncpg.connect(plain_url(url))
    try:
        rows = await conn.fetch(
            "SELECT c.relname, c.relkind::text, pg_relation_size(c.oid) AS bytes,"
            " coalesce(t.relname, c.relname) AS of_table"
            " FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = i.indrelid"
            " WHERE coalesce(t.relname, c.relname) = ANY($1::text[]) AND c.relkind IN ('r', 'i')"
            " ORDER BY 4, 2 DESC, 1",
            [*_LOADED_TABLES, "coverage_counts"],
        )
        totals = await conn.fetch(
            "SELECT relname, pg_total_relation_size(oid) AS bytes FROM pg_class WHERE relname = ANY($1::text[])",
            [*_LOADED_TABLES, "coverage_counts"],
        )
    finally:
        await conn.close()
    return {
        "relations_bytes": {f"{r['of_table']}.{r['relname']}": r["bytes"] for r in rows},
        "tables_total_bytes": {r["relname"]: r["bytes"] for r in totals},
    }


# -- the measurements --------------------------------------------------------------------------------------------


async def _timed_runs(runs: int, call: Callable[[], Awaitable[Any]]) -> tuple[list[float], Any]:
    timings, answer = [], None
    for _ in range(runs):
        started = time.perf_counter()
        answer = await call()
        timings.append(round((time.perf_counter() - started) * 1000, 2))
    return timings, answer


def _counts(answer: dict[str, Any]) -> dict[str, dict[str, int]]:
    """What a coverage answer counts: insured by scheme of the node and each child."""
    lines = [answer["region"], *answer["children"]]
    return {line["code"]: line["insured_by_scheme"] for line in lines}


async def measure_routes(url: str, bootstrap: str, path: dict[str, Region], runs: int) -> dict[str, Any]:
    app = create_service_app(
        Settings(database_url=url, kafka_bootstrap_servers=bootstrap),
        title="Yibao enrollment (bench)",
        description="bench",
        routers=[router],
        migrations_dir=ENROLLMENT / "migrations",
    )
    app.state.regions = parse_regions((ENROLLMENT / "data" / "regions.csv").read_text(encoding="utf-8"))
    ops = {"Authorization": f"Bearer {development_token(Role.OPS, 'bench-coverage')}"}
    figures: dict[str, Any] = {}
    plain_conn = await asyncpg.connect(plain_url(url))
    async with app.router.lifespan_context(app):
        logging.getLogger("yibao.access").setLevel(logging.WARNING)  # a line per request would drown the progress
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://enrollment", timeout=1800) as client:

            async def get(route: str, **query: str | int) -> Any:
                answer = await client.get(route, params=query, headers=ops)
                if answer.status_code != 200:
                    raise RuntimeError(f"GET {route} {query} answered {answer.status_code}: {answer.text[:500]}")
                return answer.json()

            live: dict[str, dict[str, dict[str, int]]] = {}
            for level, node in path.items():
                say(f"coverage bench: live coverage of the {level} {node.code}")
                if level == "city":  # alternated with the plain pass: the ratio's two sides
                    timings, plain = [], []
                    for _ in range(runs):
                        one, answer = await _timed_runs(1, partial(get, COVERAGE, region=node.code))
                        timings += one
                        started = time.perf_counter()
                        await plain_conn.fetch(
                            "SELECT left(hukou_region_code, 6), count(*) FROM persons WHERE hukou_region_code"
                            " LIKE $1 AND (died_on IS NULL OR died_on >= $2) GROUP BY 1",
                            node.prefix + "%",
                            date.today(),
                        )
                        plain.append(round((time.perf_counter() - started) * 1000, 2))
                    figures["plain_city_pass_runs_ms"] = plain
                    figures["plain_city_pass_ms"] = median(plain)
                else:
                    timings, answer = await _timed_runs(runs, partial(get, COVERAGE, region=node.code))
                figures[f"live_{level}_runs_ms"] = timings
                figures[f"live_{level}_ms"] = median(timings)
                figures[f"live_{level}_insured"] = answer["region"]["insured"]
                live[level] = _counts(answer)

            say("coverage bench: taking the day's coverage snapshot")

            async def take() -> Any:
                answer = await client.post(SNAPSHOTS, json={}, headers=ops)
                if answer.status_code != 201:
                    raise RuntimeError(f"POST {SNAPSHOTS} answered {answer.status_code}: {answer.text[:500]}")
                return answer.json()

            timings, taken = await _timed_runs(runs, take)
            figures["snapshot_take_runs_ms"] = timings
            figures["snapshot_take_ms"] = median(timings)
            figures["snapshot_insured"] = taken["insured"]
            figures["snapshot_rows"] = await plain_conn.fetchval("SELECT count(*) FROM coverage_counts")
            mismatches = []
            for level, node in path.items():
                timings, answer = await _timed_runs(runs, partial(get, COVERAGE, region=node.code, source="snapshot"))
                figures[f"snapshot_read_{level}_runs_ms"] = timings
                figures[f"snapshot_read_{level}_ms"] = median(timings)
                if _counts(answer) != live[level]:
                    mismatches.append(f"{level} {node.code}: snapshot {_counts(answer)}, live {live[level]}")
            if mismatches:
                raise RuntimeError("the coverage snapshot's counts differ from the live ones: " + "; ".join(mismatches))

            village = path["village"]
            say(f"coverage bench: uninsured residents of the village {village.code}")
            timings, page = await _timed_runs(runs, partial(get, UNINSURED, region=village.code, limit=UNINSURED_PAGE))
            figures["uninsured_village_first_page_runs_ms"] = timings
            figures["uninsured_village_first_page_ms"] = median(timings)
            figures["uninsured_village_first_page_rows"] = len(page)
            if not page:
                raise RuntimeError(f"no uninsured resident in {village.code}: the population is not as intended")
    await plain_conn.close()
    return figures


async def explain_statements(url: str, path: dict[str, Region]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements the town and village figures run, captured from the repository
    functions themselves (the plans of the real queries), as text."""
    engine = create_async_engine(async_url(url))
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        captured.append((statement, parameters))

    today = date.today()
    town, village = path["town"], path["village"]
    calls: dict[str, Callable[[AsyncSession], Awaitable[Any]]] = {
        "live_town": lambda s: repository.insured_counts(s, town.prefix, 12, today),
        "live_village": lambda s: repository.insured_counts(s, village.prefix, 15, today),
        "uninsured_village_first_page": lambda s: repository.uninsured_under(
            s, village.prefix, today, limit=UNINSURED_PAGE, after=None
        ),
    }
    statements: dict[str, tuple[str, Any]] = {}
    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        for name, call in calls.items():
            captured.clear()
            async with AsyncSession(engine) as session:
                await call(session)
            statements[name] = captured[-1]
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
        await engine.dispose()
    plans: dict[str, Any] = {}
    conn = await asyncpg.connect(plain_url(url))
    try:
        for name, (statement, parameters) in statements.items():
            if "%s" in statement:  # a format-style driver statement: asyncpg wants $1, $2, ...
                pieces = statement.split("%s")
                statement = "".join(f"{piece}${i}" for i, piece in enumerate(pieces[:-1], start=1)) + pieces[-1]
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *parameters)
            plans[name] = [r[0] for r in rows]
    finally:
        await conn.close()
    return plans


@register("coverage", ratio_min=0.05, default=False)
async def coverage_bench(ctx: BenchContext) -> BenchResult:
    n, runs = persons_wanted(), runs_wanted()
    tree = parse_regions((ENROLLMENT / "data" / "regions.csv").read_text(encoding="utf-8"))
    path = drill_path(tree)
    today = date.today()
    url = await ctx.migrated_database("enrollment", ctx.unique("cov"))
    say(f"coverage bench: loading {n:,} persons by SQL")
    figures: dict[str, Any] = {"persons_wanted": n, "runs": runs, "years_of_enrollments": years_wanted()}
    figures["nodes"] = {level: f"{r.code} {r.name}" for level, r in path.items()}
    figures |= await load_population(url, tree, n, today)
    figures |= await relation_sizes(url)
    figures |= await measure_routes(url, ctx.bootstrap, path, runs)
    figures["coverage_counts_bytes"] = (await relation_sizes(url))["tables_total_bytes"].get("coverage_counts")
    say("coverage bench: EXPLAIN (ANALYZE, BUFFERS) of the town, village and uninsured statements")
    figures["plans"] = await explain_statements(url, path)
    await ctx.drop_databases()  # millions of rows: not left on a shared disk
    targets = {
        "snapshot_reads": all(figures[f"snapshot_read_{level}_ms"] <= SNAPSHOT_READ_TARGET_MS for level in path),
        "live_town": figures["live_town_ms"] <= NODE_TARGET_MS,
        "live_village": figures["live_village_ms"] <= NODE_TARGET_MS,
        "uninsured_village_first_page": figures["uninsured_village_first_page_ms"] <= NODE_TARGET_MS,
        "snapshot_take": figures["snapshot_take_ms"] <= SNAPSHOT_TAKE_TARGET_MS,
    }
    figures["targets_met"] = targets
    notes = (
        [] if n == DEFAULT_PERSONS else [f"ran with {n:,} persons (BENCH_COVERAGE_PERSONS), not {DEFAULT_PERSONS:,}"]
    )
    if today != date.today():
        notes.append("the day changed during the run: live and snapshot may count different days")
    return BenchResult(
        figures=figures,
        ratio=figures["plain_city_pass_ms"] / figures["live_city_ms"],
        notes=notes,
        other_targets_met=all(targets.values()),
    )
