"""The vault's HMAC secret comes from the settings, never from the database, and rotates:
identifiers already pseudonymised keep their pseudonyms, new ones get the new secret's,
and every stored pseudonym stays revealable and forgettable."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from sqlalchemy import insert

from common.follower import UpstreamEntry
from common.server import RunningService
from common.settings import SettingsError
from common.storage import database_for
from common.values import Identifier, IdentifierType
from common.wire import to_identifier_pb
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.cli import main
from services.ingest.server import (
    IngestSettings,
    build_application,
    move_legacy_secret,
    start,
    subject_vault,
)
from services.ingest.vault import Forgotten, legacy_metadata, legacy_secret, legacy_vault_secret
from services.ingest.vault_secrets import GENERATED_FILE, VaultSecret
from tests.conftest import Storage
from tests.integration.helpers_ingest import (
    DEADLINE,
    PROPERTY,
    identify,
    logged_by_event_id,
    page_view,
    stored_bytes,
    track,
)

Stub = ingest_pb2_grpc.IngestServiceStub
OLD = secrets.token_hex(32)
NEW = secrets.token_hex(32)


def settings_of(storage: Storage, current: str | None, *previous: str) -> IngestSettings:
    return IngestSettings(
        listen="127.0.0.1:0",
        database_url=storage.database_url,
        data_dir=storage.data_dir,
        identity_addr="",
        vault_secret=current,
        vault_previous_secrets=previous,
    )


@contextmanager
def ingest(settings: IngestSettings) -> Iterator[Stub]:
    """A client of a real ingest server with these settings."""
    service: RunningService = start(settings)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield ingest_pb2_grpc.IngestServiceStub(channel)
    finally:
        service.stop(0)


def users(*names: str) -> list[Identifier]:
    return [Identifier(IdentifierType.USER_ID, name) for name in names]


def seen(stub: Stub, *names: str) -> None:
    """Ingest stores an identify event for each user (so their identifiers are sealed)."""
    events = [
        identify(
            f"login-{name}-{secrets.token_hex(4)}",
            ingest_pb2.Identity(anonymous_id=f"c-{name}", user_id=name),
        )
        for name in names
    ]
    verdicts = track(stub, events).verdicts
    assert {v.verdict for v in verdicts} == {ingest_pb2.VERDICT_ACCEPTED}


def pseudonyms(stub: Stub, *names: str) -> dict[str, str]:
    pairs = stub.PseudonymiseIdentifiers(
        ingest_pb2.PseudonymiseIdentifiersRequest(
            property_id=PROPERTY, identifiers=[to_identifier_pb(i) for i in users(*names)]
        ),
        timeout=DEADLINE,
    ).pairs
    return {p.identifier.value: f"user:{p.pseudonym.value}" for p in pairs}


def pseudonym_under(secret: str, user: str) -> str:
    """A user id's pseudonym under a secret (docs/identity.md)."""
    message = f"{PROPERTY}\x1fuser:{user}".encode()
    return "user:" + hmac.new(bytes.fromhex(secret), message, hashlib.sha256).hexdigest()[:32]


def revealed(stub: Stub, *pseudonym_list: str) -> dict[str, str]:
    """The user ids ingest reveals, by pseudonym ("user:<hex>")."""
    request = ingest_pb2.RevealIdentifiersRequest(
        property_id=PROPERTY,
        pseudonyms=[to_identifier_pb(Identifier.from_key(p)) for p in pseudonym_list],
    )
    pairs = stub.RevealIdentifiers(request, timeout=DEADLINE).pairs
    return {f"user:{p.pseudonym.value}": p.identifier.value for p in pairs}


def test_rotation_keeps_known_pseudonyms_and_gives_new_identifiers_the_new_secret(
    storage: Storage,
) -> None:
    # Under the old secret, two users are seen; a restart with it keeps their pseudonyms.
    with ingest(settings_of(storage, OLD)) as stub:
        seen(stub, "ann", "bob")
        before = pseudonyms(stub, "ann", "bob")
    with ingest(settings_of(storage, OLD)) as stub:
        assert pseudonyms(stub, "ann", "bob") == before
    assert before["ann"] == pseudonym_under(OLD, "ann")

    # Rotated: the new secret is current, the old one previous.
    with ingest(settings_of(storage, NEW, OLD)) as stub:
        seen(stub, "ann", "cat")
        after = pseudonyms(stub, "ann", "bob", "cat")
        # Known users keep their pseudonyms (identity's graph is not split) ...
        assert after["ann"] == before["ann"] and after["bob"] == before["bob"]
        # ... a new one gets the new secret's pseudonym ...
        assert after["cat"] == pseudonym_under(NEW, "cat") != pseudonym_under(OLD, "cat")
        # ... and every stored pseudonym can be revealed.
        assert revealed(stub, *after.values()) == {p: name for name, p in after.items()}

    # Restarted with the same secrets, nothing moves.
    with ingest(settings_of(storage, NEW, OLD)) as stub:
        assert pseudonyms(stub, "ann", "bob", "cat") == after


