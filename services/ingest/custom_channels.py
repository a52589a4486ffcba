"""A property's custom channel rules: validated, kept as plain data, compiled once for the
ingestion path.

Custom rules are evaluated in order before the default channel group (or instead of it); the
first that matches names the channel. Text conditions ignore case. Regular expressions run on
RE2 (linear time, no look-arounds or back-references) with a length bound: they come from
property admins and run on every touchpoint, and a backtracking pattern such as ``(a+)+$`` on
Python's ``re`` could hold ingest's threads for seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import re2

from services.ingest.channel_groups import (
    CLICK_ID_PLATFORMS,
    DEFAULT_CHANNEL_GROUP,
    ChannelGroup,
    HostKind,
    VisitFacts,
)

MAX_RULES = 100
MAX_VALUES = 100
MAX_VALUE_LENGTH = 200
MAX_PATTERN_LENGTH = 500
MAX_CHANNEL_LENGTH = 40
CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_]*")
NO_CLICK_ID = "none"
"""The click id condition value for a visit without any click id."""
CLICK_ID_NAMES = frozenset({*CLICK_ID_PLATFORMS, NO_CLICK_ID})
_RE2_MAX_MEMORY = 8 << 20


class MatchKind(StrEnum):
    """How a text condition compares: equal to, starting with, or (RE2) searched in."""

    EXACT = "exact"
    PREFIX = "prefix"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class TextCondition:
    """Holds when the visit's text matches any of `values` (case ignored). For EXACT, ""
    stands for an absent value."""

    match: MatchKind
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CustomRule:
    """One custom rule: when every condition that is set holds, the visit gets `channel`.

    `click_id_types` are click id names ("gclid", ...; "none" for a visit without one);
    `referrer_kinds` what the referrer host is (search, social, internal, none, other).
    """

    channel: str
    source: TextCondition | None = None
    medium: TextCondition | None = None
    campaign: TextCondition | None = None
    click_id_types: frozenset[str] = frozenset()
    referrer_kinds: frozenset[HostKind] = frozenset()


@dataclass(frozen=True, slots=True)
class ChannelRules:
    """A property's channel rules: custom rules before the defaults, or instead of them
    (`replace_defaults`: a visit no rule matches is then `unassigned`)."""

    rules: tuple[CustomRule, ...] = ()
    replace_defaults: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The stored form (plain JSON values)."""
        return {
            "rules": [_rule_to_dict(rule) for rule in self.rules],
            "replace_defaults": self.replace_defaults,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChannelRules:
        """From the stored form."""
        return cls(
            tuple(_rule_from_dict(rule) for rule in data.get("rules", ())),
            bool(data.get("replace_defaults", False)),
        )


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """What is wrong with one field of the rules (`field` as in the API, e.g.
    "rules[2].source.values[0]")."""

    field: str
    description: str


def rule_problems(rules: ChannelRules) -> list[RuleProblem]:
    """Every problem of `rules`; empty when they can be stored."""
    problems: list[RuleProblem] = []
    if len(rules.rules) > MAX_RULES:
        problems.append(RuleProblem("rules", f"at most {MAX_RULES} rules"))
    for index, rule in enumerate(rules.rules[:MAX_RULES]):
        where = f"rules[{index}]"
        if len(rule.channel) > MAX_CHANNEL_LENGTH or not CHANNEL_NAME.fullmatch(rule.channel):
            problems.append(
                RuleProblem(
                    f"{where}.channel",
                    f"must be a lower-case name of at most {MAX_CHANNEL_LENGTH} characters: a "
                    "letter, then letters, digits or _ (e.g. partners or paid_partners)",
                )
            )
        for name in ("source", "medium", "campaign"):
            condition = getattr(rule, name)
            if condition is not None:
                problems += _condition_problems(condition, f"{where}.{name}")
        unknown = sorted(rule.click_id_types - CLICK_ID_NAMES)
        if unknown:
            problems.append(
                RuleProblem(
                    f"{where}.click_id_types",
                    f"unknown click id type(s) {', '.join(unknown)}: use "
                    f"{', '.join(sorted(CLICK_ID_NAMES))}",
                )
            )
    return problems


def _condition_problems(condition: TextCondition, where: str) -> list[RuleProblem]:
    if not condition.values:
        return [RuleProblem(f"{where}.values", "at least one value is required")]
    if len(condition.values) > MAX_VALUES:
        return [RuleProblem(f"{where}.values", f"at most {MAX_VALUES} values")]
    problems = []
    limit = MAX_PATTERN_LENGTH if condition.match is MatchKind.REGEX else MAX_VALUE_LENGTH
    for index, value in enumerate(condition.values):
        field = f"{where}.values[{index}]"
        if len(value) > limit or "\x00" in value:
            problems.append(RuleProblem(field, f"must be at most {limit} characters, without NUL"))
        elif not value and condition.match is not MatchKind.EXACT:
            problems.append(RuleProblem(field, f"must not be empty for {condition.match}"))
        elif condition.match is MatchKind.REGEX:
            try:
                _regex(value)
            except re2.error as error:
                problems.append(
                    RuleProblem(
                        field,
                        f"is not a regular expression RE2 accepts ({_message(error)}); "
                        "look-arounds and back-references are not supported",
                    )
                )
    return problems


def _message(error: Exception) -> str:
    text = error.args[0] if error.args else str(error)
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)


