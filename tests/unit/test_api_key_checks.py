"""API keys as every service checks them: callers and scopes, the token format, the key set
and its background refresh, and the `CONVTRACK_AUTH` default."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from common.authentication import AuthMode, auth_settings, bearer_token, is_loopback
from common.callers import LOCAL_CALLER, Caller, Scope
from common.keyset import (
    AuthenticationError,
    KeyRecord,
    KeySet,
    KeySetCache,
    new_key_id,
    new_secret,
    parse_token,
    secret_hash,
    token_of,
)
from common.settings import SettingsError

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _key(property_id: str = "shop", *scopes: Scope, **changes: object) -> tuple[str, KeyRecord]:
    key_id, secret = new_key_id(), new_secret()
    fields: dict[str, object] = {
        "key_id": key_id,
        "secret_sha256": secret_hash(secret),
        "property_id": property_id,
        "scopes": frozenset(scopes or (Scope.REPORTS_READ,)),
    }
    return token_of(key_id, secret), KeyRecord(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_property_key_allows_its_scopes_on_its_property_only() -> None:
    caller = Caller(
        key_id="k", properties=frozenset({"shop"}), scopes=frozenset({Scope.REPORTS_READ})
    )
    assert caller.allows(Scope.REPORTS_READ, "shop")
    assert not caller.allows(Scope.REPORTS_READ, "other")
    assert not caller.allows(Scope.IDENTITY_ADMIN, "shop")
    assert not caller.allows(Scope.REPORTS_READ, None)


def test_an_admin_key_allows_every_scope_on_every_property() -> None:
    admin = Caller(key_id="a", properties=None, scopes=frozenset({Scope.ADMIN}))
    for scope in Scope:
        assert admin.allows(scope, "any")
        assert admin.allows(scope, None)
    assert LOCAL_CALLER.allows(Scope.ADMIN, None)


def test_a_peer_holds_no_scope() -> None:
    peer = Caller(peer="identity", properties=None)
    assert not any(peer.allows(scope, "shop") for scope in Scope)


def test_tokens_have_the_documented_shape_and_secrets_are_random() -> None:
    token = token_of(new_key_id(), new_secret())
    assert token.startswith("ctk_")
    parsed = parse_token(token)
    assert parsed is not None and token == token_of(*parsed)
    assert new_secret() != new_secret()
    assert len(secret_hash("s")) == 64
    for bad in ("", "ctk_", "ctk_abc", "xyz_abc_def", "ctk__secret", "ctk_a-b_secret"):
        assert parse_token(bad) is None


def test_a_valid_key_authenticates_as_its_caller() -> None:
    token, record = _key("shop", Scope.INGEST_WRITE)
    caller = KeySet([record], version=1).authenticate(token, NOW)
    assert caller.key_id == record.key_id
    assert caller.properties == frozenset({"shop"})
    assert caller.scopes == frozenset({Scope.INGEST_WRITE})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"revoked": True}, "revoked"),
        ({"expires_at": NOW}, "expired"),
        ({"expires_at": NOW - timedelta(days=1)}, "expired"),
    ],
)
def test_revoked_and_expired_keys_are_refused(changes: dict[str, object], message: str) -> None:
    token, record = _key("shop", **changes)
    with pytest.raises(AuthenticationError, match=message):
        KeySet([record], version=1).authenticate(token, NOW)


def test_unknown_keys_and_wrong_secrets_are_refused_alike() -> None:
    _, record = _key("shop")
    key_id = record.key_id
    keys = KeySet([record], version=1)
    for bad in (token_of(key_id, "wrong"), token_of(new_key_id(), "whatever")):
        with pytest.raises(AuthenticationError, match=r"^the API key is not valid$"):
            keys.authenticate(bad, NOW)
    with pytest.raises(AuthenticationError, match="not a convtrack API key"):
        keys.authenticate("Basic abc", NOW)


def test_a_key_set_cache_has_no_set_until_loaded_and_keeps_the_last_one_on_failure() -> None:
    loads: list[KeySet | Exception] = [RuntimeError("ingest down"), KeySet([], 3)]

    def load() -> KeySet:
        result = loads.pop(0) if loads else RuntimeError("down again")
        if isinstance(result, Exception):
            raise result
        return result

    cache = KeySetCache(load, name="test", max_stale=0.3)
    assert not cache.refresh() and cache.current() is None
    assert cache.refresh()
    current = cache.current()
    assert current is not None and current.version == 3
    assert not cache.refresh()
    assert cache.current() is current
    time.sleep(0.4)
    assert cache.current() is None, "a set not refreshed for max_stale is not trusted"


def test_the_background_refresh_picks_up_changes_within_its_interval() -> None:
    version = [1]
    cache = KeySetCache(lambda: KeySet([], version[0]), name="test", interval=0.05)
    cache.start()
    try:
        version[0] = 2
        deadline = time.monotonic() + 2
        while (current := cache.current()) is not None and current.version != 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        cache.stop()


@pytest.mark.parametrize(
    ("listen", "loopback"),
    [
        ("127.0.0.1:50051", True),
        ("localhost:0", True),
        ("[::1]:50051", True),
        ("0.0.0.0:50051", False),
        ("[::]:50051", False),
        (":50051", False),
        ("10.1.2.3:50051", False),
        ("ingest.svc:50051", False),
    ],
)
def test_authentication_is_off_by_default_on_loopback_only(listen: str, loopback: bool) -> None:
    assert is_loopback(listen) is loopback
    expected = AuthMode.OFF if loopback else AuthMode.KEYS
    assert auth_settings({}, listen).mode is expected
    assert auth_settings({"CONVTRACK_AUTH": "keys"}, listen).mode is AuthMode.KEYS
    assert auth_settings({"CONVTRACK_AUTH": "OFF"}, listen).mode is AuthMode.OFF


def test_an_unknown_auth_mode_stops_the_service_at_start() -> None:
    with pytest.raises(SettingsError, match="CONVTRACK_AUTH"):
        auth_settings({"CONVTRACK_AUTH": "maybe"}, "127.0.0.1:1")


def test_the_bearer_token_is_read_from_the_authorization_metadata() -> None:
    assert bearer_token((("authorization", "Bearer ctk_a_b"),)) == "ctk_a_b"
    assert bearer_token((("Authorization", "bearer  ctk_a_b "),)) == "ctk_a_b"
    assert bearer_token((("authorization", "Basic xyz"),)) == ""
    assert bearer_token((("x-other", "1"),)) is None
    assert bearer_token(None) is None
