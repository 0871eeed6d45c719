"""Scheduled work end to end: `python -m shared.scheduled`, as the CronJobs run it, calls a service of the
running stack directly with the ops token it signs, prints the answer and exits by its status."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from devstack.stack import Stack
from shared.business_time import business_today
from shared.scheduled import previous_month


async def scheduled(stack: Stack, service: str, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.scheduled",
        service,
        *args,
        env={**os.environ, "SCHEDULER_BASE_URL": stack.service_url(service)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_nightly_coverage_snapshot_is_taken_by_the_scheduled_call(running_stack: Stack) -> None:
    code, out, err = await scheduled(running_stack, "enrollment", "POST", "/api/v1/enrollment/stats/coverage/snapshots")
    assert code == 0, err
    assert "201" in err
    today = business_today().isoformat()
    assert json.loads(out)["as_of"] == today


async def test_the_monthly_peer_baseline_takes_the_month_just_ended(running_stack: Stack) -> None:
    code, out, err = await scheduled(
        running_stack, "supervision", "POST", "/api/v1/supervision/peer-baselines", "--previous-month", "period"
    )
    assert code == 0, err
    assert json.loads(out)["period"] == previous_month(business_today())


async def test_a_refused_call_exits_1_with_the_problem(running_stack: Stack) -> None:
    this_month = f"{business_today():%Y-%m}"  # not over yet: no baseline
    code, out, err = await scheduled(
        running_stack, "supervision", "POST", "/api/v1/supervision/peer-baselines", json.dumps({"period": this_month})
    )
    assert code == 1
    assert " 422" in err
    assert json.loads(out)["type"].endswith("/period-not-closed")
    unreachable = await scheduled(running_stack, "ltc", "GET", "/api/v1/ltc/nothing-here")
    assert unreachable[0] == 1
