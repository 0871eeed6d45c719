"""The bench harness: a registry of benches, the infrastructure they run on, and their reports.

A bench is an async function taking a `BenchContext` and returning a `BenchResult`; one
decorator line registers it::

    @register("import", ratio_min=0.3)
    async def import_bench(ctx: BenchContext) -> BenchResult: ...

Any module in the `bench` package is imported on start, so a new file with a registered
function is all a new bench needs. Each bench writes `var/bench/<name>.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import io
import json
import os
import pkgutil
import platform
import shutil
import statistics
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import aiohttp
import asyncpg
from sqlalchemy.ext.asyncio import create_async_engine

from devstack.infra import REPO_ROOT, say
from devstack.stack import Ports, Stack, free_ports
from shared.settings import async_url, database_url_for, plain_url
from shared.tables import platform_metadata

BENCH_VAR = REPO_ROOT / "var" / "bench"
BENCH_PORTS = Ports(postgres=55632, kafka=29092, kafka_controller=29093, gateway=28000)
DEFAULT_EVENTS = 20_000
DEFAULT_REPEAT = 2
# What a stack leaves under var/bench; the JSON reports next to it are kept.
_STACK_ENTRIES = ("postgres", "kafka", "log", "stack.json")


@dataclass
class BenchResult:
    """What a bench measured. `ratio` is ours / plain, measured side by side in one run."""

    figures: dict[str, Any]
    ratio: float | None
    notes: list[str] = field(default_factory=list)
    other_targets_met: bool = True  # e.g. a latency target beside the ratio; False fails the bench


@dataclass
class BenchContext:
    database_url: str  # a server URL with the right to CREATE DATABASE
    bootstrap: str
    events: int
    repeat: int
    stack: Stack | None  # None when both BENCH_DATABASE_URL and BENCH_KAFKA_BOOTSTRAP are set
    var: Path = BENCH_VAR
    databases: list[str] = field(default_factory=list)

    @staticmethod
    def unique(prefix: str) -> str:
        return f"{prefix}_{uuid4().hex[:10]}"

    async def empty_database(self, name: str) -> str:
        """A new, empty database `yibao_<name>`, dropped when the bench ends; returns its URL."""
        admin = await asyncpg.connect(plain_url(self.database_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "yibao_{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "yibao_{name}"')
        finally:
            await admin.close()
        self.databases.append(name)
        return database_url_for(name, self.database_url)

    async def migrated_database(self, service: str, name: str) -> str:
        """A new database with `service`'s Alembic migrations applied (its tables, outbox, seeds),
        the way devstack migrates the service's own database."""
        url = await self.empty_database(name)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(REPO_ROOT / "services" / service / "alembic.ini"),
            "upgrade",
            "head",
            cwd=REPO_ROOT,
            env=os.environ | {f"{service.upper()}_DATABASE_URL": url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"migrating the bench database for {service} failed:\n{out.decode(errors='replace')}")
        return url

    async def fresh_database(self, name: str, *, extra_ddl: tuple[str, ...] = ()) -> str:
        """A new, empty database `yibao_<name>` with the platform tables (outbox, inbox, ...)."""
        url = await self.empty_database(name)
        engine = create_async_engine(async_url(url))
        try:
            async with engine.begin() as conn:
                await conn.run_sync(platform_metadata.create_all)
                for ddl in extra_ddl:
                    await conn.exec_driver_sql(ddl)
        finally:
            await engine.dispose()
        return url

    async def drop_databases(self) -> None:
        if not self.databases:
            return
        admin = await asyncpg.connect(plain_url(self.database_url))
        try:
            for name in self.databases:
                await admin.execute(f'DROP DATABASE IF EXISTS "yibao_{name}" WITH (FORCE)')
        finally:
            await admin.close()
        self.databases.clear()

    def postgres_pid(self) -> int | None:
        """The local postmaster's pid, to account its CPU (None on an external server)."""
        if self.stack is None or self.stack.external_database_url:
            return None
        pid_file = self.stack.postgres.data / "postmaster.pid"
        try:
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kafka_pid(self) -> int | None:
        if self.stack is None or self.stack.external_kafka:
            return None
        return self.stack.kafka.running_pid()


