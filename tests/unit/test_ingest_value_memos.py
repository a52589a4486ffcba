"""Ingest reads a visitor's repeated values once: identity fields, client context, URLs and
query parameter names are remembered by value, and what a warm normaliser or scrubber
answers is what a fresh one answers for the same input."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from common.money import ExchangeRates
from services.ingest.consent import IncomingConsent
from services.ingest.domainmodel import EventKind, IncomingEvent, IncomingPageView
from services.ingest.enrichment import UserAgentParser
from services.ingest.normalise import Limits, Normaliser, ValidEvent, Violation
from services.ingest.url_privacy import MAX_CACHED_URL_LENGTH, UrlScrubber
from services.ingest.vault import Sealed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@cache
def _user_agents() -> UserAgentParser:
    return UserAgentParser()


def _normaliser() -> Normaliser:
    return Normaliser(
        limits=Limits(),
        rates=ExchangeRates.reference(),
        reporting_currency="USD",
        user_agents=_user_agents(),
        urls=UrlScrubber(),
    )


_IDS = st.sampled_from(
    [
        *["", " ", "a-1", " a-1 ", "undefined", "null", "0"],
        *["00000000-0000-0000-0000-000000000000", "x" * 257, "é\u200b"],
    ]
)
_EMAILS = st.sampled_from(
    ["", "Ann@Example.com", " ann@example.com ", "not an email", "a@b", "x@" + "y" * 600 + ".com"]
)
_HASHES = st.sampled_from(
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "ABC", "a" * 64]
)
_IPS = st.sampled_from(
    [
        *["", "81.2.69.142", " 81.2.69.142 ", "10.0.0.1", "::ffff:81.2.69.142", "1.2.3"],
        *["x" * 600, "2a00:1450:4001:81b::200e%eth0"],
    ]
)
_AGENTS = st.sampled_from(
    [
        "",
        " ",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0.0.0 Safari/537.36" + " x" * 600,
    ]
)
_COUNTRIES = st.sampled_from(["", "de", "DE", "Germany", "XX", " fr "])
_CITIES = st.sampled_from(["", "Berlin", " münchen ", "\x00", "c" * 101])
_URLS = st.sampled_from(
    [
        *["https://shop.example/p", "https://shop.example/p?email=a@b.example&x=1", "/p?q=1#f"],
        *["https://u:pw@shop.example/?utm_source=a", "https://shop.example/a%40b.example/x"],
        f"https://shop.example/?q={'z' * MAX_CACHED_URL_LENGTH}&phone=1",
    ]
)


@st.composite
def _events(draw: st.DrawFn) -> IncomingEvent:
    return IncomingEvent(
        kind=draw(st.sampled_from([EventKind.PAGE_VIEW, EventKind.IDENTIFY])),
        property_id="shop",
        event_id=draw(st.sampled_from(["e-1", "e-2"])),
        timestamp=NOW - timedelta(minutes=5),
        anonymous_id=draw(_IDS),
        user_id=draw(_IDS),
        email=draw(_EMAILS),
        email_sha256=draw(_HASHES),
        ip_address=draw(_IPS),
        user_agent=draw(_AGENTS),
        geo_country=draw(_COUNTRIES),
        geo_city=draw(_CITIES),
        page_view=IncomingPageView(url=draw(_URLS)),
        consent=draw(st.sampled_from([IncomingConsent(), IncomingConsent(gcs="G100")])),
    )


def _answer(normaliser: Normaliser, event: IncomingEvent) -> object:
    valid = normaliser.validate(event, NOW, timedelta(0))
    if isinstance(valid, list):
        return valid
    sealed = {key: Sealed(f"p-{key}", f"t-{key}") for key in valid.identifier_keys}
    return (valid, normaliser.network_address(event), normaliser.fact_state(valid, NOW, sealed))


@settings(max_examples=300, deadline=None)
@given(st.lists(_events(), min_size=1, max_size=6))
def test_a_warm_normaliser_answers_what_a_fresh_one_answers(events: list[IncomingEvent]) -> None:
    warm = _normaliser()
    for event in events:
        _answer(warm, event)
    for event in events:
        assert _answer(warm, event) == _answer(_normaliser(), event)


def test_a_remembered_identity_keeps_its_violations_for_each_event_that_sends_it() -> None:
    normaliser = _normaliser()
    event = IncomingEvent(
        kind=EventKind.IDENTIFY,
        property_id="shop",
        event_id="e-1",
        timestamp=NOW,
        anonymous_id="undefined",
        email="not an email",
    )
    first = normaliser.validate(event, NOW, timedelta(0))
    second = normaliser.validate(event, NOW, timedelta(0))
    assert first == second
    assert isinstance(first, list)
    assert [v.field for v in first].count("identity.email") == 1
    third = normaliser.validate(
        replace(event, anonymous_id="a-1", user_id="u-1"), NOW, timedelta(0)
    )
    assert third == [Violation("identity.email", first[0].description)]


def test_a_remembered_context_still_forwards_only_addresses_that_tell_clients_apart() -> None:
    normaliser = _normaliser()
    public = IncomingEvent(
        kind=EventKind.IDENTIFY,
        property_id="shop",
        event_id="e-1",
        timestamp=NOW,
        anonymous_id="a",
        user_id="u",
        ip_address="81.2.69.142",
        geo_country="de",
    )
    for _ in range(2):
        valid = normaliser.validate(public, NOW, timedelta(0))
        assert isinstance(valid, ValidEvent)
        assert valid.geo_country == "DE"
        assert str(normaliser.network_address(public)) == "81.2.69.142"
        assert valid.forwarded_address == normaliser.network_address(public)
    private = IncomingEvent(kind=EventKind.IDENTIFY, ip_address="10.0.0.1")
    assert normaliser.network_address(private) is None
    assert normaliser.network_address(private) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(_URLS | st.text(st.sampled_from("a?#@%=&/.:é"), max_size=30), max_size=8))
def test_a_warm_scrubber_answers_what_a_fresh_one_answers(urls: list[str]) -> None:
    warm = UrlScrubber(["email", "phone", "user[name]"])
    for url in urls:
        warm.url(url)
    for url in urls:
        assert warm.url(url) == UrlScrubber(["email", "phone", "user[name]"]).url(url)


def test_facts_of_one_user_agent_hold_their_own_device_fields() -> None:
    normaliser = _normaliser()
    event = IncomingEvent(
        kind=EventKind.IDENTIFY,
        property_id="shop",
        event_id="e-1",
        timestamp=NOW,
        anonymous_id="a",
        user_id="u",
        user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0.0.0 Safari/537.36",
    )
    valid = normaliser.validate(event, NOW, timedelta(0))
    assert isinstance(valid, ValidEvent)
    sealed = {key: Sealed(f"p-{key}", f"t-{key}") for key in valid.identifier_keys}
    first = normaliser.fact_state(valid, NOW, sealed).fields["device"]
    second = normaliser.fact_state(valid, NOW, sealed).fields["device"]
    assert first == second
    assert first is not second
    assert isinstance(first, dict)
    assert first["browser"] == "Chrome"
