"""Personal data that no erasure could reach is never stored: identifiers of events ingest
does not store are not sealed, and URLs lose PII query parameters and email addresses."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from common.follower import UpstreamEntry
from common.server import RunningService
from common.values import Identifier, IdentifierType
from common.wire import to_identifier_pb
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.application import IngestApplication, Outcome
from services.ingest.domainmodel import EventKind, IncomingEvent
from services.ingest.server import IngestSettings, build_application, start
from services.ingest.url_privacy import DEFAULT_PII_QUERY_PARAMS
from services.ingest.vault import Forgotten
from tests.conftest import Storage
from tests.integration.helpers_ingest import (
    DEADLINE,
    PROPERTY,
    ago,
    logged_by_event_id,
    page_view,
    stored_bytes,
    touchpoint,
    track,
)

Stub = ingest_pb2_grpc.IngestServiceStub
ACCEPTED = ingest_pb2.VERDICT_ACCEPTED
REJECTED = ingest_pb2.VERDICT_REJECTED
EMAIL = "jane.doe.4c1e@example.org"


@pytest.fixture
def stub(storage: Storage) -> Iterator[Stub]:
    """A client of a real ingest server on the test's storage."""
    service: RunningService = start(
        IngestSettings(
            listen="127.0.0.1:0", database_url=storage.database_url, data_dir=storage.data_dir
        )
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield ingest_pb2_grpc.IngestServiceStub(channel)
    finally:
        service.stop(0)


@pytest.fixture
def app(storage: Storage) -> Iterator[IngestApplication]:
    """The ingest application alone on the test's storage."""
    application = build_application(
        IngestSettings(database_url=storage.database_url, data_dir=storage.data_dir)
    )
    try:
        yield application
    finally:
        application.close()


def revealed(stub: Stub, *identifiers: Identifier) -> list[str]:
    """The identifiers that ingest can reveal from their pseudonyms: those it sealed."""
    pairs = stub.PseudonymiseIdentifiers(
        ingest_pb2.PseudonymiseIdentifiersRequest(
            property_id=PROPERTY, identifiers=[to_identifier_pb(i) for i in identifiers]
        ),
        timeout=DEADLINE,
    ).pairs
    return [
        p.identifier.value
        for p in stub.RevealIdentifiers(
            ingest_pb2.RevealIdentifiersRequest(
                property_id=PROPERTY, pseudonyms=[p.pseudonym for p in pairs]
            ),
            timeout=DEADLINE,
        ).pairs
    ]


def test_the_identifiers_of_a_rejected_event_are_not_sealed(stub: Stub) -> None:
    # A batch: one good event, one with a bad timestamp naming a user and a cookie.
    bad = page_view(
        "bad",
        identity=ingest_pb2.Identity(anonymous_id="rejected-cookie", user_id="rejected-user"),
        timestamp=ago(timedelta(days=400)),
    )
    response = track(stub, [page_view("good"), bad])
    assert [v.verdict for v in response.verdicts] == [ACCEPTED, REJECTED]

    # The good event's identifier is sealed; the rejected event's are not (no key, nothing
    # to reveal), as identity never hears of them and could never forget them.
    assert revealed(stub, Identifier(IdentifierType.ANONYMOUS_ID, "anon-1")) == ["anon-1"]
    assert (
        revealed(
            stub,
            Identifier(IdentifierType.ANONYMOUS_ID, "rejected-cookie"),
            Identifier(IdentifierType.USER_ID, "rejected-user"),
        )
        == []
    )


def incoming_login(event_id: str) -> IncomingEvent:
    return IncomingEvent(
        kind=EventKind.IDENTIFY,
        property_id=PROPERTY,
        event_id=event_id,
        timestamp=datetime.now(UTC) - timedelta(hours=1),
        anonymous_id="resent-cookie",
        user_id="resent-user",
    )


def test_an_event_resent_after_its_person_was_forgotten_does_not_bring_keys_back(
    app: IngestApplication,
) -> None:
    # A login is stored; its person is then forgotten (identity's log names the pseudonyms).
    [first] = app.track([incoming_login("login-1")], received_at=datetime.now(UTC))
    assert first.outcome is Outcome.ACCEPTED
    keys = ["anon:resent-cookie", "user:resent-user"]
    pseudonyms = [app.vault.pseudonym(PROPERTY, key) for key in keys]
    assert len(app.vault.reveal(PROPERTY, pseudonyms)) == 2
    app.vault.process_page("identity", [UpstreamEntry(3, Forgotten(PROPERTY, tuple(pseudonyms)))])
    assert app.vault.reveal(PROPERTY, pseudonyms) == {}

    # The client retries the same login: a duplicate, and the keys stay destroyed.
    [again] = app.track([incoming_login("login-1")], received_at=datetime.now(UTC))
    assert again.outcome is Outcome.DUPLICATE
    assert app.vault.reveal(PROPERTY, pseudonyms) == {}


def login_with_email(event_id: str) -> IncomingEvent:
    return replace(
        incoming_login(event_id),
        user_id=f"user-of-{event_id}",
        email=EMAIL,
        page_url=f"https://shop.example/account?email={EMAIL}&step=2",
    )


def test_a_forgotten_persons_values_as_sent_are_not_kept_in_memory(
    app: IngestApplication,
) -> None:
    # Ingest remembers values as sent (an email, a user id, a URL) to validate repeats fast.
    app.track([login_with_email("login-a")], received_at=datetime.now(UTC))
    assert app.remembered_values() > 0

    # A person forgotten on identity's log: nothing taken from events stays remembered.
    pseudonyms = (app.vault.pseudonym(PROPERTY, "user:user-of-login-a"),)
    app.vault.process_page("identity", [UpstreamEntry(3, Forgotten(PROPERTY, pseudonyms))])
    assert app.remembered_values() == 0

    # An erasure request by identifier does the same; later events are remembered again.
    app.track([login_with_email("login-b")], received_at=datetime.now(UTC))
    assert app.remembered_values() > 0
    app.vault.forget_identifiers(PROPERTY, ["user:user-of-login-b"])
    assert app.remembered_values() == 0


def test_urls_are_stored_without_pii_query_parameters_or_email_addresses(
    storage: Storage, stub: Stub
) -> None:
    # A click from an email whose links carry the address and name, and a page view whose
    # path holds the address (percent-encoded), with a referrer carrying it too.
    click = touchpoint(
        "click",
        landing_url=f"https://shop.example/welcome?utm_source=crm&utm_medium=email"
        f"&utm_term={EMAIL}&email={EMAIL}&first_name=Jane&Phone=%2B4915112345&sku=42",
        referrer=f"https://mail.example.net/read?msg=7&to={EMAIL}",
    )
    view = page_view(
        "view",
        page_view=ingest_pb2.PageView(
            url=f"https://shop.example/unsubscribe/{EMAIL.replace('@', '%40')}?done=1",
            title="Unsubscribed",
        ),
    )
    response = track(stub, [click, view])
    assert [v.verdict for v in response.verdicts] == [ACCEPTED, ACCEPTED]

    # The log keeps everything else of the URLs, and the channel still comes from the tags.
    logged = logged_by_event_id(stub)
    assert logged["click"].landing_url == (
        "https://shop.example/welcome?utm_source=crm&utm_medium=email"
        "&utm_term=(redacted)&email=(redacted)&first_name=(redacted)&Phone=(redacted)&sku=42"
    )
    assert (logged["click"].channel, logged["click"].term) == ("email", "(redacted)")
    assert logged["click"].referrer_host == "mail.example.net"
    assert logged["view"].url == "https://shop.example/unsubscribe/(redacted)?done=1"

    # No store holds the address, the name or the phone number in any form.
    stored = stored_bytes(storage).lower()
    for secret in (EMAIL, EMAIL.replace("@", "%40"), "jane.doe", "=jane", "4915112345"):
        assert secret.encode() not in stored


def test_ingest_reads_the_parameter_names_from_the_environment() -> None:
    assert IngestSettings.from_env({}).pii_query_params == DEFAULT_PII_QUERY_PARAMS
    settings = IngestSettings.from_env({"INGEST_PII_QUERY_PARAMS": "Email, member_id,,"})
    assert settings.pii_query_params == ("email", "member_id")
