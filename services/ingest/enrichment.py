"""Event enrichment: marketing channel from tags and referrer, device from the user agent."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

import re2
import tldextract
import ua_parser
from crawlerdetect.providers.crawlers import data as crawler_patterns
from crawlerdetect.providers.exclusions import data as exclusion_patterns

from services.ingest.channel_groups import (
    CLICK_ID_PLATFORMS,
    CLICK_ID_TYPES,
    DEFAULT_CHANNEL_GROUP,
    Channel,
    ChannelGroup,
    HostKind,
    SourceFill,
    VisitFacts,
)


@dataclass(frozen=True, slots=True)
class CampaignTags:
    """UTM campaign parameters as sent by the client; empty means absent."""

    source: str = ""
    medium: str = ""
    campaign: str = ""
    term: str = ""
    content: str = ""


@dataclass(frozen=True, slots=True)
class ClickIds:
    """Ad platform click identifiers as sent by the client; empty means absent."""

    gclid: str = ""
    fbclid: str = ""
    msclkid: str = ""
    gbraid: str = ""
    wbraid: str = ""
    dclid: str = ""
    ttclid: str = ""
    li_fat_id: str = ""
    twclid: str = ""
    sccid: str = ""

    def items(self) -> list[tuple[str, str]]:
        """Every click id field as (name, value), in field order."""
        return [(name, getattr(self, name)) for name in CLICK_ID_FIELDS]

    def present(self) -> dict[str, str]:
        """The click ids that are set, by name."""
        return {name: value for name in CLICK_ID_FIELDS if (value := getattr(self, name))}


CLICK_ID_FIELDS = tuple(f.name for f in fields(ClickIds))


@dataclass(frozen=True, slots=True)
class TrafficSource:
    """Where a visit came from: channel (a `Channel`, or a property's own channel name),
    normalised source/medium and campaign details."""

    channel: str
    source: str
    medium: str
    campaign: str
    term: str
    content: str
    referrer_host: str
    click_id_type: str


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """Browser, operating system and device families parsed from a user agent, with the
    browser's major version, the OS's major(.minor) version and the device type (see
    `device_type_of`; "" when unknown)."""

    browser: str
    os: str
    device: str
    is_bot: bool
    browser_version: str = ""
    os_version: str = ""
    device_type: str = ""


DIRECT_SOURCE = "(direct)"
NO_MEDIUM = "(none)"
NOT_SET = "(not set)"


@dataclass(frozen=True, slots=True)
class _HostRule:
    """A domain pattern: ``brand.*`` matches any country TLD; ``any_subdomain`` widens it."""

    name: str
    domain: str
    any_subdomain: bool = False

    def matches(self, host: str) -> bool:
        if self.domain.endswith(".*"):
            *stem_prefix, brand = self.domain[:-2].split(".")
            parts = _public_suffixes().split(host)
            if parts.domain != brand or not parts.suffix or parts.is_private:
                return False
            labels = parts.subdomain.split(".") if parts.subdomain else []
            cut = len(labels) - len(stem_prefix)
            return cut >= 0 and labels[cut:] == stem_prefix and self._prefix_allowed(labels[:cut])
        if host == self.domain:
            return True
        if host.endswith("." + self.domain):
            return self._prefix_allowed(host[: -len(self.domain) - 1].split("."))
        return False

    def _prefix_allowed(self, prefix: list[str]) -> bool:
        return self.any_subdomain or prefix in ([], ["www"], ["m"])


class PublicSuffixes:
    """Splits host names at the public suffix, with the Public Suffix List snapshot bundled in
    ``tldextract`` (ICANN and private sections): never fetched, never cached on disk."""

    def __init__(self, cache_size: int = 4096) -> None:
        """Load the bundled list; ``cache_size`` bounds the per-host result cache."""
        self._extract = tldextract.TLDExtract(
            cache_dir=None,
            suffix_list_urls=(),
            fallback_to_snapshot=True,
            include_psl_private_domains=True,
        )
        self.split = lru_cache(maxsize=cache_size)(self._split)

    def _split(self, host: str) -> tldextract.tldextract.ExtractResult:
        return self._extract.extract_str(host)

    def site(self, host: str) -> str:
        """The registrable domain (``example.co.uk`` for ``shop.example.co.uk``), or the host
        itself when it has no public suffix (an IP address, ``localhost``)."""
        return self.split(host).top_domain_under_public_suffix or host


@lru_cache(maxsize=1)
def _public_suffixes() -> PublicSuffixes:
    return PublicSuffixes()


_SEARCH_ENGINES: tuple[_HostRule, ...] = (
    _HostRule("google", "google.*"),
    _HostRule("bing", "bing.com", any_subdomain=True),
    _HostRule("duckduckgo", "duckduckgo.com", any_subdomain=True),
    _HostRule("yahoo", "search.yahoo.*", any_subdomain=True),
    _HostRule("baidu", "baidu.com"),
    _HostRule("yandex", "yandex.*"),
    _HostRule("yandex", "ya.ru"),
    _HostRule("ecosia", "ecosia.org"),
    _HostRule("brave", "search.brave.com"),
    _HostRule("startpage", "startpage.com"),
    _HostRule("qwant", "qwant.com"),
    _HostRule("naver", "search.naver.com", any_subdomain=True),
    _HostRule("seznam", "search.seznam.cz"),
    _HostRule("seznam", "seznam.cz"),
    _HostRule("daum", "search.daum.net"),
    _HostRule("sogou", "sogou.com"),
    _HostRule("ask", "ask.com"),
    _HostRule("aol", "search.aol.com"),
)

_SOCIAL_NETWORKS: tuple[_HostRule, ...] = (
    _HostRule("facebook", "facebook.com", any_subdomain=True),
    _HostRule("facebook", "fb.com", any_subdomain=True),
    _HostRule("facebook", "fb.me"),
    _HostRule("facebook", "messenger.com"),
    _HostRule("instagram", "instagram.com", any_subdomain=True),
    _HostRule("twitter", "twitter.com", any_subdomain=True),
    _HostRule("twitter", "x.com"),
    _HostRule("twitter", "t.co"),
    _HostRule("linkedin", "linkedin.com", any_subdomain=True),
    _HostRule("linkedin", "lnkd.in"),
    _HostRule("reddit", "reddit.com", any_subdomain=True),
    _HostRule("youtube", "youtube.com", any_subdomain=True),
    _HostRule("youtube", "youtu.be"),
    _HostRule("tiktok", "tiktok.com", any_subdomain=True),
    _HostRule("pinterest", "pinterest.*", any_subdomain=True),
    _HostRule("pinterest", "pin.it"),
    _HostRule("snapchat", "snapchat.com", any_subdomain=True),
    _HostRule("threads", "threads.net"),
    _HostRule("threads", "threads.com"),
    _HostRule("whatsapp", "whatsapp.com", any_subdomain=True),
    _HostRule("whatsapp", "wa.me"),
    _HostRule("telegram", "t.me"),
    _HostRule("vk", "vk.com", any_subdomain=True),
    _HostRule("tumblr", "tumblr.com", any_subdomain=True),
    _HostRule("quora", "quora.com", any_subdomain=True),
    _HostRule("bluesky", "bsky.app"),
    _HostRule("discord", "discord.com"),
)

_SOCIAL_SOURCE_ALIASES: Mapping[str, str] = {
    "fb": "facebook",
    "meta": "facebook",
    "ig": "instagram",
    "x": "twitter",
    "tw": "twitter",
    "li": "linkedin",
    "yt": "youtube",
}


def _lookup(rules: tuple[_HostRule, ...], host: str) -> str:
    for rule in rules:
        if rule.matches(host):
            return rule.name
    return ""


@lru_cache(maxsize=4096)
def _search_engine(host_or_name: str) -> str:
    if any(rule.name == host_or_name for rule in _SEARCH_ENGINES):
        return host_or_name
    return _lookup(_SEARCH_ENGINES, host_or_name)


@lru_cache(maxsize=4096)
def _social_network(host_or_name: str) -> str:
    if host_or_name in _SOCIAL_SOURCE_ALIASES:
        return _SOCIAL_SOURCE_ALIASES[host_or_name]
    if any(rule.name == host_or_name for rule in _SOCIAL_NETWORKS):
        return host_or_name
    return _lookup(_SOCIAL_NETWORKS, host_or_name)


def _host_of(url: str) -> str:
    text = url.strip()
    if not text:
        return ""
    if "://" not in text and not text.startswith("//"):
        text = "//" + text
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        return ""
    host = host.strip().rstrip(".")
    return "" if any(c.isspace() for c in host) else host


def _without_www(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


def _query_params(url: str) -> dict[str, str]:
    try:
        query = urlsplit(url.strip()).query
    except ValueError:
        return {}
    params: dict[str, str] = {}
    for key, value in parse_qsl(query):
        params.setdefault(key.lower(), value)
    return params


_CLICK_ID_PARAMS = frozenset(kind.name for kind in CLICK_ID_TYPES)
# A click id value that reads the same whatever unquoting or scrubbing is applied: no "%",
# "+", "@", "=", space or separator.
_PLAIN_NAME = re.compile(r"[A-Za-z_]+")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.~-]+")
CLICK_ID_STAND_IN = "_"


def with_click_ids_masked(url: str) -> str:
    """The URL with the value of each click id in its query string replaced by one
    stand-in, where that cannot change how the URL's traffic is classified: click ids are
    unique per click (every ad click's landing URL is new), while `classify_traffic` reads
    only whether one is set. A value is replaced only when it is plain (letters, digits and
    `_.~-`: nothing that unquoting, `UrlScrubber` or stripping would change or redact) and
    its parameter name is a click id's as written; so for any `scrubbed` by `UrlScrubber`,
    classify_traffic(landing_url=scrubbed(url)) == classify_traffic(landing_url=
    scrubbed(with_click_ids_masked(url))) with the other arguments the same."""
    start = url.find("?")
    fragment = url.find("#")
    if start < 0 or 0 <= fragment < start:
        return url
    end = len(url) if fragment < 0 else fragment
    pairs = url[start + 1 : end].split("&")
    masked = False
    for index, pair in enumerate(pairs):
        name, equals, value = pair.partition("=")
        if (
            equals
            and name.lower() in _CLICK_ID_PARAMS
            and value != CLICK_ID_STAND_IN
            and _PLAIN_NAME.fullmatch(name)
            and _PLAIN_VALUE.fullmatch(value)
        ):
            pairs[index] = f"{name}={CLICK_ID_STAND_IN}"
            masked = True
    if not masked:
        return url
    return f"{url[: start + 1]}{'&'.join(pairs)}{url[end:]}"


def classify_traffic(
    *,
    landing_url: str,
    referrer: str,
    tags: CampaignTags,
    click_ids: ClickIds,
    site_host: str = "",
    channel_group: ChannelGroup = DEFAULT_CHANNEL_GROUP,
) -> TrafficSource:
    """Derive the marketing channel and normalised source/medium of a visit.

    Empty tags and click ids are filled from the landing URL's query string; of several click
    ids the first in ``CLICK_ID_TYPES`` order counts. The first rule of ``channel_group`` that
    matches decides the channel (the default: click ids, then ``utm_medium``, then a search
    engine or social network named by ``utm_source``, then the referrer host: search, social,
    internal or referral). The referrer is internal when its registrable domain (by the Public
    Suffix List) is the site's or the landing page's. Explicit ``utm_source``/``utm_medium``
    values are kept as source and medium whenever set.
    """
    params = _query_params(landing_url)
    source = (tags.source or params.get("utm_source", "")).strip().lower()
    medium = (tags.medium or params.get("utm_medium", "")).strip().lower()
    campaign = (tags.campaign or params.get("utm_campaign", "")).strip()
    term = (tags.term or params.get("utm_term", "")).strip()
    content = (tags.content or params.get("utm_content", "")).strip()
    sent = click_ids.present()
    click_id_type = next(
        (
            kind.name
            for kind in CLICK_ID_TYPES
            if (sent.get(kind.name) or params.get(kind.name, "")).strip()
        ),
        "",
    )
    referrer_host = _host_of(referrer)
    search_engine = _search_engine(referrer_host)
    social_network = "" if search_engine else _social_network(referrer_host)
    visit = VisitFacts(
        source=source,
        medium=medium,
        campaign=campaign,
        click_id_type=click_id_type,
        source_kind=_source_kind(source),
        referrer_kind=_referrer_kind(
            referrer_host, search_engine, social_network, (site_host, landing_url)
        ),
    )
    channel, rule = channel_group.decide(visit)
    fills: Mapping[SourceFill, str] = {
        SourceFill.NOT_SET: NOT_SET,
        SourceFill.CLICK_PLATFORM: CLICK_ID_PLATFORMS.get(click_id_type, NOT_SET),
        SourceFill.SEARCH_ENGINE: search_engine or NOT_SET,
        SourceFill.SOCIAL_NETWORK: social_network or NOT_SET,
        SourceFill.REFERRER_HOST: _without_www(referrer_host) or NOT_SET,
        SourceFill.DIRECT: DIRECT_SOURCE,
    }
    return TrafficSource(
        channel=channel,
        source=(source or fills[rule.source_fill]).strip().lower(),
        medium=medium or rule.default_medium or NO_MEDIUM,
        campaign=campaign,
        term=term,
        content=content,
        referrer_host=referrer_host,
        click_id_type=click_id_type,
    )


def _source_kind(source: str) -> HostKind:
    if not source:
        return HostKind.NONE
    if _search_engine(source):
        return HostKind.SEARCH
    if _social_network(source):
        return HostKind.SOCIAL
    return HostKind.OTHER


def _referrer_kind(
    referrer_host: str, search_engine: str, social_network: str, site_urls: tuple[str, ...]
) -> HostKind:
    if search_engine:
        return HostKind.SEARCH
    if social_network:
        return HostKind.SOCIAL
    if not referrer_host:
        return HostKind.NONE
    suffixes = _public_suffixes()
    site = suffixes.site(referrer_host)
    if any(host and suffixes.site(host) == site for host in map(_host_of, site_urls)):
        return HostKind.INTERNAL
    return HostKind.OTHER


_OTHER = "Other"
_RE2_MAX_MEMORY = 64 << 20


class CrawlerList:
    """The maintained crawler list of ``crawlerdetect``, matched as that package does (known
    browser tokens removed, then any crawler pattern searched, ignoring case) but with RE2 for
    the alternation of some 1,500 patterns, where Python's ``re`` takes milliseconds a string.
    Patterns that RE2 cannot run (look-arounds) are searched with ``re``."""

    def __init__(
        self,
        crawlers: Sequence[str] = tuple(crawler_patterns),
        exclusions: Sequence[str] = tuple(exclusion_patterns),
    ) -> None:
        """Compile the patterns once (the defaults are the package's lists)."""
        options = re2.Options()
        options.case_sensitive = False
        options.max_mem = _RE2_MAX_MEMORY
        linear = [pattern for pattern in crawlers if "(?" not in pattern]
        special = [pattern for pattern in crawlers if "(?" in pattern]
        self._exclusions = re.compile("|".join(exclusions), re.IGNORECASE)
        self._linear = re2.compile("|".join(linear), options)
        self._special = re.compile("|".join(special), re.IGNORECASE) if special else None

    def is_crawler(self, user_agent: str) -> bool:
        """Whether the user agent names a crawler, bot, spider or HTTP library."""
        agent = self._exclusions.sub("", user_agent.strip())
        if not agent:
            return False
        if self._linear.search(agent) is not None:
            return True
        return self._special is not None and self._special.search(agent) is not None


class UserAgentParser:
    """Parses user agents with ua-parser's best available resolver and flags bots with
    ua-parser's spider rules and the crawler list of ``crawlerdetect``, behind an LRU cache
    on the user-agent string."""

    def __init__(self, cache_size: int = 4096) -> None:
        """Build the resolver once; ``cache_size`` bounds the per-string result cache (0: none)."""
        matchers = ua_parser.load_lazy_builtins()
        self._parser = ua_parser.Parser(ua_parser.BestAvailableResolver(matchers))
        self._crawlers = CrawlerList()
        self._parse_text = (
            lru_cache(maxsize=cache_size)(self._parse_uncached) if cache_size > 0 else None
        )

    def parse(self, user_agent: str) -> DeviceInfo:
        """Return browser, OS and device families (unknown ones are ``"Other"``) and the
        browser's major and the OS's major.minor version (unknown ones are empty)."""
        text = user_agent.strip()
        if not text:
            return DeviceInfo(browser=_OTHER, os=_OTHER, device=_OTHER, is_bot=False)
        if self._parse_text is None:
            return self._parse_uncached(text)
        return self._parse_text(text)

    def _parse_uncached(self, text: str) -> DeviceInfo:
        parsed = self._parser.parse(text).with_defaults()
        is_bot = parsed.device.family == "Spider" or self._crawlers.is_crawler(text)
        return DeviceInfo(
            browser=parsed.user_agent.family,
            os=parsed.os.family,
            device=parsed.device.family,
            is_bot=is_bot,
            browser_version=parsed.user_agent.major or "",
            os_version=_major_minor(parsed.os.major, parsed.os.minor),
            device_type=device_type_of(parsed.os.family, parsed.device.family, is_bot, text),
        )


MOBILE_OS = frozenset(
    {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Symbian OS", "Firefox OS"}
)
DESKTOP_OS = frozenset(
    {"Windows", "Mac OS X", "macOS", "Linux", "Ubuntu", "Chrome OS", "Fedora", "Debian"}
    | {"FreeBSD", "OpenBSD", "NetBSD", "Solaris", "Mandriva", "Red Hat", "SUSE", "Gentoo"}
)
TABLET_DEVICES = ("iPad", "Kindle", "Tablet", "Galaxy Tab", "Nexus 7", "Nexus 9", "Nexus 10")
MOBILE_DEVICES = ("iPhone", "iPod", "Smartphone", "Feature Phone")


def device_type_of(os: str, device: str, is_bot: bool, user_agent: str = "") -> str:
    """The device type: "bot", "tablet", "mobile" or "desktop" from the parsed families (as
    the `user-agents` package decides, with its Android rule: an Android agent without
    "Mobile" is a tablet, when the agent's text is known); "other" for a known but
    unclassified agent (TV, console); "" when nothing is known."""
    if is_bot:
        return "bot"
    if any(name in device for name in TABLET_DEVICES) or device.startswith("SM-T"):
        return "tablet"
    if os == "Android" and user_agent and "Mobile" not in user_agent:
        return "tablet"
    if os in MOBILE_OS or any(name in device for name in MOBILE_DEVICES):
        return "mobile"
    if os in DESKTOP_OS:
        return "desktop"
    if os == _OTHER and device == _OTHER:
        return ""
    return "other"


def _major_minor(major: str | None, minor: str | None) -> str:
    if not major:
        return ""
    return f"{major}.{minor}" if minor else major


__all__ = [
    "CLICK_ID_FIELDS",
    "CampaignTags",
    "Channel",
    "ClickIds",
    "CrawlerList",
    "DeviceInfo",
    "PublicSuffixes",
    "TrafficSource",
    "UserAgentParser",
    "classify_traffic",
    "device_type_of",
]
