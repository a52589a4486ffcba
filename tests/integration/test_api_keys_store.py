"""API keys in ingest's store, on SQLite and PostgreSQL: created with a hash only, listed,
revoked, shared by replicas, served in ingest's log as bookkeeping, minted offline."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from common.callers import Scope
from common.keyset import AuthenticationError, parse_token
from services import cli
from services.ingest.api_keys import ApiKeys, InvalidKeyRequestError, UnknownApiKeyError
from services.ingest.server import IngestSettings, offline_api_keys
from services.ingest.servicer import log_entry
from tests.conftest import Storage

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _settings(storage: Storage) -> IngestSettings:
    return IngestSettings(database_url=storage.database_url, data_dir=storage.data_dir)


@pytest.fixture
def api_keys(storage: Storage) -> Iterator[ApiKeys]:
    keys, close = offline_api_keys(_settings(storage))
    yield keys
    close()


def test_a_created_key_is_stored_as_a_hash_and_checks_out(
    api_keys: ApiKeys, storage: Storage
) -> None:
    created = api_keys.create(
        property_id="shop", scopes=[Scope.INGEST_WRITE], now=NOW, description="web"
    )
    parsed = parse_token(created.token)
    assert parsed is not None
    key_id, secret = parsed
    assert key_id == created.key.key_id
    assert created.key.secret_sha256 != secret and secret not in repr(api_keys.ring())
    caller = api_keys.key_set().authenticate(created.token, NOW)
    assert caller.key_id == key_id and caller.properties == frozenset({"shop"})
    reopened, close = offline_api_keys(_settings(storage))
    try:
        assert [k.key_id for k in reopened.list()] == [key_id]
        assert reopened.list("shop")[0].description == "web"
        assert reopened.list("other") == []
    finally:
        close()


def test_a_revoked_key_is_refused_and_listed_as_revoked(api_keys: ApiKeys) -> None:
    created = api_keys.create(property_id="shop", scopes=[Scope.REPORTS_READ], now=NOW)
    version_before = api_keys.ring()[0]
    revoked = api_keys.revoke(created.key.key_id, NOW + timedelta(minutes=1))
    assert revoked.revoked and revoked.revoked_at == NOW + timedelta(minutes=1)
    assert api_keys.ring()[0] > version_before
    with pytest.raises(AuthenticationError, match="revoked"):
        api_keys.key_set().authenticate(created.token, NOW + timedelta(minutes=2))
    assert api_keys.revoke(created.key.key_id, NOW + timedelta(hours=1)).revoked_at == (
        NOW + timedelta(minutes=1)
    ), "revoking again changes nothing"
    with pytest.raises(UnknownApiKeyError):
        api_keys.revoke("0123456789abcdef", NOW)


def test_an_expiring_key_works_until_its_expiry(api_keys: ApiKeys) -> None:
    created = api_keys.create(
        property_id="shop",
        scopes=[Scope.REPORTS_READ],
        now=NOW,
        expires_at=NOW + timedelta(days=1),
    )
    keys = api_keys.key_set()
    assert keys.authenticate(created.token, NOW + timedelta(hours=23)).key_id
    with pytest.raises(AuthenticationError, match="expired"):
        keys.authenticate(created.token, NOW + timedelta(days=1))


@pytest.mark.parametrize(
    ("property_id", "scopes", "expires_at", "field"),
    [
        ("shop", [], None, "scopes"),
        ("", [Scope.REPORTS_READ], None, "property_id"),
        ("shop", [Scope.ADMIN], None, "property_id"),
        ("", [Scope.ADMIN, Scope.REPORTS_READ], None, "scopes"),
        ("shop", [Scope.REPORTS_READ], NOW - timedelta(seconds=1), "expires_at"),
    ],
)
def test_keys_that_make_no_sense_are_refused_by_field(
    api_keys: ApiKeys,
    property_id: str,
    scopes: list[Scope],
    expires_at: datetime | None,
    field: str,
) -> None:
    with pytest.raises(InvalidKeyRequestError) as refused:
        api_keys.create(property_id=property_id, scopes=scopes, now=NOW, expires_at=expires_at)
    assert refused.value.field == field
    assert api_keys.list() == []


def test_replicas_creating_keys_at_once_lose_none(storage: Storage) -> None:
    stores = [offline_api_keys(_settings(storage)) for _ in range(2)]
    try:
        with ThreadPoolExecutor(4) as pool:
            created = list(
                pool.map(
                    lambda n: stores[n % 2][0].create(
                        property_id=f"p{n}", scopes=[Scope.REPORTS_READ], now=NOW
                    ),
                    range(8),
                )
            )
        listed = {k.key_id for k in stores[0][0].list()}
        assert listed == {c.key.key_id for c in created}
    finally:
        for _, close in stores:
            close()


def test_key_ring_events_are_served_in_ingests_log_with_no_event_set(
    api_keys: ApiKeys, storage: Storage
) -> None:
    api_keys.create(property_id="shop", scopes=[Scope.REPORTS_READ], now=NOW)
    store = api_keys._app  # the store's own log, as ListEvents serves it
    records = store.read_log(0)  # type: ignore[attr-defined]
    assert records
    for record in records:
        entry = log_entry(record.position, record.event)
        assert entry.position == record.position
        assert entry.WhichOneof("event") is None


def test_the_first_admin_key_is_minted_offline_from_the_command_line(
    storage: Storage, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONVTRACK_DATA_DIR", str(storage.data_dir))
    if storage.database_url:
        monkeypatch.setenv("CONVTRACK_DATABASE_URL", storage.database_url)
        monkeypatch.setenv("CONVTRACK_ALLOW_GENERATED_SECRETS", "1")
    assert cli.main(["keys", "create", "--admin", "--offline"]) == 0
    printed = capsys.readouterr()
    token = printed.out.strip()
    assert parse_token(token) is not None
    assert "shown once" in printed.err and token not in printed.err
    keys, close = offline_api_keys(IngestSettings.from_env(_env(storage)))
    try:
        caller = keys.key_set().authenticate(token, datetime.now(UTC))
        assert caller.properties is None and caller.scopes == frozenset({Scope.ADMIN})
    finally:
        close()


def _env(storage: Storage) -> dict[str, str]:
    env = {"CONVTRACK_DATA_DIR": str(storage.data_dir)}
    if storage.database_url:
        env["CONVTRACK_DATABASE_URL"] = storage.database_url
        env["CONVTRACK_ALLOW_GENERATED_SECRETS"] = "1"
    return env


def test_a_reader_follows_changes_made_through_another_store(storage: Storage) -> None:
    reader, close_reader = offline_api_keys(_settings(storage))
    writer, close_writer = offline_api_keys(_settings(storage))
    try:
        assert reader.ring() == (0, [])
        first = writer.create(property_id="shop", scopes=[Scope.REPORTS_READ], now=NOW)
        assert [k.key_id for k in reader.ring()[1]] == [first.key.key_id]
        second = writer.create(property_id="shop", scopes=[Scope.INGEST_WRITE], now=NOW)
        writer.revoke(first.key.key_id, NOW)
        version, keys = reader.ring()
        assert version == writer.ring()[0] == 4
        assert {k.key_id: k.revoked for k in keys} == {
            first.key.key_id: True,
            second.key.key_id: False,
        }
    finally:
        close_reader()
        close_writer()
