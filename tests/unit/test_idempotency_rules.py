"""Idempotency keys: the request fingerprint and the key's presence and length."""

from __future__ import annotations

import pytest

from shared.errors import ProblemError, Unprocessable
from shared.idempotency import MAX_KEY_LENGTH, fingerprint, require_key


def test_fingerprint_ignores_key_order_at_every_level() -> None:
    a = {"person_no": "P1", "lines": [{"item_code": "A", "quantity": 2}], "meta": {"x": 1, "y": [1, 2]}}
    b = {"meta": {"y": [1, 2], "x": 1}, "lines": [{"quantity": 2, "item_code": "A"}], "person_no": "P1"}
    assert fingerprint(a) == fingerprint(b)


def test_fingerprint_is_a_sha256_hex_digest() -> None:
    digest = fingerprint({"a": 1})
    assert len(digest) == 64
    int(digest, 16)


@pytest.mark.parametrize(
    "other",
    [
        {"person_no": "P2", "lines": [1, 2]},
        {"person_no": "P1", "lines": [2, 1]},  # list order matters
        {"person_no": "P1", "lines": [1, 2], "extra": None},
        {"person_no": "P1", "lines": ["1", 2]},  # types matter
        {"person_no": "P1"},
    ],
)
def test_fingerprint_differs_for_different_bodies(other: dict[str, object]) -> None:
    assert fingerprint({"person_no": "P1", "lines": [1, 2]}) != fingerprint(other)


def test_fingerprint_is_stable_across_calls() -> None:
    body = {"amount": "12.50", "n": 3}
    assert fingerprint(body) == fingerprint(dict(body))


@pytest.mark.parametrize("key", [None, "", "   ", "\t\n"])
def test_missing_or_blank_key_is_a_428_problem(key: str | None) -> None:
    with pytest.raises(ProblemError) as info:
        require_key(key)
    assert info.value.status == 428
    assert info.value.kind == "idempotency-key-required"
    assert info.value.errors is not None
    assert info.value.errors[0].field == "Idempotency-Key"


def test_too_long_key_is_a_422_problem() -> None:
    with pytest.raises(Unprocessable) as info:
        require_key("k" * (MAX_KEY_LENGTH + 1))
    assert info.value.status == 422
    assert info.value.kind == "idempotency-key-invalid"
    assert info.value.errors is not None
    assert info.value.errors[0].field == "Idempotency-Key"


def test_key_of_exactly_the_maximum_length_is_accepted() -> None:
    assert MAX_KEY_LENGTH == 200
    key = "k" * MAX_KEY_LENGTH
    assert require_key(key) == key


def test_key_is_stripped_before_the_length_check() -> None:
    key = "k" * MAX_KEY_LENGTH
    assert require_key(f"  {key}  ") == key
    assert require_key(" order-42 ") == "order-42"
