"""Money: Decimal rounded half-up to the fen, a two-decimal string in JSON, floats refused."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from shared.money import Money, to_fen


class Priced(BaseModel):
    amount: Money


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.005", "0.01"),
        ("0.004", "0.00"),
        ("2.675", "2.68"),  # a float 2.675 would round down; Decimal input must not
        ("2.665", "2.67"),
        ("2.6749", "2.67"),
        ("10", "10.00"),
        ("-0.005", "-0.01"),  # half away from zero
        ("99999999.995", "100000000.00"),
    ],
)
def test_to_fen_rounds_half_up(raw: str, expected: str) -> None:
    result = to_fen(Decimal(raw))
    assert str(result) == expected
    assert result.as_tuple().exponent == -2


def test_money_serialises_as_a_two_decimal_string_in_json() -> None:
    model = Priced(amount=Decimal("12.5"))
    assert model.model_dump_json() == '{"amount":"12.50"}'
    assert model.model_dump(mode="json") == {"amount": "12.50"}
    # Python mode keeps the Decimal.
    assert model.model_dump() == {"amount": Decimal("12.50")}


@pytest.mark.parametrize(("raw", "text"), [("12.50", "12.50"), ("12", "12.00"), ("0", "0.00"), ("-3.1", "-3.10")])
def test_money_accepts_strings_and_normalises_on_output(raw: str, text: str) -> None:
    assert json.loads(Priced(amount=raw).model_dump_json()) == {"amount": text}


def test_money_json_round_trip() -> None:
    model = Priced.model_validate_json('{"amount": "1234.56"}')
    assert model.amount == Decimal("1234.56")
    assert Priced.model_validate_json(model.model_dump_json()) == model


@pytest.mark.parametrize("value", [12.5, 0.1, 1.0])
def test_money_refuses_floats_and_asks_for_a_string(value: float) -> None:
    with pytest.raises(ValidationError) as info:
        Priced(amount=value)
    assert "string" in str(info.value)


def test_money_refuses_json_numbers_with_a_fraction() -> None:
    with pytest.raises(ValidationError, match="string"):
        Priced.model_validate_json('{"amount": 12.5}')


@pytest.mark.parametrize("value", ["1.234", "0.001", "12.505"])
def test_money_refuses_three_decimals(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        Priced(amount=value)
    assert info.value.errors()[0]["type"] == "decimal_max_places"


def test_money_refuses_more_than_fourteen_digits() -> None:
    Priced(amount="999999999999.99")
    with pytest.raises(ValidationError):
        Priced(amount="1000000000000.00")


@pytest.mark.parametrize("value", ["abc", "", "12,50"])
def test_money_refuses_non_numbers(value: str) -> None:
    with pytest.raises(ValidationError):
        Priced(amount=value)
