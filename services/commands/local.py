"""A local deployment's access for `convtrack up` and `convtrack demo`: API keys on, a local
admin key in the data directory, and development certificates with which the services prove
who they are to each other on their internal ports (their main ports stay plaintext on
loopback, so local clients need no certificate)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from common.callers import Scope
from common.channels import operator_tls
from common.keyset import AuthenticationError
from common.settings import (
    INTERNAL_ONLY_SETTING,
    SettingsError,
    TlsSettings,
    data_dir,
    env_str,
    is_loopback,
    tls_settings,
)
from services import SERVICES
from services.commands.credentials import ADMIN_KEY_FILE

TLS_FOLDER = "tls"
INTERNAL_PORTS = {"ingest": 50061, "identity": 50062, "attribution": 50063}
"""The internal ports `convtrack up` gives the services that peers call (as in Kubernetes)."""
KEY_DESCRIPTION = "local admin key (convtrack up / demo)"


@dataclass(frozen=True)
class LocalAccess:
    """How to start a local deployment and call it as its operator.

    `env` is the environment to start the services with; `admin_key` the key to send (None
    with authentication off) and `admin_key_file` where it is; `client_tls` what clients use
    on the main ports (None: plaintext)."""

    env: dict[str, str]
    admin_key: str | None = None
    admin_key_file: Path | None = None
    client_tls: TlsSettings | None = None
    minted: bool = False


def local_access(env: Mapping[str, str], *, any_port: bool = False) -> LocalAccess:
    """Settings for a local deployment, with its admin key minted when needed.

    Unless `CONVTRACK_AUTH` is set, authentication is on (`keys`) and, on loopback, as before
    with it off, the operator is not rate limited (each unset `<SERVICE>_RATE_LIMIT` is 0).
    With keys, main ports on loopback and no TLS configured, development certificates are
    written to `<data dir>/tls` (kept across runs) and serve only the internal ports
    (`CONVTRACK_TLS_INTERNAL_ONLY`), at 127.0.0.1:5006x unless set (or free ports with
    `any_port`, which the launcher chooses). The admin key in `<data dir>/admin.key` (0600)
    is reused while ingest's store still accepts it, else a new one is minted offline.
    """
    chosen = dict(env)
    on_loopback = all(
        is_loopback(env_str(chosen, f"{name.upper()}_LISTEN", "127.0.0.1")) for name in SERVICES
    )
    if not env_str(chosen, "CONVTRACK_AUTH"):
        chosen["CONVTRACK_AUTH"] = "keys"  # the services' own default off loopback
        if on_loopback:
            for name in SERVICES:
                if not env_str(chosen, f"{name.upper()}_RATE_LIMIT"):
                    chosen[f"{name.upper()}_RATE_LIMIT"] = "0"
    if env_str(chosen, "CONVTRACK_AUTH").lower() != "keys":
        return LocalAccess(chosen, client_tls=operator_tls(None, chosen))
    directory = data_dir(chosen)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if on_loopback and all(tls_settings(chosen, name) is None for name in SERVICES):
        from services.commands.certs import write_dev_certificates

        certificates = directory / TLS_FOLDER
        write_dev_certificates(certificates)
        chosen["CONVTRACK_TLS_DIR"] = str(certificates)
        chosen[INTERNAL_ONLY_SETTING] = "y"
        if not any_port:
            for name, port in INTERNAL_PORTS.items():
                prefix = name.upper()
                if not env_str(chosen, f"{prefix}_INTERNAL_LISTEN"):
                    chosen[f"{prefix}_INTERNAL_LISTEN"] = f"127.0.0.1:{port}"
                    chosen.setdefault(f"{prefix}_INTERNAL_ADDR", f"127.0.0.1:{port}")
        client_tls = None
    else:
        client_tls = operator_tls(None, chosen)
    key_file = directory / ADMIN_KEY_FILE
    key, minted = _admin_key(chosen, key_file)
    return LocalAccess(chosen, key, key_file, client_tls, minted)


def _admin_key(env: Mapping[str, str], key_file: Path) -> tuple[str, bool]:
    """The admin key in `key_file` if ingest's store accepts it, else a new one written
    there; and whether it is new."""
    from services.ingest.server import IngestSettings, offline_api_keys

    existing = key_file.read_text().strip() if key_file.is_file() else ""
    keys, close = offline_api_keys(IngestSettings.from_env(env))
    try:
        now = datetime.now(UTC)
        if existing:
            try:
                caller = keys.key_set().authenticate(existing, now)
            except AuthenticationError:
                caller = None
            if caller is not None and caller.allows(Scope.ADMIN, None):
                return existing, False
        created = keys.create(
            property_id="", scopes=[Scope.ADMIN], now=now, description=KEY_DESCRIPTION
        )
    finally:
        close()
    _write_secret(key_file, created.token)
    return created.token, True


def _write_secret(path: Path, text: str) -> None:
    """Writes `text` to `path`, readable by its owner only (replacing the file)."""
    path.unlink(missing_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise SettingsError(f"cannot write the local admin key {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "w") as file:
        file.write(text + "\n")
