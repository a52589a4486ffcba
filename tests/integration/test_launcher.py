"""Starting the four services on free ports, as the demo and the tests do."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from services import SERVICES, launcher


def test_free_ports_are_chosen_outside_the_kernels_ephemeral_range() -> None:
    low, high = launcher._ephemeral_port_range()

    ports = {launcher.free_loopback_port() for _ in range(20)}

    assert all(not low <= port <= high for port in ports), ports


def test_a_chosen_port_taken_before_the_bind_means_starting_again_on_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process takes the first port the launcher picks, between the pick and the bind.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    taken_port = int(taken.getsockname()[1])
    real_pick = launcher.free_loopback_port
    picks: Iterator[int] = iter([taken_port])
    monkeypatch.setattr(
        launcher, "free_loopback_port", lambda exclude=(): next(picks, None) or real_pick(exclude)
    )

    try:
        running, addresses = launcher.start_all(
            {"CONVTRACK_DATA_DIR": str(tmp_path / "data")}, any_port=True
        )
        try:
            ports = {int(getattr(addresses, name).rsplit(":", 1)[1]) for name in SERVICES}
            assert taken_port not in ports
        finally:
            launcher.stop_all(running)
    finally:
        taken.close()


def test_ports_come_from_the_configured_slice_and_never_twice_for_one_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    low = launcher.default_loopback_ports().start + 500
    monkeypatch.setenv(launcher.LOOPBACK_PORTS_SETTING, f"{low}-{low + 3}")

    ports: list[int] = []
    for _ in range(4):
        ports.append(launcher.free_loopback_port(exclude=ports))

    assert sorted(ports) == [low, low + 1, low + 2, low + 3]
