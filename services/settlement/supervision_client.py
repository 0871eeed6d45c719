"""The call to supervision's in-stage check (事中审核): settlement's one synchronous outbound call.

One pooled aiohttp session per process (`shared.http_client`, see decision 0007), opened and
closed with the app's lifespan. The
whole call (connect, send, answer) is bounded by the deadline; what a missed deadline or an
unreachable supervision means is decided in `in_stage_check.py`. Settlement authenticates
with a short-lived token of the `service` role, signed with its own key (see decision 0005).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
from fastapi import FastAPI
from prometheus_client import Counter

from services.settlement.in_stage_check import CheckOutcome, Unanswered, read_answer
from services.settlement.settings import Settings
from shared.auth import Role, issue_token
from shared.http_client import pooled_session
from shared.logging import request_id_var
from shared.tracing import current_trace_headers

logger = logging.getLogger("yibao.settlement.in_stage_check")

IN_STAGE_CHECKS = Counter(
    "yibao_in_stage_checks_total",
    "事中审核: claims checked by supervision, by route (settlement, pre_settlement) and decision "
    "(settle, settle-for-post-audit, refuse, unavailable)",
    ["route", "decision"],
)
POST_AUDIT_REQUIRED = Counter(
    "yibao_in_stage_check_unanswered_total",
    "Checks supervision did not answer: on route settlement, a claim stored for post audit (fail-open) "
    "or refused for want of an answer (fail-closed)",
    ["route", "reason", "fail_mode"],
)

SERVICE_TOKEN_TTL_SECONDS = 3600
SERVICE_TOKEN_RENEW_AFTER_SECONDS = 1800


class SupervisionChecker:
    def __init__(self, settings: Settings, session: aiohttp.ClientSession | None = None) -> None:
        """Build it inside the running event loop (the app's lifespan): the session needs it."""
        self.deadline_s = settings.in_stage_deadline_ms / 1000
        self.fail_mode = settings.in_stage_fail_mode
        self._url = settings.supervision_url.rstrip("/") + "/api/v1/supervision/checks"
        self._settings = settings
        # The session's own timeout stays above the deadline: asyncio.timeout bounds the whole call.
        self._session = session or pooled_session(
            max_connections=settings.in_stage_max_connections,
            max_connections_per_host=settings.in_stage_max_connections,
            timeout=aiohttp.ClientTimeout(total=self.deadline_s * 2 + 1),
        )
        self._token = ""
        self._token_minted_at = 0.0
        self._late_calls: set[asyncio.Future[tuple[int, bytes]]] = set()

    def _bearer(self) -> str:
        now = time.monotonic()
        if not self._token or now - self._token_minted_at >= SERVICE_TOKEN_RENEW_AFTER_SECONDS:
            self._token = issue_token(
                self._settings.jwt_secret,
                subject="settlement",
                role=Role.SERVICE,
                ttl_seconds=SERVICE_TOKEN_TTL_SECONDS,
                issuer=self._settings.jwt_issuer,
                algorithm=self._settings.jwt_algorithm,
            )
            self._token_minted_at = now
        return self._token

    async def ask(self, body: dict[str, Any]) -> CheckOutcome:
        headers = {
            "authorization": f"Bearer {self._bearer()}",
            "content-type": "application/json",
            "x-request-id": request_id_var.get() or "",
            **current_trace_headers(),
        }
        call = asyncio.ensure_future(self._post(json.dumps(body).encode(), headers))
        try:
            # The deadline covers the whole call: a pooled connection, sending, and reading the answer.
            async with asyncio.timeout(self.deadline_s):
                status, raw = await asyncio.shield(call)
        except TimeoutError:  # the deadline, or one of aiohttp's own timeouts
            outcome: CheckOutcome = Unanswered("timeout", f"no answer within {self.deadline_s * 1000:.0f} ms")
        except aiohttp.ClientError as exc:
            outcome = Unanswered("unreachable", f"{type(exc).__name__}: {exc}")
        else:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            outcome = read_answer(status, parsed)
        finally:
            self._keep_if_late(call)
        if isinstance(outcome, Unanswered):
            logger.warning("in-stage check unanswered (%s): %s", outcome.reason, outcome.detail)
        return outcome

    def _keep_if_late(self, call: asyncio.Future[tuple[int, bytes]]) -> None:
        if not call.done():
            # Past the deadline the answer no longer counts, but the call is left to finish (within
            # the session's timeout) rather than cancelled: cancelling closes its connection, so
            # under load every missed deadline cost a new TCP connection on both sides, and
            # supervision went on working on the orphaned request anyway. Calls still running
            # hold pooled connections, which bounds what settlement has in flight at supervision.
            self._late_calls.add(call)
            call.add_done_callback(self._forget_late_call)

    async def _post(self, content: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        async with self._session.post(self._url, data=content, headers=headers, allow_redirects=False) as answer:
            return answer.status, await answer.read()

    def _forget_late_call(self, call: asyncio.Future[tuple[int, bytes]]) -> None:
        self._late_calls.discard(call)
        if not call.cancelled():
            call.exception()  # a late failure was already counted as unanswered: retrieved, not logged again

    async def aclose(self) -> None:
        for call in list(self._late_calls):
            call.cancel()
        await asyncio.gather(*self._late_calls, return_exceptions=True)
        await self._session.close()


async def open_supervision_checker(app: FastAPI) -> None:
    app.state.supervision_checker = SupervisionChecker(app.state.settings)


async def close_supervision_checker(app: FastAPI) -> None:
    await app.state.supervision_checker.aclose()
