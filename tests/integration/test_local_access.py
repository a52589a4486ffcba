"""The local deployment's settings (`convtrack up`, `convtrack demo`): keys on, an admin key in
the data directory that is reused while valid and replaced when not, certificates for the
internal ports only, and nothing of it where the user chose otherwise."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from common.keyset import parse_token
from services.commands.local import local_access
from services.ingest.server import IngestSettings, offline_api_keys


def test_a_local_deployment_gets_keys_an_admin_key_and_internal_only_tls(tmp_path: Path) -> None:
    env = {"CONVTRACK_DATA_DIR": str(tmp_path / "data")}
    access = local_access(env)
    assert access.env["CONVTRACK_AUTH"] == "keys"
    assert access.env["CONVTRACK_TLS_INTERNAL_ONLY"] == "y"
    assert access.env["CONVTRACK_TLS_DIR"] == str(tmp_path / "data" / "tls")
    assert access.env["INGEST_INTERNAL_LISTEN"] == access.env["INGEST_INTERNAL_ADDR"]
    assert access.env["INGEST_RATE_LIMIT"] == "0"
    assert access.client_tls is None and access.minted
    assert access.admin_key_file == tmp_path / "data" / "admin.key"
    assert access.admin_key_file.read_text().strip() == access.admin_key
    assert access.admin_key_file.stat().st_mode & 0o777 == 0o600

    again = local_access(env)
    assert again.admin_key == access.admin_key and not again.minted

    # Revoked (say by `convtrack keys revoke`): the next start mints a new one.
    assert access.admin_key is not None
    parsed = parse_token(access.admin_key)
    assert parsed is not None
    keys, close = offline_api_keys(IngestSettings(data_dir=tmp_path / "data"))
    try:
        keys.revoke(parsed[0], datetime.now(UTC))
    finally:
        close()
    replaced = local_access(env)
    assert replaced.minted and replaced.admin_key != access.admin_key


def test_the_users_choices_win(tmp_path: Path) -> None:
    off = local_access({"CONVTRACK_DATA_DIR": str(tmp_path), "CONVTRACK_AUTH": "off"})
    assert off.admin_key is None and "CONVTRACK_TLS_DIR" not in off.env
    assert not (tmp_path / "admin.key").exists()

    limited = local_access({"CONVTRACK_DATA_DIR": str(tmp_path), "INGEST_RATE_LIMIT": "200"})
    assert limited.env["INGEST_RATE_LIMIT"] == "200"

    # Off loopback: no plaintext main port, no unlimited keys; the key is still minted.
    remote = {
        "CONVTRACK_DATA_DIR": str(tmp_path / "remote"),
        "INGEST_LISTEN": "0.0.0.0:50051",
        "CONVTRACK_ALLOW_INSECURE_REMOTE": "1",
    }
    access = local_access(remote)
    assert "CONVTRACK_TLS_INTERNAL_ONLY" not in access.env
    assert "INGEST_RATE_LIMIT" not in access.env
    assert access.admin_key is not None
