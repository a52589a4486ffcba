"""Unit tests for ingest's enrichment: channel classification, user agents, network signals."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.enrichment import (
    CampaignTags,
    Channel,
    ClickIds,
    DeviceInfo,
    TrafficSource,
    UserAgentParser,
    classify_traffic,
)
from services.ingest.network import (
    InvalidSignalError,
    IPAddress,
    distinguishes_clients,
    network_of,
    normalise_city,
    normalise_country,
    parse_ip_address,
)

SITE = "https://shop.example.com"


def classify(
    landing_url: str = SITE + "/",
    referrer: str = "",
    tags: CampaignTags | None = None,
    click_ids: ClickIds | None = None,
    site_host: str = "",
) -> TrafficSource:
    return classify_traffic(
        landing_url=landing_url,
        referrer=referrer,
        tags=tags or CampaignTags(),
        click_ids=click_ids or ClickIds(),
        site_host=site_host,
    )


def test_gclid_is_paid_search() -> None:
    visit = classify(landing_url=SITE + "/?gclid=abc123")
    assert visit.channel is Channel.PAID_SEARCH
    assert (visit.source, visit.medium, visit.click_id_type) == ("google", "cpc", "gclid")


def test_msclkid_is_paid_search_from_bing() -> None:
    visit = classify(click_ids=ClickIds(msclkid="xyz"))
    assert visit.channel is Channel.PAID_SEARCH
    assert (visit.source, visit.medium, visit.click_id_type) == ("bing", "cpc", "msclkid")


def test_gclid_keeps_an_explicit_utm_source() -> None:
    visit = classify(landing_url=SITE + "/?gclid=a&utm_source=YouTube&utm_campaign=Spring")
    assert (visit.channel, visit.source, visit.campaign) == (
        Channel.PAID_SEARCH,
        "youtube",
        "Spring",
    )


def test_fbclid_without_medium_is_paid_social_from_facebook() -> None:
    visit = classify(landing_url=SITE + "/?fbclid=IwAR0", referrer="https://l.facebook.com/")
    assert visit.channel is Channel.PAID_SOCIAL
    assert (visit.source, visit.click_id_type) == ("facebook", "fbclid")


def test_fbclid_with_paid_medium_is_paid_social() -> None:
    visit = classify(
        landing_url=SITE + "/?fbclid=x&utm_source=instagram&utm_medium=cpm",
    )
    assert (visit.channel, visit.source, visit.medium) == (Channel.PAID_SOCIAL, "instagram", "cpm")


def test_fbclid_with_email_medium_is_email() -> None:
    visit = classify(landing_url=SITE + "/?fbclid=x&utm_source=crm&utm_medium=email")
    assert visit.channel is Channel.EMAIL
    assert visit.click_id_type == "fbclid"


@pytest.mark.parametrize("medium", ["email", "E-Mail", " newsletter "])
def test_email_mediums_are_email(medium: str) -> None:
    visit = classify(tags=CampaignTags(source="Mailchimp", medium=medium))
    assert visit.channel is Channel.EMAIL
    assert (visit.source, visit.medium) == ("mailchimp", medium.strip().lower())


def test_cpc_from_a_search_engine_is_paid_search() -> None:
    visit = classify(landing_url=SITE + "/?utm_source=bing&utm_medium=cpc&utm_term=red+shoes")
    assert (visit.channel, visit.term) == (Channel.PAID_SEARCH, "red shoes")


def test_cpc_from_a_social_network_is_paid_social() -> None:
    visit = classify(tags=CampaignTags(source="LinkedIn", medium="CPC"))
    assert (visit.channel, visit.source, visit.medium) == (Channel.PAID_SOCIAL, "linkedin", "cpc")


def test_cpc_from_a_social_domain_is_paid_social() -> None:
    visit = classify(tags=CampaignTags(source="m.facebook.com", medium="ppc"))
    assert visit.channel is Channel.PAID_SOCIAL


@pytest.mark.parametrize("medium", ["paid_social", "paidsocial", "social_paid", "social-paid"])
def test_paid_social_mediums_are_paid_social(medium: str) -> None:
    assert classify(tags=CampaignTags(source="tiktok", medium=medium)).channel is (
        Channel.PAID_SOCIAL
    )


@pytest.mark.parametrize("medium", ["display", "banner", "cpm", "display_ads"])
def test_display_mediums_are_display(medium: str) -> None:
    assert classify(tags=CampaignTags(source="dv360", medium=medium)).channel is Channel.DISPLAY


def test_affiliate_medium_is_affiliate() -> None:
    visit = classify(tags=CampaignTags(source="awin", medium="affiliates"))
    assert (visit.channel, visit.source) == (Channel.AFFILIATE, "awin")


def test_social_medium_is_organic_social() -> None:
    assert classify(tags=CampaignTags(source="reddit", medium="sm")).channel is (
        Channel.ORGANIC_SOCIAL
    )


def test_organic_medium_is_organic_search() -> None:
    visit = classify(tags=CampaignTags(medium="organic"), referrer="https://www.google.de/")
    assert (visit.channel, visit.source, visit.medium) == (
        Channel.ORGANIC_SEARCH,
        "google",
        "organic",
    )


def test_referral_medium_is_referral_from_the_referrer_host() -> None:
    visit = classify(tags=CampaignTags(medium="referral"), referrer="https://www.blog.org/post")
    assert (visit.channel, visit.source) == (Channel.REFERRAL, "blog.org")


def test_medium_without_source_reports_source_not_set() -> None:
    visit = classify(tags=CampaignTags(medium="email"))
    assert visit.source == "(not set)"


def test_tags_in_arguments_win_over_the_landing_url() -> None:
    visit = classify(
        landing_url=SITE + "/?utm_source=a&utm_medium=display",
        tags=CampaignTags(source="newsletter-tool", medium="email"),
    )
    assert (visit.channel, visit.source) == (Channel.EMAIL, "newsletter-tool")


@pytest.mark.parametrize(
    ("referrer", "engine"),
    [
        ("https://www.google.com/", "google"),
        ("https://www.google.co.uk/search?q=shoes", "google"),
        ("https://google.com.au/", "google"),
        ("https://www.bing.com/search?q=x", "bing"),
        ("https://duckduckgo.com/", "duckduckgo"),
        ("https://uk.search.yahoo.com/", "yahoo"),
        ("https://www.baidu.com/link?url=x", "baidu"),
        ("https://yandex.ru/", "yandex"),
        ("https://www.ecosia.org/", "ecosia"),
        ("https://search.brave.com/search?q=x", "brave"),
    ],
)
def test_search_engine_referrer_is_organic_search(referrer: str, engine: str) -> None:
    visit = classify(referrer=referrer)
    assert (visit.channel, visit.source, visit.medium) == (
        Channel.ORGANIC_SEARCH,
        engine,
        "organic",
    )


@pytest.mark.parametrize(
    ("referrer", "network"),
    [
        ("https://l.facebook.com/l.php?u=x", "facebook"),
        ("https://m.facebook.com/", "facebook"),
        ("https://www.instagram.com/", "instagram"),
        ("https://t.co/abc", "twitter"),
        ("https://x.com/someone", "twitter"),
        ("https://www.linkedin.com/feed/", "linkedin"),
        ("https://lnkd.in/xyz", "linkedin"),
        ("https://old.reddit.com/r/shoes", "reddit"),
        ("https://www.youtube.com/watch?v=1", "youtube"),
        ("https://www.tiktok.com/", "tiktok"),
        ("https://pinterest.co.uk/pin/1", "pinterest"),
    ],
)
def test_social_referrer_is_organic_social(referrer: str, network: str) -> None:
    visit = classify(referrer=referrer)
    assert (visit.channel, visit.source, visit.medium) == (
        Channel.ORGANIC_SOCIAL,
        network,
        "social",
    )


def test_no_referrer_is_direct() -> None:
    visit = classify()
    assert (visit.channel, visit.source, visit.medium) == (Channel.DIRECT, "(direct)", "(none)")
    assert visit.referrer_host == ""


def test_internal_navigation_is_direct() -> None:
    visit = classify(referrer="https://shop.example.com/cart")
    assert visit.channel is Channel.DIRECT


def test_referrer_matching_site_host_is_direct() -> None:
    visit = classify(
        landing_url="https://checkout.example.com/pay",
        referrer="https://www.example.com/basket",
        site_host="example.com",
    )
    assert visit.channel is Channel.DIRECT


def test_other_host_is_referral_without_www() -> None:
    visit = classify(referrer="https://www.Partner-Blog.net:8443/review?id=3")
    assert (visit.channel, visit.source, visit.medium) == (
        Channel.REFERRAL,
        "partner-blog.net",
        "referral",
    )
    assert visit.referrer_host == "www.partner-blog.net"


def test_webmail_on_a_search_domain_is_referral_not_search() -> None:
    visit = classify(referrer="https://mail.google.com/mail/u/0/")
    assert (visit.channel, visit.source) == (Channel.REFERRAL, "mail.google.com")


def test_lookalike_domain_is_not_a_search_engine() -> None:
    visit = classify(referrer="https://google.com.evil.net/")
    assert (visit.channel, visit.source) == (Channel.REFERRAL, "google.com.evil.net")


def test_unknown_medium_falls_back_to_the_referrer() -> None:
    visit = classify(
        tags=CampaignTags(source="partner", medium="weird"), referrer="https://www.bing.com/"
    )
    assert (visit.channel, visit.source, visit.medium) == (
        Channel.ORGANIC_SEARCH,
        "partner",
        "weird",
    )


def test_known_social_source_without_medium_is_organic_social() -> None:
    visit = classify(landing_url=SITE + "/?utm_source=Instagram&utm_campaign=bio")
    assert (visit.channel, visit.source, visit.medium, visit.campaign) == (
        Channel.ORGANIC_SOCIAL,
        "instagram",
        "social",
        "bio",
    )


def test_campaign_fields_are_trimmed_but_keep_their_case() -> None:
    visit = classify(tags=CampaignTags(source="x", medium="email", campaign=" Black Friday "))
    assert visit.campaign == "Black Friday"


@settings(max_examples=200)
@given(
    landing_url=st.text(max_size=60),
    referrer=st.text(max_size=60),
    source=st.text(max_size=10),
    medium=st.text(max_size=10),
    gclid=st.text(max_size=3),
)
def test_no_input_crashes_the_classifier(
    landing_url: str, referrer: str, source: str, medium: str, gclid: str
) -> None:
    visit = classify_traffic(
        landing_url=landing_url,
        referrer=referrer,
        tags=CampaignTags(source=source, medium=medium),
        click_ids=ClickIds(gclid=gclid),
    )
    assert isinstance(visit.channel, Channel)
    assert visit.source == visit.source.strip().lower()


@pytest.fixture(scope="module")
def parser() -> UserAgentParser:
    return UserAgentParser()


CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


def test_desktop_chrome_is_parsed(parser: UserAgentParser) -> None:
    assert parser.parse(CHROME_WINDOWS) == DeviceInfo(
        browser="Chrome",
        os="Windows",
        device="Other",
        is_bot=False,
        browser_version="120",
        os_version="10",
        device_type="desktop",
    )


def test_iphone_safari_is_parsed(parser: UserAgentParser) -> None:
    assert parser.parse(SAFARI_IPHONE) == DeviceInfo(
        browser="Mobile Safari",
        os="iOS",
        device="iPhone",
        is_bot=False,
        browser_version="17",
        os_version="17.1",
        device_type="mobile",
    )


def test_chrome_on_android_gives_the_browser_major_and_the_os_version(
    parser: UserAgentParser,
) -> None:
    pixel = (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36"
    )
    info = parser.parse(pixel)
    assert (info.browser, info.browser_version) == ("Chrome Mobile", "124")
    assert (info.os, info.os_version, info.device) == ("Android", "14", "Pixel 8")


def test_an_ios_patch_version_is_cut_to_major_and_minor(parser: UserAgentParser) -> None:
    ios = SAFARI_IPHONE.replace("17_1", "17_4_1")
    assert parser.parse(ios).os_version == "17.4"


def test_empty_user_agent_is_other_and_not_a_bot(parser: UserAgentParser) -> None:
    assert parser.parse("") == DeviceInfo(
        browser="Other", os="Other", device="Other", is_bot=False, browser_version="", os_version=""
    )


@pytest.mark.parametrize(
    ("user_agent", "device_type"),
    [
        (SAFARI_IPHONE.replace("iPhone; CPU iPhone OS", "iPad; CPU OS"), "tablet"),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36",
            "tablet",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.6367.82 Mobile Safari/537.36",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.4 Safari/605.1.15",
            "desktop",
        ),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot"),
        ("", ""),
    ],
)
def test_the_device_type_is_derived_from_the_user_agent(
    parser: UserAgentParser, user_agent: str, device_type: str
) -> None:
    assert parser.parse(user_agent).device_type == device_type


def test_googlebot_is_a_bot(parser: UserAgentParser) -> None:
    info = parser.parse("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
    assert (info.device, info.is_bot) == ("Spider", True)


@pytest.mark.parametrize(
    "user_agent",
    [
        "curl/8.4.0",
        "Wget/1.21.4",
        "python-requests/2.31.0",
        "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
        "SomeCrawler/1.0",
    ],
)
def test_bot_markers_flag_bots(parser: UserAgentParser, user_agent: str) -> None:
    assert parser.parse(user_agent).is_bot


def test_cubot_phone_is_not_a_bot(parser: UserAgentParser) -> None:
    user_agent = (
        "Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/87.0.4280.101 Mobile Safari/537.36"
    )
    assert not parser.parse(user_agent).is_bot


def test_parser_without_cache_gives_the_same_answer() -> None:
    assert UserAgentParser(cache_size=0).parse(CHROME_WINDOWS).browser == "Chrome"


def test_referrer_hosts_are_trimmed_and_hosts_with_inner_spaces_ignored() -> None:
    padded = classify_traffic(
        landing_url="", referrer="@ 0", tags=CampaignTags(), click_ids=ClickIds()
    )
    assert (padded.referrer_host, padded.source) == ("0", "0")
    spaced = classify_traffic(
        landing_url="", referrer="//a b.com/", tags=CampaignTags(), click_ids=ClickIds()
    )
    assert (spaced.channel, spaced.referrer_host) == (Channel.DIRECT, "")


def test_a_source_taken_from_an_odd_referrer_is_lower_case() -> None:
    visit = classify_traffic(
        landing_url="", referrer="%A", tags=CampaignTags(), click_ids=ClickIds()
    )
    assert visit.source == visit.source.strip().lower()


# --- Network signals: the client's IP address and the sender's coarse location -------------


def address(text: str) -> IPAddress:
    parsed = parse_ip_address(text)
    assert parsed is not None
    return parsed


def test_ip_addresses_are_trimmed_and_canonical() -> None:
    assert str(parse_ip_address(" 81.2.69.142 ")) == "81.2.69.142"
    assert str(parse_ip_address("2A00:1450:4001:081B:0:0:0:200E")) == "2a00:1450:4001:81b::200e"
    assert parse_ip_address("") is None
    assert parse_ip_address("   ") is None


def test_an_ipv4_mapped_ipv6_address_is_its_ipv4_address() -> None:
    assert parse_ip_address("::ffff:81.2.69.142") == parse_ip_address("81.2.69.142")


def test_an_ipv6_zone_is_dropped() -> None:
    assert str(parse_ip_address("2a00:1450:4001:81b::200e%eth0")) == "2a00:1450:4001:81b::200e"


@pytest.mark.parametrize(
    "text", ["81.2.69", "999.1.1.1", "81.2.69.142/24", "localhost", "1.2.3.4 5", "::g"]
)
def test_what_is_not_an_ip_address_is_refused(text: str) -> None:
    with pytest.raises(InvalidSignalError, match="not an IPv4 or IPv6 address"):
        parse_ip_address(text)


@pytest.mark.parametrize(
    ("text", "forwarded"),
    [
        ("81.2.69.142", True),
        ("2a00:1450:4001:81b::200e", True),
        ("192.168.1.1", False),
        ("10.0.0.7", False),
        ("172.16.5.4", False),
        ("127.0.0.1", False),
        ("::1", False),
        ("169.254.10.1", False),
        ("fe80::1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("100.64.1.1", False),
        ("fd00::1", False),
        ("224.0.0.1", False),
    ],
)
def test_only_globally_routable_unicast_addresses_tell_clients_apart(
    text: str, forwarded: bool
) -> None:
    assert distinguishes_clients(address(text)) is forwarded


def test_the_network_is_the_24_of_ipv4_and_the_64_of_ipv6() -> None:
    assert network_of(address("81.2.69.142")) == "81.2.69.0/24"
    assert network_of(address("2a00:1450:4001:81b::200e")) == "2a00:1450:4001:81b::/64"


@pytest.mark.parametrize(("text", "code"), [("de", "DE"), (" Fr ", "FR"), ("", ""), ("  ", "")])
def test_country_codes_are_upper_case(text: str, code: str) -> None:
    assert normalise_country(text) == code


@pytest.mark.parametrize("text", ["DEU", "D", "d3", "ü1", "Ωx"])
def test_a_country_that_is_not_two_letters_is_refused(text: str) -> None:
    with pytest.raises(InvalidSignalError, match="alpha-2"):
        normalise_country(text)


def test_cities_are_trimmed_collapsed_and_case_folded() -> None:
    assert normalise_city("  Bad \t Homburg\n ") == "bad homburg"
    assert normalise_city("MÜNCHEN") == normalise_city("München") == "münchen"
    assert normalise_city("\uff2b\uff39\uff2f\uff34\uff2f") == "kyoto"  # full-width letters
    assert normalise_city("") == ""


def test_a_city_over_100_characters_or_with_control_characters_is_refused() -> None:
    assert len(normalise_city("x" * 100)) == 100
    with pytest.raises(InvalidSignalError, match="longer than 100 characters"):
        normalise_city("x" * 101)
    with pytest.raises(InvalidSignalError, match="control characters"):
        normalise_city("Paris\x00")
