"""`convtrack keys create|list|revoke` against ingest with `CONVTRACK_AUTH=keys`, and the
commands that call servers sending the key from `--api-key`, `CONVTRACK_API_KEY` or
`CONVTRACK_API_KEY_FILE`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.server import RunningService
from services import cli, launcher


@pytest.fixture
def ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningService]:
    data_dir = tmp_path / "data"
    for name in ("CONVTRACK_API_KEY", "CONVTRACK_API_KEY_FILE", "CONVTRACK_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONVTRACK_DATA_DIR", str(data_dir))
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


def test_keys_are_created_listed_and_revoked_from_the_command_line(
    ingest: RunningService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, admin, _ = _run(capsys, "keys", "create", "--admin", "--offline")
    assert status == 0
    key_file = tmp_path / "admin.key"
    key_file.write_text(admin)
    status, _, err = _run(capsys, "keys", "list")
    assert status == 1 and "UNAUTHENTICATED" in err, "no key sent yet"

    monkeypatch.setenv("CONVTRACK_API_KEY_FILE", str(key_file))
    for _ in range(50):  # a key minted offline reaches ingest's key set within about a second
        if _run(capsys, "keys", "list")[0] == 0:
            break
        time.sleep(0.1)
    status, writer, err = _run(
        capsys, "keys", "create", "--property", "shop", "--scopes", "ingest:write",
        "--expires", "30d", "--description", "web tag",
    )  # fmt: skip
    assert status == 0, err
    writer = writer.strip()
    assert writer.startswith("ctk_") and "shown once" in err and writer not in err
    key_id = writer.split("_")[1]

    status, listed, _ = _run(capsys, "keys", "list", "--property", "shop")
    assert status == 0
    assert key_id in listed and "ingest:write" in listed and "active" in listed
    assert writer.split("_", 2)[2] not in listed, "secrets are never listed"

    status, _, err = _run(capsys, "rejected", "--property", "shop", "--api-key", writer)
    assert status == 0, err
    status, _, err = _run(capsys, "rejected", "--property", "rival", "--api-key", writer)
    assert status == 1 and "PERMISSION_DENIED" in err and "rival" not in err

    status, out, _ = _run(capsys, "keys", "revoke", key_id)
    assert status == 0 and "revoked" in out
    status, _, err = _run(capsys, "keys", "create", "--property", "shop", "--scopes", "nope")
    assert status == 2 and "unknown scopes nope" in err

    monkeypatch.delenv("CONVTRACK_API_KEY_FILE")
    monkeypatch.setenv("CONVTRACK_API_KEY", writer)
    status_now = 0
    for _ in range(50):  # the revocation reaches ingest's key set within about a second
        status_now, _, err = _run(capsys, "rejected", "--property", "shop")
        if status_now == 1:
            break
        time.sleep(0.1)
    assert status_now == 1 and "UNAUTHENTICATED" in err and "revoked" in err
