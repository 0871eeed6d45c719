"""The whole Yibao stack on one machine: infrastructure, migrations, topics, services, workers."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from devstack.infra import REPO_ROOT, LocalKafka, LocalPostgres, StackError, port_taken, python, say, terminate_pid
from shared.events.kafka import ensure_topics

SERVICES = ("enrollment", "settlement", "ltc", "supervision", "gateway")
WORKER_SERVICES = ("enrollment", "settlement", "ltc", "supervision")


@dataclass(frozen=True)
class Ports:
    postgres: int = 55432
    kafka: int = 9092
    kafka_controller: int = 9093
    gateway: int = 8000

    def service(self, name: str) -> int:
        return self.gateway if name == "gateway" else self.gateway + 1 + SERVICES.index(name)

    def worker_metrics(self, name: str) -> int:
        # Inside the gateway's block of 20 (see free_ports), so blocks never overlap each other.
        return self.gateway + 10 + SERVICES.index(name)

    def all(self) -> tuple[int, ...]:
        """Every port the stack listens on."""
        return (
            self.postgres,
            self.kafka,
            self.kafka_controller,
            *(self.service(name) for name in SERVICES),
            *(self.worker_metrics(name) for name in WORKER_SERVICES),
        )

    def busy(self) -> list[int]:
        return [port for port in self.all() if port > 65535 or port_taken(port)]

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Ports:
        """The defaults, each overridable: YIBAO_GATEWAY_PORT (services follow it), YIBAO_POSTGRES_PORT,
        YIBAO_KAFKA_PORT, YIBAO_KAFKA_CONTROLLER_PORT."""
        chosen: dict[str, int] = {}
        for name in ("gateway", "postgres", "kafka", "kafka_controller"):
            variable = f"YIBAO_{name.upper()}_PORT"
            if raw := environ.get(variable):
                if not raw.isdigit() or not 0 < int(raw) < 65536:
                    raise StackError(f"{variable}={raw!r} is not a TCP port")
                chosen[name] = int(raw)
        return cls(**chosen)

    def as_environment(self) -> dict[str, str]:
        """The variables that make `from_environment` give these ports back."""
        return {
            "YIBAO_GATEWAY_PORT": str(self.gateway),
            "YIBAO_POSTGRES_PORT": str(self.postgres),
            "YIBAO_KAFKA_PORT": str(self.kafka),
            "YIBAO_KAFKA_CONTROLLER_PORT": str(self.kafka_controller),
        }


# Blocks claimed by this process, held for its lifetime: an flock is released when the process ends.
_CLAIMED_BLOCKS: list[IO[bytes]] = []


def _claim_block(ports: Ports) -> bool:
    """Claim a block against other test sessions or benches on this machine that are choosing at
    the same moment, before either has bound anything."""
    lock = open(Path(tempfile.gettempdir()) / f"yibao-ports-{ports.gateway}-{ports.postgres}.lock", "wb")  # noqa: SIM115
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return False
    _CLAIMED_BLOCKS.append(lock)
    return True


def free_ports(start: Ports) -> Ports:
    """The first block at or above `start` (shifted in steps of 10, the gateway's in steps of 20) in
    which nothing listens or is bound, and which no other process on this machine has claimed.

    For test sessions and benchmarks, which share the machine with a developer's `make run`
    and, on CI hosts, with other jobs.
    """
    for step in range(0, 2000, 10):
        candidate = Ports(
            postgres=start.postgres + step,
            kafka=start.kafka + step,
            kafka_controller=start.kafka_controller + step,
            gateway=start.gateway + step * 2,
        )
        if not candidate.busy() and _claim_block(candidate):
            return candidate
    raise StackError(f"no free block of ports near {start}")


RUN_PORTS = Ports()
TEST_PORTS = Ports(postgres=55532, kafka=19092, kafka_controller=19093, gateway=18000)


@dataclass
class Stack:
    var: Path
    ports: Ports = RUN_PORTS
    durable: bool = True
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    external_database_url: str | None = None
    external_kafka: str | None = None

    def __post_init__(self) -> None:
        self.var = self.var.resolve()
        self.postgres = LocalPostgres(self.var / "postgres", self.ports.postgres, durable=self.durable)
        self.kafka = LocalKafka(
            self.var / "kafka",
            libs=REPO_ROOT / "var" / "cache" / "kafka-libs",
            port=self.ports.kafka,
            controller_port=self.ports.kafka_controller,
        )

    @classmethod
    def from_environment(cls, var: Path, ports: Ports = RUN_PORTS, *, durable: bool = True) -> Stack:
        return cls(
            var,
            ports,
            durable=durable,
            external_database_url=os.environ.get("DATABASE_URL"),
            external_kafka=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        )

    @property
    def database_url(self) -> str:
        return self.external_database_url or self.postgres.url

    @property
    def bootstrap(self) -> str:
        return self.external_kafka or self.kafka.bootstrap

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway}"

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports.service(name)}"

    def environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "YIBAO_ENV": os.environ.get("YIBAO_ENV", "development"),
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "PYTHONUNBUFFERED": "1",
        }
        for name in SERVICES:
            prefix = name.upper()
            env[f"{prefix}_HTTP_PORT"] = str(self.ports.service(name))
            env[f"{prefix}_WORKER_METRICS_PORT"] = str(self.ports.worker_metrics(name))
            if name != "gateway":
                env[f"GATEWAY_{prefix}_URL"] = self.service_url(name)
        # 事中审核: settlement asks supervision directly, inside the cluster, not through the gateway.
        env["SETTLEMENT_SUPERVISION_URL"] = self.service_url("supervision")
        return env

    # -- infrastructure -------------------------------------------------------------------
    def start_infrastructure(self) -> None:
        self.var.mkdir(parents=True, exist_ok=True)
        if self.external_database_url:
            say("using the external PostgreSQL from DATABASE_URL")
        else:
            self.postgres.start()
            self.postgres.create_databases([f"yibao_{s}" for s in SERVICES])
        if self.external_kafka:
            say("using the external Kafka from KAFKA_BOOTSTRAP_SERVERS")
        else:
            self.kafka.start()
        say("creating topics")
        asyncio.run(_ensure_topics_with_retry(self.bootstrap))

    def migrate(self) -> None:
        say("migrating every service's database")
        env = self.environment()
        running = {
            name: subprocess.Popen(
                [
                    python(),
                    "-m",
                    "alembic",
                    "-c",
                    str(REPO_ROOT / "services" / name / "alembic.ini"),
                    "upgrade",
                    "head",
                ],
                env=env,
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for name in SERVICES
        }
        for name, proc in running.items():
            out, _ = proc.communicate()
            if proc.returncode != 0:
                raise StackError(f"migrating {name} failed:\n{out.decode(errors='replace')}")
            print(f"    {name}: at head", flush=True)

    # -- services -------------------------------------------------------------------------
    def _spawn(self, label: str, args: list[str]) -> None:
        logs = self.var / "log"
        logs.mkdir(parents=True, exist_ok=True)
        out = open(logs / f"{label}.log", "ab")  # noqa: SIM115 - handed to the child process
        self.processes[label] = subprocess.Popen(
            args,
            env=self.environment(),
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._write_pids()

    def start_api(self, name: str) -> None:
        self._spawn(
            name,
            [
                python(),
                "-m",
                "uvicorn",
                f"services.{name}.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.ports.service(name)),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
        )

    def start_worker(self, name: str) -> None:
        self._spawn(f"{name}-worker", [python(), "-m", f"services.{name}.worker"])

    def start_services(self) -> None:
        say("starting services and workers")
        taken = [
            p
            for p in (
                *(self.ports.service(n) for n in SERVICES),
                *(self.ports.worker_metrics(n) for n in WORKER_SERVICES),
            )
            if port_taken(p)
        ]
        if taken:
            raise StackError(f"ports {taken} are taken by other programs; stop them or set YIBAO_GATEWAY_PORT")
        for name in SERVICES:
            self.start_api(name)
        for name in WORKER_SERVICES:
            self.start_worker(name)

    def stop_process(self, label: str) -> None:
        proc = self.processes.pop(label, None)
        if proc is not None:
            terminate_pid(proc.pid, timeout=20)
            proc.wait(timeout=5)
        self._write_pids()

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for label, proc in self.processes.items():
                if proc.poll() is not None:
                    log = (self.var / "log" / f"{label}.log").read_text(errors="replace")[-3000:]
                    raise StackError(f"{label} exited with {proc.returncode}:\n{log}")
            try:
                response = httpx.get(f"{self.gateway_url}/readyz", timeout=5)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise StackError(f"the gateway was not ready within {timeout:.0f}s: {last}")

    def _write_pids(self) -> None:
        self.var.mkdir(parents=True, exist_ok=True)
        (self.var / "stack.json").write_text(json.dumps({k: p.pid for k, p in self.processes.items()}))

    def stop(self) -> None:
        for label in list(self.processes):
            self.stop_process(label)
        stop_recorded(self.var)
        self.kafka.stop()
        self.postgres.stop()


def stop_recorded(var: Path) -> None:
    """Stop processes another `make run` recorded (for `make stop` from a second terminal)."""
    pids_file = var / "stack.json"
    if pids_file.exists():
        for pid in json.loads(pids_file.read_text() or "{}").values():
            terminate_pid(int(pid), timeout=20)
        pids_file.unlink(missing_ok=True)


async def _ensure_topics_with_retry(bootstrap: str, attempts: int = 60) -> None:
    for attempt in range(attempts):
        try:
            await ensure_topics(bootstrap, partitions=3, replication_factor=1)
            return
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)
