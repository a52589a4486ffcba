"""Channel grouping: ordered rules from a visit's tags, click id and referrer to a channel."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


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


class HostKind(StrEnum):
    """What a source name or referrer host is: a known search engine or social network, the
    site itself (same registrable domain), absent, or anything else."""

    SEARCH = "search"
    SOCIAL = "social"
    INTERNAL = "internal"
    NONE = "none"
    OTHER = "other"


class SourceFill(StrEnum):
    """Where a rule takes the source from when the visit has no ``utm_source``."""

    NOT_SET = "not_set"
    CLICK_PLATFORM = "click_platform"
    SEARCH_ENGINE = "search_engine"
    SOCIAL_NETWORK = "social_network"
    REFERRER_HOST = "referrer_host"
    DIRECT = "direct"


@dataclass(frozen=True, slots=True)
class ClickIdType:
    """An ad platform's click id (named as its query parameter, in lower case) and the
    source it implies."""

    name: str
    platform: str


CLICK_ID_TYPES: tuple[ClickIdType, ...] = (
    ClickIdType("gclid", "google"),
    ClickIdType("gbraid", "google"),
    ClickIdType("wbraid", "google"),
    ClickIdType("dclid", "google"),
    ClickIdType("msclkid", "bing"),
    ClickIdType("ttclid", "tiktok"),
    ClickIdType("li_fat_id", "linkedin"),
    ClickIdType("twclid", "twitter"),
    ClickIdType("sccid", "snapchat"),
    ClickIdType("fbclid", "facebook"),
)
"""Every recognised click id, in precedence order when a visit carries several (fbclid last:
Meta adds it to organic links too). Parameters are matched case-insensitively (``ScCid``)."""

CLICK_ID_PLATFORMS: Mapping[str, str] = {kind.name: kind.platform for kind in CLICK_ID_TYPES}


@dataclass(frozen=True, slots=True)
class ChannelRule:
    """One row of a channel group: when every condition that is set holds, the visit gets
    ``channel``; empty conditions match anything.

    ``mediums`` holds lower-case ``utm_medium`` values ("" stands for no medium);
    ``campaign_pattern`` is a regular expression searched in ``utm_campaign``, ignoring case.
    A visit without ``utm_source`` takes its source from ``source_fill``, and one without
    ``utm_medium`` takes ``default_medium``.
    """

    channel: Channel
    click_id_types: frozenset[str] = frozenset()
    mediums: frozenset[str] = frozenset()
    source_kinds: frozenset[HostKind] = frozenset()
    referrer_kinds: frozenset[HostKind] = frozenset()
    sources: frozenset[str] = frozenset()
    campaign_pattern: str = ""
    source_fill: SourceFill = SourceFill.NOT_SET
    default_medium: str = ""

    def __post_init__(self) -> None:
        if self.campaign_pattern:
            re.compile(self.campaign_pattern)

    def matches(self, visit: VisitFacts) -> bool:
        """Whether the visit meets every condition of this rule."""
        return (
            (not self.click_id_types or visit.click_id_type in self.click_id_types)
            and (not self.mediums or visit.medium in self.mediums)
            and (not self.source_kinds or visit.source_kind in self.source_kinds)
            and (not self.referrer_kinds or visit.referrer_kind in self.referrer_kinds)
            and (not self.sources or visit.source in self.sources)
            and (
                not self.campaign_pattern
                or re.search(self.campaign_pattern, visit.campaign, re.IGNORECASE) is not None
            )
        )


@dataclass(frozen=True, slots=True)
class VisitFacts:
    """What channel rules look at: lower-case source and medium as sent, the campaign, the
    chosen click id type ("" for none) and what the source and the referrer host are."""

    source: str
    medium: str
    campaign: str
    click_id_type: str
    source_kind: HostKind
    referrer_kind: HostKind


UNASSIGNED = "unassigned"
"""The channel of a visit no rule matches when a property replaced the default rules."""


class CustomChannelRule(Protocol):
    """A property's own rule (see services.ingest.custom_channels): a channel name, which
    may be one of its own, and a test."""

    @property
    def channel(self) -> str:
        """The channel a matching visit gets."""
        ...

    def matches(self, visit: VisitFacts) -> bool:
        """Whether the visit meets every condition of the rule."""
        ...


@dataclass(frozen=True, slots=True)
class ChannelGroup:
    """An ordered list of rules; the first that matches decides, ``fallback`` otherwise.

    A property's ``custom`` rules come first: the first that matches names the channel.
    With ``replace_defaults`` the default rules name no channel (a visit no custom rule
    matches is ``unassigned``). Source and medium are filled by the default rule that
    matches either way (a custom rule only names the channel).
    """

    rules: tuple[ChannelRule, ...]
    fallback: ChannelRule
    custom: tuple[CustomChannelRule, ...] = ()
    replace_defaults: bool = False

    def rule_for(self, visit: VisitFacts) -> ChannelRule:
        """The first default rule that matches the visit, or the fallback."""
        for rule in self.rules:
            if rule.matches(visit):
                return rule
        return self.fallback

    def decide(self, visit: VisitFacts) -> tuple[str, ChannelRule]:
        """The visit's channel and the default rule whose source and medium fills apply."""
        rule = self.rule_for(visit)
        for custom in self.custom:
            if custom.matches(visit):
                return custom.channel, rule
        return (UNASSIGNED if self.replace_defaults else rule.channel), rule


