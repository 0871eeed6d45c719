"""Gateway rules: which headers cross the gateway, public paths, and client secrets."""

from __future__ import annotations

import pytest

from services.gateway.service import (
    hash_client_secret,
    is_public,
    new_client_secret,
    request_headers_to_forward,
    response_headers_to_return,
    secret_matches,
    upstream_target,
)

ITERATIONS = 1_000
SALT = b"0123456789abcdef"


def test_request_headers_pass_what_the_services_need() -> None:
    forwarded = request_headers_to_forward(
        [
            ("Authorization", "Bearer t"),
            ("Idempotency-Key", "k-1"),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
            ("Accept-Language", "zh-CN"),
            ("User-Agent", "his/1.0"),
            ("If-None-Match", '"v1"'),
        ]
    )
    assert forwarded == {
        "authorization": "Bearer t",
        "idempotency-key": "k-1",
        "content-type": "application/json",
        "accept": "application/json",
        "accept-language": "zh-CN",
        "user-agent": "his/1.0",
        "if-none-match": '"v1"',
    }


@pytest.mark.parametrize(
    "name",
    [
        "cookie",
        "host",
        "connection",
        "transfer-encoding",
        "content-length",
        "x-forwarded-for",
        "x-request-id",
        # Identity headers are set by the gateway from the checked token, never taken from the client.
        "x-yibao-subject",
        "x-yibao-role",
    ],
)
def test_request_headers_that_stay_at_the_gateway(name: str) -> None:
    forwarded = request_headers_to_forward([(name, "v"), (name.upper(), "v"), ("authorization", "Bearer t")])
    assert forwarded == {"authorization": "Bearer t"}


def test_response_headers_returned_to_the_client() -> None:
    returned = response_headers_to_return(
        [
            ("Location", "/api/v1/settlement/settlements/1"),
            ("Idempotent-Replayed", "true"),
            ("Content-Type", "application/json"),
            ("Retry-After", "3"),
            ("ETag", '"v2"'),
            ("Cache-Control", "no-store"),
            ("X-Request-Id", "r-1"),
            ("Set-Cookie", "session=abc"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "12"),
            ("Connection", "keep-alive"),
            ("Server", "uvicorn"),
        ]
    )
    assert returned == {
        "location": "/api/v1/settlement/settlements/1",
        "idempotent-replayed": "true",
        "content-type": "application/json",
        "retry-after": "3",
        "etag": '"v2"',
        "cache-control": "no-store",
        "x-request-id": "r-1",
    }


@pytest.mark.parametrize(
    ("method", "path", "public"),
    [
        ("GET", "openapi.json", True),
        ("GET", "docs", True),
        ("POST", "openapi.json", False),
        ("HEAD", "docs", False),
        ("GET", "persons", False),
        ("GET", "openapi.json/../persons", False),
        ("GET", "docs/secret", False),
        ("GET", "", False),
    ],
)
def test_is_public(method: str, path: str, public: bool) -> None:
    assert is_public(method, path) is public


def test_client_secret_hash_and_verify() -> None:
    secret = new_client_secret()
    stored = hash_client_secret(secret, SALT, ITERATIONS)
    assert secret not in stored
    assert len(stored) == 64
    assert secret_matches(secret, SALT, ITERATIONS, stored)


def test_wrong_secret_salt_or_iterations_do_not_match() -> None:
    stored = hash_client_secret("s3cret-value", SALT, ITERATIONS)
    assert not secret_matches("s3cret-valuE", SALT, ITERATIONS, stored)
    assert not secret_matches("s3cret-value", b"another-salt----", ITERATIONS, stored)
    assert not secret_matches("s3cret-value", SALT, ITERATIONS + 1, stored)
    assert not secret_matches("", SALT, ITERATIONS, stored)


def test_hash_is_deterministic_for_the_same_inputs_and_salted() -> None:
    assert hash_client_secret("x", SALT, ITERATIONS) == hash_client_secret("x", SALT, ITERATIONS)
    assert hash_client_secret("x", SALT, ITERATIONS) != hash_client_secret("x", b"other-salt------", ITERATIONS)


def test_new_client_secrets_are_long_and_unique() -> None:
    secrets = {new_client_secret() for _ in range(20)}
    assert len(secrets) == 20
    assert all(len(s) >= 43 for s in secrets)  # 32 random bytes, URL-safe base64


def test_the_upstream_target_is_the_path_and_query_exactly_as_received() -> None:
    assert upstream_target(b"/api/v1/settlement/settlements", b"") == "/api/v1/settlement/settlements"
    assert upstream_target(b"/api/v1/x/a%2Fb%20c", b"q=%E5%8C%BB&x=1") == "/api/v1/x/a%2Fb%20c?q=%E5%8C%BB&x=1"
    assert upstream_target(b"/api/v1/x/%zz", b"a=%") == "/api/v1/x/%zz?a=%"  # not ours to repair


def test_bytes_that_cannot_stand_in_a_request_line_are_percent_encoded() -> None:
    assert upstream_target("/api/v1/x/医".encode(), b"") == "/api/v1/x/%E5%8C%BB"
    assert upstream_target(b"/api/v1/x/a b\x7f\r\n", b"q=\x00") == "/api/v1/x/a%20b%7F%0D%0A?q=%00"
