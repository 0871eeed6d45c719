"""RFC 9457 problem details for every error a service returns.

Each kind of error has a stable `type` URI under PROBLEM_BASE so clients can branch on it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_BASE = "https://yibao.dev/problems/"
PROBLEM_JSON = "application/problem+json"

logger = logging.getLogger("yibao.errors")


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """The RFC 9457 body. Extension members go beside the standard ones."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise from anywhere below a route; the handler turns it into problem+json."""

    status: int = 400
    kind: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] | None = None,
        extra: dict[str, Any] | None = None,
        kind: str | None = None,
        title: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors) if errors else None
        self.extra = extra or {}
        if kind:
            self.kind = kind
        if title:
            self.title = title
        if status:
            self.status = status


class NotFound(ProblemError):
    status, kind, title = 404, "not-found", "Not found"


class Conflict(ProblemError):
    status, kind, title = 409, "conflict", "Conflict"


class Unprocessable(ProblemError):
    status, kind, title = 422, "unprocessable", "Unprocessable request"


class Unauthorized(ProblemError):
    status, kind, title = 401, "unauthorized", "Authentication required"


class Forbidden(ProblemError):
    status, kind, title = 403, "forbidden", "Forbidden"


class ServiceUnavailable(ProblemError):
    status, kind, title = 503, "service-unavailable", "Service unavailable"


def problem_response(
    status: int,
    kind: str,
    title: str,
    detail: str | None,
    *,
    instance: str | None = None,
    errors: Sequence[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=PROBLEM_BASE + kind,
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        errors=list(errors) if errors else None,
    ).model_dump(exclude_none=True)
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_path(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    """Every error leaves the service as problem+json: ours, validation, routing, and crashes."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(
            exc.status,
            exc.kind,
            exc.title,
            exc.detail,
            instance=request.url.path,
            errors=exc.errors,
            extra=exc.extra,
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            FieldError(field=_field_path(e.get("loc", ())), message=str(e.get("msg", "invalid"))) for e in exc.errors()
        ]
        return problem_response(
            422,
            "validation",
            "Request validation failed",
            "One or more fields are invalid; see `errors` and correct each field.",
            instance=request.url.path,
            errors=errors,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        kinds = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized", 403: "forbidden"}
        kind = kinds.get(exc.status_code, f"http-{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(
            exc.status_code,
            kind,
            detail or "HTTP error",
            detail,
            instance=request.url.path,
            headers=dict(exc.headers) if exc.headers else None,
        )

    async def on_pool_timeout(request: Request, exc: Exception) -> JSONResponse:
        # Every pooled database connection stayed busy for the pool's timeout: overload, not a fault.
        logger.warning("database pool exhausted", extra={"path": request.url.path})
        return problem_response(
            503,
            "database-busy",
            "Database busy",
            "Every database connection of the service stayed busy; the request was not applied. Retry shortly "
            "(with the same Idempotency-Key where the route takes one).",
            instance=request.url.path,
            headers={"Retry-After": "1"},
        )

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(
            500,
            "internal",
            "Internal error",
            "The service failed unexpectedly; the request was not applied. Quote the request id to support.",
            instance=request.url.path,
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(PoolTimeout, on_pool_timeout)
    app.add_exception_handler(Exception, on_crash)
