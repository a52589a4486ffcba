"""Reading service settings from the environment."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

INSECURE_REMOTE_SETTING = "CONVTRACK_ALLOW_INSECURE_REMOTE"
INTERNAL_ONLY_SETTING = "CONVTRACK_TLS_INTERNAL_ONLY"
TRUE_WORDS = ("y", "yes", "1", "true")


class SettingsError(ValueError):
    """A setting with a value convtrack cannot use."""


def env_str(env: Mapping[str, str], key: str, default: str = "") -> str:
    """A string setting; empty values count as unset."""
    value = env.get(key, "").strip()
    return value or default


def env_int(env: Mapping[str, str], key: str, default: int) -> int:
    """An integer setting."""
    raw = env_str(env, key)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{key} must be an integer, not {raw!r}") from None


def env_flag(env: Mapping[str, str], key: str, default: bool) -> bool:
    """An on/off setting: y, yes, 1, true, on or n, no, 0, false, off (any case)."""
    raw = env_str(env, key).lower()
    if not raw:
        return default
    if raw in (*TRUE_WORDS, "on"):
        return True
    if raw in ("n", "no", "0", "false", "off"):
        return False
    raise SettingsError(f"{key} must be on or off (y/n, true/false, 1/0), not {raw!r}")


def secret(env: Mapping[str, str], name: str) -> str | None:
    """The secret `name`: its value, or the content of the file named by `name_FILE` (a mounted
    Kubernetes or Docker secret) without one trailing newline; None when neither is set."""
    file_name = f"{name}_FILE"
    value = env.get(name, "")
    path = env.get(file_name, "").strip()
    if value and path:
        raise SettingsError(f"{name} and {file_name} are both set: set only one of them")
    if value:
        return value
    if not path:
        return None
    try:
        content = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise SettingsError(f"{file_name}: cannot read {path!r} ({reason})") from None
    return content.removesuffix("\n")


def data_dir(env: Mapping[str, str]) -> Path:
    """`CONVTRACK_DATA_DIR`, where embedded databases live (default `./data`)."""
    return Path(env_str(env, "CONVTRACK_DATA_DIR", "data"))


def database_url(env: Mapping[str, str], service: str) -> str:
    """`<SERVICE>_DATABASE_URL`, else `CONVTRACK_DATABASE_URL`, else empty (embedded SQLite)."""
    return env_str(env, f"{service.upper()}_DATABASE_URL") or env_str(env, "CONVTRACK_DATABASE_URL")


def process_env() -> Mapping[str, str]:
    """The process environment (the one place settings are read from outside tests)."""
    return os.environ


def creates_tables(env: Mapping[str, str]) -> bool:
    """`CONVTRACK_CREATE_TABLES` (default yes): whether a service creates its tables when it
    starts. Turn it off for replicas after running `convtrack migrate` once."""
    return env_str(env, "CONVTRACK_CREATE_TABLES", "y").lower() not in ("n", "no", "0", "false")


def allows_insecure_remote(env: Mapping[str, str]) -> bool:
    """`CONVTRACK_ALLOW_INSECURE_REMOTE` (default no): serve a non-loopback address without TLS."""
    return env_str(env, INSECURE_REMOTE_SETTING, "n").lower() in ("y", "yes", "1", "true")


@dataclass(frozen=True)
class TlsSettings:
    """Where a TLS identity is: its certificate chain, private key and the CA that signs peers'
    certificates (PEM files)."""

    cert: Path
    key: Path
    ca: Path

    @classmethod
    def in_directory(cls, directory: Path, name: str) -> TlsSettings:
        """`<name>.crt`, `<name>.key` and `ca.crt` in `directory` (as `convtrack certs dev`
        writes them)."""
        return cls(directory / f"{name}.crt", directory / f"{name}.key", directory / "ca.crt")


def tls_settings(env: Mapping[str, str], service: str) -> TlsSettings | None:
    """`<SERVICE>_TLS_CERT`, `_TLS_KEY` and `_TLS_CA` (all three), else `<SERVICE>_TLS_DIR`,
    else `CONVTRACK_TLS_DIR` (files `<service>.crt`, `<service>.key`, `ca.crt` in it); None
    when none is set. Every file must exist."""
    prefix = service.upper()
    file_settings = (f"{prefix}_TLS_CERT", f"{prefix}_TLS_KEY", f"{prefix}_TLS_CA")
    files = [env_str(env, name) for name in file_settings]
    directory_setting = next(
        (name for name in (f"{prefix}_TLS_DIR", "CONVTRACK_TLS_DIR") if env_str(env, name)), ""
    )
    if any(files):
        missing = [name for name, value in zip(file_settings, files, strict=True) if not value]
        if missing:
            raise SettingsError(
                f"{prefix}_TLS_CERT, _TLS_KEY and _TLS_CA go together: {missing[0]} is unset"
            )
        tls = TlsSettings(*(Path(value) for value in files))
        named = list(zip(file_settings, (tls.cert, tls.key, tls.ca), strict=True))
    elif directory_setting:
        tls = TlsSettings.in_directory(Path(env_str(env, directory_setting)), service)
        named = [(directory_setting, path) for path in (tls.cert, tls.key, tls.ca)]
    else:
        return None
    for setting, path in named:
        if not path.is_file():
            raise SettingsError(f"{setting}: {path} is not a readable file")
    return tls


def is_loopback(address: str) -> bool:
    """Whether a listen address (`host:port`, `[v6]:port`) binds only the loopback interface."""
    host = address.rpartition(":")[0] if ":" in address else address
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class TransportSettings:
    """How a server's ports are secured (beside its main `listen` address).

    `internal_listen` is a second port for the services' own calls, requiring client
    certificates from the CA; `health_listen` a plaintext port serving only grpc.health.v1
    (for Kubernetes' native gRPC probes). Both empty: off. `plaintext_main`: TLS only on the
    internal port, the main port plaintext (a local deployment on loopback, `convtrack up`:
    peers prove who they are, local clients need no certificates).
    """

    tls: TlsSettings | None = None
    internal_listen: str = ""
    health_listen: str = ""
    allow_insecure_remote: bool = False
    plaintext_main: bool = False

    @property
    def main_tls(self) -> TlsSettings | None:
        """The TLS identity the main port serves with; None when it is plaintext."""
        return None if self.plaintext_main else self.tls


PLAINTEXT = TransportSettings()
"""One plaintext port, no internal or health port: the loopback default."""


def transport_settings(env: Mapping[str, str], service: str, listen: str) -> TransportSettings:
    """`<SERVICE>_TLS_*` (see `tls_settings`), `<SERVICE>_INTERNAL_LISTEN`,
    `<SERVICE>_HEALTH_LISTEN`, `CONVTRACK_ALLOW_INSECURE_REMOTE` and
    `CONVTRACK_TLS_INTERNAL_ONLY` (TLS on the internal port only; default no); refuses a
    non-loopback `listen` without TLS on it unless insecure remote serving is allowed."""
    prefix = service.upper()
    transport = TransportSettings(
        tls=tls_settings(env, service),
        internal_listen=env_str(env, f"{prefix}_INTERNAL_LISTEN"),
        health_listen=env_str(env, f"{prefix}_HEALTH_LISTEN"),
        allow_insecure_remote=allows_insecure_remote(env),
        plaintext_main=env_str(env, INTERNAL_ONLY_SETTING, "n").lower() in TRUE_WORDS,
    )
    if transport.internal_listen and transport.tls is None:
        raise SettingsError(
            f"{prefix}_INTERNAL_LISTEN needs TLS: set {prefix}_TLS_DIR or "
            f"{prefix}_TLS_CERT, _TLS_KEY and _TLS_CA"
        )
    if (
        transport.main_tls is None
        and not transport.allow_insecure_remote
        and not is_loopback(listen)
    ):
        reason = (
            f"{INTERNAL_ONLY_SETTING} keeps it plaintext"
            if transport.tls is not None
            else "no TLS is configured"
        )
        raise SettingsError(
            f"{prefix}_LISTEN {listen} is not a loopback address and {reason}: set "
            f"{prefix}_TLS_DIR (or {prefix}_TLS_CERT, _TLS_KEY, _TLS_CA), or "
            f"{INSECURE_REMOTE_SETTING}=1 to serve it without TLS"
        )
    return transport


def peer_address(env: Mapping[str, str], peer: str, default: str) -> str:
    """Where this service calls `peer`: `<PEER>_INTERNAL_ADDR` (its internal port, which needs
    this service's client certificate) when set, else `<PEER>_ADDR`, else `default`."""
    prefix = peer.upper()
    return env_str(env, f"{prefix}_INTERNAL_ADDR") or env_str(env, f"{prefix}_ADDR", default)
