"""Idempotency keys for client writes that may be retried (hospital settlements, for one).

The first request with a key inserts it and does the work in the same transaction; a
concurrent duplicate waits on the unique index until that commits, then reads the stored
answer. A retry with a different body is refused with 422.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from fastapi import Response
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import Conflict, FieldError, ProblemError, Unprocessable
from shared.tables import idempotency_keys

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: str  # the exact JSON text of the first answer, so every retry gets the same bytes

    def as_response(self, *, replayed: bool, headers: dict[str, str] | None = None) -> Response:
        extra = {"Idempotent-Replayed": "true"} if replayed else {}
        return Response(
            self.body, status_code=self.status_code, media_type="application/json", headers={**extra, **(headers or {})}
        )


def fingerprint(body: Any) -> str:
    """A stable hash of the request body (key order and whitespace do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def require_key(key: str | None) -> str:
    if not key or not key.strip():
        raise ProblemError(
            "This write needs an `Idempotency-Key` header (a unique value per logical request, "
            "reused on every retry of it).",
            status=428,
            kind="idempotency-key-required",
            title="Idempotency key required",
            errors=[FieldError(field="Idempotency-Key", message="header is required")],
        )
    key = key.strip()
    if len(key) > MAX_KEY_LENGTH:
        raise Unprocessable(
            f"The Idempotency-Key is longer than {MAX_KEY_LENGTH} characters.",
            kind="idempotency-key-invalid",
            errors=[FieldError(field="Idempotency-Key", message=f"at most {MAX_KEY_LENGTH} characters")],
        )
    return key


async def begin(session: AsyncSession, *, scope: str, key: str, request_hash: str) -> StoredResponse | None:
    """Claim the key. None: the caller owns it and must do the work and `finish`.
    A StoredResponse: the first request's answer, to return as it is."""
    claimed = await session.execute(
        insert(idempotency_keys)
        .values(scope=scope, key=key, request_hash=request_hash)
        .on_conflict_do_nothing()
        .returning(idempotency_keys.c.key)
    )
    if claimed.first() is not None:
        return None
    row = (
        await session.execute(
            select(
                idempotency_keys.c.request_hash, idempotency_keys.c.status_code, idempotency_keys.c.response_body
            ).where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
        )
    ).one()
    if row.request_hash != request_hash:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request body. "
            "Use a new key for a new request, or resend the original body.",
            kind="idempotency-key-reused",
            title="Idempotency key reused with another body",
        )
    if row.status_code is None:  # pragma: no cover - only if a transaction committed without finishing
        raise Conflict("The first request with this Idempotency-Key is still in progress; retry shortly.")
    return StoredResponse(status_code=row.status_code, body=row.response_body)


async def finish(
    session: AsyncSession, *, scope: str, key: str, status_code: int, body: dict[str, Any]
) -> StoredResponse:
    """Store the answer in the caller's transaction; return it for the first caller to send."""
    stored = StoredResponse(status_code, json.dumps(body, ensure_ascii=False, separators=(",", ":")))
    await session.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
        .values(status_code=status_code, response_body=stored.body)
    )
    return stored
