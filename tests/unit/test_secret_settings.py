"""Secrets from the environment or a mounted file, and the vault secret's accepted forms."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import pytest

from common.settings import SettingsError, secret
from services.cli import main
from services.ingest.server import IngestSettings
from services.ingest.vault_secrets import parse_secret, vault_secrets

POSTGRES = "postgresql://postgres@127.0.0.1:5432/convtrack"


def test_a_secret_comes_from_its_variable() -> None:
    assert secret({"TOKEN": "s3cret\n"}, "TOKEN") == "s3cret\n"
    assert secret({}, "TOKEN") is None
    assert secret({"TOKEN": "", "TOKEN_FILE": ""}, "TOKEN") is None


def test_a_secret_comes_from_the_file_its_file_variable_names(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("s3cret\n\n")
    # One trailing newline goes (as `echo` or a Kubernetes Secret from a file leave it).
    assert secret({"TOKEN_FILE": str(path)}, "TOKEN") == "s3cret\n"


def test_a_secret_set_both_ways_is_refused_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("other")
    with pytest.raises(SettingsError, match="TOKEN and TOKEN_FILE are both set"):
        secret({"TOKEN": "s3cret", "TOKEN_FILE": str(path)}, "TOKEN")


def test_an_unreadable_secret_file_is_named_without_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"TOKEN_FILE: cannot read .*missing.*No such file"):
        secret({"TOKEN_FILE": str(tmp_path / "missing")}, "TOKEN")
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SettingsError, match=r"TOKEN_FILE: cannot read .*not UTF-8"):
        secret({"TOKEN_FILE": str(binary)}, "TOKEN")


def test_the_vault_secret_is_read_as_hex_base64_or_raw_text() -> None:
    key = secrets.token_bytes(32)
    assert parse_secret(key.hex(), "S").key == key
    assert parse_secret(key.hex().upper() + "\n", "S").key == key
    assert parse_secret(base64.b64encode(key).decode(), "S").key == key
    assert parse_secret(base64.urlsafe_b64encode(key).decode(), "S").key == key
    raw = secrets.token_urlsafe(60)[:70]
    assert parse_secret(raw, "S").key == raw.encode()
    # One secret, one version, whichever way it is written.
    assert (
        parse_secret(key.hex(), "S").version
        == parse_secret(base64.b64encode(key).decode(), "S").version
    )
    assert key.hex() not in repr(parse_secret(key.hex(), "S"))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "changeme",
        "5f1c0e9a3b7d2c4e8a6f0b1d3c5e7a9f",  # 16 bytes in hex
        "q3bR9x0Kc1L2m8vN4tY6uW5zA7sD1fGh",  # 24 bytes in base64
        "a" * 100,  # 50 bytes in hex, all alike
    ],
    ids=["empty", "a password", "16 bytes", "24 bytes", "regular"],
)
def test_a_vault_secret_with_too_little_entropy_is_refused(text: str) -> None:
    with pytest.raises(SettingsError, match=r"INGEST_VAULT_SECRET is too (short|regular)"):
        parse_secret(text, "INGEST_VAULT_SECRET")


def test_ingest_on_postgresql_refuses_to_generate_its_vault_secret() -> None:
    with pytest.raises(SettingsError, match=r"^INGEST_VAULT_SECRET \(or INGEST_VAULT_SECRET_FILE"):
        IngestSettings.from_env({"CONVTRACK_DATABASE_URL": POSTGRES})
    allowed = IngestSettings.from_env(
        {"CONVTRACK_DATABASE_URL": POSTGRES, "CONVTRACK_ALLOW_GENERATED_SECRETS": "1"}
    )
    assert allowed.vault_secret is None
    assert IngestSettings.from_env({}).vault_secret is None  # embedded SQLite: generated


def test_ingest_reads_its_current_and_previous_vault_secrets(tmp_path: Path) -> None:
    current, first, second, third = (secrets.token_hex(32) for _ in range(4))
    previous_file = tmp_path / "previous"
    previous_file.write_text(f"{second}\n{third}\n")
    settings = IngestSettings.from_env(
        {
            "CONVTRACK_DATABASE_URL": POSTGRES,
            "INGEST_VAULT_SECRET": current,
            "INGEST_VAULT_SECRET_PREVIOUS_FILE": str(previous_file),
        }
    )
    assert settings.vault_secret == current
    assert settings.vault_previous_secrets == (second, third)
    assert current not in repr(settings)
    listed = IngestSettings.from_env(
        {"INGEST_VAULT_SECRET": current, "INGEST_VAULT_SECRET_PREVIOUS": f"{first}, {second}"}
    )
    assert listed.vault_previous_secrets == (first, second)
    loaded = vault_secrets(listed.vault_secret, listed.vault_previous_secrets, tmp_path)
    assert [s.key.hex() for s in loaded.all] == [current, first, second]


def test_a_bad_previous_vault_secret_is_named_by_its_place_in_the_list(tmp_path: Path) -> None:
    with pytest.raises(
        SettingsError, match=r"INGEST_VAULT_SECRET_PREVIOUS \(entry 2\) is too short"
    ):
        IngestSettings.from_env({"INGEST_VAULT_SECRET_PREVIOUS": f"{secrets.token_hex(32)},short"})
    with pytest.raises(SettingsError, match="INGEST_VAULT_SECRET_FILE is too short"):
        path = tmp_path / "key"
        path.write_text("short\n")
        IngestSettings.from_env({"INGEST_VAULT_SECRET_FILE": str(path)})


def test_a_generated_key_file_is_private_and_made_once(tmp_path: Path) -> None:
    first = vault_secrets(None, (), tmp_path)
    again = vault_secrets(None, (), tmp_path)
    assert first.current == again.current
    key_file = tmp_path / "secrets" / "ingest-vault.key"
    assert oct(os.stat(key_file).st_mode & 0o777) == "0o600"


def test_a_missing_vault_secret_on_postgresql_stops_the_command_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("CONVTRACK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONVTRACK_DATABASE_URL", POSTGRES)
    monkeypatch.delenv("INGEST_VAULT_SECRET", raising=False)
    monkeypatch.delenv("INGEST_VAULT_SECRET_FILE", raising=False)
    monkeypatch.delenv("CONVTRACK_ALLOW_GENERATED_SECRETS", raising=False)
    assert main(["migrate"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("convtrack migrate: INGEST_VAULT_SECRET (or INGEST_VAULT_SECRET_FILE)")
    assert "Traceback" not in line
