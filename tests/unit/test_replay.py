"""The replay tool's pure parts: dates, filters, the outbox selection, the command line's refusals."""

from __future__ import annotations

import argparse
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.enrollment.settings import Settings as EnrollmentSettings
from services.ltc.settings import Settings as LtcSettings
from services.settlement.settings import Settings as SettlementSettings
from services.supervision.settings import Settings as SupervisionSettings
from shared.events import replay
from shared.events.replay import (
    DEAD_LETTER_REASONS,
    DeadLetterFilter,
    OutboxSelection,
    ReplayError,
    check_types,
    failed_at,
    main,
    parse_instant,
    publishing_services,
    restored_headers,
    service_settings,
)
from shared.settings import ServiceSettings

SHARED_EVENTS = Path(replay.__file__).parent


def test_a_date_is_midnight_in_shanghai_and_a_zoneless_instant_is_shanghai_time() -> None:
    assert parse_instant("2026-11-24") == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    assert parse_instant("2026-11-24T08:30:00") == datetime(2026, 11, 24, 0, 30, tzinfo=UTC)
    assert parse_instant("2026-11-24T08:30:00+00:00") == datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
    assert parse_instant("2026-11-24T08:30:00Z") == datetime(2026, 11, 24, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "2026-11-31", "24/11/2026", ""])
def test_a_bad_date_is_an_argument_error(bad: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not an ISO 8601 date"):
        parse_instant(bad)


def test_restored_headers_drop_only_the_dead_letter_ones_in_their_order() -> None:
    original = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"0193-id"),
        ("ce_type", b"claim.settled"),
        ("traceparent", b"00-x"),
    ]
    dead = [*original[:2], ("dlq_reason", b"handler-error"), *original[2:], ("dlq_topic", b"claim.settled")]
    assert restored_headers(dead) == original


def test_failed_at_reads_the_header_and_falls_back_to_the_record_time() -> None:
    assert failed_at({"dlq_failed_at": "2026-11-24T01:02:03+00:00"}, 0) == datetime(2026, 11, 24, 1, 2, 3, tzinfo=UTC)
    assert failed_at({"dlq_failed_at": "garbled"}, 1_700_000_000_000) == datetime.fromtimestamp(1_700_000_000, UTC)
    assert failed_at({}, 1_700_000_000_000) == datetime.fromtimestamp(1_700_000_000, UTC)


def test_the_dead_letter_filter_needs_every_criterion_given() -> None:
    fields = {"dlq_reason": "handler-error", "dlq_consumer": "settlement"}
    when = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    assert DeadLetterFilter().skip_reason(fields, when) is None
    assert DeadLetterFilter(reasons=frozenset({"handler-error", "rejected"})).skip_reason(fields, when) is None
    assert DeadLetterFilter(reasons=frozenset({"invalid-payload"})).skip_reason(fields, when) == "reason"
    assert DeadLetterFilter(consumers=frozenset({"supervision"})).skip_reason(fields, when) == "consumer"
    assert DeadLetterFilter(since=when).skip_reason(fields, when) is None  # at or after
    assert DeadLetterFilter(since=parse_instant("2026-11-25")).skip_reason(fields, when) == "since"
    both = DeadLetterFilter(reasons=frozenset({"handler-error"}), consumers=frozenset({"ltc"}))
    assert both.skip_reason(fields, when) == "consumer"


def test_the_listed_reasons_are_every_reason_the_consumer_runner_writes() -> None:
    written = set(re.findall(r'dead_letter\(record, "([a-z-]+)"', (SHARED_EVENTS / "consumer.py").read_text()))
    written |= set(re.findall(r'MalformedEvent\("([a-z-]+)"', (SHARED_EVENTS / "envelope.py").read_text()))
    assert written == set(DEAD_LETTER_REASONS)