BenchFn = Callable[[BenchContext], Awaitable[BenchResult]]


@dataclass(frozen=True)
class Bench:
    name: str
    fn: BenchFn
    ratio_min: float
    default: bool


BENCHES: dict[str, Bench] = {}


def register(name: str, *, ratio_min: float, default: bool = True) -> Callable[[BenchFn], BenchFn]:
    """Register a bench under `name`; `python -m bench` runs every default one."""

    def decorate(fn: BenchFn) -> BenchFn:
        if name in BENCHES:
            raise ValueError(f"bench {name} registered twice")
        BENCHES[name] = Bench(name, fn, ratio_min, default)
        return fn

    return decorate


def discover() -> None:
    """Import every module of the bench package, so their `@register` lines run."""
    package = Path(__file__).resolve().parent
    for module in pkgutil.iter_modules([str(package)]):
        if module.name not in ("harness", "__main__", "hop_floor"):  # hop_floor is an app the settlement bench runs
            importlib.import_module(f"bench.{module.name}")


# -- the machine and the clock ----------------------------------------------------------------
def machine(load_at_process_start: tuple[float, float, float]) -> dict[str, Any]:
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "mem_total_bytes": mem_total,
        "load_average_at_start": list(os.getloadavg()),
        "load_average_at_process_start": list(load_at_process_start),
    }


def load_client(base_url: str, connections: int, timeout_s: float) -> aiohttp.ClientSession:
    """A load generator's HTTP client: aiohttp, whose pool costs little CPU per request, so the
    client (on the same two cores) takes as little as it can from the platform it measures, as
    pgbench's C client does. httpx cost about 4 ms of CPU per request here: its pool walks every
    connection on every request. Post JSON as bytes with its Content-Type (`json_post`)."""
    return aiohttp.ClientSession(
        base_url=base_url,
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=timeout_s),
    )


