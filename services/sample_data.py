"""Seeded generator of realistic web traffic for one property, for demos, tests and benchmarks."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from urllib.parse import urlencode

from google.protobuf.timestamp_pb2 import Timestamp

from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2

SHOP = "https://shop.example.com"

_T = TypeVar("_T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = 1_000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_SESSION_BUDGET = 45 * _MINUTE
_MAX_JOURNEY = 21 * _DAY

_DESKTOP_AGENTS: tuple[tuple[str, float], ...] = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        0.34,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        0.18,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4.1 Safari/605.1.15",
        0.16,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", 0.10),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", 0.04),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
        0.18,
    ),
)

_MOBILE_AGENTS: tuple[tuple[str, float], ...] = (
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
        0.42,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
        0.08,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.82 Mobile Safari/537.36",
        0.22,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.82 Mobile Safari/537.36",
        0.16,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        0.12,
    ),
)

_BOT_AGENTS: tuple[tuple[str, float], ...] = (
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 0.45),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.6367.91 Mobile Safari/537.36 "
        "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        0.20,
    ),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 0.20),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", 0.15),
)

_PAGES: dict[str, str] = {
    "/": "Example Shop | Shoes, Bags and Accessories",
    "/collections/running": "Running Shoes | Example Shop",
    "/collections/sneakers": "Sneakers | Example Shop",
    "/collections/bags": "Bags & Backpacks | Example Shop",
    "/collections/sale": "Sale | Example Shop",
    "/products/trail-runner-2": "Trail Runner 2 | Example Shop",
    "/products/city-sneaker-white": "City Sneaker White | Example Shop",
    "/products/canvas-backpack-20l": "Canvas Backpack 20L | Example Shop",
    "/products/leather-weekender": "Leather Weekender | Example Shop",
    "/products/merino-running-socks": "Merino Running Socks | Example Shop",
    "/blog/how-to-choose-running-shoes": "How to choose running shoes | Example Shop Blog",
    "/blog/packing-list-weekend-trip": "The weekend packing list | Example Shop Blog",
    "/cart": "Your cart | Example Shop",
    "/checkout": "Checkout | Example Shop",
}
_COLLECTIONS = tuple(p for p in _PAGES if p.startswith("/collections/"))
_PRODUCTS = tuple(p for p in _PAGES if p.startswith("/products/"))
_BLOG = tuple(p for p in _PAGES if p.startswith("/blog/"))

_SEARCH_CAMPAIGNS = ("brand_search", "generic_running_shoes", "spring_sale", "bags_shopping")
_SEARCH_TERMS = ("example shop", "running shoes", "trail running shoes", "canvas backpack")
_SOCIAL_CAMPAIGNS = ("prospecting_lookalike", "retargeting_cart", "spring_sale")
_EMAIL_CAMPAIGNS = ("weekly_digest", "cart_reminder", "spring_sale_launch")
_SEARCH_ENGINES: tuple[tuple[str, float], ...] = (
    ("https://www.google.com/", 0.82),
    ("https://www.bing.com/", 0.11),
    ("https://duckduckgo.com/", 0.07),
)
_REFERRAL_PAGES = (
    "https://urbanstyleblog.com/best-sneakers-this-spring/",
    "https://www.trailtalk.net/reviews/trail-runner-2/",
    "https://thekitlist.co.uk/weekend-bags-we-love/",
    "https://everydaycarry.blog/2024/05/backpack-roundup/",
)

_FIRST_TOUCH_CHANNELS: tuple[tuple[str, float], ...] = (
    ("paid_search", 0.24),
    ("paid_social", 0.16),
    ("email", 0.04),
    ("organic_search", 0.26),
    ("organic_social", 0.10),
    ("referral", 0.10),
    ("direct", 0.10),
)
_LATER_TOUCH_CHANNELS: tuple[tuple[str, float], ...] = (
    ("paid_search", 0.18),
    ("paid_social", 0.10),
    ("email", 0.18),
    ("organic_search", 0.16),
    ("organic_social", 0.05),
    ("referral", 0.05),
    ("direct", 0.28),
)
_JOURNEY_LENGTHS: tuple[tuple[int, float], ...] = (
    (1, 0.38),
    (2, 0.24),
    (3, 0.16),
    (4, 0.11),
    (5, 0.07),
    (6, 0.04),
)
_CURRENCIES: tuple[tuple[str, float], ...] = (("EUR", 0.6), ("USD", 0.3), ("GBP", 0.1))

# Relative traffic by UTC hour of day: quiet at night, peaks at lunch and in the evening.
_HOURLY_WEIGHT = (
    0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.35, 0.55, 0.7, 0.75, 0.8, 0.85,
    0.95, 0.9, 0.8, 0.8, 0.85, 0.9, 1.0, 1.0, 0.95, 0.8, 0.55, 0.3,
)  # fmt: skip

_FIRST_NAMES = (
    "anna", "ben", "clara", "david", "emma", "felix", "greta", "hugo", "ida", "jonas",
    "lea", "max", "nora", "oscar", "paula", "sofia", "tom", "zoe", "liam", "mia",
)  # fmt: skip
_LAST_NAMES = (
    "schmidt", "muller", "dupont", "rossi", "smith", "jones", "garcia", "novak",
    "jansen", "berg", "moreau", "weber", "fischer", "brown", "martin", "keller",
)  # fmt: skip

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

_BOT_SHARE = 0.01
_MULTI_DEVICE_SHARE = 0.15
_MOBILE_SHARE = 0.55
_LOGIN_SHARE = 0.12
_BUYER_LOGIN_SHARE = 0.7
_SIGN_UP_SHARE = 0.2
_DUPLICATE_PURCHASE_SHARE = 0.01


@dataclass(frozen=True, kw_only=True)
class SampleConfig:
    """What to generate: one property's traffic over `days` days up to `end` (exclusive of
    its last minute), for `visitors` persons, reproducible from `seed`."""

    property_id: str = "demo-shop"
    visitors: int = 3000
    seed: int = 7
    end: datetime
    days: int = 28

    def __post_init__(self) -> None:
        if self.end.tzinfo is None or self.end.utcoffset() is None:
            raise ValueError("SampleConfig.end must be timezone-aware")
        if not self.property_id:
            raise ValueError("SampleConfig.property_id must not be empty")
        if self.visitors < 0:
            raise ValueError("SampleConfig.visitors must not be negative")
        if self.days < 1:
            raise ValueError("SampleConfig.days must be at least 1")


@dataclass(frozen=True)
class SampleSummary:
    """Counts describing a list of sample events."""

    events: int
    touchpoints: int
    page_views: int
    conversions: int
    identifies: int
    anonymous_ids: int
    user_ids: int
    order_ids: int
    currencies: tuple[str, ...]


@dataclass(frozen=True)
class _Device:
    anonymous_id: str
    user_agent: str
    mobile: bool


@dataclass
class _Builder:
    """Collects events with their times; ids are assigned once they are sorted."""

    property_id: str
    latest_ms: int
    rows: list[tuple[int, int, ingest_pb2.Event]] = field(default_factory=list)

    def add(
        self,
        at_ms: int,
        device: _Device,
        page_url: str,
        *,
        user_id: str = "",
        email: str = "",
        referrer: str = "",
    ) -> tuple[int, ingest_pb2.Event]:
        at_ms = min(at_ms, self.latest_ms)
        event = ingest_pb2.Event(
            property_id=self.property_id,
            identity=ingest_pb2.Identity(
                anonymous_id=device.anonymous_id, user_id=user_id, email=email
            ),
            context=ingest_pb2.Context(
                user_agent=device.user_agent, page_url=page_url, referrer=referrer
            ),
        )
        self.rows.append((at_ms, len(self.rows), event))
        return at_ms, event


def generate_sample(config: SampleConfig) -> list[ingest_pb2.Event]:
    """Generate one property's traffic, sorted by timestamp, the same for the same config.

    Each person has one device (about 15% a laptop and a phone), a journey of one to six
    touchpoints arriving as real traffic does (click ids and UTM tags in the landing URL,
    referrers, or nothing for direct), up to three page views after each touchpoint, logins
    (identify calls; on both devices for two-device persons), some sign-ups, and for about
    5% of persons a purchase on the device of their last touchpoint. About 1% of visitors
    are crawlers. About 1% of purchases (at least one when there are any) are deliberately
    sent twice, with a new event id and the same order id, to exercise de-duplication.
    """
    rng = random.Random(config.seed)
    end_ms = (config.end - _EPOCH) // timedelta(milliseconds=1)
    earliest_ms = -(
        (_EPOCH - (config.end - timedelta(days=config.days))) // timedelta(milliseconds=1)
    )
    builder = _Builder(property_id=config.property_id, latest_ms=end_ms - _MINUTE)
    anonymous_ids: set[str] = set()
    purchases: list[tuple[int, ingest_pb2.Event]] = []

    for n in range(1, config.visitors + 1):
        if rng.random() < _BOT_SHARE:
            _bot(rng, builder, _device(rng, anonymous_ids, bot=True), earliest_ms)
        else:
            purchase = _person(rng, builder, n, anonymous_ids, earliest_ms, len(purchases) + 1)
            if purchase is not None:
                purchases.append(purchase)

    if purchases:
        duplicates = max(1, round(len(purchases) * _DUPLICATE_PURCHASE_SHARE))
        for at_ms, original in rng.sample(purchases, duplicates):
            copy = ingest_pb2.Event()
            copy.CopyFrom(original)
            builder.rows.append(
                (
                    min(at_ms + rng.randint(5, 90) * _SECOND, builder.latest_ms),
                    len(builder.rows),
                    copy,
                )
            )

    builder.rows.sort(key=lambda row: (row[0], row[1]))
    events: list[ingest_pb2.Event] = []
    for number, (at_ms, _, event) in enumerate(builder.rows, start=1):
        event.event_id = f"evt-{number:07d}"
        event.timestamp.CopyFrom(_timestamp(at_ms))
        events.append(event)
    return events


def batches(
    events: Sequence[ingest_pb2.Event], size: int = 500
) -> Iterator[list[ingest_pb2.Event]]:
    """Yield the events in order in lists of at most `size`."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    for start in range(0, len(events), size):
        yield list(events[start : start + size])


