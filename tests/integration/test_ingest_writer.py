"""Ingest's writer inserts without asking the store first: facts another writer stored after
a call checked for them are filtered out when the insert conflicts, and the rest is stored.
New identifiers' keys and consent records commit in the same transaction as the events."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from common.consent import ConsentState
from common.money import ExchangeRates
from services.ingest.application import FactWrite, IngestApplication, Outcome
from services.ingest.consent import IncomingConsent
from services.ingest.domainmodel import EventKind, IncomingEvent, IncomingPageView
from services.ingest.enrichment import UserAgentParser
from services.ingest.normalise import Limits, Normaliser
from services.ingest.server import IngestSettings, build_application
from services.ingest.stored_facts import stored_fact
from services.ingest.url_privacy import UrlScrubber
from services.ingest.vault import Sealed, _open, consent_states, subject_keys
from tests.conftest import Storage

NOW = datetime.now(UTC)


def _view(event_id: str) -> IncomingEvent:
    return IncomingEvent(
        kind=EventKind.PAGE_VIEW,
        property_id="shop",
        event_id=event_id,
        timestamp=NOW - timedelta(minutes=1),
        anonymous_id="anon-1",
        page_view=IncomingPageView(url="https://shop.example/"),
    )


@pytest.fixture
def apps(storage: Storage) -> Iterator[tuple[IngestApplication, IngestApplication]]:
    """Two ingest applications on one store, as two replicas."""
    settings = IngestSettings(database_url=storage.database_url, data_dir=storage.data_dir)
    first = build_application(settings)
    second = build_application(settings)
    try:
        yield first, second
    finally:
        second.close()
        first.close()


def test_a_fact_stored_by_another_writer_meanwhile_is_left_out_and_the_rest_is_stored(
    apps: tuple[IngestApplication, IngestApplication],
) -> None:
    first, second = apps
    # The second replica has checked the store and prepared both facts (as a call does
    # before it hands them to the writer) ...
    normaliser = Normaliser(
        limits=Limits(),
        rates=ExchangeRates.reference(),
        reporting_currency="USD",
        user_agents=UserAgentParser(),
        urls=UrlScrubber(),
    )
    prepared = []
    for incoming in (_view("e1"), _view("e2")):
        valid = normaliser.validate(incoming, NOW, timedelta(0))
        assert not isinstance(valid, list)
        sealed = {key: Sealed("anon:p1", "token") for key in valid.identifier_keys}
        prepared.append(stored_fact(normaliser.fact_state(valid, NOW, sealed), NOW))
    # ... when the first replica stores one of them.
    [verdict] = first.track([_view("e1")], received_at=NOW)
    assert verdict.outcome is Outcome.ACCEPTED

    written = second.writer.submit([FactWrite(event) for event in prepared])

    assert written == {prepared[1].originator_id}
    logged = [record.event.originator_id for record in second.read_log(0)]
    assert logged == [prepared[0].originator_id, prepared[1].originator_id]


def _stored_key(engine: Engine, pseudonym: str) -> bytes:
    with engine.connect() as conn:
        found = conn.execute(
            select(subject_keys.c.key).where(subject_keys.c.pseudonym == pseudonym)
        ).scalar_one()
    return bytes(found)


def _row_count(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        keys = conn.execute(select(func.count()).select_from(subject_keys)).scalar_one()
        consents = conn.execute(select(func.count()).select_from(consent_states)).scalar_one()
    return keys, consents


def test_a_new_identifiers_key_and_consent_are_stored_only_with_its_event(
    apps: tuple[IngestApplication, IngestApplication],
) -> None:
    first, _ = apps
    engine = first.vault._engine
    # A call has sealed a new identifier but not stored its event yet: no key is stored.
    first.vault.seal_pending("shop", ["anon:anon-1"])
    assert _row_count(engine) == (0, 0)

    # Its event is stored: the key and the consent it states commit with it.
    granted = IncomingConsent(analytics=ConsentState.GRANTED, advertising=ConsentState.GRANTED)
    [verdict] = first.track([replace(_view("e1"), consent=granted)], received_at=NOW)

    assert verdict.outcome is Outcome.ACCEPTED
    assert _row_count(engine) == (1, 1)
    [record] = first.read_log(0)
    [(pseudonym, token)] = record.event.sealed_identifiers.items()
    assert _open(_stored_key(engine, pseudonym), pseudonym, token) == "anon:anon-1"


def test_a_replica_whose_new_key_another_replica_stored_first_seals_again_under_that_key(
    apps: tuple[IngestApplication, IngestApplication],
) -> None:
    first, second = apps
    # The second replica has made a key for anon-1, for a call still on its way ...
    second.vault.seal_pending("shop", ["anon:anon-1"])
    # ... when the first replica stores an event of anon-1 under a key of its own.
    assert first.track([_view("e1")], received_at=NOW)[0].outcome is Outcome.ACCEPTED

    # The second replica's write finds another key stored: it seals again under it.
    [verdict] = second.track([_view("e2")], received_at=NOW)

    assert verdict.outcome is Outcome.ACCEPTED
    engine = second.vault._engine
    records = second.read_log(0)
    assert len(records) == 2
    for record in records:
        [(pseudonym, token)] = record.event.sealed_identifiers.items()
        assert _open(_stored_key(engine, pseudonym), pseudonym, token) == "anon:anon-1"
