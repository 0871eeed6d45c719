"""shared.db.PositionalStatement: `:name` statements turned into asyncpg's `$n` text once."""

from __future__ import annotations

import pytest

from services.settlement import repository
from services.settlement.service import ACCUMULATOR_FIELDS
from shared import idempotency
from shared.db import PositionalStatement
from shared.events import outbox


def test_names_become_numbers_in_first_use_order_and_repeat_as_the_same_number() -> None:
    statement = PositionalStatement("SELECT :b, CAST(:a AS int) FROM t WHERE x = :b AND y = :a_2")
    assert statement.sql == "SELECT $1, CAST($2 AS int) FROM t WHERE x = $1 AND y = $3"
    assert statement.names == ("b", "a", "a_2")
    assert statement.arguments({"a": 1, "b": "two", "a_2": None}) == ["two", 1, None]


def test_casts_literals_and_times_in_text_are_not_parameters() -> None:
    sql = "SELECT x::text, 'at :noon', to_char(t, 'HH24:MI:SS'), 'it''s :x', :y FROM t"
    statement = PositionalStatement(sql)
    assert statement.sql == "SELECT x::text, 'at :noon', to_char(t, 'HH24:MI:SS'), 'it''s :x', $1 FROM t"
    assert statement.names == ("y",)


def test_a_missing_or_an_unused_parameter_is_refused() -> None:
    statement = PositionalStatement("SELECT :a, :b")
    with pytest.raises(KeyError):
        statement.arguments({"a": 1})
    with pytest.raises(ValueError, match="does not use: \\['c'\\]"):
        statement.arguments({"a": 1, "b": 2, "c": 3})


def test_the_settle_path_statements_take_exactly_their_callers_parameters() -> None:
    """settle_context and store_settlement pass these names; a stray `:word` in the SQL (or a
    parameter the SQL lost) would fail every settlement, so the sets are pinned here."""
    context = {"institution_code", "practitioner_code", "person_no", "payer_person_no", "year"}
    claim = set(idempotency.claim_params(scope="s", key="k", request_hash="h"))
    assert set(repository._CONTEXT_READ.names) == context
    assert set(repository._CONTEXT_CLAIMED.names) == context | claim
    assert ":" not in repository._CONTEXT_CLAIMED.sql.replace("::", "")

    _, staged = outbox.stage([], source="/test")
    answer = idempotency.finish_params(scope="s", key="k", stored=idempotency.answer(201, {}))
    settlement = {f"s_{column}" for column in repository._SETTLEMENT_COLUMNS}
    accumulators = {f"a_{name}" for name in ACCUMULATOR_FIELDS}
    journal = {"journal_accounts", "journal_debits", "journal_credits", "journal_regions", "journal_counterparties"}
    rest = {"account_debit", "account_holder", "business_date"}
    assert set(repository._STORE_SETTLEMENT.names) == (
        settlement | accumulators | journal | rest | set(staged) | set(answer)
    )
