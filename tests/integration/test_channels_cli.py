"""`convtrack channels show|set` against a real ingest with `CONVTRACK_AUTH=keys`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.callers import Scope
from common.server import RunningService
from services import cli, launcher
from services.ingest.server import IngestSettings, offline_api_keys

RULES = {
    "rules": [
        {"channel": "partners", "source": {"match": "exact", "values": ["awin", "cj"]}},
        {
            "channel": "paid_brand",
            "campaign": {"match": "regex", "values": ["^brand-"]},
            "click_id_types": ["gclid"],
            "referrer_kinds": ["search", "none"],
        },
    ],
    "replace_defaults": False,
}


@pytest.fixture
def ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningService]:
    data_dir = tmp_path / "data"
    for name in ("CONVTRACK_API_KEY_FILE", "CONVTRACK_DATABASE_URL", "CONVTRACK_TLS_DIR"):
        monkeypatch.delenv(name, raising=False)
    api_keys, close = offline_api_keys(IngestSettings(data_dir=data_dir))
    try:
        key = api_keys.create(
            property_id="shop", scopes=[Scope.ATTRIBUTION_ADMIN], now=datetime.now(UTC)
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


def test_channel_rules_are_set_from_a_file_and_shown_as_the_same_json(
    ingest: RunningService, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for _ in range(50):  # the key minted offline reaches ingest's key set within a second
        status, out, err = _run(capsys, "channels", "show", "--property", "shop")
        if status == 0:
            break
        time.sleep(0.1)
    assert status == 0, err
    assert json.loads(out) == {"rules": [], "replace_defaults": False}
    assert "built-in default rules" in err

    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps(RULES))
    status, out, err = _run(
        capsys, "channels", "set", "--property", "shop", "--rules", str(rules_file)
    )
    assert status == 0, err
    assert json.loads(out) == RULES
    status, out, err = _run(capsys, "channels", "show", "--property", "shop")
    assert json.loads(out) == RULES and "this property's own rules" in err

    # A bad rule is refused naming its field; a malformed file never reaches ingest.
    rules_file.write_text(json.dumps({"rules": [{"channel": "Bad Name"}]}))
    status, _, err = _run(
        capsys, "channels", "set", "--property", "shop", "--rules", str(rules_file)
    )
    assert status == 1 and "rules[0].channel" in err
    rules_file.write_text(json.dumps({"rules": [{"channel": "x", "source": {"match": "glob"}}]}))
    status, _, err = _run(
        capsys, "channels", "set", "--property", "shop", "--rules", str(rules_file)
    )
    assert status == 2 and "rules[0].source.match" in err
    # The deployment default needs an admin key.
    status, _, err = _run(capsys, "channels", "show", "--property", "*")
    assert status == 1 and "PERMISSION_DENIED" in err
