"""The vault's HMAC secrets: the current one and previous ones, from the environment or files.

A secret is given as hex (64 or more hex digits), as base64 (standard or URL-safe, padded,
decoding to 32 bytes or more) or else raw (64 characters or more, used as its UTF-8 bytes);
the rule is tried in that order. Its version id is a keyed fingerprint of its bytes, so the
same secret written in hex or in base64 has one version, and the id reveals nothing of it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from common.settings import SettingsError, env_str, secret

_log = logging.getLogger(__name__)

CURRENT = "INGEST_VAULT_SECRET"
CURRENT_FILE = "INGEST_VAULT_SECRET_FILE"
PREVIOUS = "INGEST_VAULT_SECRET_PREVIOUS"
PREVIOUS_FILE = "INGEST_VAULT_SECRET_PREVIOUS_FILE"
ALLOW_GENERATED = "CONVTRACK_ALLOW_GENERATED_SECRETS"
MIN_BYTES = 32
MIN_RAW_CHARACTERS = 64
MIN_DISTINCT_BYTES = 16
GENERATED_FILE = Path("secrets") / "ingest-vault.key"
_HEX = re.compile(r"[0-9a-fA-F]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_VERSION_LABEL = b"convtrack vault secret version"


@dataclass(frozen=True, slots=True)
class VaultSecret:
    """One HMAC secret and its version id."""

    key: bytes

    def __repr__(self) -> str:
        return f"VaultSecret(version={self.version!r})"

    @property
    def version(self) -> str:
        """A fingerprint of the secret (12 hex digits) naming it in logs, errors and the store."""
        return hmac.new(self.key, _VERSION_LABEL, hashlib.sha256).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class VaultSecrets:
    """The current secret (new pseudonyms) and the previous ones (pseudonyms already made)."""

    current: VaultSecret
    previous: tuple[VaultSecret, ...] = ()

    @property
    def all(self) -> tuple[VaultSecret, ...]:
        """Current first, then the previous ones in the order given, without repeats."""
        seen: dict[str, VaultSecret] = {}
        for item in (self.current, *self.previous):
            seen.setdefault(item.version, item)
        return tuple(seen.values())

    def with_previous(self, extra: VaultSecret) -> VaultSecrets:
        """These secrets with one more previous secret (unless it is already listed)."""
        if extra.version in {s.version for s in self.all}:
            return self
        return VaultSecrets(self.current, (*self.previous, extra))


def parse_secret(text: str, variable: str) -> VaultSecret:
    """The secret written in `text` (hex, base64 or raw); SettingsError naming `variable`
    when it holds fewer than 32 bytes or looks too regular to be random."""
    value = text.strip()
    key: bytes | None = None
    if len(value) >= 2 * MIN_BYTES and len(value) % 2 == 0 and _HEX.fullmatch(value):
        key = bytes.fromhex(value)
    elif _BASE64.fullmatch(value) and len(value) % 4 == 0:
        try:
            decoded = base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
        except binascii.Error:
            decoded = b""
        if len(decoded) >= MIN_BYTES:
            key = decoded
    if key is None:
        if len(value) < MIN_RAW_CHARACTERS:
            raise SettingsError(
                f"{variable} is too short: give at least {MIN_BYTES} random bytes as "
                f"{2 * MIN_BYTES} hex digits or as base64, or {MIN_RAW_CHARACTERS} characters "
                "(e.g. `openssl rand -hex 32`)"
            )
        key = value.encode()
    if len(set(key)) < MIN_DISTINCT_BYTES:
        raise SettingsError(
            f"{variable} is too regular to be random: give {MIN_BYTES} random bytes "
            "(e.g. `openssl rand -hex 32`)"
        )
    return VaultSecret(key)


def configured_secrets(env: Mapping[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """The current secret's text (None when not configured) and the previous ones' texts,
    each checked: `INGEST_VAULT_SECRET[_FILE]` and `INGEST_VAULT_SECRET_PREVIOUS[_FILE]`
    (several separated by commas or white space; in a file, one a line)."""
    current = secret(env, CURRENT)
    if current is not None:
        parse_secret(current, CURRENT if env.get(CURRENT) else CURRENT_FILE)
    previous_text = secret(env, PREVIOUS) or ""
    previous = tuple(previous_text.replace(",", " ").split())
    for index, text in enumerate(previous):
        variable = PREVIOUS if env.get(PREVIOUS) else PREVIOUS_FILE
        parse_secret(text, f"{variable} (entry {index + 1})")
    return current, previous


def generated_secrets_allowed(env: Mapping[str, str]) -> bool:
    """`CONVTRACK_ALLOW_GENERATED_SECRETS`: whether a service on PostgreSQL may generate its
    secrets into its data directory (for tests; replicas would each make their own)."""
    return env_str(env, ALLOW_GENERATED).lower() in ("1", "y", "yes", "true")


def vault_secrets(
    current: str | None, previous: tuple[str, ...], data_dir: Path, seed: bytes | None = None
) -> VaultSecrets:
    """The secrets from their texts; without a current one, the secret in the data
    directory's key file, created (from `seed` when given) if there is none."""
    old = tuple(parse_secret(text, f"{PREVIOUS} entry {n + 1}") for n, text in enumerate(previous))
    if current is not None:
        return VaultSecrets(parse_secret(current, CURRENT), old)
    path = data_dir / GENERATED_FILE
    if _create_key_file(path, seed):
        _log.warning(
            "ingest: %s is not set: generated the vault secret into %s; keep that file with "
            "the data (pseudonyms depend on it)",
            CURRENT,
            path,
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{CURRENT} is not set and {path} cannot be read: {error}") from None
    generated = parse_secret(text, str(path))
    _log.info("ingest: vault secret %s from %s", generated.version, path)
    return VaultSecrets(generated, old)


def _create_key_file(path: Path, seed: bytes | None) -> bool:
    """Writes a new secret (hex) to `path`, readable by its owner only, unless the file
    exists; atomic: a concurrent starter either wins or reads the winner's file."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write((seed or secrets.token_bytes(MIN_BYTES)).hex() + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
    finally:
        temporary.unlink(missing_ok=True)
    return True
