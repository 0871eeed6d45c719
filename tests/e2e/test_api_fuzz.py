"""Property-based API fuzzing (schemathesis) through the gateway: valid and invalid inputs
generated from each service's OpenAPI document. No input may cause a server error, and
every client error is an RFC 9457 problem."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.generation.case import Case

from devstack.stack import Stack
from shared.auth import Role
from tests.e2e.conftest import INSTITUTION, bearer

# The roles that get past authorisation to each service's validation and rules: a hospital reaches
# the settle routes, ops the reference data, reconciliation and clearing (a hospital's random
# institution code is refused before its dates are read); an auditor the rule library, ops the
# reinstatements and peer baselines.
ROLES = {
    "enrollment": bearer(Role.ADMIN),
    "settlement": bearer(Role.HOSPITAL, "his-fuzz", INSTITUTION),
    "settlement-ops": bearer(Role.OPS),
    "ltc": bearer(Role.ADMIN),
    "supervision": bearer(Role.AUDITOR),
    "supervision-ops": bearer(Role.OPS),
    "gateway": bearer(Role.ADMIN),
}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("caller", sorted(ROLES))
def test_no_generated_request_gets_a_server_error(running_stack: Stack, caller: str, mode: GenerationMode) -> None:
    gateway = running_stack.gateway_url
    service = caller.split("-")[0]
    schema = schemathesis.openapi.from_url(f"{gateway}/api/v1/{service}/openapi.json")

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=schema.as_strategy(generation_mode=mode))
    def check(case: Case[Any]) -> None:
        response = case.call(base_url=gateway, headers=ROLES[caller], timeout=15)
        where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
        assert response.status_code < 500, where
        if response.status_code >= 400:
            assert response.headers["content-type"] == ["application/problem+json"], where
            assert response.json()["type"].startswith("https://yibao.dev/problems/"), where

    check()
