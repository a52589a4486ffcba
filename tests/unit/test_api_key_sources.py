"""Which API key a `convtrack` command sends: --api-key, CONVTRACK_API_KEY,
CONVTRACK_API_KEY_FILE, then (to loopback addresses only) the local admin key of
`convtrack up` in the data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.settings import SettingsError
from services.commands.credentials import sent_api_key

LOCAL = "127.0.0.1:50051"


def test_the_sources_are_asked_in_order(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "admin.key").write_text("ctk_local_key\n")
    named = tmp_path / "named.key"
    named.write_text("ctk_file_key\n")
    env = {"CONVTRACK_DATA_DIR": str(data)}

    assert sent_api_key(None, env, LOCAL) == "ctk_local_key"
    with_file = {**env, "CONVTRACK_API_KEY_FILE": str(named)}
    assert sent_api_key(None, with_file, LOCAL) == "ctk_file_key"
    with_variable = {**with_file, "CONVTRACK_API_KEY": "ctk_env_key"}
    assert sent_api_key(None, with_variable, LOCAL) == "ctk_env_key"
    assert sent_api_key("ctk_flag_key", with_variable, LOCAL) == "ctk_flag_key"


def test_the_local_admin_key_goes_to_loopback_addresses_only(tmp_path: Path) -> None:
    (tmp_path / "admin.key").write_text("ctk_local_key\n")
    env = {"CONVTRACK_DATA_DIR": str(tmp_path)}
    assert sent_api_key(None, env, "localhost:50054") == "ctk_local_key"
    assert sent_api_key(None, env, "[::1]:50054") == "ctk_local_key"
    assert sent_api_key(None, env, "reporting.example.com:50054") is None
    assert sent_api_key(None, env, "10.0.0.7:50054") is None


def test_the_default_data_directory_is_the_current_ones_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert sent_api_key(None, {}, LOCAL) is None
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "admin.key").write_text("ctk_local_key\n")
    assert sent_api_key(None, {}, LOCAL) == "ctk_local_key"


def test_an_unreadable_key_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="CONVTRACK_API_KEY_FILE"):
        sent_api_key(None, {"CONVTRACK_API_KEY_FILE": str(tmp_path / "absent")}, LOCAL)