def summarise(events: Sequence[ingest_pb2.Event]) -> SampleSummary:
    """Count the events by kind and the distinct identifiers, orders and currencies."""
    kinds: dict[str, int] = {"touchpoint": 0, "page_view": 0, "conversion": 0, "identify": 0}
    anonymous_ids: set[str] = set()
    user_ids: set[str] = set()
    order_ids: set[str] = set()
    currencies: set[str] = set()
    for event in events:
        kind = event.WhichOneof("kind")
        if kind is not None:
            kinds[kind] += 1
        if event.identity.anonymous_id:
            anonymous_ids.add(event.identity.anonymous_id)
        if event.identity.user_id:
            user_ids.add(event.identity.user_id)
        if kind == "conversion":
            if event.conversion.order_id:
                order_ids.add(event.conversion.order_id)
            if event.conversion.value.currency_code:
                currencies.add(event.conversion.value.currency_code)
    return SampleSummary(
        events=len(events),
        touchpoints=kinds["touchpoint"],
        page_views=kinds["page_view"],
        conversions=kinds["conversion"],
        identifies=kinds["identify"],
        anonymous_ids=len(anonymous_ids),
        user_ids=len(user_ids),
        order_ids=len(order_ids),
        currencies=tuple(sorted(currencies)),
    )