def _regex(pattern: str) -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = _RE2_MAX_MEMORY
    options.log_errors = False
    return re2.compile(pattern, options)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A custom rule ready for the ingestion path: its channel and one test per condition."""

    channel: str
    tests: tuple[Callable[[VisitFacts], bool], ...] = field(default=())

    def matches(self, visit: VisitFacts) -> bool:
        """Whether the visit meets every condition of the rule."""
        return all(test(visit) for test in self.tests)


def _text_test(
    condition: TextCondition, read: Callable[[VisitFacts], str]
) -> Callable[[VisitFacts], bool]:
    values = tuple(value.lower() for value in condition.values)
    if condition.match is MatchKind.EXACT:
        exact = frozenset(values)
        return lambda visit: read(visit).lower() in exact
    if condition.match is MatchKind.PREFIX:
        return lambda visit: read(visit).lower().startswith(values)
    pattern = _regex("|".join(f"(?:{value})" for value in condition.values))
    return lambda visit: pattern.search(read(visit)) is not None


def _compiled_rule(rule: CustomRule) -> CompiledRule:
    tests: list[Callable[[VisitFacts], bool]] = []
    readers: tuple[tuple[TextCondition | None, Callable[[VisitFacts], str]], ...] = (
        (rule.source, lambda visit: visit.source),
        (rule.medium, lambda visit: visit.medium),
        (rule.campaign, lambda visit: visit.campaign),
    )
    for condition, read in readers:
        if condition is not None:
            tests.append(_text_test(condition, read))
    if rule.click_id_types:
        kinds = frozenset("" if k == NO_CLICK_ID else k for k in rule.click_id_types)
        tests.append(lambda visit: visit.click_id_type in kinds)
    if rule.referrer_kinds:
        referrers = rule.referrer_kinds
        tests.append(lambda visit: visit.referrer_kind in referrers)
    return CompiledRule(rule.channel, tuple(tests))


def compiled_group(rules: ChannelRules) -> ChannelGroup:
    """The channel group of a property with these rules (the default group when there are
    none and the defaults stay). Raises ValueError for rules `rule_problems` refuses."""
    problems = rule_problems(rules)
    if problems:
        raise ValueError("; ".join(f"{p.field}: {p.description}" for p in problems))
    if not rules.rules and not rules.replace_defaults:
        return DEFAULT_CHANNEL_GROUP
    return replace(
        DEFAULT_CHANNEL_GROUP,
        custom=tuple(_compiled_rule(rule) for rule in rules.rules),
        replace_defaults=rules.replace_defaults,
    )


def _condition_to_dict(condition: TextCondition | None) -> dict[str, Any] | None:
    if condition is None:
        return None
    return {"match": condition.match.value, "values": list(condition.values)}


def _condition_from_dict(data: Mapping[str, Any] | None) -> TextCondition | None:
    if data is None:
        return None
    return TextCondition(MatchKind(data["match"]), tuple(data["values"]))


def _rule_to_dict(rule: CustomRule) -> dict[str, Any]:
    return {
        "channel": rule.channel,
        "source": _condition_to_dict(rule.source),
        "medium": _condition_to_dict(rule.medium),
        "campaign": _condition_to_dict(rule.campaign),
        "click_id_types": sorted(rule.click_id_types),
        "referrer_kinds": sorted(kind.value for kind in rule.referrer_kinds),
    }


def _rule_from_dict(data: Mapping[str, Any]) -> CustomRule:
    return CustomRule(
        channel=data["channel"],
        source=_condition_from_dict(data.get("source")),
        medium=_condition_from_dict(data.get("medium")),
        campaign=_condition_from_dict(data.get("campaign")),
        click_id_types=frozenset(data.get("click_id_types", ())),
        referrer_kinds=frozenset(HostKind(kind) for kind in data.get("referrer_kinds", ())),
    )
