"""`convtrack relay` against a local webhook that fails its first attempts: retries, signatures,
idempotency keys, and a state file written only after a 2xx that a restarted relay resumes
from. Real servers on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from services.cli import main
from services.commands.relay import (
    IDEMPOTENCY_HEADER,
    POSITION_HEADER,
    SIGNATURE_HEADER,
    Backoff,
    Relay,
    RelaySettings,
    verify_signature,
)
from tests.conftest import Storage
from tests.integration.helpers_watch import (
    PROPERTY,
    System,
    conversion,
    late_click,
    started_system,
)

SECRET = "whsec-test-0123456789"


@dataclass
class Attempt:
    """One POST the webhook received, and what it answered (0: no answer)."""

    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class Webhook:
    """A local HTTP endpoint; `plan` says what each attempt gets, by attempt number from 1:
    an HTTP status, "drop" (close the connection) or "slow" (answer after the client gave up);
    past the plan every attempt gets `then`."""

    plan: list[int | str] = field(default_factory=list)
    then: int = 204
    attempts: list[Attempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[Attempt]:
        return [a for a in self.attempts if 200 <= a.answered < 300]


@pytest.fixture
def system(storage: Storage) -> Iterator[System]:
    with started_system(storage) as started:
        yield started


@pytest.fixture
def webhook() -> Iterator[tuple[Webhook, str]]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with hook.lock:
                number = len(hook.attempts) + 1
                action = hook.plan[number - 1] if number <= len(hook.plan) else hook.then
                attempt = Attempt(dict(self.headers.items()), body, 0)
                hook.attempts.append(attempt)
            if action == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if action == "slow":
                time.sleep(2.5)  # the relay gives up on this attempt after 1 s
                attempt.answered = -1
                action = 200
            else:
                assert isinstance(action, int)
                attempt.answered = action
            self.send_response(action)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook, f"http://127.0.0.1:{server.server_address[1]}/hooks/convtrack?src=test"
    finally:
        server.shutdown()
        server.server_close()


def relay(system: System, url: str, state: Path, *extra: str) -> int:
    return main(
        [
            "relay",
            "--url",
            url,
            "--property",
            PROPERTY,
            "--state-file",
            str(state),
            "--secret",
            SECRET,
            "--addr",
            system.addresses.attribution,
            "--timeout",
            "1",
            "--until-caught-up",
            *extra,
        ]
    )


def stored_position(state: Path) -> int:
    position: int = json.loads(state.read_text())["position"]
    return position


def test_the_relay_retries_signs_and_resumes_from_its_state_file(
    system: System, webhook: tuple[Webhook, str], tmp_path: Path
) -> None:
    hook, url = webhook
    state = tmp_path / "relay-state.json"
    system.track(*(conversion(PROPERTY, n) for n in range(3)))
    system.sync()

    # The first conversion meets a 503, a dropped connection and a timeout before a 2xx.
    hook.plan = [503, "drop", "slow"]
    assert relay(system, url, state, "--from-position", "0") == 0

    delivered = hook.accepted()
    bodies = [json.loads(a.body) for a in delivered]
    assert {b["attribution"]["conversion_id"] for b in bodies} == system.sent(PROPERTY)
    assert len(bodies) == 3
    positions = [b["position"] for b in bodies]
    assert positions == sorted(positions)
    first_tries = [a for a in hook.attempts if a.headers[POSITION_HEADER] == str(positions[0])]
    assert len(first_tries) == 4  # three failures, then the delivery
    assert len({a.body for a in first_tries}) == 1
    assert len({a.headers[IDEMPOTENCY_HEADER] for a in first_tries}) == 1
    for attempt, body in zip(delivered, bodies, strict=True):
        assert verify_signature(SECRET.encode(), attempt.headers[SIGNATURE_HEADER], attempt.body)
        assert not verify_signature(
            b"another secret", attempt.headers[SIGNATURE_HEADER], attempt.body
        )
        assert attempt.headers[IDEMPOTENCY_HEADER] == body["id"]
        assert body["id"] == f"{body['attribution']['conversion_id']}:1"
        assert body["type"] == "conversion.attributed" and body["property_id"] == PROPERTY
        assert body["attribution"]["revision"] == 1
        assert {m["model"] for m in body["attribution"]["models"]} >= {"last_click", "linear"}
    assert stored_position(state) >= positions[-1]

    # Restarted later, the relay sends only what came since: two purchases and a revision.
    system.track(*(conversion(PROPERTY, n) for n in range(3, 5)), late_click(PROPERTY, 0))
    system.sync()
    before = len(delivered)
    assert relay(system, url, state) == 0
    later = [json.loads(a.body) for a in hook.accepted()[before:]]
    assert sorted(b["type"] for b in later) == [
        "conversion.attributed",
        "conversion.attributed",
        "conversion.reattributed",
    ]
    assert min(b["position"] for b in later) > positions[-1]
    revised = next(b for b in later if b["type"] == "conversion.reattributed")
    assert revised["id"] == f"{bodies[0]['attribution']['conversion_id']}:2"


def test_the_state_file_moves_only_after_a_2xx(
    system: System, webhook: tuple[Webhook, str], tmp_path: Path
) -> None:
    hook, url = webhook
    state = tmp_path / "state.json"
    system.track(conversion(PROPERTY, 0))
    system.sync()
    hook.then = 503  # the webhook is down
    stop = threading.Event()
    runner = Relay(
        RelaySettings(
            url=url,
            property_id=PROPERTY,
            address=system.addresses.attribution,
            from_position=0,
            state_file=state,
            heartbeat=1.0,
            backoff=Backoff(initial=0.1, maximum=0.2),
        ),
        stop=stop,
    )
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        while len(hook.attempts) < 3:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert runner.counts.delivered == 0 and runner.counts.failed_attempts >= 3
    # The opening heartbeat's position is stored, never one past the undelivered conversion.
    assert stored_position(state) == 0

    # A 4xx other than 408/425/429 stops the relay (retrying the same body cannot help); the
    # state still says where to resume once the receiver is fixed.
    hook.then = 400
    assert relay(system, url, state) == 1
    assert stored_position(state) == 0
    hook.then = 200
    assert relay(system, url, state) == 0
    assert len(hook.accepted()) == 1
