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
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import PlainTransaction, PositionalStatement
from shared.errors import Conflict, FieldError, ProblemError, Unprocessable

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


# Plain SQL text, not Core constructs: these run on every idempotent write, and a text statement
# costs SQLAlchemy no compile or cache-key work.
#
# Claims a key: returns a row only to the request that inserted it; a concurrent duplicate waits on
# the unique index until the first commits, then gets none. Also for a caller that folds the claim
# into a larger statement (a data-modifying CTE), with the parameters of `claim_params`.
CLAIM_SQL = (
    "INSERT INTO idempotency_keys (scope, key, request_hash) "
    "VALUES (:idempotency_scope, :idempotency_key, :idempotency_request_hash) "
    "ON CONFLICT DO NOTHING RETURNING key"
)
_CLAIM = text(CLAIM_SQL)
_STORED_SQL = (
    "SELECT request_hash, status_code, response_body FROM idempotency_keys "
    "WHERE scope = :idempotency_scope AND key = :idempotency_key"
)
_STORED = text(_STORED_SQL)
_STORED_PLAIN = PositionalStatement(_STORED_SQL)
# Stores the answer of a claimed key. Also for a caller that folds it into a larger statement of its
# transaction (a data-modifying CTE beside its own writes), with the parameters of `finish_params`.
FINISH_SQL = (
    "UPDATE idempotency_keys SET status_code = :idempotency_status_code, "
    "response_body = :idempotency_response_body WHERE scope = :idempotency_scope AND key = :idempotency_key"
)
_FINISH = text(FINISH_SQL)


async def begin(session: AsyncSession, *, scope: str, key: str, request_hash: str) -> StoredResponse | None:
    """Claim the key. None: the caller owns it and must do the work and `finish`.
    A StoredResponse: the first request's answer, to return as it is."""
    claimed = await session.execute(_CLAIM, claim_params(scope=scope, key=key, request_hash=request_hash))
    if claimed.first() is not None:
        return None
    return await replay(session, scope=scope, key=key, request_hash=request_hash)


def claim_params(*, scope: str, key: str, request_hash: str) -> dict[str, object]:
    """The parameters of `CLAIM_SQL`."""
    return {"idempotency_scope": scope, "idempotency_key": key, "idempotency_request_hash": request_hash}


async def replay(session: AsyncSession, *, scope: str, key: str, request_hash: str) -> StoredResponse:
    """The stored answer of a key this request did not claim (`CLAIM_SQL` returned no row)."""
    row = (await session.execute(_STORED, {"idempotency_scope": scope, "idempotency_key": key})).one()
    return _stored_answer(row.request_hash, row.status_code, row.response_body, request_hash)


async def replay_plain(transaction: PlainTransaction, *, scope: str, key: str, request_hash: str) -> StoredResponse:
    """`replay` in a plain asyncpg transaction (shared.db.Database.plain_transaction)."""
    row = await transaction.fetchrow(_STORED_PLAIN, {"idempotency_scope": scope, "idempotency_key": key})
    assert row is not None  # the key was claimed by another request, and keys are never deleted
    return _stored_answer(row["request_hash"], row["status_code"], row["response_body"], request_hash)


def _stored_answer(stored_hash: str, status_code: int | None, body: str | None, request_hash: str) -> StoredResponse:
    if stored_hash != request_hash:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request body. "
            "Use a new key for a new request, or resend the original body.",
            kind="idempotency-key-reused",
            title="Idempotency key reused with another body",
        )
    if status_code is None or body is None:  # pragma: no cover - only if a transaction committed without finishing
        raise Conflict("The first request with this Idempotency-Key is still in progress; retry shortly.")
    return StoredResponse(status_code=status_code, body=body)


async def finish(
    session: AsyncSession, *, scope: str, key: str, status_code: int, body: dict[str, Any]
) -> StoredResponse:
    """Store the answer in the caller's transaction; return it for the first caller to send."""
    stored = answer(status_code, body)
    await session.execute(_FINISH, finish_params(scope=scope, key=key, stored=stored))
    return stored


def answer(status_code: int, body: dict[str, Any]) -> StoredResponse:
    """The answer as it is stored and sent (compact JSON), before it is stored."""
    return StoredResponse(status_code, json.dumps(body, ensure_ascii=False, separators=(",", ":")))


def finish_params(*, scope: str, key: str, stored: StoredResponse) -> dict[str, object]:
    """The parameters of `FINISH_SQL` that store `stored` as the key's answer."""
    return {
        "idempotency_scope": scope,
        "idempotency_key": key,
        "idempotency_status_code": stored.status_code,
        "idempotency_response_body": stored.body,
    }
