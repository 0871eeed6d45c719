"""A policy row the policies table cannot hold is a bad row (422 policies-invalid), not a 500."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.settlement.policies import PolicyTableError, load_policy_rows

DEMO = (Path(__file__).parents[2] / "services/settlement/data/policies.csv").read_text(encoding="utf-8").splitlines()
HEADER, GOOD = DEMO[0], DEMO[1]


def _row(**cells: str) -> str:
    return ",".join((dict(zip(HEADER.split(","), GOOD.split(","), strict=True)) | cells).values())


def test_the_demo_row_loads() -> None:
    assert len(load_policy_rows(f"{HEADER}\n{GOOD}\n")) == 1
    assert len(load_policy_rows(f"{HEADER}\n{_row(version='2147483647')}\n")) == 1


@pytest.mark.parametrize("version", ["2147483648", "9" * 40])  # policies.version is INTEGER
def test_a_version_past_the_column_is_refused(version: str) -> None:
    with pytest.raises(PolicyTableError) as refused:
        load_policy_rows(f"{HEADER}\n{_row(version=version)}\n")
    [(row, reason)] = refused.value.errors
    assert row == 2
    assert "version" in reason
