"""Gateway rules: which headers cross the gateway, and API-client secrets. Pure functions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

# Request headers passed to a service; everything else (cookies, hop-by-hop) stays here.
FORWARDED_REQUEST_HEADERS = frozenset(
    {"authorization", "content-type", "accept", "accept-language", "idempotency-key", "user-agent", "if-none-match"}
)
# Response headers returned to the client.
RETURNED_RESPONSE_HEADERS = frozenset(
    {"content-type", "location", "idempotent-replayed", "retry-after", "etag", "cache-control", "x-request-id"}
)
PUBLIC_PATHS = frozenset({"openapi.json", "docs"})


def request_headers_to_forward(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers if k.lower() in FORWARDED_REQUEST_HEADERS}


def response_headers_to_return(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers if k.lower() in RETURNED_RESPONSE_HEADERS}


def is_public(method: str, path: str) -> bool:
    """Each service's OpenAPI document and docs page are readable without a token."""
    return method == "GET" and path in PUBLIC_PATHS


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_client_secret(secret: str, salt: bytes, iterations: int) -> str:
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations).hex()


def secret_matches(secret: str, salt: bytes, iterations: int, expected_hash: str) -> bool:
    return hmac.compare_digest(hash_client_secret(secret, salt, iterations), expected_hash)
