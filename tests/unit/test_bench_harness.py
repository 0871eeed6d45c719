"""The bench harness's pure parts."""

import pytest

from bench.harness import cpu_delta, foreign_key_order


def test_foreign_key_order_puts_each_table_after_the_tables_it_references() -> None:
    tables = ["contributions", "enrollments", "outbox", "persons"]
    references = [("contributions", "enrollments"), ("enrollments", "persons"), ("persons", "regions")]

    assert foreign_key_order(tables, references) == ["outbox", "persons", "enrollments", "contributions"]


def test_foreign_key_order_refuses_a_cycle() -> None:
    with pytest.raises(RuntimeError, match="cycle"):
        foreign_key_order(["a", "b"], [("a", "b"), ("b", "a")])


def test_cpu_delta_is_none_when_a_reading_is_missing() -> None:
    assert cpu_delta(1.5, 4.0) == 2.5
    assert cpu_delta(None, 4.0) is None
    assert cpu_delta(1.5, None) is None