def test_a_withdrawal_recorded_under_a_previous_secret_still_applies(storage: Storage) -> None:
    def visit(stub: Stub, event_id: str, **consent: str) -> None:
        event = page_view(
            event_id,
            identity=ingest_pb2.Identity(anonymous_id="c-withdrawn"),
            consent=ingest_pb2.Consent(**consent),
        )
        assert track(stub, [event]).accepted_count == 1

    # The cookie only ever said "denied", so it has no key: its withdrawal is a consent row
    # under the old secret's pseudonym.
    with ingest(settings_of(storage, OLD)) as stub:
        visit(stub, "denied-first", gcs="G100")
    with ingest(settings_of(storage, NEW, OLD)) as stub:
        visit(stub, "silent-later")
        logged = logged_by_event_id(stub)
    later = logged["silent-later"].envelope
    assert later.consent.analytics == ingest_pb2.CONSENT_STATE_DENIED
    assert not later.identifiers


def test_pseudonyms_made_under_a_previous_secret_can_still_be_forgotten(
    storage: Storage,
) -> None:
    with ingest(settings_of(storage, OLD)) as stub:
        seen(stub, "ann", "bob")
    app = build_application(settings_of(storage, NEW, OLD))
    try:
        vault = app.vault
        old = {name: vault.pseudonym(PROPERTY, f"user:{name}") for name in ("ann", "bob")}
        new = vault.seal(PROPERTY, ["user:cat"])["user:cat"].pseudonym
        vault.process_page("identity", [UpstreamEntry(1, Forgotten(PROPERTY, (old["ann"], new)))])
        assert vault.reveal(PROPERTY, [old["ann"], old["bob"], new]) == {old["bob"]: "user:bob"}
        # Seen again, a forgotten user is sealed afresh under a new key.
        again = vault.seal(PROPERTY, ["user:ann"])["user:ann"].pseudonym
        assert vault.reveal(PROPERTY, [again]) == {again: "user:ann"}
    finally:
        app.close()


def test_the_secret_is_in_no_table_and_no_file_of_the_database(storage: Storage) -> None:
    with ingest(settings_of(storage, NEW, OLD)) as stub:
        seen(stub, "ann", "bob")
    stored = stored_bytes(storage)
    assert b"user:" in stored or len(stored) > 1000  # something was stored
    for text in (NEW, OLD):
        key = bytes.fromhex(text)
        for form in (key, text.encode(), text.upper().encode(), base64.b64encode(key)):
            assert form not in stored


def test_a_missing_previous_secret_is_named_and_stops_the_start(storage: Storage) -> None:
    with ingest(settings_of(storage, OLD)) as stub:
        seen(stub, "ann")
    old_version = VaultSecret(bytes.fromhex(OLD)).version
    with pytest.raises(SettingsError, match=f"INGEST_VAULT_SECRET_PREVIOUS lacks .*{old_version}"):
        build_application(settings_of(storage, NEW))


