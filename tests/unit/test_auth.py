"""JWT issue/decode, the role checks and the bearer header."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from starlette.requests import Request

from shared import auth
from shared.auth import Principal, Role, bearer_token, decode_token, issue_token, require_role, verified_principal
from shared.errors import Forbidden, Unauthorized

SECRET = "unit-test-signing-key-0123456789-abcdefghij"
OTHER_SECRET = "another-signing-key-0123456789-abcdefghijkl"


def _raw_token(claims: dict[str, Any], secret: str = SECRET) -> str:
    now = int(time.time())
    return jwt.encode({"iss": "yibao", "iat": now, "exp": now + 600, **claims}, secret, algorithm="HS256")


@pytest.mark.parametrize("role", [Role.INSURED, Role.OPS, Role.AUDITOR, Role.ADMIN])
def test_round_trip(role: Role) -> None:
    token = issue_token(SECRET, subject="P00000000042", role=role)
    assert decode_token(token, SECRET) == Principal(subject="P00000000042", role=role, institution_code=None)


def test_round_trip_of_a_hospital_token_keeps_its_institution() -> None:
    token = issue_token(SECRET, subject="cl_abc", role=Role.HOSPITAL, institution_code="H35058200001")
    principal = decode_token(token, SECRET)
    assert principal.role is Role.HOSPITAL
    assert principal.institution_code == "H35058200001"
    assert not principal.is_staff


def test_custom_issuer_round_trip() -> None:
    token = issue_token(SECRET, subject="s", role=Role.OPS, issuer="yibao-test")
    assert decode_token(token, SECRET, issuer="yibao-test").subject == "s"


def test_expired_token_is_refused_as_expired() -> None:
    token = issue_token(SECRET, subject="s", role=Role.OPS, ttl_seconds=-5)
    with pytest.raises(Unauthorized) as info:
        decode_token(token, SECRET)
    assert info.value.kind == "token-expired"
    assert info.value.status == 401


def test_token_signed_with_another_key_is_invalid() -> None:
    token = issue_token(OTHER_SECRET, subject="s", role=Role.ADMIN)
    with pytest.raises(Unauthorized) as info:
        decode_token(token, SECRET)
    assert info.value.kind == "token-invalid"


def test_token_from_another_issuer_is_invalid() -> None:
    token = issue_token(SECRET, subject="s", role=Role.ADMIN, issuer="someone-else")
    with pytest.raises(Unauthorized) as info:
        decode_token(token, SECRET)
    assert info.value.kind == "token-invalid"


def test_unsigned_token_is_invalid() -> None:
    token = jwt.encode({"sub": "s", "role": "admin", "iss": "yibao", "exp": int(time.time()) + 600}, "", "none")
    with pytest.raises(Unauthorized) as info:
        decode_token(token, SECRET)
    assert info.value.kind == "token-invalid"


def test_garbage_is_invalid() -> None:
    with pytest.raises(Unauthorized) as info:
        decode_token("not.a.jwt", SECRET)
    assert info.value.kind == "token-invalid"


def test_unknown_role_is_refused() -> None:
    with pytest.raises(Unauthorized, match="superuser") as info:
        decode_token(_raw_token({"sub": "s", "role": "superuser"}), SECRET)
    assert info.value.kind == "token-invalid"


@pytest.mark.parametrize("missing", ["sub", "role", "exp"])
def test_required_claims(missing: str) -> None:
    claims = {"sub": "s", "role": "ops", "iss": "yibao", "exp": int(time.time()) + 600}
    del claims[missing]
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized) as info:
        decode_token(token, SECRET)
    assert info.value.kind == "token-invalid"


def test_hospital_token_without_institution_is_refused() -> None:
    token = issue_token(SECRET, subject="cl_abc", role=Role.HOSPITAL)
    with pytest.raises(Unauthorized, match="institution") as info:
        decode_token(token, SECRET)
    assert info.value.kind == "token-invalid"


def test_hospital_token_with_empty_institution_is_refused() -> None:
    with pytest.raises(Unauthorized) as info:
        decode_token(_raw_token({"sub": "cl_abc", "role": "hospital", "inst": ""}), SECRET)
    assert info.value.kind == "token-invalid"


def test_require_role_accepts_a_listed_role() -> None:
    require_role(Principal(subject="s", role=Role.AUDITOR), Role.OPS, Role.AUDITOR)


def test_require_role_refuses_with_403() -> None:
    with pytest.raises(Forbidden) as info:
        require_role(Principal(subject="s", role=Role.INSURED), Role.OPS, Role.ADMIN)
    assert info.value.status == 403
    assert info.value.kind == "forbidden"
    assert "ops, admin" in info.value.detail
    assert "insured" in info.value.detail


@pytest.mark.parametrize(
    ("role", "staff"),
    [(Role.INSURED, False), (Role.HOSPITAL, False), (Role.OPS, True), (Role.AUDITOR, True), (Role.ADMIN, True)],
)
def test_is_staff(role: Role, staff: bool) -> None:
    assert Principal(subject="s", role=role, institution_code="H1").is_staff is staff


def _request(headers: list[tuple[bytes, bytes]]) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def test_bearer_token_is_read_from_the_authorization_header() -> None:
    assert bearer_token(_request([(b"authorization", b"Bearer abc.def.ghi")])) == "abc.def.ghi"
    assert bearer_token(_request([(b"authorization", b"bearer abc")])) == "abc"


@pytest.mark.parametrize("header", [None, b"", b"Basic dXNlcjpwdw==", b"Bearer", b"Bearer "])
def test_bearer_token_missing_or_other_scheme_is_unauthorized(header: bytes | None) -> None:
    headers = [] if header is None else [(b"authorization", header)]
    with pytest.raises(Unauthorized) as info:
        bearer_token(_request(headers))
    assert info.value.status == 401


def test_a_remembered_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue_token(SECRET, subject="his-memo", role=Role.HOSPITAL, institution_code="H1", ttl_seconds=60)
    first = verified_principal(token, SECRET)
    assert verified_principal(token, SECRET) == first == decode_token(token, SECRET)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 61)
    with pytest.raises(Unauthorized) as info:
        verified_principal(token, SECRET)
    assert info.value.kind == "token-expired"


def test_a_remembered_token_is_not_valid_under_another_key_or_issuer() -> None:
    token = issue_token(SECRET, subject="memo-2", role=Role.OPS)
    assert verified_principal(token, SECRET).subject == "memo-2"
    with pytest.raises(Unauthorized) as other_key:
        verified_principal(token, OTHER_SECRET)
    assert other_key.value.kind == "token-invalid"
    with pytest.raises(Unauthorized):
        verified_principal(token, SECRET, issuer="someone-else")


def test_invalid_tokens_are_never_remembered_and_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    forged = issue_token(OTHER_SECRET, subject="s", role=Role.ADMIN)
    for _ in range(2):
        with pytest.raises(Unauthorized):
            verified_principal(forged, SECRET)
    assert not any(key[0] == forged for key in auth._VERIFIED)
    monkeypatch.setattr(auth, "VERIFIED_TOKENS_MAX", 3)
    for n in range(10):
        verified_principal(issue_token(SECRET, subject=f"bounded-{n}", role=Role.OPS), SECRET)
        assert len(auth._VERIFIED) <= 3
