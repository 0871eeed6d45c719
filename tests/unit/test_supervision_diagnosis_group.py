"""The diagnosis group (ICD-10 category) is at most three characters, the width of its columns
(claim_history, peer baselines): "ßßß"[:3].upper() is "SSSSSS", and a claim carrying it was
dead-lettered by the audit's insert, never audited."""

from __future__ import annotations

from datetime import date

import pytest

from services.supervision.service import diagnosis_group
from tests.claims import one_line_claim


@pytest.mark.parametrize(
    ("diagnosis", "group"), [("J18.9", "J18"), ("i10", "I10"), ("N4", "N4"), ("ßßß", "SSS"), ("ﬃx", "FFI")]
)
def test_the_group_is_the_upper_cased_category_and_fits_three_characters(diagnosis: str, group: str) -> None:
    claim = one_line_claim("H35058200001", "10.00", date(2026, 11, 2), diagnosis=diagnosis, level=2)
    found = diagnosis_group(claim)
    assert found == group
    assert found is not None
    assert len(found) <= 3