def _set(values: Sequence[str]) -> frozenset[str]:
    return frozenset(values)


EMAIL_MEDIUMS = _set(("email", "e-mail", "e_mail", "newsletter"))
PAID_SEARCH_MEDIUMS = _set(("cpc", "ppc", "paidsearch", "paid_search", "sem"))
PAID_SOCIAL_MEDIUMS = _set(("paid_social", "paidsocial", "social_paid", "social-paid"))
FBCLID_PAID_MEDIUMS = _set(("", "cpc", "ppc", "paid", "paid_social", "paidsocial", "cpm"))
DISPLAY_MEDIUMS = _set(("display", "banner", "cpm", "display_ads"))
AFFILIATE_MEDIUMS = _set(("affiliate", "affiliates"))
ORGANIC_SOCIAL_MEDIUMS = _set(
    ("social", "social-network", "social-media", "sm", "social_media", "social network")
)

DEFAULT_CHANNEL_GROUP = ChannelGroup(
    rules=(
        ChannelRule(
            Channel.PAID_SEARCH,
            click_id_types=_set(("gclid", "gbraid", "wbraid", "msclkid")),
            source_fill=SourceFill.CLICK_PLATFORM,
            default_medium="cpc",
        ),
        ChannelRule(
            Channel.DISPLAY,
            click_id_types=_set(("dclid",)),
            source_fill=SourceFill.CLICK_PLATFORM,
            default_medium="cpm",
        ),
        ChannelRule(
            Channel.PAID_SOCIAL,
            click_id_types=_set(("ttclid", "li_fat_id", "twclid", "sccid")),
            source_fill=SourceFill.CLICK_PLATFORM,
            default_medium="paid_social",
        ),
        ChannelRule(
            Channel.PAID_SOCIAL,
            click_id_types=_set(("fbclid",)),
            mediums=FBCLID_PAID_MEDIUMS,
            source_fill=SourceFill.CLICK_PLATFORM,
            default_medium="paid_social",
        ),
        ChannelRule(Channel.EMAIL, mediums=EMAIL_MEDIUMS),
        ChannelRule(
            Channel.PAID_SOCIAL,
            mediums=PAID_SEARCH_MEDIUMS,
            source_kinds=frozenset({HostKind.SOCIAL}),
        ),
        ChannelRule(Channel.PAID_SEARCH, mediums=PAID_SEARCH_MEDIUMS),
        ChannelRule(Channel.PAID_SOCIAL, mediums=PAID_SOCIAL_MEDIUMS),
        ChannelRule(Channel.DISPLAY, mediums=DISPLAY_MEDIUMS),
        ChannelRule(Channel.AFFILIATE, mediums=AFFILIATE_MEDIUMS),
        ChannelRule(
            Channel.ORGANIC_SOCIAL,
            mediums=ORGANIC_SOCIAL_MEDIUMS,
            source_fill=SourceFill.SOCIAL_NETWORK,
        ),
        ChannelRule(
            Channel.ORGANIC_SEARCH, mediums=_set(("organic",)), source_fill=SourceFill.SEARCH_ENGINE
        ),
        ChannelRule(
            Channel.REFERRAL, mediums=_set(("referral",)), source_fill=SourceFill.REFERRER_HOST
        ),
        ChannelRule(
            Channel.ORGANIC_SEARCH,
            source_kinds=frozenset({HostKind.SEARCH}),
            default_medium="organic",
        ),
        ChannelRule(
            Channel.ORGANIC_SOCIAL,
            source_kinds=frozenset({HostKind.SOCIAL}),
            default_medium="social",
        ),
        ChannelRule(
            Channel.ORGANIC_SEARCH,
            referrer_kinds=frozenset({HostKind.SEARCH}),
            source_fill=SourceFill.SEARCH_ENGINE,
            default_medium="organic",
        ),
        ChannelRule(
            Channel.ORGANIC_SOCIAL,
            referrer_kinds=frozenset({HostKind.SOCIAL}),
            source_fill=SourceFill.SOCIAL_NETWORK,
            default_medium="social",
        ),
        ChannelRule(
            Channel.DIRECT,
            referrer_kinds=frozenset({HostKind.NONE, HostKind.INTERNAL}),
            source_fill=SourceFill.DIRECT,
            default_medium="(none)",
        ),
    ),
    fallback=ChannelRule(
        Channel.REFERRAL, source_fill=SourceFill.REFERRER_HOST, default_medium="referral"
    ),
)
"""convtrack's default channel group (documented beside GA4's in docs/architecture.md)."""


__all__ = [
    "CLICK_ID_PLATFORMS",
    "CLICK_ID_TYPES",
    "DEFAULT_CHANNEL_GROUP",
    "UNASSIGNED",
    "Channel",
    "ChannelGroup",
    "ChannelRule",
    "ClickIdType",
    "CustomChannelRule",
    "HostKind",
    "SourceFill",
    "VisitFacts",
]
