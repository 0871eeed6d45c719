"""`make run` as a newcomer types it: the whole stack on the default ports, then `make stop`.

On a host where another program holds one of the default ports (a second job on a shared CI
machine), it runs on the next free block through the YIBAO_*_PORT variables instead.

It prints the gateway URL, /readyz answers 200, the broker accepts an idempotent producer,
and `make stop` ends `make run` cleanly with no process or port left behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

from devstack.infra import REPO_ROOT, port_taken
from devstack.stack import RUN_PORTS, free_ports


def stack_pids() -> dict[str, int]:
    """Every process `make run` records: itself, its services and workers, Kafka, PostgreSQL."""
    var = REPO_ROOT / "var"
    pids = {label: int(pid) for label, pid in json.loads((var / "stack.json").read_text()).items()}
    pids["make run"] = int((var / "run.pid").read_text())
    pids["kafka"] = int((var / "kafka" / "kafka.pid").read_text())
    pids["postgres"] = int((var / "postgres" / "data" / "postmaster.pid").read_text().splitlines()[0])
    return pids


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for its parent to reap it."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def test_make_run_serves_and_make_stop_leaves_nothing_behind() -> None:
    assert not (REPO_ROOT / "var" / "run.pid").exists(), "stop your own `make run` before running the suite"
    ports = free_ports(RUN_PORTS)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    env.update(ports.as_environment())
    run = subprocess.Popen(
        ["make", "run"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert run.stdout is not None
    printed: list[str] = []
    pids: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 300
        os.set_blocking(run.stdout.fileno(), False)
        while not any("Yibao is running" in line for line in printed):
            assert run.poll() is None, "make run exited early:\n" + "".join(printed[-40:])
            assert time.monotonic() < deadline, "make run was not ready in 5 minutes:\n" + "".join(printed[-40:])
            line = run.stdout.readline()
            if line:
                printed.append(line)
            else:
                await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)
        printed.extend(run.stdout.readlines())
        output = "".join(printed)
        assert f"http://127.0.0.1:{ports.gateway}" in output
        pids = stack_pids()
        assert len(pids) == 12, pids  # 5 APIs, 4 workers, make run, Kafka, PostgreSQL
        assert all(alive(pid) for pid in pids.values())

        async with httpx.AsyncClient(timeout=10) as client:
            ready = await client.get(f"http://127.0.0.1:{ports.gateway}/readyz")
        assert ready.status_code == 200, ready.text

        producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{ports.kafka}", enable_idempotence=True, acks="all")
        await producer.start()
        try:
            sent = await producer.send_and_wait("person.registered.dlq", b"make-run-probe")
        finally:
            await producer.stop()
        assert sent.offset >= 0
    finally:
        stop = subprocess.run(["make", "stop"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)
        try:
            code = run.wait(timeout=120)
        except subprocess.TimeoutExpired:
            run.send_signal(signal.SIGKILL)
            code = -9
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert code == 0, "make run did not end cleanly on make stop"
    time.sleep(0.5)
    assert {label: pid for label, pid in pids.items() if alive(pid)} == {}
    assert [p for p in ports.all() if port_taken(p)] == []
