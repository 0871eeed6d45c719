"""Sanctions: practitioner points (thresholds once a year, yearly reset), reinstatement, 三函两牌 escalation,
credit grade."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.supervision.sanctions import (
    DEFAULT_CREDIT,
    DEFAULT_POINTS,
    DEFAULT_THRESHOLDS,
    LADDER,
    POINTS_LEVELS,
    ROLLING_DAYS,
    CreditParameters,
    PointsLevel,
    PointsTally,
    Recovery,
    ReinstatementRefused,
    Sanction,
    apply_points,
    check_reinstatement,
    credit_grade,
    in_window,
    next_sanction,
    points_for,
    rule_families,
)
from services.supervision.service import LIBRARY, Finding

FAMILIES = rule_families(LIBRARY)
RULE_OF_FAMILY = {family: rule_id for rule_id, family in FAMILIES.items()}
DAY = date(2025, 3, 1)


def finding(family: str, severity: str) -> Finding:
    return Finding(RULE_OF_FAMILY[family], 1, severity, None, Decimal("1.00"), "test")


def test_every_library_rule_has_points_for_every_severity() -> None:
    for rule in LIBRARY:
        for severity in ("info", "warn", "refuse"):
            assert points_for(Finding(rule.rule_id, 1, severity, None, Decimal(0), ""), FAMILIES) >= 0
    assert {f for f, _ in DEFAULT_POINTS} >= set(FAMILIES.values())


def test_unknown_rule_or_severity_is_an_error() -> None:
    with pytest.raises(KeyError, match="no family"):
        points_for(Finding("NO-SUCH", 1, "warn", None, Decimal(0), ""), FAMILIES)
    with pytest.raises(KeyError, match="no points"):
        points_for(finding("policy", "fatal"), FAMILIES)


def test_points_by_family_and_severity_come_from_the_table() -> None:
    table = {
        (f, s): 10 * i + j
        for i, f in enumerate(("policy", "management", "medical"))
        for j, s in enumerate(("info", "warn", "refuse"))
    }
    findings = [finding("management", "refuse"), finding("medical", "warn"), finding("policy", "info")]
    result = apply_points(PointsTally("D1", 2025), findings, DAY, FAMILIES, table=table)
    assert result.added == table[("management", "refuse")] + table[("medical", "warn")] + table[("policy", "info")]
    assert result.tally.points == result.added


def test_levels_are_crossed_in_order_and_once_only() -> None:
    step = finding("medical", "warn")
    per = points_for(step, FAMILIES)
    tally = PointsTally("D1", 2025)
    seen: list[tuple[int, PointsLevel]] = []
    for n in range(1, DEFAULT_THRESHOLDS["suspension"] // per + 5):
        result = apply_points(tally, [step], DAY + timedelta(days=n), FAMILIES)
        assert result.tally.points == tally.points + per
        seen += [(result.tally.points, level) for level in result.crossed]
        tally = result.tally
    # Each level exactly once, at the first total at or above its threshold.
    assert [level for _, level in seen] == list(POINTS_LEVELS)
    for points, level in seen:
        assert points >= DEFAULT_THRESHOLDS[level] > points - per
    assert tally.reached == frozenset(POINTS_LEVELS)


def test_one_big_application_crosses_several_levels() -> None:
    heavy = finding("management", "refuse")
    n = -(-DEFAULT_THRESHOLDS["suspension"] // points_for(heavy, FAMILIES))  # ceil
    result = apply_points(PointsTally("D1", 2025), [heavy] * n, DAY, FAMILIES)
    assert result.crossed == POINTS_LEVELS
    assert result.highest_crossed == "suspension"
    again = apply_points(result.tally, [heavy], DAY, FAMILIES)
    assert again.crossed == ()
    assert again.highest_crossed is None


def test_thresholds_are_parameters() -> None:
    thresholds: dict[PointsLevel, int] = {"warning": 1, "training": 2, "suspension": 3}
    step = finding("policy", "warn")  # 1 point
    assert points_for(step, FAMILIES) == 1
    tally = PointsTally("D1", 2025)
    crossed = []
    for _ in range(4):
        result = apply_points(tally, [step], DAY, FAMILIES, thresholds=thresholds)
        crossed.append(result.crossed)
        tally = result.tally
    assert crossed == [("warning",), ("training",), ("suspension",), ()]


def test_new_year_resets_the_tally_and_the_levels() -> None:
    heavy = [finding("management", "refuse")] * 10
    last_year = apply_points(PointsTally("D1", 2024), heavy, date(2024, 12, 31), FAMILIES).tally
    assert last_year.reached == frozenset(POINTS_LEVELS)
    step = [finding("medical", "warn")]
    result = apply_points(last_year, step, date(2025, 1, 1), FAMILIES)
    assert result.tally == PointsTally("D1", 2025, points_for(step[0], FAMILIES), result.tally.reached)
    assert result.tally.points < last_year.points
    # The same levels can be crossed again in the new year.
    result = apply_points(result.tally, heavy, date(2025, 1, 2), FAMILIES)
    assert result.crossed == POINTS_LEVELS
    with pytest.raises(ValueError, match="before"):
        apply_points(result.tally, step, date(2024, 12, 31), FAMILIES)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=400),  # days after 2025-01-01
            st.lists(st.sampled_from(sorted(DEFAULT_POINTS)), max_size=4),
        ),
        max_size=20,
    )
)
def test_each_level_crossed_at_most_once_a_year(steps: list[tuple[int, list[tuple[str, str]]]]) -> None:
    tally = PointsTally("D1", 2025)
    running: dict[int, int] = {}
    crossings: dict[int, list[str]] = {}
    for offset, keys in sorted(steps, key=lambda s: s[0]):
        on = date(2025, 1, 1) + timedelta(days=offset)
        findings = [finding(family, severity) for family, severity in keys]
        before = running.get(on.year, 0)
        result = apply_points(tally, findings, on, FAMILIES)
        running[on.year] = before + sum(DEFAULT_POINTS[k] for k in keys)
        assert result.tally.points == running[on.year]
        expected = [lvl for lvl in POINTS_LEVELS if before < DEFAULT_THRESHOLDS[lvl] <= running[on.year]]
        assert list(result.crossed) == expected
        crossings.setdefault(on.year, []).extend(result.crossed)
        tally = result.tally
    for levels in crossings.values():
        assert len(levels) == len(set(levels))


# --- 三函两牌 ---


def test_escalation_goes_up_the_ladder_one_rung_per_case() -> None:
    prior: list[Sanction] = []
    kinds = []
    for n in range(len(LADDER) + 2):
        decision = next_sanction(prior, DAY + timedelta(days=30 * n))
        kinds.append(decision.kind)
        assert decision.refuses_settlement == (decision.kind == "red")
        prior.append(Sanction(decision.kind, DAY + timedelta(days=30 * n)))
    assert kinds == [*LADDER, "red", "red"]
    assert LADDER == ("reminder", "interview", "warning", "yellow", "red")
    assert all(
        next_sanction(prior[:i], DAY + timedelta(days=30 * i)).refuses_settlement == (kinds[i] == "red")
        for i in range(len(kinds))
    )


def test_only_a_red_card_refuses_settlement() -> None:
    for i, kind in enumerate(LADDER):
        prior = [Sanction(LADDER[i - 1], DAY)] if i else []
        decision = next_sanction(prior, DAY + timedelta(days=1))
        assert decision.kind == kind
        assert decision.refuses_settlement is (kind == "red")


def test_sanctions_older_than_a_year_drop_out() -> None:
    yellow = Sanction("yellow", DAY)
    at_edge = DAY + timedelta(days=ROLLING_DAYS)
    assert next_sanction([yellow], at_edge).kind == LADDER[LADDER.index("yellow") + 1]
    assert next_sanction([yellow], at_edge + timedelta(days=1)).kind == LADDER[0]
    assert next_sanction([yellow], at_edge + timedelta(days=1)).counted == ()
    # Escalation starts from the most severe sanction still inside the window.
    history = [Sanction("reminder", DAY), Sanction("interview", DAY + timedelta(days=200))]
    later = DAY + timedelta(days=ROLLING_DAYS + 10)  # the reminder has dropped out
    decision = next_sanction(history, later)
    assert decision.counted == (history[1],)
    assert decision.kind == LADDER[LADDER.index("interview") + 1]
    # A sanction dated after the case is not a prior one.
    assert next_sanction([Sanction("red", DAY + timedelta(days=1))], DAY).kind == LADDER[0]
    # The window is a parameter.
    assert next_sanction([yellow], DAY + timedelta(days=31), window_days=30).kind == LADDER[0]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(LADDER), st.integers(min_value=0, max_value=800)), max_size=10),
    st.integers(min_value=0, max_value=800),
)
def test_next_sanction_is_one_above_the_top_in_window(kinds_days: list[tuple[str, int]], case_day: int) -> None:
    prior = [Sanction(kind, DAY + timedelta(days=d)) for kind, d in kinds_days]  # type: ignore[arg-type]
    on = DAY + timedelta(days=case_day)
    counted = [s for s in prior if 0 <= (on - s.issued_on).days <= ROLLING_DAYS]
    top = max((LADDER.index(s.kind) for s in counted), default=-1)
    decision = next_sanction(prior, on)
    assert sorted(decision.counted, key=repr) == sorted(counted, key=repr)
    assert LADDER.index(decision.kind) == min(top + 1, len(LADDER) - 1)
    assert decision.refuses_settlement == (decision.kind == "red")
    assert in_window(prior, on) == decision.counted


# --- credit grade ---


def test_clean_institution_is_grade_a() -> None:
    result = credit_grade([], [], DAY)
    assert (result.grade, result.score) == ("A", 100)


def test_credit_score_is_computed_from_sanctions_and_recoveries() -> None:
    p = DEFAULT_CREDIT
    sanctions = [Sanction("reminder", DAY), Sanction("interview", DAY + timedelta(days=10))]
    recoveries = [Recovery(p.recovery_unit * 2 + Decimal("0.01"), DAY), Recovery(p.recovery_unit, DAY)]
    on = DAY + timedelta(days=20)
    result = credit_grade(sanctions, recoveries, on)
    expected = 100 - p.deductions["reminder"] - p.deductions["interview"] - 3 * p.points_per_recovery_unit
    assert result.score == expected
    floors = sorted(p.floors.items(), key=lambda kv: -kv[1])
    assert result.grade == next((g for g, floor in floors if expected >= floor), "D")
    # A year later all of it has dropped out.
    assert credit_grade(sanctions, recoveries, on + timedelta(days=ROLLING_DAYS)) == credit_grade([], [], on)


def test_recovery_deduction_is_capped() -> None:
    p = DEFAULT_CREDIT
    huge = [Recovery(p.recovery_unit * 1000, DAY)]
    assert credit_grade([], huge, DAY).score == 100 - p.max_recovery_deduction


def test_cards_cap_the_grade() -> None:
    # Parameters under which a card alone would leave the score at A: the card still caps it.
    lenient = replace(DEFAULT_CREDIT, deductions=dict.fromkeys(LADDER, 0))
    assert credit_grade([Sanction("yellow", DAY)], [], DAY, lenient).grade == "C"
    assert credit_grade([Sanction("red", DAY)], [], DAY, lenient).grade == "D"
    assert credit_grade([Sanction("warning", DAY)], [], DAY, lenient).grade == "A"
    # With the defaults a red card is D, and dropping out restores the grade.
    assert credit_grade([Sanction("red", DAY)], [], DAY).grade == "D"
    assert credit_grade([Sanction("red", DAY)], [], DAY + timedelta(days=ROLLING_DAYS + 1)).grade == "A"


@pytest.mark.parametrize("score_off", range(0, 60, 5))
def test_grade_follows_the_floors(score_off: int) -> None:
    params = CreditParameters(deductions={"reminder": score_off, "interview": 0, "warning": 0, "yellow": 0, "red": 0})
    result = credit_grade([Sanction("reminder", DAY)], [], DAY, params)
    score = 100 - score_off
    assert result.score == score
    expected = "A" if score >= 90 else "B" if score >= 75 else "C" if score >= 60 else "D"
    assert result.grade == expected


# -- 恢复医保支付资格 ---------------------------------------------------------------------------


def test_a_suspended_practitioner_is_reinstated_on_a_day_within_the_suspension() -> None:
    check_reinstatement("suspended", DAY, DAY, DAY)  # the day the suspension began
    check_reinstatement("suspended", DAY, DAY + timedelta(days=30), DAY + timedelta(days=30))


def test_only_a_suspended_practitioner_is_reinstated() -> None:
    for status, since in (("active", None), ("active", DAY), ("suspended", None)):
        with pytest.raises(ReinstatementRefused, match="not suspended") as refused:
            check_reinstatement(status, since, DAY, DAY)
        assert refused.value.conflict


@pytest.mark.parametrize(
    ("reinstated_on", "message"),
    [(DAY - timedelta(days=1), "before the suspension began"), (DAY + timedelta(days=2), "in the future")],
)
def test_a_reinstatement_date_outside_the_suspension_is_refused(reinstated_on: date, message: str) -> None:
    with pytest.raises(ReinstatementRefused, match=message) as refused:
        check_reinstatement("suspended", DAY, reinstated_on, DAY + timedelta(days=1))
    assert not refused.value.conflict
