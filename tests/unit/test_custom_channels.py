"""Unit tests for a property's custom channel rules: validation, evaluation order, compilation
and the per-property book on an in-memory store."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from eventsourcing.application import Application

from common.consent import is_paid_channel
from services.ingest.channel_groups import DEFAULT_CHANNEL_GROUP, UNASSIGNED, HostKind
from services.ingest.channel_settings import ChannelRulesBook, ChannelRulesSource
from services.ingest.custom_channels import (
    MAX_PATTERN_LENGTH,
    ChannelRules,
    CustomRule,
    MatchKind,
    TextCondition,
    compiled_group,
    rule_problems,
)
from services.ingest.enrichment import CampaignTags, Channel, ClickIds, classify_traffic

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def exact(*values: str) -> TextCondition:
    return TextCondition(MatchKind.EXACT, values)


def prefix(*values: str) -> TextCondition:
    return TextCondition(MatchKind.PREFIX, values)


def regex(*values: str) -> TextCondition:
    return TextCondition(MatchKind.REGEX, values)


def channel(
    rules: ChannelRules,
    *,
    source: str = "",
    medium: str = "",
    campaign: str = "",
    referrer: str = "",
    gclid: str = "",
) -> str:
    return classify(rules, source, medium, campaign, referrer, gclid)[0]


def classify(
    rules: ChannelRules,
    source: str = "",
    medium: str = "",
    campaign: str = "",
    referrer: str = "",
    gclid: str = "",
) -> tuple[str, str, str]:
    traffic = classify_traffic(
        landing_url="https://shop.example/",
        referrer=referrer,
        tags=CampaignTags(source=source, medium=medium, campaign=campaign),
        click_ids=ClickIds(gclid=gclid),
        channel_group=compiled_group(rules),
    )
    return traffic.channel, traffic.source, traffic.medium


def test_a_custom_rule_is_evaluated_before_the_default_rules() -> None:
    rules = ChannelRules((CustomRule("partners", source=exact("Awin", "cj")),))
    # The default rules would call it affiliate; the custom rule decides first.
    assert channel(rules, source="awin", medium="affiliate") == "partners"
    # Where no custom rule matches, the default rules still decide.
    assert channel(rules, source="newsletter-tool", medium="email") == Channel.EMAIL


def test_the_first_matching_custom_rule_wins() -> None:
    rules = ChannelRules(
        (
            CustomRule("paid_partners", source=exact("awin"), medium=exact("cpc")),
            CustomRule("partners", source=exact("awin")),
        )
    )
    assert channel(rules, source="awin", medium="cpc") == "paid_partners"
    assert channel(rules, source="awin", medium="banner") == "partners"


def test_every_condition_of_a_rule_must_hold() -> None:
    rule = CustomRule(
        "brand_search",
        campaign=regex(r"^brand[-_]"),
        click_id_types=frozenset({"gclid"}),
    )
    rules = ChannelRules((rule,))
    assert channel(rules, campaign="Brand-Spring", gclid="abc") == "brand_search"
    assert channel(rules, campaign="Brand-Spring") != "brand_search"
    assert channel(rules, campaign="generic", gclid="abc") == Channel.PAID_SEARCH


def test_prefix_exact_and_regex_ignore_case_and_exact_empty_means_absent() -> None:
    rules = ChannelRules(
        (
            CustomRule("no_medium_partner", source=prefix("Partner-"), medium=exact("")),
            CustomRule("spring", campaign=regex("SPRING")),
        )
    )
    assert channel(rules, source="partner-ana") == "no_medium_partner"
    assert channel(rules, source="partner-ana", medium="cpc") == Channel.PAID_SEARCH
    assert channel(rules, source="x", medium="y", campaign="big spring sale") == "spring"


def test_click_id_none_and_referrer_kinds_are_conditions() -> None:
    rules = ChannelRules(
        (
            CustomRule(
                "social_links",
                click_id_types=frozenset({"none"}),
                referrer_kinds=frozenset({HostKind.SOCIAL}),
            ),
        )
    )
    assert channel(rules, referrer="https://www.facebook.com/") == "social_links"
    assert channel(rules, referrer="https://www.google.com/") == Channel.ORGANIC_SEARCH


def test_a_custom_rule_names_the_channel_and_the_default_rules_fill_the_source() -> None:
    search = CustomRule("search_people", referrer_kinds=frozenset({HostKind.SEARCH}))
    rules = ChannelRules((search,))
    assert classify(rules, referrer="https://www.google.com/") == (
        "search_people",
        "google",
        "organic",
    )


def test_replacing_the_defaults_leaves_unmatched_visits_unassigned() -> None:
    rules = ChannelRules((CustomRule("partners", source=exact("awin")),), replace_defaults=True)
    assert channel(rules, source="awin") == "partners"
    assert channel(rules, source="google", medium="cpc") == UNASSIGNED
    assert channel(rules) == UNASSIGNED


def test_no_rules_compile_to_the_default_group() -> None:
    assert compiled_group(ChannelRules()) is DEFAULT_CHANNEL_GROUP


@pytest.mark.parametrize(
    ("rule", "field", "says"),
    [
        (CustomRule("Partners"), "rules[0].channel", "lower-case"),
        (CustomRule("9lives"), "rules[0].channel", "lower-case"),
        (CustomRule("x" * 41), "rules[0].channel", "at most 40"),
        (CustomRule("p", source=exact()), "rules[0].source.values", "at least one"),
        (CustomRule("p", medium=prefix("")), "rules[0].medium.values[0]", "must not be empty"),
        (CustomRule("p", campaign=regex("(")), "rules[0].campaign.values[0]", "RE2"),
        (CustomRule("p", campaign=regex("a(?=b)")), "rules[0].campaign.values[0]", "look-around"),
        (
            CustomRule("p", campaign=regex("a" * (MAX_PATTERN_LENGTH + 1))),
            "rules[0].campaign.values[0]",
            "at most 500",
        ),
        (CustomRule("p", source=exact("a\x00")), "rules[0].source.values[0]", "NUL"),
        (
            CustomRule("p", click_id_types=frozenset({"utm_id"})),
            "rules[0].click_id_types",
            "unknown click id type(s) utm_id",
        ),
    ],
)
def test_a_bad_rule_is_refused_with_its_field(rule: CustomRule, field: str, says: str) -> None:
    problems = rule_problems(ChannelRules((CustomRule("fine", source=exact("a")), rule)))
    shifted = field.replace("rules[0]", "rules[1]")
    assert [p.field for p in problems] == [shifted]
    assert says in problems[0].description
    with pytest.raises(ValueError, match=r"rules\[1\]"):
        compiled_group(ChannelRules((CustomRule("fine"), rule)))


def test_too_many_rules_are_refused() -> None:
    problems = rule_problems(ChannelRules(tuple(CustomRule("p") for _ in range(101))))
    assert [p.field for p in problems] == ["rules"]


def test_rules_survive_their_stored_form() -> None:
    rules = ChannelRules(
        (
            CustomRule(
                "partners",
                source=exact("awin"),
                medium=prefix("aff"),
                campaign=regex("^x"),
                click_id_types=frozenset({"none", "gclid"}),
                referrer_kinds=frozenset({HostKind.OTHER, HostKind.NONE}),
            ),
        ),
        replace_defaults=True,
    )
    assert ChannelRules.from_dict(rules.to_dict()) == rules


def test_custom_channels_named_paid_count_as_paid_media() -> None:
    assert is_paid_channel("paid_partners") and is_paid_channel("display")
    assert not is_paid_channel("partners")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_book_applies_a_propertys_rules_then_the_default_then_the_built_in_group() -> None:
    app: Application[UUID] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    clock = Clock()
    book = ChannelRulesBook(app, clock)
    assert book.group_for("shop") is DEFAULT_CHANNEL_GROUP
    assert book.applying_to("shop").source is ChannelRulesSource.BUILT_IN

    mine = ChannelRules((CustomRule("partners", source=exact("awin")),))
    everyone = ChannelRules((CustomRule("newsletters", medium=exact("email")),))
    book.choose("shop", mine, now=NOW)
    book.choose("*", everyone, now=NOW)

    assert book.applying_to("shop").rules == mine
    assert book.applying_to("other").source is ChannelRulesSource.DEFAULT
    assert book.group_for("shop").custom[0].channel == "partners"
    assert book.group_for("other").custom[0].channel == "newsletters"
    # Compiled once per stored version: the same group until the rules change.
    clock.now += 5
    assert book.group_for("shop") is book.group_for("shop")


def test_another_replicas_change_applies_after_the_cache_expires() -> None:
    app: Application[UUID] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    clock = Clock()
    here, there = ChannelRulesBook(app, clock), ChannelRulesBook(app, clock)
    assert here.group_for("shop") is DEFAULT_CHANNEL_GROUP
    there.choose("shop", ChannelRules((CustomRule("partners"),)), now=NOW)
    assert here.group_for("shop") is DEFAULT_CHANNEL_GROUP
    clock.now += 1.5
    assert here.group_for("shop").custom[0].channel == "partners"