async def json_post(client: aiohttp.ClientSession, path: str, body: object, headers: dict[str, str]) -> int:
    """POST a JSON body (an object, or bytes already encoded: the load loop's own CPU is on the
    same cores as the platform it measures), read the whole answer, return its status."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with client.post(path, data=data, headers={**headers, "Content-Type": "application/json"}) as answer:
        await answer.read()
        return answer.status


def cpu_seconds(pid: int | None, *, children: bool = False) -> float | None:
    """User+system CPU of a process (threads included); with `children`, also its reaped and
    live direct children: a postmaster and its backends."""
    if pid is None:
        return None
    tick = os.sysconf("SC_CLK_TCK")

    def stat(p: int) -> list[str] | None:
        try:
            raw = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            return None
        return raw[raw.rindex(")") + 2 :].split()  # fields from the 3rd on (state, ppid, ...)

    own = stat(pid)
    if own is None:
        return None
    # utime, stime, cutime, cstime are fields 14-17 (index 11-14 here).
    total = sum(int(v) for v in own[11:13])
    if children:
        total += sum(int(v) for v in own[13:15])
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                child = stat(int(entry.name))
                if child is not None and child[1] == str(pid):
                    total += sum(int(v) for v in child[11:13])
    return total / tick


async def database_floor(
    ctx: BenchContext, service: str, source_url: str, units: int, *, untimed: Collection[str] = ()
) -> dict[str, Any]:
    """What PostgreSQL alone needs to store what a bench's real path stored: a bound, not a contender.

    Every table of `source_url` that the real path wrote is read back and written again, by binary
    COPY in foreign-key order in one transaction, into a fresh database migrated by `service`'s own
    migrations: the same keys, indexes, constraints and foreign keys, no Python work at all. No
    implementation that stores those rows can be faster than this, so `units` / elapsed bounds the
    rate the real path could reach on this machine (one connection; `postgres_cpu_us_per_unit` is
    the bound's cost whatever the concurrency). A table that migrations already fill (reference
    data) is left out and named in `tables_left_out`, which only makes the bound looser. Tables in
    `untimed` (written only by a bench's untimed set-up) are copied before the clock starts.
    """
    source = await asyncpg.connect(plain_url(source_url))
    target_url = await ctx.migrated_database(service, ctx.unique(f"{service[:6]}floor"))
    target = await asyncpg.connect(plain_url(target_url))
    try:
        tables = await _tables_in_foreign_key_order(target)
        before = {t: await _count(target, t) for t in tables}  # reference data
        written: dict[str, tuple[list[str], bytes]] = {}
        left_out: list[str] = []
        for table in tables:
            stored = await _count(source, table)
            if stored == before[table]:
                continue  # nothing written here
            if before[table]:
                left_out.append(table)
                continue
            columns = await _stored_columns(target, table)
            out = io.BytesIO()
            await source.copy_from_table(table, columns=columns, output=out, format="binary")
            written[table] = (columns, out.getvalue())
        for table in [t for t in written if t in untimed]:
            columns, data = written.pop(table)
            await target.copy_to_table(table, source=io.BytesIO(data), columns=columns, format="binary")
        wal_before = await target.fetchval("SELECT pg_current_wal_lsn()")
        pg_cpu_before = cpu_seconds(ctx.postgres_pid(), children=True)
        started = time.perf_counter()
        seconds_by_table: dict[str, float] = {}
        async with target.transaction():
            for table, (columns, data) in written.items():
                table_started = time.perf_counter()
                await target.copy_to_table(table, source=io.BytesIO(data), columns=columns, format="binary")
                seconds_by_table[table] = time.perf_counter() - table_started
        elapsed = time.perf_counter() - started
        postgres_cpu = cpu_delta(pg_cpu_before, cpu_seconds(ctx.postgres_pid(), children=True))
        wal_bytes = await target.fetchval("SELECT pg_current_wal_lsn() - $1::pg_lsn", wal_before)
        counts = {t: await _count(target, t) for t in written}
    finally:
        await source.close()
        await target.close()
    return {
        "units_per_s": units / elapsed,
        "elapsed_s": elapsed,
        "tables": counts,
        "table_rows": sum(counts.values()),
        "seconds_by_table": seconds_by_table,
        "postgres_cpu_s": postgres_cpu,
        "postgres_cpu_us_per_unit": None if postgres_cpu is None else postgres_cpu / units * 1e6,
        # Busy well under 1 with WAL far below the disk's rate: PostgreSQL waited for a core.
        "postgres_busy_fraction": None if postgres_cpu is None else postgres_cpu / elapsed,
        "wal_mb": int(wal_bytes) / 1e6,
        "load_average_after": os.getloadavg(),
        "tables_left_out": left_out,
        "tables_untimed": sorted(set(untimed)),
    }


async def _count(conn: asyncpg.Connection, table: str) -> int:
    # The name comes from pg_class (_tables_in_foreign_key_order), never from input.
    return int(await conn.fetchval(f'SELECT count(*) FROM "{table}"'))  # noqa: S608


async def _tables_in_foreign_key_order(conn: asyncpg.Connection) -> list[str]:
    """The public schema's tables, each after every table its foreign keys point to."""
    tables = [
        r["relname"]
        for r in await conn.fetch(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY relname"
        )
    ]
    edges = await conn.fetch(
        "SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent"
        " FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid <> c.confrelid"
    )
    return foreign_key_order(tables, [(e["child"].strip('"'), e["parent"].strip('"')) for e in edges])


def foreign_key_order(tables: list[str], references: list[tuple[str, str]]) -> list[str]:
    """`tables` ordered so that each comes after the tables it references ((child, parent) pairs);
    ties by name. References to tables outside the list are ignored."""
    parents: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in references:
        if child in parents and parent in parents:
            parents[child].add(parent)
    ordered: list[str] = []
    while parents:
        ready = sorted(t for t, deps in parents.items() if deps <= set(ordered))
        if not ready:
            raise RuntimeError(f"foreign keys form a cycle among {sorted(parents)}")
        ordered.extend(ready)
        for t in ready:
            del parents[t]
    return ordered


async def _stored_columns(conn: asyncpg.Connection, table: str) -> list[str]:
    """Columns COPY can write: not dropped, not generated."""
    rows = await conn.fetch(
        "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0"
        " AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        f'"{table}"',
    )
    return [r["attname"] for r in rows]


def cpu_delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def env_int(name: str, default: int) -> int:
    """A bench knob from the environment (documented in bench/README.md)."""
    return int(os.environ.get(name, default))


def latency_figures(latencies_ms: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of a run's latencies, in ms (nearest rank)."""
    ordered = sorted(latencies_ms)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)

    return {"p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99), "max_ms": round(ordered[-1], 2)}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- infrastructure ---------------------------------------------------------------------------
@contextmanager
def infrastructure() -> Iterator[tuple[str, str, Stack | None]]:
    """PostgreSQL and Kafka for the benches: our own on BENCH_PORTS (fresh, durable), unless
    BENCH_DATABASE_URL / BENCH_KAFKA_BOOTSTRAP name existing ones."""
    database_url = os.environ.get("BENCH_DATABASE_URL")
    kafka = os.environ.get("BENCH_KAFKA_BOOTSTRAP")
    if database_url and kafka:
        say("using BENCH_DATABASE_URL and BENCH_KAFKA_BOOTSTRAP")
        yield database_url, kafka, None
        return
    stack = Stack(BENCH_VAR, BENCH_PORTS, durable=True, external_database_url=database_url, external_kafka=kafka)
    # A crashed earlier run may have left them running; then start from empty data.
    stack.kafka.stop()
    stack.postgres.stop()
    for entry in _STACK_ENTRIES:
        path = stack.var / entry
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    stack = Stack(
        BENCH_VAR, free_ports(BENCH_PORTS), durable=True, external_database_url=database_url, external_kafka=kafka
    )
    try:
        stack.start_infrastructure()
        if not database_url:
            say("warming PostgreSQL's WAL (segments to reuse, as a server in steady state has)")
            asyncio.run(warm_wal(stack.database_url))
        yield stack.database_url, stack.bootstrap, stack
    finally:
        say("stopping the bench infrastructure")
        stack.stop()


# A fresh cluster has no WAL segment to reuse: each 16 MB segment is created and zero-filled as
# the WAL reaches it, while the committers wait. A server that has run a while reuses the
# segments its checkpoints retired, so the benches start from that state: WAL_WARM_SEGMENTS
# segments are written and retired (kept for reuse up to min_wal_size) before any measurement.
WAL_WARM_SEGMENTS = 24
WAL_SEGMENTS_KEPT = "512MB"


async def warm_wal(database_url: str, segments: int = WAL_WARM_SEGMENTS) -> None:
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        await conn.execute(f"ALTER SYSTEM SET min_wal_size = '{WAL_SEGMENTS_KEPT}'")
        await conn.execute("SELECT pg_reload_conf()")
        await conn.execute("CREATE TABLE IF NOT EXISTS bench_wal_warmup (n integer)")
        for n in range(segments):
            await conn.execute("INSERT INTO bench_wal_warmup VALUES ($1)", n)
            await conn.execute("SELECT pg_switch_wal()")
        await conn.execute("DROP TABLE bench_wal_warmup")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


# -- running ----------------------------------------------------------------------------------
def run_bench(bench: Bench, ctx: BenchContext, load_at_process_start: tuple[float, float, float]) -> dict[str, Any]:
    started_at = datetime.now(UTC)
    info = machine(load_at_process_start)
    t0 = time.perf_counter()
    report: dict[str, Any] = {
        "name": bench.name,
        "figures": {},
        "ratio": None,
        "target": {"ratio_min": bench.ratio_min},
        "passed": False,
        "machine": info,
        "started_at": started_at.isoformat(),
        "duration_s": None,
    }
    try:
        result = asyncio.run(_run_and_clean(bench, ctx))
        report["figures"] = result.figures
        report["ratio"] = None if result.ratio is None else round(result.ratio, 4)
        report["passed"] = result.ratio is not None and result.ratio >= bench.ratio_min and result.other_targets_met
        if result.notes:
            report["notes"] = result.notes
    except Exception as exc:
        report["error"] = "".join(traceback.format_exception(exc))
        print(report["error"], file=sys.stderr, flush=True)
    report["duration_s"] = round(time.perf_counter() - t0, 2)
    ctx.var.mkdir(parents=True, exist_ok=True)
    (ctx.var / f"{bench.name}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return report


async def _run_and_clean(bench: Bench, ctx: BenchContext) -> BenchResult:
    try:
        return await bench.fn(ctx)
    finally:
        await ctx.drop_databases()


def summary(report: dict[str, Any]) -> str:
    if "error" in report:
        return f"{report['name']}: ERROR after {report['duration_s']}s (see var/bench/{report['name']}.json)"
    ratio = report["ratio"]
    verdict = "PASS" if report["passed"] else "FAIL"
    shown = ", ".join(
        f"{k}={v}"
        for k, v in report["figures"].items()
        if k.startswith(("ours_", "plain_")) and k.endswith("_per_s") and isinstance(v, int | float)
    )
    ratio_text = "n/a" if ratio is None else f"{ratio:.3f}"
    return (
        f"{report['name']}: {verdict} ratio={ratio_text} (min {report['target']['ratio_min']}) "
        f"{shown} [{report['duration_s']}s]"
    )


def main(argv: list[str] | None = None) -> int:
    load_at_process_start = os.getloadavg()
    discover()
    parser = argparse.ArgumentParser(prog="python -m bench", description="Yibao benchmarks; figures in var/bench/")
    parser.add_argument("names", nargs="*", help=f"benches to run (default: all of {', '.join(_defaults())})")
    parser.add_argument(
        "--events",
        type=int,
        default=int(os.environ.get("BENCH_EVENTS", DEFAULT_EVENTS)),
        help=f"events per measurement (env BENCH_EVENTS; default {DEFAULT_EVENTS})",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=int(os.environ.get("BENCH_REPEAT", DEFAULT_REPEAT)),
        help=f"alternating ours/plain rounds; medians are reported (default {DEFAULT_REPEAT})",
    )
    parser.add_argument("--list", action="store_true", help="list the registered benches and exit")
    args = parser.parse_args(argv)
    if args.list:
        for bench in BENCHES.values():
            print(f"{bench.name}{'' if bench.default else ' (only when named)'}: ratio_min {bench.ratio_min}")
        return 0
    unknown = [n for n in args.names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)}; registered: {', '.join(BENCHES)}")
    if args.events <= 0 or args.repeat <= 0:
        parser.error("--events and --repeat must be positive")
    names: list[str] = args.names or _defaults()
    BENCH_VAR.mkdir(parents=True, exist_ok=True)
    reports = []
    with infrastructure() as (database_url, bootstrap, stack):
        for name in names:
            say(f"bench {name}")
            ctx = BenchContext(database_url, bootstrap, args.events, args.repeat, stack)
            reports.append(run_bench(BENCHES[name], ctx, load_at_process_start))
    for report in reports:
        print(summary(report), flush=True)
    return 0 if all(r["passed"] for r in reports) else 1


def _defaults() -> list[str]:
    return [b.name for b in BENCHES.values() if b.default]