def _person(
    rng: random.Random,
    builder: _Builder,
    n: int,
    anonymous_ids: set[str],
    earliest_ms: int,
    order_number: int,
) -> tuple[int, ingest_pb2.Event] | None:
    """Emit one person's journey; return the purchase event with its time, if any."""
    multi_device = rng.random() < _MULTI_DEVICE_SHARE
    if multi_device:
        devices = [
            _device(rng, anonymous_ids, mobile=False),
            _device(rng, anonymous_ids, mobile=True),
        ]
    else:
        devices = [_device(rng, anonymous_ids, mobile=rng.random() < _MOBILE_SHARE)]
    touches = _weighted(rng, _JOURNEY_LENGTHS)
    if multi_device:
        touches = max(touches, 2)
    buys = rng.random() < 0.035 + 0.015 * (touches - 1)

    channels = [
        _weighted(rng, _FIRST_TOUCH_CHANNELS if i == 0 else _LATER_TOUCH_CHANNELS)
        for i in range(touches)
    ]
    on_device = [_pick_device(rng, devices, channel) for channel in channels]
    if multi_device and len(set(on_device)) == 1:
        on_device[rng.randrange(touches)] = 1 - on_device[0]

    user_id = f"user-{n:05d}"
    email = f"{rng.choice(_FIRST_NAMES)}.{rng.choice(_LAST_NAMES)}{n}@example.org"
    with_email = rng.random() < 0.5
    login_sessions: dict[int, int] = {}
    if multi_device:
        for index, device_index in enumerate(on_device):
            login_sessions.setdefault(device_index, index)
    elif rng.random() < (_BUYER_LOGIN_SHARE if buys else _LOGIN_SHARE):
        login_sessions[0] = touches - 1 if buys else rng.randrange(touches)
    signs_up = bool(login_sessions) and rng.random() < _SIGN_UP_SHARE
    first_login = min(login_sessions.values(), default=-1)

    starts = _session_starts(rng, touches, earliest_ms, builder.latest_ms)
    purchase: tuple[int, ingest_pb2.Event] | None = None
    for index, (start_ms, channel, device_index) in enumerate(
        zip(starts, channels, on_device, strict=True)
    ):
        device = devices[device_index]
        at_ms = _touchpoint(rng, builder, start_ms, device, channel)
        logged_in = device_index in login_sessions and login_sessions[device_index] <= index
        if login_sessions.get(device_index) == index:
            at_ms += rng.randint(20, 120) * _SECOND
            if signs_up and index == first_login:
                at_ms, event = builder.add(
                    at_ms, device, f"{SHOP}/account/register", user_id=user_id
                )
                event.conversion.name = "sign_up"
                at_ms += rng.randint(1, 5) * _SECOND
            first_device = device_index == on_device[0] or len(login_sessions) == 1
            login_email = email if with_email and (first_device or rng.random() < 0.5) else ""
            at_ms, event = builder.add(
                at_ms, device, f"{SHOP}/account/login", user_id=user_id, email=login_email
            )
            event.identify.SetInParent()
        last_session = index == touches - 1
        checkout = buys and last_session
        at_ms = _page_views(rng, builder, at_ms, device, checkout=checkout)
        if checkout:
            at_ms += rng.randint(30, 300) * _SECOND
            at_ms, event = builder.add(
                at_ms,
                device,
                f"{SHOP}/checkout/thank-you",
                user_id=user_id if logged_in else "",
                referrer=f"{SHOP}/checkout",
            )
            event.conversion.name = "purchase"
            event.conversion.order_id = f"order-{order_number:06d}"
            event.conversion.value.CopyFrom(_order_value(rng))
            purchase = (at_ms, event)
    return purchase


