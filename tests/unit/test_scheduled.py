"""shared.scheduled: the body and arguments of a scheduled call (the call itself: tests/e2e/test_scheduled.py)."""

from datetime import date

import pytest

from shared.scheduled import main, parse, previous_month, request_body


def test_previous_month_crosses_the_year() -> None:
    assert previous_month(date(2026, 1, 1)) == "2025-12"
    assert previous_month(date(2026, 3, 31)) == "2026-02"
    assert previous_month(date(2026, 12, 1)) == "2026-11"


def test_the_body_is_a_json_object_with_the_previous_month_where_asked() -> None:
    today = date(2026, 1, 1)
    assert request_body(None, None, today) == {}
    assert request_body('{"as_of": "2026-01-01"}', None, today) == {"as_of": "2026-01-01"}
    assert request_body("{}", "period", today) == {"period": "2025-12"}
    assert request_body('{"period": "2020-01"}', "period", today) == {"period": "2025-12"}
    with pytest.raises(ValueError, match="not JSON"):
        request_body("{", None, today)
    with pytest.raises(ValueError, match="JSON object"):
        request_body("[1]", None, today)


def test_usage_mistakes_exit_2_without_a_call(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as unknown_service:
        parse(["billing", "POST", "/x"])
    assert unknown_service.value.code == 2
    with pytest.raises(SystemExit) as relative_path:
        parse(["enrollment", "POST", "api/v1/enrollment/x"])
    assert relative_path.value.code == 2
    assert main(["enrollment", "POST", "/api/v1/enrollment/stats/coverage/snapshots", "{nope"]) == 2
    assert "not JSON" in capsys.readouterr().err
