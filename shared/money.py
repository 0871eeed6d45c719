"""Money is Decimal, rounded half-up to the fen, and a two-decimal string in JSON."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import CoreSchema, PydanticKnownError, SchemaValidator
from pydantic_core import core_schema as cs

FEN = Decimal("0.01")
MAX_DIGITS = 14
DECIMAL_PLACES = 2
_MAX_WHOLE_DIGITS = MAX_DIGITS - DECIMAL_PLACES
_FLOAT_REFUSED = 'send money as a string with at most two decimals, e.g. "12.50"'


def to_fen(amount: Decimal) -> Decimal:
    """Round half-up to the fen (0.01 元)."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def _as_string(amount: Decimal) -> str:
    return str(to_fen(amount))


def _refuse_float(value: Any) -> Any:
    # A binary float cannot carry an exact amount of fen; clients send strings.
    if isinstance(value, float):
        raise ValueError(_FLOAT_REFUSED)
    return value


# The rules, as pydantic's own Decimal constraints state them: the reference every input that
# is not a plain, valid amount goes through, so refusals keep their exact error types and texts.
_StrictMoney = Annotated[
    Decimal,
    BeforeValidator(_refuse_float),
    Field(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES),
]
_reference = TypeAdapter(_StrictMoney)


# A plain amount as JSON carries it: an optional minus, 1-12 whole digits, at most two decimals
# (ASCII digits only; anything else, e.g. "+1", " 1", "1e2", "12.500", goes to the reference).
_PLAIN_AMOUNT = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,2})?").fullmatch


def _validate_money(value: Any) -> Decimal:
    """A plain amount string or a Decimal within the limits passes here directly; anything else
    (floats, bad text, too many places or digits, ints, other types) is judged by `_reference`,
    whose error is raised unchanged."""
    # Why: a Python BeforeValidator chained to pydantic's constrained Decimal costs ~6 µs a
    # field, and a settled claim carries ~20 amounts; this path costs a fraction of that.
    if type(value) is str:
        if _PLAIN_AMOUNT(value) is not None:
            return Decimal(value)
    elif type(value) is Decimal:
        _, digits, exponent = value.as_tuple()
        # exponent is 'n'/'N'/'F' for NaN and infinities: those go to the reference (refused).
        if type(exponent) is int and -DECIMAL_PLACES <= exponent <= 0 and len(digits) + exponent <= _MAX_WHOLE_DIGITS:
            return value
    return _judge(value)


def _judge(value: Any) -> Decimal:
    try:
        return _reference.validate_python(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "value_error":
            raise ValueError(_FLOAT_REFUSED) from None
        raise PydanticKnownError(error["type"], error.get("ctx")) from None  # type: ignore[arg-type]


_MONEY_JSON_SCHEMA: dict[str, Any] = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "decimal_places": DECIMAL_PLACES}

# Amounts in JSON are strings like "12.50"; floats are refused on input (strict Decimal).
Money = Annotated[
    Decimal,
    PlainValidator(_validate_money),
    PlainSerializer(_as_string, return_type=str, when_used="json"),
    WithJsonSchema(
        {"anyOf": [{"type": "number"}, {"type": "string"}], "max_digits": MAX_DIGITS, **_MONEY_JSON_SCHEMA},
        mode="validation",
    ),
    WithJsonSchema(_MONEY_JSON_SCHEMA, mode="serialization"),
]


# -- decoding JSON with the amounts checked inside pydantic-core (decision 0013) ----------------
# A plain amount as a JSON string, the same language as `_PLAIN_AMOUNT` (\A and \z: the whole
# text, in pydantic-core's Rust regex), then pydantic-core's own Decimal: no Python call a field.
_CORE_PLAIN_AMOUNT: CoreSchema = cs.chain_schema(
    [cs.str_schema(pattern=r"\A-?[0-9]{1,12}(?:\.[0-9]{1,2})?\z", strict=True), cs.decimal_schema()]
)


def _with_core_amounts(node: Any, models: set[type[BaseModel]]) -> tuple[Any, int]:
    """The schema with every `Money` validation replaced by `_CORE_PLAIN_AMOUNT`; how many were replaced.
    `models` collects the model classes the schema builds."""
    if isinstance(node, dict):
        function = node.get("function")
        if (
            node.get("type") == "function-plain"
            and isinstance(function, dict)
            and function.get("function") is _validate_money
        ):
            return _CORE_PLAIN_AMOUNT, 1
        if node.get("type") == "model" and isinstance(node.get("cls"), type):
            models.add(node["cls"])
        replaced = 0
        copy: dict[str, Any] = {}
        for key, value in node.items():
            copy[key], count = _with_core_amounts(value, models)
            replaced += count
        return copy, replaced
    if isinstance(node, list):
        items = []
        replaced = 0
        for value in node:
            item, count = _with_core_amounts(value, models)
            items.append(item)
            replaced += count
        return items, replaced
    return node, 0


@contextmanager
def _not_prebuilt(models: set[type[BaseModel]]) -> Iterator[None]:
    # pydantic-core builds a `model` node from the class's own validator when the class is complete
    # (`__pydantic_complete__`), which would put `Money`'s Python validator back: the classes are
    # marked incomplete only while the new validator is built (at import, under the import lock).
    marked = [model for model in models if model.__dict__.get("__pydantic_complete__")]
    for model in marked:
        model.__pydantic_complete__ = False
    try:
        yield
    finally:
        for model in marked:
            model.__pydantic_complete__ = True


def plain_amount_json_validator(model: type[BaseModel]) -> SchemaValidator | None:
    """A validator of `model` from JSON that builds the same instances (the model's own classes)
    and accepts only what the model accepts, with the same values, but takes its `Money` fields
    only as plain amount strings (`"12.50"`), checked in pydantic-core. It refuses any other amount
    (a number, `"12.500"`, `"1e2"`): the caller then validates with the model itself, whose answer
    (accepted, or refused with `Money`'s own errors) stands. None when the model has no `Money`."""
    models: set[type[BaseModel]] = set()
    schema, replaced = _with_core_amounts(model.__pydantic_core_schema__, models)
    if not replaced:
        return None
    with _not_prebuilt(models):
        return SchemaValidator(schema)  # each model node carries its own config
