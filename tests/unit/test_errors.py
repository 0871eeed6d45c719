"""RFC 9457 problem details: every error leaves a service as application/problem+json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from shared.errors import (
    PROBLEM_BASE,
    FieldError,
    NotFound,
    ProblemError,
    Unauthorized,
    Unprocessable,
    install_problem_handlers,
)


class Line(BaseModel):
    item_code: str
    quantity: int = Field(gt=0)


class Claim(BaseModel):
    person_no: str
    lines: list[Line]


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/people/{person_no}")
    async def get_person(person_no: str) -> dict[str, str]:
        raise NotFound(f"There is no person {person_no}.")

    @app.post("/enrollments")
    async def enroll() -> dict[str, str]:
        raise Unprocessable(
            "The enrollment year is closed.",
            errors=[FieldError(field="year", message="enrollment for 2020 is closed")],
        )

    @app.get("/crash")
    async def crash() -> dict[str, str]:
        raise RuntimeError("db password is hunter2")

    @app.post("/claims")
    async def claim(body: Claim) -> dict[str, int]:
        return {"lines": len(body.lines)}

    @app.get("/search")
    async def search(limit: int = 10) -> dict[str, int]:
        return {"limit": limit}

    @app.get("/custom")
    async def custom() -> dict[str, str]:
        raise ProblemError(
            "Slow down.", status=429, kind="rate-limited", title="Too many requests", extra={"retry_in_s": 3}
        )

    @app.get("/expired")
    async def expired() -> dict[str, str]:
        raise Unauthorized("The token has expired.", kind="token-expired")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def _problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"https://yibao.dev/problems/{kind}"
    assert body["type"] == PROBLEM_BASE + kind
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    return body


async def test_not_found_problem(client: httpx.AsyncClient) -> None:
    body = _problem(await client.get("/people/P1"), 404, "not-found")
    assert body["title"] == "Not found"
    assert body["detail"] == "There is no person P1."
    assert body["instance"] == "/people/P1"
    assert "errors" not in body


async def test_unprocessable_problem_lists_field_errors(client: httpx.AsyncClient) -> None:
    body = _problem(await client.post("/enrollments"), 422, "unprocessable")
    assert body["errors"] == [{"field": "year", "message": "enrollment for 2020 is closed"}]
    assert body["detail"] == "The enrollment year is closed."


async def test_crash_is_a_500_problem_without_internals(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.get("/crash")
    body = _problem(response, 500, "internal")
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    assert body["instance"] == "/crash"
    # The details go to the log instead.
    crash_logs = [r for r in caplog.records if r.name == "yibao.errors"]
    assert crash_logs
    assert crash_logs[0].exc_info is not None


async def test_body_validation_names_each_bad_field_without_the_body_prefix(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/claims",
        json={"person_no": "P1", "lines": [{"item_code": "A", "quantity": 0}, {"item_code": "B", "quantity": 2}]},
    )
    body = _problem(response, 422, "validation")
    assert [e["field"] for e in body["errors"]] == ["lines.0.quantity"]
    assert body["errors"][0]["message"]


async def test_body_validation_reports_every_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/claims", json={"lines": [{"quantity": "many"}]})
    body = _problem(response, 422, "validation")
    assert {e["field"] for e in body["errors"]} == {"person_no", "lines.0.item_code", "lines.0.quantity"}


async def test_missing_body_is_reported_as_body(client: httpx.AsyncClient) -> None:
    body = _problem(await client.post("/claims"), 422, "validation")
    assert [e["field"] for e in body["errors"]] == ["body"]


async def test_query_validation_names_the_parameter(client: httpx.AsyncClient) -> None:
    body = _problem(await client.get("/search", params={"limit": "lots"}), 422, "validation")
    assert [e["field"] for e in body["errors"]] == ["limit"]


async def test_valid_requests_pass_untouched(client: httpx.AsyncClient) -> None:
    response = await client.post("/claims", json={"person_no": "P1", "lines": [{"item_code": "A", "quantity": 1}]})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"lines": 1}


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    body = _problem(await client.get("/nowhere"), 404, "not-found")
    assert body["instance"] == "/nowhere"


async def test_wrong_method_is_a_405_problem_that_keeps_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/crash")
    _problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "GET"


async def test_custom_problem_keeps_status_kind_title_and_extension_members(client: httpx.AsyncClient) -> None:
    body = _problem(await client.get("/custom"), 429, "rate-limited")
    assert body["title"] == "Too many requests"
    assert body["retry_in_s"] == 3


async def test_unauthorized_with_a_specific_kind(client: httpx.AsyncClient) -> None:
    body = _problem(await client.get("/expired"), 401, "token-expired")
    assert body["title"] == "Authentication required"


def test_problem_error_defaults_and_overrides() -> None:
    plain = ProblemError("x")
    assert (plain.status, plain.kind, plain.title, plain.errors, plain.extra) == (
        400,
        "bad-request",
        "Bad request",
        None,
        {},
    )
    overridden = NotFound("y", kind="unknown-service")
    assert (overridden.status, overridden.kind, overridden.title) == (404, "unknown-service", "Not found")
    # The override is per instance, never on the class.
    assert NotFound("z").kind == "not-found"