def test_a_previous_secret_the_store_never_used_is_named_in_a_warning(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    with ingest(settings_of(storage, OLD)) as stub:
        seen(stub, "ann")
    wrong = secrets.token_hex(32)
    wrong_version = VaultSecret(bytes.fromhex(wrong)).version
    # It may be the next secret, staged for a rotation: ingest starts, and says so.
    with caplog.at_level("WARNING", logger="services.ingest.vault"):
        build_application(settings_of(storage, OLD, wrong)).close()
    (warning,) = [r.getMessage() for r in caplog.records if wrong_version in r.getMessage()]
    assert "INGEST_VAULT_SECRET_PREVIOUS" in warning and "never used" in warning


def test_a_retired_previous_secret_is_no_longer_required(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ingest(settings_of(storage, OLD)) as stub:
        seen(stub, "ann")
        before = pseudonyms(stub, "ann")["ann"]
    monkeypatch.setenv("CONVTRACK_DATA_DIR", str(storage.data_dir))
    monkeypatch.setenv("CONVTRACK_DATABASE_URL", storage.database_url)
    monkeypatch.setenv("INGEST_VAULT_SECRET", NEW)
    old_version = VaultSecret(bytes.fromhex(OLD)).version
    assert main(["vault", "retire", old_version]) == 0

    # The user gets the new secret's pseudonym; the old one can still be revealed.
    with ingest(settings_of(storage, NEW)) as stub:
        after = pseudonyms(stub, "ann")["ann"]
        assert after != before
        assert revealed(stub, before) == {before: "ann"}


def make_legacy_store(storage: Storage, legacy: bytes) -> str:
    """A store as an older ingest left it: its secret in the `vault_secret` table and a user
    sealed under it; returns that user's pseudonym."""
    database = database_for("ingest", storage.database_url, storage.data_dir)
    database.ensure_schema()
    engine = database.sql_engine()
    try:
        legacy_metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(legacy_vault_secret).values(id=1, secret=legacy))
        vault = subject_vault(settings_of(storage, legacy.hex()), engine)
        vault.create_tables()
        return vault.seal(PROPERTY, ["user:ann"])["user:ann"].pseudonym
    finally:
        engine.dispose()


def test_a_store_with_its_secret_in_the_database_keeps_working_until_migrated_out(
    storage: Storage, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    legacy = secrets.token_bytes(32)
    old = make_legacy_store(storage, legacy)

    # Started with a new secret only: the database's secret serves as a previous one.
    settings = settings_of(storage, NEW)
    with ingest(settings) as stub:
        assert pseudonyms(stub, "ann")["ann"] == old
    # migrate says how to move it out, and keeps it until it is configured.
    note = move_legacy_secret(settings)
    assert "convtrack vault export-legacy-secret" in note
    assert legacy in stored_bytes(storage)

    monkeypatch.setenv("CONVTRACK_DATA_DIR", str(storage.data_dir))
    monkeypatch.setenv("CONVTRACK_DATABASE_URL", storage.database_url)
    monkeypatch.setenv("INGEST_VAULT_SECRET", NEW)
    exported = tmp_path / "legacy.key"
    assert main(["vault", "export-legacy-secret", "--out", str(exported)]) == 0
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    monkeypatch.setenv("INGEST_VAULT_SECRET_PREVIOUS_FILE", str(exported))
    assert main(["migrate"]) == 0

    # Moved: the database holds it no more, and the user keeps the pseudonym.
    engine = database_for("ingest", storage.database_url, storage.data_dir).sql_engine()
    assert legacy_secret(engine) is None
    engine.dispose()
    assert legacy not in stored_bytes(storage)
    with ingest(settings_of(storage, NEW, exported.read_text())) as stub:
        assert pseudonyms(stub, "ann")["ann"] == old


def test_the_local_default_takes_over_the_databases_secret_into_its_key_file(
    tmp_path: Path,
) -> None:
    storage = Storage("sqlite", "", tmp_path / "data")
    legacy = secrets.token_bytes(32)
    old = make_legacy_store(storage, legacy)

    settings = settings_of(storage, None)
    with ingest(settings) as stub:
        assert pseudonyms(stub, "ann")["ann"] == old
    key_file = storage.data_dir / GENERATED_FILE
    assert key_file.read_text() == legacy.hex() + "\n"
    assert "dropped it" in move_legacy_secret(settings)
    assert legacy not in stored_bytes(storage)
    with ingest(settings) as stub:
        assert pseudonyms(stub, "ann")["ann"] == old


def test_with_no_secret_the_embedded_default_generates_a_private_key_file(
    tmp_path: Path,
) -> None:
    storage = Storage("sqlite", "", tmp_path / "data")
    with ingest(settings_of(storage, None)) as stub:
        seen(stub, "ann")
        before = pseudonyms(stub, "ann")
    key_file = storage.data_dir / GENERATED_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert [p.name for p in key_file.parent.iterdir()] == [key_file.name]  # no temporary left
    # Restarted, it reads the same file: the same pseudonyms.
    with ingest(settings_of(storage, None)) as stub:
        assert pseudonyms(stub, "ann") == before
    # The same secret given explicitly gives the same pseudonyms too.
    with ingest(settings_of(storage, key_file.read_text())) as stub:
        assert pseudonyms(stub, "ann") == before
