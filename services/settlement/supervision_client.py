"""The call to supervision's in-stage check (事中审核): settlement's one synchronous outbound call.

One pooled `httpx.AsyncClient` per process, opened and closed with the app's lifespan. The
whole call (connect, send, answer) is bounded by the deadline; what a missed deadline or an
unreachable supervision means is decided in `in_stage_check.py`. Settlement authenticates
with a short-lived token of the `service` role, signed with its own key (see decision 0005).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from prometheus_client import Counter

from services.settlement.in_stage_check import CheckOutcome, Unanswered, read_answer
from services.settlement.settings import Settings
from shared.auth import Role, issue_token
from shared.logging import request_id_var

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
    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.deadline_s = settings.in_stage_deadline_ms / 1000
        self.fail_mode = settings.in_stage_fail_mode
        self._url = settings.supervision_url.rstrip("/") + "/api/v1/supervision/checks"
        self._settings = settings
        # httpx's own timeouts stay above the deadline: asyncio.timeout bounds the whole call.
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(self.deadline_s * 2 + 1),
            limits=httpx.Limits(
                max_connections=settings.in_stage_max_connections,
                max_keepalive_connections=settings.in_stage_max_connections,
            ),
        )
        HTTPXClientInstrumentor.instrument_client(self._client)
        self._token = ""
        self._token_minted_at = 0.0

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
        headers = {"Authorization": f"Bearer {self._bearer()}", "x-request-id": request_id_var.get() or ""}
        try:
            async with asyncio.timeout(self.deadline_s):
                response = await self._client.post(self._url, json=body, headers=headers)
        except (TimeoutError, httpx.TimeoutException):
            outcome: CheckOutcome = Unanswered("timeout", f"no answer within {self.deadline_s * 1000:.0f} ms")
        except httpx.HTTPError as exc:
            outcome = Unanswered("unreachable", f"{type(exc).__name__}: {exc}")
        else:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            outcome = read_answer(response.status_code, answer)
        if isinstance(outcome, Unanswered):
            logger.warning("in-stage check unanswered (%s): %s", outcome.reason, outcome.detail)
        return outcome

    async def aclose(self) -> None:
        await self._client.aclose()


async def open_supervision_checker(app: FastAPI) -> None:
    app.state.supervision_checker = SupervisionChecker(app.state.settings)


async def close_supervision_checker(app: FastAPI) -> None:
    await app.state.supervision_checker.aclose()
