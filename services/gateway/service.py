"""Gateway rules: which headers cross the gateway, and API-client secrets. Pure functions."""

from __future__ import annotations

import hashlib
import hmac
import re
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


# Bytes that may not stand in a request target as they are: controls, space, DEL, non-ASCII.
_NOT_URL_SAFE = re.compile(rb"[^\x21-\x7e]")


def _percent_encode(match: re.Match[bytes]) -> bytes:
    return b"%%%02X" % match.group()[0]


def upstream_target(raw_path: bytes, query_string: bytes) -> str:
    """The path and query to send upstream: exactly as received (still percent-encoded), since
    decoding and re-encoding would change what the service sees; only a byte that cannot
    stand in a request line as it is gets percent-encoded (never reaches one otherwise)."""
    target = _NOT_URL_SAFE.sub(_percent_encode, raw_path)
    if query_string:
        target += b"?" + _NOT_URL_SAFE.sub(_percent_encode, query_string)
    return target.decode("ascii")


def is_public(method: str, path: str) -> bool:
    """Each service's OpenAPI document and docs page are readable without a token."""
    return method == "GET" and path in PUBLIC_PATHS


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_client_secret(secret: str, salt: bytes, iterations: int) -> str:
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations).hex()


def secret_matches(secret: str, salt: bytes, iterations: int, expected_hash: str) -> bool:
    return hmac.compare_digest(hash_client_secret(secret, salt, iterations), expected_hash)
