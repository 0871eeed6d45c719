"""Scheduled work: one call to one service's route, made on a clock (docs/operations.md, "Scheduled work").

    python -m shared.scheduled enrollment POST /api/v1/enrollment/stats/coverage/snapshots '{}'
    python -m shared.scheduled supervision POST /api/v1/supervision/peer-baselines --previous-month period

Nothing in the services runs on a clock; a Kubernetes CronJob (deploy/k8s/base/scheduled.yaml) runs
this in the platform's image. It calls the service directly, not through the gateway: the work is
long at city scale (a coverage snapshot of 7 million persons takes 20-60 s, longer than the
gateway's upstream timeout), and it is the platform calling itself, like settlement's call to
supervision. The token it signs is an ops token of the subject `scheduler`, valid for the call only.

It prints the service's answer and exits 0 on a 2xx, 1 on any other answer or when the service
cannot be reached, 2 on a usage mistake.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date
from typing import Any

import httpx
from pydantic_settings import SettingsConfigDict

from shared.auth import Role, issue_token
from shared.business_time import business_today
from shared.settings import ServiceSettings

SERVICES = ("enrollment", "settlement", "ltc", "supervision")
SUBJECT = "scheduler"


class SchedulerSettings(ServiceSettings):
    """`YIBAO_JWT_SECRET` and `YIBAO_ENV` as every service reads them; where the services answer."""

    model_config = SettingsConfigDict(env_prefix="SCHEDULER_", extra="ignore", populate_by_name=True)

    service_name: str = "scheduler"
    # `{service}` is replaced by the service's name: its Kubernetes Service, port 8000.
    base_url: str = "http://{service}:8000"
    timeout_s: float = 900.0


def previous_month(today: date) -> str:
    """The month before `today`'s, as YYYY-MM."""
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def request_body(raw: str | None, previous_month_field: str | None, today: date) -> dict[str, Any]:
    """The JSON object to send: `raw` (default `{}`), with the previous month under `previous_month_field`."""
    try:
        body = json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"the body is not JSON: {exc.msg}") from exc
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    if previous_month_field:
        body[previous_month_field] = previous_month(today)
    return body


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m shared.scheduled", description=__doc__.split("\n\n")[0])
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("method", choices=("POST", "PUT", "GET"))
    parser.add_argument("path", help="the route, e.g. /api/v1/enrollment/stats/coverage/snapshots")
    parser.add_argument("body", nargs="?", help="a JSON object (default {})")
    parser.add_argument(
        "--previous-month",
        metavar="FIELD",
        help="set FIELD of the body to the month before today's (Asia/Shanghai), e.g. period or month",
    )
    args = parser.parse_args(argv)
    if not args.path.startswith("/"):
        parser.error(f"the path must start with /: {args.path!r}")
    return args


async def call(settings: SchedulerSettings, args: argparse.Namespace, body: dict[str, Any]) -> httpx.Response:
    token = issue_token(settings.jwt_secret, subject=SUBJECT, role=Role.OPS, ttl_seconds=int(settings.timeout_s) + 60)
    base = settings.base_url.format(service=args.service)
    async with httpx.AsyncClient(base_url=base, timeout=settings.timeout_s) as client:
        return await client.request(
            args.method,
            args.path,
            json=None if args.method == "GET" else body,
            headers={"Authorization": f"Bearer {token}"},
        )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        body = request_body(args.body, args.previous_month, business_today())
    except ValueError as exc:
        print(f"scheduled: {exc}", file=sys.stderr)
        return 2
    settings = SchedulerSettings()
    try:
        answer = asyncio.run(call(settings, args, body))
    except httpx.HTTPError as exc:
        print(f"scheduled: {args.method} {args.service}{args.path}: {exc!r}", file=sys.stderr)
        return 1
    print(f"{args.method} {args.service}{args.path} {answer.status_code}", file=sys.stderr)
    print(answer.text)
    return 0 if answer.is_success else 1


if __name__ == "__main__":
    sys.exit(main())
