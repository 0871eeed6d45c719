"""`python -m devstack run|stop|token|demo`: the commands behind make run, make stop, make token."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from devstack import demo
from devstack.infra import REPO_ROOT, StackError, say, terminate_pid
from devstack.stack import WORKER_SERVICES, Ports, Stack, stop_recorded
from devstack.tokens import development_token
from shared.auth import Role

VAR = REPO_ROOT / "var"
RUN_PID = VAR / "run.pid"


def run(args: argparse.Namespace) -> int:
    stack = Stack.from_environment(VAR, Ports.from_environment())
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    VAR.mkdir(parents=True, exist_ok=True)
    RUN_PID.write_text(str(os.getpid()))
    try:
        stack.start_infrastructure()
        stack.migrate()
        stack.start_services()
        say("waiting for every service to be ready")
        stack.wait_ready()
        if not args.no_demo:
            say("loading demo data through the gateway")
            counts = demo.load(stack.gateway_url, persons=args.persons, settlements=args.settlements)
            print(f"    {counts['persons']} persons, {counts['settlements']} settlements", flush=True)
        elapsed = time.monotonic() - started
        token = development_token(Role.OPS, "ops-dev")
        print(
            f"""
Yibao is running ({elapsed:.0f}s).

  Gateway     {stack.gateway_url}            (readiness: {stack.gateway_url}/readyz)
  API docs    {stack.gateway_url}/docs
  Kafka       {stack.bootstrap}
  PostgreSQL  {stack.database_url}
  Logs        {stack.var / "log"}/<service>.log
  Metrics     {stack.gateway_url}/metrics and each worker on :{", :".join(str(stack.ports.worker_metrics(s)) for s in WORKER_SERVICES)}

  Try:  curl -H "Authorization: Bearer $(make -s token ROLE=ops)" {stack.gateway_url}/api/v1/supervision/flags
  An ops token for the next 12 hours:
  {token}

Press Ctrl-C to stop everything (or run `make stop` elsewhere).""",
            flush=True,
        )
        while True:
            for label, proc in stack.processes.items():
                if proc.poll() is not None:
                    raise StackError(f"{label} exited with {proc.returncode}; see {stack.var / 'log' / label}.log")
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    except (StackError, demo.DemoDataError) as exc:
        print(f"\nmake run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        say("stopping")
        stack.stop()
        RUN_PID.unlink(missing_ok=True)
        say("stopped" if not stopping else "stopped (SIGTERM)")


def stop(args: argparse.Namespace) -> int:
    # Ask `make run` to shut down in order first; then sweep up whatever is left.
    if RUN_PID.exists():
        pid = int(RUN_PID.read_text().strip() or 0)
        if pid:
            say(f"asking make run (pid {pid}) to stop")
            terminate_pid(pid, timeout=60, group=False)
        RUN_PID.unlink(missing_ok=True)
    stack = Stack(VAR, Ports.from_environment())
    stop_recorded(stack.var)
    stack.kafka.stop()
    stack.postgres.stop()
    say("stopped")
    return 0


def token(args: argparse.Namespace) -> int:
    role = Role(args.role)
    print(development_token(role, args.sub or f"{role.value}-dev", institution=args.inst))
    return 0


def load_demo(args: argparse.Namespace) -> int:
    print(demo.load(args.gateway, persons=args.persons, settlements=args.settlements))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="bring up the whole stack with demo data (make run)")
    p_run.add_argument("--no-demo", action="store_true")
    p_run.add_argument("--persons", type=int, default=40)
    p_run.add_argument("--settlements", type=int, default=20)
    p_run.set_defaults(func=run)
    sub.add_parser("stop", help="stop a stack started by make run (make stop)").set_defaults(func=stop)
    p_token = sub.add_parser("token", help="print a development token (make token)")
    p_token.add_argument("--role", required=True, choices=[r.value for r in Role])
    p_token.add_argument("--sub", default="")
    p_token.add_argument("--inst", default=None, help="institution code, for a hospital token")
    p_token.set_defaults(func=token)
    p_demo = sub.add_parser("demo", help="load demo data into a running stack")
    p_demo.add_argument("--gateway", default=f"http://127.0.0.1:{Ports.from_environment().gateway}")
    p_demo.add_argument("--persons", type=int, default=40)
    p_demo.add_argument("--settlements", type=int, default=20)
    p_demo.set_defaults(func=load_demo)
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except StackError as exc:
        print(f"{args.command} failed: {exc}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
