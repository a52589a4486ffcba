"""API keys as every service checks them: the token format, the key set held in memory, and the
background refresh that keeps it current (no network round trip per call)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from common.callers import Caller, Scope
from common.log_throttle import LogThrottle, summary

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "ctk"
KEY_ID_BYTES = 8
SECRET_BYTES = 32
REFRESH_SECONDS = 1.0
# A key set not refreshed for this long is no longer trusted: revocations may be missing.
MAX_STALE_SECONDS = 60.0
LOG_INTERVAL_SECONDS = 60.0


def new_key_id() -> str:
    """A random key id (16 hex digits)."""
    return secrets.token_hex(KEY_ID_BYTES)


def new_secret() -> str:
    """A random secret: 256 bits, URL-safe base64."""
    return secrets.token_urlsafe(SECRET_BYTES)


def token_of(key_id: str, secret: str) -> str:
    """The API key as its holder sends it: `ctk_<key id>_<secret>`."""
    return f"{TOKEN_PREFIX}_{key_id}_{secret}"


def secret_hash(secret: str) -> str:
    """The SHA-256 of a secret, hex: the only form in which a secret is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """The (key id, secret) of a token; None when it is not shaped like a convtrack key."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or not key_id or not secret or not key_id.isalnum():
        return None
    return key_id, secret


class AuthenticationError(Exception):
    """The credentials sent do not identify a caller (missing, malformed, unknown, expired or
    revoked); the message says which, and is safe to show the sender."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One API key as stored: its id, the hash of its secret, the property it is for (empty
    for an all-properties key), its scopes, expiry and whether it was revoked."""

    key_id: str
    secret_sha256: str
    property_id: str
    scopes: frozenset[Scope]
    expires_at: datetime | None = None
    revoked: bool = False

    def caller(self) -> Caller:
        """The caller this key stands for."""
        return Caller(
            key_id=self.key_id,
            properties=frozenset({self.property_id}) if self.property_id else None,
            scopes=self.scopes,
        )


class KeySet:
    """The API keys a server accepts, by key id; `version` is the key ring's version."""

    def __init__(self, records: Iterable[KeyRecord], version: int) -> None:
        self._records = {r.key_id: r for r in records}
        self.version = version

    def __len__(self) -> int:
        return len(self._records)

    def authenticate(self, token: str, now: datetime) -> Caller:
        """The caller of a token; AuthenticationError when the key is unknown, the secret
        wrong, the key expired or revoked. Expiry and revocation are said only to a sender
        who knows the secret."""
        parsed = parse_token(token)
        if parsed is None:
            raise AuthenticationError(
                "the bearer token is not a convtrack API key (expected ctk_<key id>_<secret>)"
            )
        key_id, secret = parsed
        record = self._records.get(key_id)
        if record is None or not hmac.compare_digest(record.secret_sha256, secret_hash(secret)):
            raise AuthenticationError("the API key is not valid")
        if record.revoked:
            raise AuthenticationError(f"the API key {key_id} was revoked")
        if record.expires_at is not None and now >= record.expires_at:
            raise AuthenticationError(f"the API key {key_id} expired at {record.expires_at}")
        return record.caller()


class KeySetCache:
    """The current key set, loaded by `load` every `interval` seconds in a background thread.

    `current()` is None until the first load succeeds, and again once no load has succeeded
    for `max_stale` seconds (revocations may be missing, so keys are not trusted); a failed
    load keeps the previous set meanwhile and is logged at most once a minute.
    """

    def __init__(
        self,
        load: Callable[[], KeySet],
        *,
        name: str,
        interval: float = REFRESH_SECONDS,
        max_stale: float = MAX_STALE_SECONDS,
    ) -> None:
        self._load = load
        self._name = name
        self._interval = interval
        self._max_stale = max_stale
        self._keys: KeySet | None = None
        self._loaded_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._throttle = LogThrottle(LOG_INTERVAL_SECONDS)

    def current(self) -> KeySet | None:
        """The key set to check keys with, or None when there is no trustworthy one."""
        if self._keys is None or time.monotonic() - self._loaded_at > self._max_stale:
            return None
        return self._keys

    def refresh(self) -> bool:
        """Loads the key set now; returns whether it succeeded."""
        try:
            keys = self._load()
        except Exception as error:  # any failure keeps the previous set until it is stale
            held_back = self._throttle.admit("refresh")
            if held_back is not None:
                logger.warning(
                    "%s: could not refresh the API key set: %s%s",
                    self._name,
                    summary(error),
                    self._throttle.held_back_note(held_back),
                )
            return False
        self._keys, self._loaded_at = keys, time.monotonic()
        return True

    def start(self) -> None:
        """Loads once now, then refreshes in the background until `stop`."""
        self.refresh()
        self._thread = threading.Thread(target=self._run, name=f"keyset-{self._name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.refresh()

    def stop(self) -> None:
        """Ends the background refresh."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self._interval + 5)


def started_cache(enabled: bool, load: Callable[[], KeySet], name: str) -> KeySetCache | None:
    """A started key set cache when keys are checked (`enabled`), else None."""
    if not enabled:
        return None
    cache = KeySetCache(load, name=name)
    cache.start()
    return cache
