"""Money: Decimal rounded half-up to the fen, a two-decimal string in JSON, floats refused."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated

import pytest
from pydantic import BaseModel, BeforeValidator, Field, ValidationError

from shared import money
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


# -- the fast path judges exactly as pydantic's constrained Decimal did -------------------------
def _refuse_float_as_before(value: object) -> object:
    if isinstance(value, float):
        raise ValueError('send money as a string with at most two decimals, e.g. "12.50"')
    return value


class PricedAsBefore(BaseModel):
    """Money as it was defined before the fast path (a BeforeValidator and Decimal constraints)."""

    amount: Annotated[Decimal, BeforeValidator(_refuse_float_as_before), Field(max_digits=14, decimal_places=2)]


EQUIVALENCE_INPUTS: list[object] = [
    "12.50", "0", "0.00", "-0.00", "-3.1", "999999999999.99", "-999999999999.99", "1000000000000.00",
    "1000000000000", "0000000000001.50", "12.500", "12.505", "1.234", "0.001", "1e2", "1E-2", "1.5e1",
    "+12.50", " 12.50", "12.50 ", "1_000.00", "12,50", "abc", "", "-", ".5", "5.", "NaN", "-Infinity",
    "inf", "١٢.٥٠", "12.5.0", "--1", 12, 0, -7, 10**13, 12.5, 1.0, 0.1, True, False, None, b"12.50",
    Decimal("12.50"), Decimal("12.5"), Decimal("12.500"), Decimal("1E+2"), Decimal("1E+12"),
    Decimal("999999999999.99"), Decimal("1000000000000"), Decimal("0.001"), Decimal("NaN"),
    Decimal("-Infinity"), Decimal("-0.00"), [], {"amount": "1"},
]  # fmt: skip


def _outcome(model: type[BaseModel], call: str, value: object) -> tuple[str, object]:
    try:
        if call == "json":
            parsed = model.model_validate_json(json.dumps({"amount": value}))
        else:
            parsed = model.model_validate({"amount": value})
    except ValidationError as exc:
        error = exc.errors()[0]
        return ("refused", (error["type"], error["msg"], error["loc"], str(error.get("ctx"))))
    amount = parsed.amount  # type: ignore[attr-defined]
    return ("accepted", (type(amount), str(amount)))


@pytest.mark.parametrize("value", EQUIVALENCE_INPUTS, ids=repr)
def test_money_accepts_and_refuses_exactly_as_the_constrained_decimal(value: object) -> None:
    assert _outcome(Priced, "python", value) == _outcome(PricedAsBefore, "python", value)
    try:
        json.dumps(value)
    except TypeError:
        return  # Decimal, bytes: not JSON
    assert _outcome(Priced, "json", value) == _outcome(PricedAsBefore, "json", value)


def test_money_fast_path_accepts_the_amounts_events_carry(monkeypatch: pytest.MonkeyPatch) -> None:
    # The point of the fast path: a plain amount never reaches the slow reference judge.
    def no_reference(value: object) -> Decimal:
        raise AssertionError(f"{value!r} went to the reference")

    monkeypatch.setattr(money, "_judge", no_reference)
    for text in ("-123456789012.34", "0.00", "12", "7.1"):
        assert Priced.model_validate_json(json.dumps({"amount": text})).amount == Decimal(text)
    assert str(Priced(amount=Decimal("7.10")).amount) == "7.10"
    with pytest.raises(ValidationError):  # and the rest does reach it
        Priced(amount="12.500")


# -- decoding JSON with the amounts checked inside pydantic-core (decision 0013) ---------------
class PricedLines(BaseModel):
    """Money nested in a list of models, as a claim's lines carry it."""

    total: Money
    lines: list[Priced]


def _fast_then_model(model: type[BaseModel], raw: str) -> BaseModel:
    # What `shared.events.envelope.decode` does: the core-checked validator, else the model itself.
    fast = money.plain_amount_json_validator(model)
    assert fast is not None
    try:
        parsed: BaseModel = fast.validate_json(raw)
        return parsed
    except ValidationError:
        return model.model_validate_json(raw)


@pytest.mark.parametrize("value", EQUIVALENCE_INPUTS, ids=repr)
def test_core_checked_amounts_then_the_model_judge_every_input_as_the_constrained_decimal(value: object) -> None:
    try:
        raw = json.dumps({"amount": value})
    except TypeError:
        return  # Decimal, bytes: not JSON
    try:
        parsed = _fast_then_model(Priced, raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        outcome: tuple[str, object] = ("refused", (error["type"], error["msg"], error["loc"], str(error.get("ctx"))))
    else:
        outcome = ("accepted", (type(parsed.amount), str(parsed.amount)))  # type: ignore[attr-defined]
    assert outcome == _outcome(PricedAsBefore, "json", value)


@pytest.mark.parametrize("text", ["12.50", "0", "0.00", "-0.00", "-3.1", "7.1", "999999999999.99", "-123456789012.34"])
def test_core_checked_amounts_give_the_models_own_instances_and_values(text: str) -> None:
    fast = money.plain_amount_json_validator(PricedLines)
    assert fast is not None
    raw = json.dumps({"total": text, "lines": [{"amount": text}, {"amount": "1.05"}]})
    parsed = fast.validate_json(raw)
    expected = PricedLines.model_validate_json(raw)
    assert type(parsed) is PricedLines
    assert type(parsed.lines[0]) is Priced
    assert parsed == expected
    assert parsed.model_fields_set == expected.model_fields_set
    assert [a.as_tuple() for a in (parsed.total, parsed.lines[0].amount)] == [Decimal(text).as_tuple()] * 2


@pytest.mark.parametrize("value", [12, 12.5, 0.1, "12.500", "1e2", "+1", " 1", "1000000000000", "١٢", "12.50\n"])
def test_core_checked_amounts_take_only_plain_amount_strings(value: object) -> None:
    # Its own schema, not the models' prebuilt validators: an integer, which Money itself accepts,
    # is refused here (the model then judges it), as is anything but a plain amount string.
    fast = money.plain_amount_json_validator(PricedLines)
    assert fast is not None
    with pytest.raises(ValidationError):
        fast.validate_json(json.dumps({"total": "1.00", "lines": [{"amount": value}]}))
    assert money.plain_amount_json_validator(BaseModel) is None  # nothing to speed up
    assert Priced.__dict__["__pydantic_complete__"] is True
    assert PricedLines.__dict__["__pydantic_complete__"] is True
