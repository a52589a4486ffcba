"""Unit tests for enrichment from maintained data: click ids, the Public Suffix List, the
crawler list and configurable channel groups."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import ua_parser
from crawlerdetect import CrawlerDetect

from services.ingest.channel_groups import (
    DEFAULT_CHANNEL_GROUP,
    ChannelGroup,
    ChannelRule,
    SourceFill,
)
from services.ingest.enrichment import (
    CampaignTags,
    Channel,
    ClickIds,
    CrawlerList,
    PublicSuffixes,
    UserAgentParser,
    classify_traffic,
)

CLICK_ID_CHANNELS = [
    ("gclid", Channel.PAID_SEARCH, "google", "cpc"),
    ("gbraid", Channel.PAID_SEARCH, "google", "cpc"),
    ("wbraid", Channel.PAID_SEARCH, "google", "cpc"),
    ("dclid", Channel.DISPLAY, "google", "cpm"),
    ("msclkid", Channel.PAID_SEARCH, "bing", "cpc"),
    ("fbclid", Channel.PAID_SOCIAL, "facebook", "paid_social"),
    ("ttclid", Channel.PAID_SOCIAL, "tiktok", "paid_social"),
    ("li_fat_id", Channel.PAID_SOCIAL, "linkedin", "paid_social"),
    ("twclid", Channel.PAID_SOCIAL, "twitter", "paid_social"),
    ("sccid", Channel.PAID_SOCIAL, "snapchat", "paid_social"),
]


@pytest.mark.parametrize(("name", "channel", "source", "medium"), CLICK_ID_CHANNELS)
def test_a_click_id_sent_as_a_field_decides_the_channel(
    name: str, channel: Channel, source: str, medium: str
) -> None:
    visit = classify_traffic(
        landing_url="https://shop.example.com/",
        referrer="",
        tags=CampaignTags(),
        click_ids=ClickIds(**{name: "abc123"}),
    )
    assert (visit.channel, visit.source, visit.medium, visit.click_id_type) == (
        channel,
        source,
        medium,
        name,
    )


@pytest.mark.parametrize(
    ("parameter", "channel", "source", "medium"),
    [(row[0] if row[0] != "sccid" else "ScCid", *row[1:]) for row in CLICK_ID_CHANNELS],
)
def test_a_click_id_in_the_landing_url_decides_the_channel(
    parameter: str, channel: Channel, source: str, medium: str
) -> None:
    visit = classify_traffic(
        landing_url=f"https://shop.example.com/?{parameter}=abc123",
        referrer="",
        tags=CampaignTags(),
        click_ids=ClickIds(),
    )
    assert (visit.channel, visit.source, visit.medium) == (channel, source, medium)


def test_a_search_click_id_wins_over_fbclid() -> None:
    visit = classify_traffic(
        landing_url="https://shop.example.com/?fbclid=a&ttclid=b",
        referrer="",
        tags=CampaignTags(),
        click_ids=ClickIds(gbraid="c"),
    )
    assert (visit.channel, visit.click_id_type) == (Channel.PAID_SEARCH, "gbraid")


def test_a_referrer_on_the_same_registrable_domain_is_internal() -> None:
    visit = classify_traffic(
        landing_url="https://shop.example.co.uk/cart",
        referrer="https://example.co.uk/blog/post",
        tags=CampaignTags(),
        click_ids=ClickIds(),
    )
    assert (visit.channel, visit.source) == (Channel.DIRECT, "(direct)")


def test_a_referrer_on_another_site_under_the_same_public_suffix_is_a_referral() -> None:
    visit = classify_traffic(
        landing_url="https://shop.example.co.uk/",
        referrer="https://other.co.uk/",
        tags=CampaignTags(),
        click_ids=ClickIds(),
    )
    assert (visit.channel, visit.source) == (Channel.REFERRAL, "other.co.uk")


def test_sites_under_a_private_public_suffix_are_separate() -> None:
    visit = classify_traffic(
        landing_url="https://alice.myshopify.com/",
        referrer="https://bob.myshopify.com/",
        tags=CampaignTags(),
        click_ids=ClickIds(),
    )
    assert (visit.channel, visit.source) == (Channel.REFERRAL, "bob.myshopify.com")


def test_the_public_suffix_list_loads_without_network_or_disk_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("TLDEXTRACT_CACHE", str(tmp_path / "cache"))
    suffixes = PublicSuffixes()
    assert suffixes.site("shop.example.co.uk") == "example.co.uk"
    assert suffixes.site("127.0.0.1") == "127.0.0.1"
    assert not (tmp_path / "cache").exists()


AGENTS_UA_PARSER_MISSES = [
    "Go-http-client/1.1",
    "axios/1.6.0",
    "okhttp/4.9.0",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
]


@pytest.mark.parametrize("user_agent", AGENTS_UA_PARSER_MISSES)
def test_the_crawler_list_flags_bots_that_ua_parser_misses(user_agent: str) -> None:
    parsed = ua_parser.parse(user_agent).with_defaults()
    assert parsed.device.family != "Spider"
    assert UserAgentParser().parse(user_agent).is_bot


BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/87.0.4280.101 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (Linux; Android 10) YandexSearch/7.16 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    *AGENTS_UA_PARSER_MISSES,
]


@pytest.mark.parametrize("user_agent", BROWSERS)
def test_the_re2_crawler_list_agrees_with_crawlerdetect(user_agent: str) -> None:
    assert CrawlerList().is_crawler(user_agent) == CrawlerDetect().is_crawler(user_agent)


def test_browsers_are_not_flagged_as_bots() -> None:
    parser = UserAgentParser()
    assert not any(parser.parse(agent).is_bot for agent in BROWSERS[:4])


def test_a_cached_parse_equals_an_uncached_one() -> None:
    cached, uncached = UserAgentParser(cache_size=8), UserAgentParser(cache_size=0)
    for agent in [*BROWSERS, *BROWSERS]:
        assert cached.parse(agent) == uncached.parse(agent)


def test_a_channel_group_can_send_a_campaign_to_its_own_channel() -> None:
    affiliates = ChannelRule(Channel.AFFILIATE, campaign_pattern=r"^partner-")
    group = ChannelGroup(
        rules=(affiliates, *DEFAULT_CHANNEL_GROUP.rules), fallback=DEFAULT_CHANNEL_GROUP.fallback
    )
    tags = CampaignTags(source="google", medium="cpc", campaign="Partner-Spring")
    mine = classify_traffic(
        landing_url="", referrer="", tags=tags, click_ids=ClickIds(), channel_group=group
    )
    default = classify_traffic(landing_url="", referrer="", tags=tags, click_ids=ClickIds())
    assert (mine.channel, default.channel) == (Channel.AFFILIATE, Channel.PAID_SEARCH)
    assert (mine.source, mine.medium) == ("google", "cpc")


def test_a_rule_fills_the_source_it_names_when_utm_source_is_absent() -> None:
    from_referrer = ChannelRule(Channel.REFERRAL, source_fill=SourceFill.REFERRER_HOST)
    group = ChannelGroup(rules=(from_referrer,), fallback=DEFAULT_CHANNEL_GROUP.fallback)
    visit = classify_traffic(
        landing_url="",
        referrer="https://www.google.com/",
        tags=CampaignTags(),
        click_ids=ClickIds(),
        channel_group=group,
    )
    assert (visit.channel, visit.source) == (Channel.REFERRAL, "google.com")


def test_an_invalid_campaign_pattern_is_refused() -> None:
    with pytest.raises(re.error):
        ChannelRule(Channel.EMAIL, campaign_pattern="(")
