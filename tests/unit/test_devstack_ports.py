"""Where `make run`, the test session and the benches listen, and how a user moves them."""

from __future__ import annotations

import socket

import pytest

from devstack.infra import StackError, port_taken
from devstack.stack import RUN_PORTS, Ports, free_ports


def test_defaults_are_the_documented_ones() -> None:
    ports = Ports.from_environment({})
    assert ports == RUN_PORTS
    assert (ports.gateway, ports.kafka, ports.postgres) == (8000, 9092, 55432)
    assert ports.service("enrollment") == 8001
    assert ports.service("supervision") == 8004


def test_each_port_can_be_moved_and_round_trips() -> None:
    moved = Ports.from_environment(
        {"YIBAO_GATEWAY_PORT": "8100", "YIBAO_POSTGRES_PORT": "56000", "YIBAO_KAFKA_PORT": "9192"}
    )
    assert (moved.gateway, moved.service("ltc"), moved.postgres, moved.kafka) == (8100, 8103, 56000, 9192)
    assert moved.kafka_controller == RUN_PORTS.kafka_controller
    assert Ports.from_environment(moved.as_environment()) == moved


@pytest.mark.parametrize("value", ["http", "0", "70000", "-1"])
def test_a_bad_port_is_refused_by_name(value: str) -> None:
    with pytest.raises(StackError, match="YIBAO_KAFKA_PORT"):
        Ports.from_environment({"YIBAO_KAFKA_PORT": value})


def test_a_bound_but_silent_port_counts_as_taken() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # bound, not listening: a server still could not bind it
        port = holder.getsockname()[1]
        assert port_taken(port)
    assert not port_taken(port)


def test_free_ports_steps_past_a_taken_block() -> None:
    with socket.socket() as first:
        first.bind(("127.0.0.1", 0))
        port = first.getsockname()[1]
        start = Ports(postgres=port, kafka=port + 1, kafka_controller=port + 2, gateway=20000)
        assert port in start.busy()
        chosen = free_ports(start)
        assert chosen.postgres > port
        assert not chosen.busy()


def test_blocks_never_overlap() -> None:
    # A test session on one block must not collide with another session on the next block.
    from devstack.stack import TEST_PORTS

    blocks = [
        Ports(
            postgres=TEST_PORTS.postgres + step,
            kafka=TEST_PORTS.kafka + step,
            kafka_controller=TEST_PORTS.kafka_controller + step,
            gateway=TEST_PORTS.gateway + step * 2,
        )
        for step in range(0, 200, 10)
    ]
    seen: set[int] = set()
    for block in blocks:
        ports = set(block.all())
        assert len(ports) == len(block.all())
        assert not ports & seen
        seen |= ports


def test_a_claimed_block_is_not_handed_out_twice() -> None:
    start = Ports(postgres=41000, kafka=42000, kafka_controller=42001, gateway=43000)
    first = free_ports(start)
    second = free_ports(start)  # the first block is claimed (by this process) though nothing is bound
    assert first != second