def _bot(rng: random.Random, builder: _Builder, device: _Device, earliest_ms: int) -> None:
    """Emit a crawler's visits: direct hits on any page, then a few more pages."""
    touches = _weighted(rng, _JOURNEY_LENGTHS)
    for start_ms in _session_starts(rng, touches, earliest_ms, builder.latest_ms):
        landing = f"{SHOP}{rng.choice(tuple(_PAGES))}"
        at_ms, event = builder.add(start_ms, device, landing)
        event.touchpoint.type = ingest_pb2.TOUCHPOINT_TYPE_VISIT
        event.touchpoint.landing_url = landing
        _page_views(rng, builder, at_ms, device, checkout=False, step_s=(1, 4))


def _touchpoint(
    rng: random.Random, builder: _Builder, at_ms: int, device: _Device, channel: str
) -> int:
    """Emit the session's touchpoint as the traffic of `channel` arrives; return its time."""
    click = True
    referrer = ""
    query: list[tuple[str, str]] = []
    if channel == "paid_search":
        path = rng.choice(_COLLECTIONS + _PRODUCTS)
        campaign = rng.choice(_SEARCH_CAMPAIGNS)
        if rng.random() < 0.12:
            query.append(("msclkid", rng.getrandbits(128).to_bytes(16, "big").hex()))
            source, referrer = "bing", "https://www.bing.com/"
        else:
            query.append(("gclid", "Cj0KCQjw" + _random_token(rng, 80)))
            source, referrer = "google", "https://www.google.com/"
        query += [("utm_source", source), ("utm_medium", "cpc"), ("utm_campaign", campaign)]
        query.append(("utm_term", rng.choice(_SEARCH_TERMS)))
    elif channel == "paid_social":
        path = rng.choice((*_PRODUCTS, "/collections/sale"))
        query = [
            ("fbclid", "IwAR" + _random_token(rng, 56)),
            ("utm_source", "facebook"),
            ("utm_medium", "paid_social"),
            ("utm_campaign", rng.choice(_SOCIAL_CAMPAIGNS)),
        ]
        referrer = rng.choice(("https://l.facebook.com/", "https://l.instagram.com/", ""))
    elif channel == "email":
        path = rng.choice(("/collections/sale", "/cart", *_PRODUCTS))
        query = [
            ("utm_source", "newsletter"),
            ("utm_medium", "email"),
            ("utm_campaign", rng.choice(_EMAIL_CAMPAIGNS)),
        ]
    else:
        click = False
        if channel == "organic_search":
            path = rng.choice(_PRODUCTS + _COLLECTIONS + _BLOG + ("/",))
            referrer = _weighted(rng, _SEARCH_ENGINES)
        elif channel == "organic_social":
            path = rng.choice(_PRODUCTS + _BLOG)
            referrer = rng.choice(
                (
                    f"https://t.co/{_random_token(rng, 10, alphanumeric=True)}",
                    "https://www.instagram.com/",
                )
            )
        elif channel == "referral":
            path = rng.choice(_PRODUCTS + _COLLECTIONS)
            referrer = rng.choice(_REFERRAL_PAGES)
        else:
            path = rng.choice(("/", "/", "/", *_COLLECTIONS))
    landing = f"{SHOP}{path}" + (f"?{urlencode(query)}" if query else "")
    at_ms, event = builder.add(at_ms, device, landing)
    event.touchpoint.type = (
        ingest_pb2.TOUCHPOINT_TYPE_CLICK if click else ingest_pb2.TOUCHPOINT_TYPE_VISIT
    )
    event.touchpoint.landing_url = landing
    event.touchpoint.referrer = referrer
    return at_ms


