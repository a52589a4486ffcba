"""Facts encoded straight to their stored form: the same bytes as the library's mapper
writes for the aggregate's `Recorded` event, for every kind of fact and every consent (a
fact recorded with analytics denied keeps no identifier, network signal nor order id, and a
conversion then holds its own channel, source, medium and campaign)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)
from hypothesis import given
from hypothesis import strategies as st

from common.consent import Consent, ConsentState
from common.money import ExchangeRates, Money
from services.ingest.consent import IncomingConsent
from services.ingest.domainmodel import (
    EventKind,
    IncomingConversion,
    IncomingEvent,
    IncomingOutcome,
    IncomingPageView,
    IncomingTouchpoint,
    TouchpointType,
)
from services.ingest.enrichment import CampaignTags, ClickIds, UserAgentParser
from services.ingest.network import NetworkPseudonyms
from services.ingest.normalise import Limits, Normaliser
from services.ingest.stored_facts import (
    state_encoder,
    stdlib_state_encoder,
    stored_fact,
    stored_facts,
)
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
    IncomingEvent(
        kind=EventKind.OUTCOME,
        event_id="o1",
        outcome=IncomingOutcome(
            conversion_name="deal", order_id="D-ü", stage="won", value=Money("EUR", 5000, 0)
        ),
        **ENVELOPE,  # type: ignore[arg-type]
    ),
    IncomingEvent(
        kind=EventKind.OUTCOME,
        event_id="o2",
        outcome=IncomingOutcome(conversion_name="deal", order_id="D-2", refund=Money("GBP", 7, 0)),
        **ENVELOPE,  # type: ignore[arg-type]
    ),
    IncomingEvent(
        kind=EventKind.OUTCOME,
        event_id="o3",
        outcome=IncomingOutcome(conversion_name="deal", order_id="D-3", retracted=True),
        **ENVELOPE,  # type: ignore[arg-type]
    ),
]
GRANTED = IncomingConsent(analytics=ConsentState.GRANTED, advertising=ConsentState.GRANTED)
DENIED = IncomingConsent(analytics=ConsentState.DENIED, advertising=ConsentState.GRANTED)
DENIED_CONVERSION = replace(
    EVENTS[2],
    event_id="c2",
    page_url="https://shop.example/thanks?utm_source=newsletter&utm_medium=email&utm_campaign=may",
    referrer="https://mail.example/inbox",
    consent=DENIED,
)
# (event, the consent it is recorded under when not its own: an identifier's withdrawal)
CASES = [
    *((event, None) for event in EVENTS),
    *((replace(event, event_id=f"{event.event_id}-g", consent=GRANTED), None) for event in EVENTS),
    *((replace(event, event_id=f"{event.event_id}-d", consent=DENIED), None) for event in EVENTS),
    (DENIED_CONVERSION, None),
    (replace(EVENTS[2], event_id="c3"), Consent(ConsentState.DENIED, ConsentState.UNKNOWN)),
]


def _case_id(case: tuple[IncomingEvent, Consent | None]) -> str:
    event, recorded = case
    assert event.kind is not None
    withdrawn = "-withdrawn" if recorded else ""
    return f"{event.kind.value}-{event.event_id}{withdrawn}"


def _mapper() -> Mapper:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    return Mapper(transcoder=transcoder)


def _normaliser() -> Normaliser:
    return Normaliser(
        limits=Limits(),
        rates=ExchangeRates.reference(),
        reporting_currency="USD",
        user_agents=UserAgentParser(),
        urls=UrlScrubber(),
    )


def _stored_both_ways(
    incoming: IncomingEvent,
    recorded_consent: Consent | None,
    encode: Callable[[Any], bytes] | None = None,
) -> tuple[DomainEventProtocol[UUID], StoredEvent, StoredEvent]:
    """The aggregate's `Recorded` event, the library's stored form of it, and the fact's
    stored form encoded directly (by `encode`, else the default encoder)."""
    normaliser = _normaliser()
    valid = normaliser.validate(incoming, NOW, timedelta(0))
    assert not isinstance(valid, list), valid
    sealed = {key: Sealed(f"p-{key}", f"token-{key}") for key in valid.identifier_keys}
    network = NetworkPseudonyms(ip="ip:1", network="net:2")
    args = (valid, NOW, sealed, "00-trace", network, recorded_consent)
    recorded = normaliser.fact(*args).collect_events()[0]
    fact = normaliser.fact_state(*args)
    if encode is None:
        stored = stored_fact(fact, recorded.timestamp)
    else:
        stored = stored_fact(fact, recorded.timestamp, encode)
    return recorded, _mapper().to_stored_event(recorded), stored


def _encoder(name: str) -> Callable[[Any], bytes]:
    if name == "msgspec":
        pytest.importorskip("msgspec")
        return state_encoder()
    return stdlib_state_encoder()


@pytest.mark.parametrize("encoder", ["stdlib", "msgspec"])
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_a_stored_fact_is_what_the_library_would_store_for_its_aggregate(
    case: tuple[IncomingEvent, Consent | None], encoder: str
) -> None:
    recorded, expected, stored = _stored_both_ways(*case, _encoder(encoder))

    assert stored == expected
    decoded = _mapper().to_domain_event(stored)
    assert type(decoded) is type(recorded)
    assert vars(decoded) == vars(recorded)


@pytest.mark.parametrize(
    ("incoming", "analytics"),
    [(EVENTS[0], "unknown"), (replace(EVENTS[0], consent=GRANTED), "granted")],
)
def test_a_fact_with_analytics_consent_keeps_its_identifiers_and_network(
    incoming: IncomingEvent, analytics: str
) -> None:
    _, _, stored = _stored_both_ways(incoming, None)

    state = json.loads(stored.state)
    assert state["consent"]["analytics"] == analytics
    assert state["identifiers"] == ["p-anon:anon-1", "p-user:user-ü"]
    assert state["network"] == {
        "ip_pseudonym": "ip:1",
        "network_pseudonym": "net:2",
        "geo_country": "DE",
        "geo_city": "köln",
    }


def test_a_denied_conversion_is_stored_without_identifiers_with_its_own_channel() -> None:
    _, _, stored = _stored_both_ways(DENIED_CONVERSION, None)

    state = json.loads(stored.state)
    assert state["consent"] == {"analytics": "denied", "advertising": "granted"}
    assert state["identifiers"] == []
    assert state["sealed_identifiers"] == {}
    assert state["network"] == {
        "ip_pseudonym": "",
        "network_pseudonym": "",
        "geo_country": "",
        "geo_city": "",
    }
    assert state["order_id"] == ""
    assert (state["channel"], state["source"], state["medium"], state["campaign"]) == (
        "email",
        "newsletter",
        "email",
        "may",
    )


def test_a_withdrawal_recorded_for_an_identifier_applies_to_the_stored_fact() -> None:
    _, _, stored = _stored_both_ways(
        replace(EVENTS[2], event_id="c3"), Consent(ConsentState.DENIED, ConsentState.UNKNOWN)
    )

    state = json.loads(stored.state)
    assert state["consent"] == {"analytics": "denied", "advertising": "unknown"}
    assert state["identifiers"] == []
    assert state["order_id"] == ""


def test_facts_stored_together_are_each_what_it_stores_alone() -> None:
    normaliser = _normaliser()
    states = []
    for incoming, recorded_consent in CASES:
        valid = normaliser.validate(incoming, NOW, timedelta(0))
        assert not isinstance(valid, list), valid
        sealed = {key: Sealed(f"p-{key}", f"token-{key}") for key in valid.identifier_keys}
        states.append(normaliser.fact_state(valid, NOW, sealed, "", None, recorded_consent))
    created = datetime(2026, 12, 1, 10, 0, 0, 1, tzinfo=UTC)

    together = stored_facts(states, created)

    assert together == [stored_fact(state, created) for state in states]
    assert [event.originator_id for event in together] == [s.record_id for s in states]


def test_equal_instants_in_different_zones_keep_their_own_offsets() -> None:
    normaliser = _normaliser()
    valid = normaliser.validate(EVENTS[0], NOW, timedelta(0))
    assert not isinstance(valid, list), valid
    sealed = {key: Sealed(f"p-{key}", f"token-{key}") for key in valid.identifier_keys}
    in_utc = normaliser.fact_state(valid, NOW, sealed)
    elsewhere = NOW.astimezone(timezone(timedelta(hours=2)))
    shifted = replace(in_utc, fields={**in_utc.fields, "received_at": elsewhere})

    first, second = stored_facts([in_utc, shifted], NOW)

    assert json.loads(first.state)["received_at"]["_data_"] == NOW.isoformat()
    assert json.loads(second.state)["received_at"]["_data_"] == elsewhere.isoformat()


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_STATES = st.dictionaries(
    _TEXT,
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | _TEXT,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
        max_leaves=12,
    ),
    max_size=8,
)


@given(_STATES)
def test_the_fast_state_encoder_writes_the_stdlib_bytes_for_any_text(
    state: dict[str, object],
) -> None:
    fast = _encoder("msgspec")

    assert fast(state) == stdlib_state_encoder()(state)
