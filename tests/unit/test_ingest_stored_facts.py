"""Facts encoded straight to their stored form: the same bytes as the library's mapper
writes for the aggregate's `Recorded` event, for every kind of fact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, UUIDAsHex

from common.money import ExchangeRates, Money
from services.ingest.domainmodel import (
    EventKind,
    IncomingConversion,
    IncomingEvent,
    IncomingPageView,
    IncomingTouchpoint,
    TouchpointType,
)
from services.ingest.enrichment import CampaignTags, ClickIds, UserAgentParser
from services.ingest.network import NetworkPseudonyms
from services.ingest.normalise import Limits, Normaliser
from services.ingest.stored_facts import stored_fact
from services.ingest.url_privacy import UrlScrubber
from services.ingest.vault import Sealed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
ENVELOPE = {
    "property_id": "shop",
    "timestamp": NOW - timedelta(days=4),
    "anonymous_id": "anon-1",
    "user_id": "user-ü",
    "user_agent": CHROME,
    "geo_country": "de",
    "geo_city": "Köln",
}
EVENTS = [
    IncomingEvent(
        kind=EventKind.TOUCHPOINT,
        event_id="t1",
        touchpoint=IncomingTouchpoint(
            type=TouchpointType.CLICK,
            landing_url="https://shop.example/?utm_source=google&utm_medium=cpc&gclid=x",
            tags=CampaignTags(campaign='spring "sale"'),
            click_ids=ClickIds(gclid="x"),
        ),
        **ENVELOPE,  # type: ignore[arg-type]
    ),
    IncomingEvent(
        kind=EventKind.PAGE_VIEW,
        event_id="p1",
        page_view=IncomingPageView(url="https://shop.example/cart", title="Warenkorb €"),
        **ENVELOPE,  # type: ignore[arg-type]
    ),
    IncomingEvent(
        kind=EventKind.CONVERSION,
        event_id="c1",
        conversion=IncomingConversion(
            name="purchase", value=Money("EUR", 12, 500_000_000), order_id="o-1"
        ),
        **ENVELOPE,  # type: ignore[arg-type]
    ),
    IncomingEvent(kind=EventKind.IDENTIFY, event_id="i1", **ENVELOPE),  # type: ignore[arg-type]
]


def _mapper() -> Mapper:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    return Mapper(transcoder=transcoder)


@pytest.mark.parametrize("incoming", EVENTS, ids=lambda e: e.kind.value)
def test_a_stored_fact_is_what_the_library_would_store_for_its_aggregate(
    incoming: IncomingEvent,
) -> None:
    normaliser = Normaliser(
        limits=Limits(),
        rates=ExchangeRates.reference(),
        reporting_currency="USD",
        user_agents=UserAgentParser(),
        urls=UrlScrubber(),
    )
    valid = normaliser.validate(incoming, NOW, timedelta(0))
    assert not isinstance(valid, list), valid
    sealed = {key: Sealed(f"p-{key}", f"token-{key}") for key in valid.identifier_keys}
    network = NetworkPseudonyms(ip="ip:1", network="net:2")
    recorded = normaliser.fact(valid, NOW, sealed, "00-trace", network).collect_events()[0]

    state = normaliser.fact_state(valid, NOW, sealed, "00-trace", network)
    stored = stored_fact(state, recorded.timestamp)

    assert stored == _mapper().to_stored_event(recorded)
    decoded = _mapper().to_domain_event(stored)
    assert type(decoded) is type(recorded)
    assert vars(decoded) == vars(recorded)