def _page_views(
    rng: random.Random,
    builder: _Builder,
    at_ms: int,
    device: _Device,
    *,
    checkout: bool,
    step_s: tuple[int, int] = (15, 180),
) -> int:
    """Emit 0 to 3 page views browsing on from the landing page (ending at checkout when
    `checkout`); return the time of the last one."""
    count = rng.randint(1, 3) if checkout else rng.randint(0, 3)
    previous = ""
    for step in range(count):
        if checkout and step == count - 1:
            path = "/checkout"
        elif checkout and step == count - 2:
            path = "/cart"
        else:
            path = rng.choice(_PRODUCTS + _COLLECTIONS + ("/", "/cart"))
        url = f"{SHOP}{path}"
        at_ms += rng.randint(*step_s) * _SECOND + rng.randrange(_SECOND)
        at_ms, event = builder.add(at_ms, device, url, referrer=previous)
        event.page_view.url = url
        event.page_view.title = _PAGES[path]
        previous = url
    return at_ms


def _session_starts(rng: random.Random, count: int, earliest_ms: int, latest_ms: int) -> list[int]:
    """Draw the sorted start times of a journey's sessions, all inside the window."""
    window = latest_ms - earliest_ms
    budget = min(_SESSION_BUDGET, window // 10)
    span = 0
    if count > 1:
        span = int(min(rng.expovariate(1 / (4 * _DAY)), _MAX_JOURNEY, (window - budget) * 0.9))
    last = _draw_time(rng, earliest_ms + span, latest_ms - budget)
    others = [_draw_time(rng, last - span, last) for _ in range(count - 1)]
    return sorted([*others, last])


def _draw_time(rng: random.Random, low_ms: int, high_ms: int) -> int:
    """Draw a time in [low, high], preferring busy hours of the day."""
    candidate = low_ms
    for _ in range(20):
        candidate = rng.randint(low_ms, max(low_ms, high_ms))
        if rng.random() < _HOURLY_WEIGHT[(candidate // _HOUR) % 24]:
            break
    return candidate


def _device(
    rng: random.Random, anonymous_ids: set[str], *, mobile: bool = False, bot: bool = False
) -> _Device:
    """Make a device with a fresh cookie id and a user agent of its kind."""
    while True:
        anonymous_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if anonymous_id not in anonymous_ids:
            anonymous_ids.add(anonymous_id)
            break
    agents = _BOT_AGENTS if bot else _MOBILE_AGENTS if mobile else _DESKTOP_AGENTS
    return _Device(anonymous_id=anonymous_id, user_agent=_weighted(rng, agents), mobile=mobile)


def _pick_device(rng: random.Random, devices: Sequence[_Device], channel: str) -> int:
    """Choose which of a person's devices a touchpoint of `channel` arrives on."""
    if len(devices) == 1:
        return 0
    phone_share = 0.8 if channel in ("paid_social", "organic_social") else 0.4
    return 1 if rng.random() < phone_share else 0


def _order_value(rng: random.Random) -> common_pb2.Money:
    """Draw a realistic order value between 20.00 and 299.99 in EUR, USD or GBP."""
    whole = min(299, max(20, int(rng.lognormvariate(4.2, 0.55))))
    cents = rng.choice((0, 50, 90, 95, 99, rng.randint(1, 98)))
    return common_pb2.Money(
        currency_code=_weighted(rng, _CURRENCIES), units=whole, nanos=cents * 10_000_000
    )


def _weighted(rng: random.Random, choices: Sequence[tuple[_T, float]]) -> _T:
    """Choose one value by weight."""
    return rng.choices([value for value, _ in choices], [weight for _, weight in choices])[0]


def _random_token(rng: random.Random, length: int, *, alphanumeric: bool = False) -> str:
    """Make a click-id-like random token."""
    alphabet = _ID_ALPHABET[:62] if alphanumeric else _ID_ALPHABET
    return "".join(rng.choice(alphabet) for _ in range(length))


def _timestamp(at_ms: int) -> Timestamp:
    """Convert epoch milliseconds to a protobuf Timestamp."""
    seconds, millis = divmod(at_ms, _SECOND)
    return Timestamp(seconds=seconds, nanos=millis * 1_000_000)


SPEND_CAMPAIGNS = (
    ("google", "cpc", _SEARCH_CAMPAIGNS, 9.0),
    ("bing", "cpc", _SEARCH_CAMPAIGNS, 1.5),
    ("facebook", "paid_social", _SOCIAL_CAMPAIGNS, 2.5),
)
"""The paid campaigns of the sample, with a typical daily cost per campaign at 3,000 visitors
(in USD; facebook's in EUR); spend scales with the number of visitors."""


def generate_spend(config: SampleConfig) -> list[ingest_pb2.SpendRow]:
    """Daily spend of the sample's paid search and paid social campaigns over its days (the
    same for the same config): each day's cost per campaign varies around a typical figure,
    search spend in USD, social spend in EUR (converted by ingest like conversion values)."""
    rng = random.Random(config.seed + 1)
    scale = config.visitors / 3000
    first_day = (config.end - timedelta(days=config.days)).date()
    rows = []
    for offset in range(config.days):
        day = (first_day + timedelta(days=offset)).isoformat()
        for source, medium, campaigns, typical in SPEND_CAMPAIGNS:
            currency = "EUR" if source == "facebook" else "USD"
            for campaign in campaigns:
                cents = round(typical * scale * rng.uniform(0.6, 1.4) * 100)
                rows.append(
                    ingest_pb2.SpendRow(
                        property_id=config.property_id,
                        date=day,
                        source=source,
                        medium=medium,
                        campaign=campaign,
                        cost=common_pb2.Money(
                            currency_code=currency,
                            units=cents // 100,
                            nanos=(cents % 100) * 10_000_000,
                        ),
                    )
                )
    return rows


DEAL_CONVERSION = "deal"
"""The conversion name of the sample's deals: wholesale enquiries sent from the shop's web
form (with a deal id as order id), followed by outcomes from the CRM."""
DEAL_PAGE = f"{SHOP}/wholesale/enquiry"
_DEAL_COUNT = 8
_DEAL_PLAN: tuple[tuple[str, ...], ...] = (
    ("lead", "qualified", "won"),
    ("lead", "qualified", "won", "refund"),
    ("lead", "qualified", "won"),
    ("lead", "qualified", "won"),
    ("lead", "qualified", "lost"),
    ("lead", "qualified", "lost"),
    ("lead",),
    ("lead", "retracted"),
)
"""What the CRM says of each deal, in order: stages reached, then a partial refund of a won
deal or a retraction (a test enquiry); hand-checked counts in tests/unit/test_sample_data.py."""
_DEAL_WON_EUR = (2400, 1850, 4200, 960)
_DEAL_REFUND_EUR = 300
_DEAL_STEP_DAYS = {"lead": 0, "qualified": 2, "won": 5, "lost": 5, "refund": 7, "retracted": 1}


def generate_deals(
    config: SampleConfig, events: Sequence[ingest_pb2.Event]
) -> list[ingest_pb2.Event]:
    """The sample's CRM deals (the same for the same config and web events): up to eight
    visitors who arrived with a touchpoint in the first half of the window send the wholesale
    enquiry form a few minutes later on the same device (a `deal` conversion with a deal id
    as order id, no value), then the CRM sends outcomes over the following days: every deal
    becomes a lead, six are qualified, four of those won (with their amount in EUR) and two
    lost; one won deal is partly refunded and one lead is retracted. Sorted by time; ids
    start with "deal-" so they never clash with the web events'."""
    end_ms = (config.end - _EPOCH) // timedelta(milliseconds=1)
    latest_ms = end_ms - _MINUTE
    middle_ms = end_ms - config.days * _DAY // 2
    candidates = [
        event
        for event in events
        if event.WhichOneof("kind") == "touchpoint"
        and _millis(event.timestamp) < middle_ms
        and not any(agent == event.context.user_agent for agent, _ in _BOT_AGENTS)
    ]
    rng = random.Random(config.seed + 2)
    chosen = sorted(
        rng.sample(candidates, min(_DEAL_COUNT, len(candidates))),
        key=lambda e: (_millis(e.timestamp), e.event_id),
    )
    deals: list[tuple[int, ingest_pb2.Event]] = []
    won = iter(_DEAL_WON_EUR)
    for number, (touchpoint, plan) in enumerate(zip(chosen, _DEAL_PLAN, strict=False), start=1):
        order_id = f"deal-{number:04d}"
        at_ms = _millis(touchpoint.timestamp) + rng.randint(3, 15) * _MINUTE
        form = ingest_pb2.Event(
            property_id=config.property_id,
            event_id=f"{order_id}-form",
            identity=ingest_pb2.Identity(anonymous_id=touchpoint.identity.anonymous_id),
            context=ingest_pb2.Context(
                user_agent=touchpoint.context.user_agent,
                page_url=DEAL_PAGE,
                referrer=touchpoint.touchpoint.landing_url,
            ),
        )
        form.conversion.name = DEAL_CONVERSION
        form.conversion.order_id = order_id
        deals.append((at_ms, form))
        for step in plan:
            outcome = ingest_pb2.Outcome(conversion_name=DEAL_CONVERSION, order_id=order_id)
            if step == "refund":
                outcome.refund.CopyFrom(
                    common_pb2.Money(currency_code="EUR", units=_DEAL_REFUND_EUR)
                )
            elif step == "retracted":
                outcome.retracted = True
            else:
                outcome.stage = step
                if step == "won":
                    outcome.value.CopyFrom(common_pb2.Money(currency_code="EUR", units=next(won)))
            step_ms = at_ms + _DEAL_STEP_DAYS[step] * _DAY + rng.randint(10, 120) * _MINUTE
            event = ingest_pb2.Event(
                property_id=config.property_id,
                event_id=f"{order_id}-{step}",
                outcome=outcome,
            )
            deals.append((min(step_ms, latest_ms), event))
    deals.sort(key=lambda row: (row[0], row[1].event_id))
    for at_ms, event in deals:
        event.timestamp.CopyFrom(_timestamp(at_ms))
    return [event for _, event in deals]


def sample_events(config: SampleConfig) -> list[ingest_pb2.Event]:
    """The whole sample as `convtrack sample send` and the demo send it: the web traffic of
    `generate_sample` with the deals of `generate_deals` among it, sorted by time."""
    events = generate_sample(config)
    merged = [*events, *generate_deals(config, events)]
    merged.sort(key=lambda event: _millis(event.timestamp))
    return merged


def _millis(stamp: Timestamp) -> int:
    return stamp.seconds * _SECOND + stamp.nanos // 1_000_000


def cross_device_purchases(events: Sequence[ingest_pb2.Event]) -> list[str]:
    """The event ids of purchases (first sending of each order, in time order) made by a
    logged-in person whose logins (identify calls) before the purchase came from at least two
    devices: journeys identity joins across devices."""
    devices: dict[str, set[str]] = {}
    orders: set[str] = set()
    found = []
    for event in sorted(events, key=lambda e: _millis(e.timestamp)):
        kind, user_id = event.WhichOneof("kind"), event.identity.user_id
        if kind == "identify" and user_id:
            devices.setdefault(user_id, set()).add(event.identity.anonymous_id)
        elif kind == "conversion" and event.conversion.name == "purchase" and user_id:
            if event.conversion.order_id in orders:
                continue
            orders.add(event.conversion.order_id)
            if len(devices.get(user_id, ())) >= 2:
                found.append(event.event_id)
    return found
