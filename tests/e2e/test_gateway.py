"""The gateway: one door, JWT checked, problems for every failure, readiness of the whole stack."""

from __future__ import annotations

import asyncio
import json
import subprocess

import httpx
import jwt

from devstack.infra import REPO_ROOT
from devstack.stack import Stack
from shared.auth import Role
from shared.settings import DEVELOPMENT_JWT_SECRET
from tests.e2e.conftest import HOSPITAL, OPS, bearer


async def test_readyz_is_200_only_when_every_service_is_ready(gateway: httpx.AsyncClient, running_stack: Stack) -> None:
    ready = await gateway.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "services": "ok"}

    running_stack.stop_process("ltc")
    try:
        down = await gateway.get("/readyz")
        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        assert "ltc" in down.json()["detail"]
        local = await gateway.get("/readyz?scope=local")
        assert local.status_code == 200, "the gateway's own readiness must not depend on the services"
        unreachable = await gateway.get("/api/v1/ltc/persons/P00000000001", headers=OPS)
        assert unreachable.status_code == 503
        assert unreachable.json()["type"] == "https://yibao.dev/problems/upstream-unavailable"
    finally:
        running_stack.start_api("ltc")
        running_stack.wait_ready(timeout=60)


async def test_requests_without_a_valid_token_are_refused_at_the_door(gateway: httpx.AsyncClient) -> None:
    missing = await gateway.get("/api/v1/enrollment/persons/P00000000001")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    forged = jwt.encode({"sub": "x", "role": "admin", "exp": 4102444800, "iss": "yibao"}, "not-the-key" * 4)
    bad = await gateway.get("/api/v1/enrollment/persons/P00000000001", headers={"Authorization": f"Bearer {forged}"})
    assert bad.status_code == 401
    assert bad.json()["type"] == "https://yibao.dev/problems/token-invalid"


async def test_roles_are_enforced_by_the_service(gateway: httpx.AsyncClient) -> None:
    answer = await gateway.post(
        "/api/v1/enrollment/persons",
        json={"id_number": "x", "name": "x", "hukou_region_code": "350582", "residence_region_code": "350582"},
        headers=HOSPITAL,
    )
    assert answer.status_code == 403
    insured = await gateway.get("/api/v1/enrollment/persons/P00000000002", headers=bearer(Role.INSURED, "P00000000001"))
    assert insured.status_code == 403


async def test_unknown_service_and_validation_errors_are_problems(gateway: httpx.AsyncClient) -> None:
    unknown = await gateway.get("/api/v1/nosuch/things", headers=OPS)
    assert unknown.status_code == 404
    assert unknown.json()["type"] == "https://yibao.dev/problems/unknown-service"
    # The gateway is not one of the proxied services: an unknown path of its own is a plain 404 problem,
    # a known one with another method a 405, neither "there is no service 'gateway'".
    for path in ("/api/v1/gateway/nosuch", "/api/v1/gateway/nosuch/deeper", "/api/v1/gateway/"):
        own = await gateway.get(path, headers=OPS)
        assert own.status_code == 404, (path, own.text)
        assert own.headers["content-type"] == "application/problem+json"
        assert own.json()["type"] == "https://yibao.dev/problems/not-found", own.text
        assert "service" not in own.json()["detail"], own.text
    wrong_method = await gateway.get("/api/v1/gateway/clients", headers=OPS)
    assert wrong_method.status_code == 405, wrong_method.text
    assert wrong_method.json()["type"] == "https://yibao.dev/problems/method-not-allowed"
    assert wrong_method.headers["allow"] == "POST"
    assert (await gateway.get("/api/v1/gateway/services", headers=OPS)).status_code == 200
    invalid = await gateway.post(
        "/api/v1/settlement/settlements",
        json={"person_no": "P1", "visit_type": "spa", "lines": [{"quantity": -1, "unit_price": 1.5}]},
        headers={**HOSPITAL, "Idempotency-Key": "k"},
    )
    assert invalid.status_code == 422
    problem = invalid.json()
    assert problem["type"] == "https://yibao.dev/problems/validation"
    fields = {e["field"] for e in problem["errors"]}
    assert {"visit_type", "lines.0.quantity", "lines.0.unit_price", "lines.0.item_code"} <= fields
    not_json = await gateway.post(
        "/api/v1/settlement/settlements",
        content=b"{oops",
        headers={**HOSPITAL, "Idempotency-Key": "k", "content-type": "application/json"},
    )
    assert not_json.status_code == 422
    assert not_json.headers["content-type"] == "application/problem+json"


async def test_every_service_publishes_its_openapi_through_the_gateway(gateway: httpx.AsyncClient) -> None:
    for service in ("enrollment", "settlement", "ltc", "supervision", "gateway"):
        answer = await gateway.get(f"/api/v1/{service}/openapi.json")
        assert answer.status_code == 200, service
        assert answer.json()["info"]["title"].lower().startswith("yibao")
    docs = await gateway.get("/docs")
    assert docs.status_code == 200
    assert "/api/v1/settlement/openapi.json" in docs.text


async def test_api_clients_get_tokens_with_client_credentials(gateway: httpx.AsyncClient) -> None:
    created = await gateway.post(
        "/api/v1/gateway/clients",
        json={"name": "Jinjiang hospital HIS", "role": "hospital", "institution_code": "H35058200002"},
        headers=bearer(Role.ADMIN),
    )
    assert created.status_code == 201, created.text
    client = created.json()
    token = await gateway.post(
        "/api/v1/gateway/tokens", json={"client_id": client["client_id"], "client_secret": client["client_secret"]}
    )
    assert token.status_code == 200, token.text
    claims = jwt.decode(token.json()["access_token"], DEVELOPMENT_JWT_SECRET, algorithms=["HS256"], issuer="yibao")
    assert claims["role"] == "hospital"
    assert claims["inst"] == "H35058200002"
    wrong = await gateway.post(
        "/api/v1/gateway/tokens", json={"client_id": client["client_id"], "client_secret": "guess"}
    )
    assert wrong.status_code == 401
    not_admin = await gateway.post("/api/v1/gateway/clients", json={"name": "x", "role": "ops"}, headers=OPS)
    assert not_admin.status_code == 403


def test_make_token_prints_only_a_token() -> None:
    out = subprocess.run(
        ["make", "-s", "token", "ROLE=hospital", "SUB=his-1", "INST=H35058200001"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    claims = jwt.decode(out.strip(), DEVELOPMENT_JWT_SECRET, algorithms=["HS256"], issuer="yibao")
    assert out.strip().count("\n") == 0
    assert claims == {**claims, "sub": "his-1", "role": "hospital", "inst": "H35058200001"}


async def test_a_body_declared_above_the_gateways_limit_is_refused_before_it_is_sent(
    gateway: httpx.AsyncClient,
) -> None:
    """The real gateway's default cap (GATEWAY_MAX_BODY_BYTES, 64 MiB): the head alone gets the 413."""
    url = gateway.base_url
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(
            b"POST /api/v1/enrollment/imports/persons HTTP/1.1\r\nHost: gateway\r\nContent-Type: text/csv\r\n"
            + f"Content-Length: {64 * 1024 * 1024 + 1}\r\nAuthorization: {OPS['Authorization']}\r\n\r\n".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        assert head.startswith(b"HTTP/1.1 413 "), head
        length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))[15:])
        problem = json.loads(await reader.readexactly(length))
        assert problem["type"] == "https://yibao.dev/problems/request-too-large"
        assert problem["status"] == 413
    finally:
        writer.close()
