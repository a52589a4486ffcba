"""Ingest's writer inserts without asking the store first: facts another writer stored after
a call checked for them are filtered out when the insert conflicts, and the rest is stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from common.money import ExchangeRates
from services.ingest.application import IngestApplication, Outcome
from services.ingest.domainmodel import EventKind, IncomingEvent, IncomingPageView
from services.ingest.enrichment import UserAgentParser
from services.ingest.normalise import Limits, Normaliser
from services.ingest.server import IngestSettings, build_application
from services.ingest.stored_facts import stored_fact
from services.ingest.url_privacy import UrlScrubber
from services.ingest.vault import Sealed
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

    written = second.writer.submit(prepared)

    assert written == {prepared[1].originator_id}
    logged = [record.event.originator_id for record in second.read_log(0)]
    assert logged == [prepared[0].originator_id, prepared[1].originator_id]
