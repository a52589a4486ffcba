"""Reading service settings from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


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
