"""Event enrichment: marketing channel from tags and referrer, device from the user agent."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl, urlsplit

import ua_parser


class Channel(StrEnum):
    """Marketing channel, in the spirit of GA4's default channel grouping."""

    PAID_SEARCH = "paid_search"
    PAID_SOCIAL = "paid_social"
    DISPLAY = "display"
    EMAIL = "email"
    ORGANIC_SEARCH = "organic_search"
    ORGANIC_SOCIAL = "organic_social"
    REFERRAL = "referral"
    AFFILIATE = "affiliate"
    DIRECT = "direct"


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


@dataclass(frozen=True, slots=True)
class TrafficSource:
    """Where a visit came from: channel, normalised source/medium and campaign details."""

    channel: Channel
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
    browser's major version and the OS's major(.minor) version ("" when unknown)."""

    browser: str
    os: str
    device: str
    is_bot: bool
    browser_version: str = ""
    os_version: str = ""


DIRECT_SOURCE = "(direct)"
NO_MEDIUM = "(none)"
NOT_SET = "(not set)"

_EMAIL_MEDIUMS = frozenset({"email", "e-mail", "e_mail", "newsletter"})
_PAID_SEARCH_MEDIUMS = frozenset({"cpc", "ppc", "paidsearch", "paid_search", "sem"})
_PAID_SOCIAL_MEDIUMS = frozenset({"paid_social", "paidsocial", "social_paid", "social-paid"})
_FBCLID_PAID_MEDIUMS = frozenset({"cpc", "ppc", "paid", "paid_social", "paidsocial", "cpm"})
_DISPLAY_MEDIUMS = frozenset({"display", "banner", "cpm", "display_ads"})
_AFFILIATE_MEDIUMS = frozenset({"affiliate", "affiliates"})
_ORGANIC_SOCIAL_MEDIUMS = frozenset(
    {"social", "social-network", "social-media", "sm", "social_media", "social network"}
)

_TWO_LABEL_SUFFIX_FIRSTS = frozenset({"co", "com", "org", "net", "ac", "or", "ne", "gov", "edu"})


@dataclass(frozen=True, slots=True)
class _HostRule:
    """A domain pattern: ``brand.*`` matches any country TLD; ``any_subdomain`` widens it."""

    name: str
    domain: str
    any_subdomain: bool = False

    def matches(self, host: str) -> bool:
        if self.domain.endswith(".*"):
            stem = self.domain[:-2].split(".")
            labels = host.split(".")
            for start in range(len(labels) - len(stem)):
                end = start + len(stem)
                if labels[start:end] == stem and _is_public_suffix(labels[end:]):
                    return self._prefix_allowed(labels[:start])
            return False
        if host == self.domain:
            return True
        if host.endswith("." + self.domain):
            return self._prefix_allowed(host[: -len(self.domain) - 1].split("."))
        return False

    def _prefix_allowed(self, prefix: list[str]) -> bool:
        return self.any_subdomain or prefix in ([], ["www"], ["m"])


def _is_public_suffix(labels: list[str]) -> bool:
    if len(labels) == 1:
        return labels[0].isalpha() and len(labels[0]) >= 2
    if len(labels) == 2:
        return labels[0] in _TWO_LABEL_SUFFIX_FIRSTS and labels[1].isalpha() and len(labels[1]) == 2
    return False


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


def _search_engine(host_or_name: str) -> str:
    if any(rule.name == host_or_name for rule in _SEARCH_ENGINES):
        return host_or_name
    return _lookup(_SEARCH_ENGINES, host_or_name)


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


def classify_traffic(
    *,
    landing_url: str,
    referrer: str,
    tags: CampaignTags,
    click_ids: ClickIds,
    site_host: str = "",
) -> TrafficSource:
    """Derive the marketing channel and normalised source/medium of a visit.

    Empty tags and click ids are filled from the landing URL's query string. Click ids decide
    first, then ``utm_medium``; a known search engine or social network named by ``utm_source``
    comes next, and finally the referrer host decides (search, social, internal or referral).
    Explicit ``utm_source``/``utm_medium`` values are kept as source and medium whenever set.
    """
    params = _query_params(landing_url)
    source = (tags.source or params.get("utm_source", "")).strip().lower()
    medium = (tags.medium or params.get("utm_medium", "")).strip().lower()
    campaign = (tags.campaign or params.get("utm_campaign", "")).strip()
    term = (tags.term or params.get("utm_term", "")).strip()
    content = (tags.content or params.get("utm_content", "")).strip()
    gclid = (click_ids.gclid or params.get("gclid", "")).strip()
    fbclid = (click_ids.fbclid or params.get("fbclid", "")).strip()
    msclkid = (click_ids.msclkid or params.get("msclkid", "")).strip()
    click_id_type = "gclid" if gclid else "msclkid" if msclkid else "fbclid" if fbclid else ""
    referrer_host = _host_of(referrer)

    def result(channel: Channel, default_source: str, default_medium: str) -> TrafficSource:
        return TrafficSource(
            channel=channel,
            source=(source or default_source).strip().lower(),
            medium=medium or default_medium,
            campaign=campaign,
            term=term,
            content=content,
            referrer_host=referrer_host,
            click_id_type=click_id_type,
        )

    if gclid or msclkid:
        return result(Channel.PAID_SEARCH, "google" if gclid else "bing", "cpc")
    if fbclid and (not medium or medium in _FBCLID_PAID_MEDIUMS):
        return result(Channel.PAID_SOCIAL, "facebook", "paid_social")
    if medium in _EMAIL_MEDIUMS:
        return result(Channel.EMAIL, NOT_SET, medium)
    if medium in _PAID_SEARCH_MEDIUMS:
        social = bool(source) and bool(_social_network(source))
        return result(Channel.PAID_SOCIAL if social else Channel.PAID_SEARCH, NOT_SET, medium)
    if medium in _PAID_SOCIAL_MEDIUMS:
        return result(Channel.PAID_SOCIAL, NOT_SET, medium)
    if medium in _DISPLAY_MEDIUMS:
        return result(Channel.DISPLAY, NOT_SET, medium)
    if medium in _AFFILIATE_MEDIUMS:
        return result(Channel.AFFILIATE, NOT_SET, medium)
    if medium in _ORGANIC_SOCIAL_MEDIUMS:
        return result(Channel.ORGANIC_SOCIAL, _social_network(referrer_host) or NOT_SET, medium)
    if medium == "organic":
        return result(Channel.ORGANIC_SEARCH, _search_engine(referrer_host) or NOT_SET, medium)
    if medium == "referral":
        return result(Channel.REFERRAL, _without_www(referrer_host) or NOT_SET, medium)

    if source:
        if _search_engine(source):
            return result(Channel.ORGANIC_SEARCH, source, "organic")
        if _social_network(source):
            return result(Channel.ORGANIC_SOCIAL, source, "social")

    if engine := _search_engine(referrer_host):
        return result(Channel.ORGANIC_SEARCH, engine, "organic")
    if network := _social_network(referrer_host):
        return result(Channel.ORGANIC_SOCIAL, network, "social")
    internal_hosts = {
        _without_www(host) for host in (_host_of(site_host), _host_of(landing_url)) if host
    }
    if not referrer_host or _without_www(referrer_host) in internal_hosts:
        return result(Channel.DIRECT, DIRECT_SOURCE, NO_MEDIUM)
    return result(Channel.REFERRAL, _without_www(referrer_host), "referral")


_BOT_MARKERS = re.compile(
    r"(?<!cu)bot|crawler|spider|slurp|headless|python-requests|curl|wget", re.IGNORECASE
)
_OTHER = "Other"


class UserAgentParser:
    """Parses user agents with ua-parser's best available resolver behind an LRU-like cache."""

    def __init__(self, cache_size: int = 2000) -> None:
        """Build the resolver once; ``cache_size`` bounds the per-string result cache."""
        matchers = ua_parser.load_lazy_builtins()
        resolver = ua_parser.BestAvailableResolver(matchers)
        if cache_size > 0:
            resolver = ua_parser.CachingResolver(resolver, ua_parser.Cache(cache_size))
        self._parser = ua_parser.Parser(resolver)

    def parse(self, user_agent: str) -> DeviceInfo:
        """Return browser, OS and device families (unknown ones are ``"Other"``) and the
        browser's major and the OS's major.minor version (unknown ones are empty)."""
        text = user_agent.strip()
        if not text:
            return DeviceInfo(browser=_OTHER, os=_OTHER, device=_OTHER, is_bot=False)
        parsed = self._parser.parse(text).with_defaults()
        is_bot = parsed.device.family == "Spider" or _BOT_MARKERS.search(text) is not None
        return DeviceInfo(
            browser=parsed.user_agent.family,
            os=parsed.os.family,
            device=parsed.device.family,
            is_bot=is_bot,
            browser_version=parsed.user_agent.major or "",
            os_version=_major_minor(parsed.os.major, parsed.os.minor),
        )


def _major_minor(major: str | None, minor: str | None) -> str:
    if not major:
        return ""
    return f"{major}.{minor}" if minor else major


__all__ = [
    "CampaignTags",
    "Channel",
    "ClickIds",
    "DeviceInfo",
    "TrafficSource",
    "UserAgentParser",
    "classify_traffic",
]
