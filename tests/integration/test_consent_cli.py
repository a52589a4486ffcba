"""`convtrack consent defaults|forget` against a real ingest with `CONVTRACK_AUTH=keys`."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from common.callers import Scope
from common.server import RunningService
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services import cli, launcher
from services.ingest.server import IngestSettings, offline_api_keys
from tests.integration.helpers_ingest import DEADLINE, page_view


@pytest.fixture
def ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningService]:
    data_dir = tmp_path / "data"
    for name in ("CONVTRACK_API_KEY_FILE", "CONVTRACK_DATABASE_URL", "CONVTRACK_TLS_DIR"):
        monkeypatch.delenv(name, raising=False)
    api_keys, close = offline_api_keys(IngestSettings(data_dir=data_dir))
    try:
        key = api_keys.create(
            property_id="shop",
            scopes=[Scope.IDENTITY_ADMIN, Scope.INGEST_WRITE],
            now=datetime.now(UTC),
        ).token
    finally:
        close()
    monkeypatch.setenv("CONVTRACK_API_KEY", key)
    service = launcher.start_one(
        "ingest",
        {"CONVTRACK_DATA_DIR": str(data_dir), "CONVTRACK_AUTH": "keys"},
        {"listen": "127.0.0.1:0", "identity_addr": ""},
    )
    monkeypatch.setenv("INGEST_ADDR", f"127.0.0.1:{service.port}")
    yield service
    service.stop()


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = cli.main(list(args))
    printed = capsys.readouterr()
    return status, printed.out, printed.err


def test_consent_defaults_are_shown_and_chosen_from_the_command_line(
    ingest: RunningService, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(50):  # the key minted offline reaches ingest's key set within a second
        status, out, err = _run(capsys, "consent", "defaults", "--property", "shop")
        if status == 0:
            break
        time.sleep(0.1)
    assert status == 0, err
    assert "unknown analytics consent counts as granted" in out
    assert "the environment" in out

    status, out, _ = _run(
        capsys, "consent", "defaults", "--property", "shop", "--analytics", "denied"
    )
    assert status == 0
    assert "this property's own choice" in out
    assert "unknown analytics consent counts as denied" in out
    assert "unknown advertising consent counts as granted" in out

    # The deployment default needs an admin key.
    status, _, err = _run(
        capsys, "consent", "defaults", "--all-properties", "--advertising", "denied"
    )
    assert status == 1 and "PERMISSION_DENIED" in err


def test_identifiers_consent_is_erased_from_the_command_line(
    ingest: RunningService, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{ingest.port}") as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        events = [
            page_view(
                "shy",
                identity=ingest_pb2.Identity(anonymous_id="shy-cookie"),
                consent=ingest_pb2.Consent(analytics=ingest_pb2.CONSENT_STATE_DENIED),
            ),
            page_view("open", identity=ingest_pb2.Identity(user_id="user-9")),
        ]
        metadata = [("authorization", f"Bearer {os.environ['CONVTRACK_API_KEY']}")]
        for _ in range(50):
            try:
                stub.TrackEvents(
                    ingest_pb2.TrackEventsRequest(events=events),
                    timeout=DEADLINE,
                    metadata=metadata,
                )
                break
            except grpc.RpcError as error:
                assert error.code() is grpc.StatusCode.UNAUTHENTICATED, error
                time.sleep(0.1)
    status, out, err = _run(
        capsys, "consent", "forget", "--property", "shop",
        "--identifier", "anon:shy-cookie", "--identifier", "user:user-9",
    )  # fmt: skip
    assert status == 0, err
    assert "Erased 1 consent record(s)." in out
    assert "user:user-9 belongs to a person" in out
    status, _, err = _run(
        capsys, "consent", "forget", "--property", "shop", "--identifier", "cookie-without-type"
    )
    assert status == 2 and "not an identifier" in err
