"""Touchpoints classified once per landing URL with its click ids masked: an ad click's
landing URL is new on every click, its classification is not; what is stored stays what
classifying each URL afresh gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.money import ExchangeRates
from services.ingest.channel_groups import CLICK_ID_TYPES
from services.ingest.domainmodel import EventKind, IncomingEvent, IncomingTouchpoint
from services.ingest.enrichment import (
    CampaignTags,
    ClickIds,
    UserAgentParser,
    classify_traffic,
    with_click_ids_masked,
)
from services.ingest.normalise import Limits, Normaliser, ValidEvent
from services.ingest.url_privacy import DEFAULT_PII_QUERY_PARAMS, UrlScrubber

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SHOP = "https://shop.example/p/bag"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (f"{SHOP}?gclid=Cj0K-x_y.z~1&utm_source=g", f"{SHOP}?gclid=_&utm_source=g"),
        (f"{SHOP}?utm_medium=cpc&FBCLID=IwAR1#top", f"{SHOP}?utm_medium=cpc&FBCLID=_#top"),
        (f"{SHOP}?ScCid=a&msclkid=b&x=c", f"{SHOP}?ScCid=_&msclkid=_&x=c"),
    ],
)
def test_plain_click_id_values_in_the_query_are_masked(url: str, masked: str) -> None:
    assert with_click_ids_masked(url) == masked


@pytest.mark.parametrize(
    "url",
    [
        SHOP,
        f"{SHOP}?utm_source=google",
        f"{SHOP}?gclid=",  # empty: parse_qsl drops it
        f"{SHOP}?gclid=a%40b.example",  # unquoting changes it
        f"{SHOP}?gclid=me@mail.example",  # the scrubber redacts it
        f"{SHOP}?gclid=a+b",  # "+" reads as a space
        f"{SHOP}?gcl%69d=abc",  # the name is quoted
        f"{SHOP}?gclid=a=b",
        f"{SHOP}#x?gclid=abc",  # in the fragment, not the query
        f"{SHOP}?gclid=_",  # masked already
    ],
)
def test_other_urls_are_left_as_they_are(url: str) -> None:
    assert with_click_ids_masked(url) == url


_CLICK_NAMES = [kind.name for kind in CLICK_ID_TYPES] + ["GCLID", "ScCid", "gcl%69d"]
_VALUE = st.text(st.sampled_from("aZ09_.~-+%@=& #?/:éx"), max_size=8)
_PAIR = st.one_of(
    st.tuples(st.sampled_from(_CLICK_NAMES), _VALUE),
    st.tuples(
        st.sampled_from(["utm_source", "utm_medium", "utm_campaign", "email", "q", "ref"]),
        st.sampled_from(["google", "cpc", "paid_social", "a@b.example", "", "x y", "facebook"]),
    ),
)
_URL = st.builds(
    lambda host, path, pairs, fragment: (
        f"https://{host}{path}"
        + ("?" + "&".join(f"{n}={v}" for n, v in pairs) if pairs else "")
        + fragment
    ),
    st.sampled_from(["shop.example", "www.shop.example", "blog.shop.example", "other.example"]),
    st.sampled_from(["", "/", "/p/bag", "/a@b.example/x"]),
    st.lists(_PAIR, max_size=5),
    st.sampled_from(["", "#top", "#gclid=abc", "#a?gclid=b"]),
)
_REFERRER = st.sampled_from(
    ["", "https://www.google.com/", "https://l.facebook.com/", "https://shop.example/cart"]
)


@settings(max_examples=300)
@given(_URL, _REFERRER, st.booleans())
def test_masking_click_ids_never_changes_the_classification(
    url: str, referrer: str, click_ids_are_personal: bool
) -> None:
    # A deployment may even list a click id among the parameters it redacts.
    names = [*DEFAULT_PII_QUERY_PARAMS, *(["gclid", "fbclid"] if click_ids_are_personal else [])]
    scrubbed = UrlScrubber(names).url

    def classified(landing: str) -> object:
        return classify_traffic(
            landing_url=scrubbed(landing),
            referrer=referrer,
            tags=CampaignTags(),
            click_ids=ClickIds(),
        )

    assert classified(with_click_ids_masked(url)) == classified(url)


@cache
def _user_agents() -> UserAgentParser:
    return UserAgentParser()


def _normaliser() -> Normaliser:
    """A normaliser with empty caches of traffic (the user agent parser is shared: it takes
    a tenth of a second to build)."""
    return Normaliser(
        limits=Limits(),
        rates=ExchangeRates.reference(),
        reporting_currency="USD",
        user_agents=_user_agents(),
        urls=UrlScrubber(),
    )


def _touchpoint(index: int, landing_url: str, referrer: str) -> IncomingEvent:
    return IncomingEvent(
        kind=EventKind.TOUCHPOINT,
        property_id="shop",
        event_id=f"t-{index}",
        timestamp=NOW - timedelta(hours=1),
        anonymous_id="anon-1",
        touchpoint=IncomingTouchpoint(landing_url=landing_url, referrer=referrer),
    )


@settings(max_examples=60)
@given(st.lists(st.tuples(_URL, _REFERRER), min_size=2, max_size=12))
def test_touchpoints_through_the_caches_are_what_each_alone_gives(
    visits: list[tuple[str, str]],
) -> None:
    # Clicks whose landing URLs differ only in their click ids come round again and again.
    shared = _normaliser()
    for index, (url, referrer) in enumerate(visits * 2):
        event = _touchpoint(index, url, referrer)

        through_caches = shared.validate(event, NOW, timedelta(0))
        alone = _normaliser().validate(event, NOW, timedelta(0))

        if isinstance(alone, ValidEvent):
            assert isinstance(through_caches, ValidEvent)
            assert through_caches.traffic == alone.traffic
        else:
            assert through_caches == alone


def test_a_new_click_on_a_known_ad_keeps_its_own_landing_url() -> None:
    normaliser = _normaliser()
    first = f"{SHOP}?gclid=first-click&utm_source=google&utm_medium=cpc&utm_campaign=spring"
    second = first.replace("first-click", "second-click")

    one = normaliser.validate(_touchpoint(1, first, ""), NOW, timedelta(0))
    two = normaliser.validate(_touchpoint(2, second, ""), NOW, timedelta(0))

    assert isinstance(one, ValidEvent) and isinstance(two, ValidEvent)
    assert one.traffic is not None and two.traffic is not None
    assert (one.traffic.landing_url, two.traffic.landing_url) == (first, second)
    assert one.traffic.source == two.traffic.source
    assert two.traffic.source.channel == "paid_search"
    assert two.traffic.source.click_id_type == "gclid"