def test_the_outbox_selection_is_published_rows_only_with_bound_values() -> None:
    where, params = OutboxSelection().where()
    assert where == "published_at IS NOT NULL"
    assert params == {}
    since, until = parse_instant("2026-11-01"), parse_instant("2026-11-02")
    where, params = OutboxSelection(event_types=("claim.settled",), since=since, until=until, from_id=42).where()
    assert where == (
        "published_at IS NOT NULL AND event_type = ANY(CAST(:event_types AS varchar[]))"
        " AND created_at >= :since AND created_at < :until AND id >= :from_id"
    )
    assert params == {"event_types": ["claim.settled"], "since": since, "until": until, "from_id": 42}


def test_an_empty_or_backward_selection_is_refused() -> None:
    day = parse_instant("2026-11-01")
    with pytest.raises(ReplayError, match="must be before"):
        OutboxSelection(since=day, until=day)
    with pytest.raises(ReplayError, match="positive outbox id"):
        OutboxSelection(from_id=0)


def test_services_and_their_types_come_from_the_contracts() -> None:
    services = publishing_services()
    assert set(services) == {"enrollment", "settlement", "supervision", "ltc"}
    assert "claim.settled" in services["settlement"]
    check_types("settlement", ["claim.settled", "claim.reversed"])
    with pytest.raises(ReplayError, match="unknown service 'gateway'"):
        check_types("gateway", [])
    with pytest.raises(ReplayError, match=r"settlement does not publish 'person\.registered'"):
        check_types("settlement", ["person.registered"])


@pytest.mark.parametrize(
    ("service", "settings_class"),
    [
        ("enrollment", EnrollmentSettings),
        ("settlement", SettlementSettings),
        ("ltc", LtcSettings),
        ("supervision", SupervisionSettings),
    ],
)
def test_the_replay_reads_the_database_and_broker_the_service_reads(
    service: str, settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://ops@db.example:5432/postgres")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9092")
    monkeypatch.setenv("YIBAO_ENV", "production")  # no secret set: the replay signs nothing, so it need not
    monkeypatch.setenv("YIBAO_JWT_SECRET", "")
    ours = service_settings(service)
    monkeypatch.delenv("YIBAO_ENV")  # the service's own secrets are not this test's subject
    theirs = settings_class()
    assert ours.database_url == theirs.database_url == f"postgresql://ops@db.example:5432/yibao_{service}"
    assert ours.kafka_bootstrap_servers == theirs.kafka_bootstrap_servers == "kafka.example:9092"
    monkeypatch.setenv(f"{service.upper()}_DATABASE_URL", "postgresql://own@elsewhere/own_db")
    assert (
        service_settings(service).database_url == settings_class().database_url == "postgresql://own@elsewhere/own_db"
    )


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["outbox", "billing"], "replay: unknown service 'billing'"),
        (["outbox", "ltc", "--type", "claim.settled"], "replay: ltc does not publish 'claim.settled'"),
        (["outbox", "settlement", "--since", "2026-11-02", "--until", "2026-11-01"], "must be before --until"),
        (["outbox", "settlement", "--from-id", "0"], "--from-id must be a positive outbox id"),
        (["outbox", "settlement", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["dlq", "claim.settled"], "replay: 'claim.settled' is not a dead-letter topic"),
    ],
)
def test_a_user_mistake_is_one_line_and_status_2_before_any_connection(argv: list[str], message: str) -> None:
    status, out, err = run_cli(*argv)
    assert status == 2
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert out == ""


def test_a_bad_argument_is_argparse_usage_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["outbox", "settlement", "--since", "last week"], ["dlq", "x.dlq", "--reason", "typo"], ["purge"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
        assert "Traceback" not in capsys.readouterr().err


def test_an_unreachable_broker_is_status_1_without_a_traceback() -> None:
    status, _, err = run_cli("--bootstrap", "127.0.0.1:1", "dlq", "claim.settled.dlq", "--dry-run")
    assert status == 1
    assert err.startswith("replay: cannot reach Kafka at 127.0.0.1:1")
