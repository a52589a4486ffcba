"""Channel rules on the wire: protobuf messages to and from `custom_channels` values."""

from __future__ import annotations

from common.requests import FieldChecks
from convtrack.ingest.v1 import ingest_pb2
from services.ingest.channel_groups import HostKind
from services.ingest.channel_settings import AppliedChannelRules, ChannelRulesSource
from services.ingest.custom_channels import (
    MAX_RULES,
    ChannelRules,
    CustomRule,
    MatchKind,
    TextCondition,
    rule_problems,
)

_MATCHES = {
    ingest_pb2.CHANNEL_MATCH_EXACT: MatchKind.EXACT,
    ingest_pb2.CHANNEL_MATCH_PREFIX: MatchKind.PREFIX,
    ingest_pb2.CHANNEL_MATCH_REGEX: MatchKind.REGEX,
}
_MATCHES_BACK = {kind: number for number, kind in _MATCHES.items()}
_REFERRER_KINDS = {
    ingest_pb2.REFERRER_KIND_SEARCH: HostKind.SEARCH,
    ingest_pb2.REFERRER_KIND_SOCIAL: HostKind.SOCIAL,
    ingest_pb2.REFERRER_KIND_INTERNAL: HostKind.INTERNAL,
    ingest_pb2.REFERRER_KIND_NONE: HostKind.NONE,
    ingest_pb2.REFERRER_KIND_OTHER: HostKind.OTHER,
}
_REFERRER_KINDS_BACK = {kind: number for number, kind in _REFERRER_KINDS.items()}
_SOURCES = {
    ChannelRulesSource.BUILT_IN: ingest_pb2.CHANNEL_RULES_SOURCE_BUILT_IN,
    ChannelRulesSource.DEFAULT: ingest_pb2.CHANNEL_RULES_SOURCE_DEFAULT,
    ChannelRulesSource.PROPERTY: ingest_pb2.CHANNEL_RULES_SOURCE_PROPERTY,
}


def _condition(
    rule: ingest_pb2.ChannelRule, name: str, where: str, check: FieldChecks
) -> TextCondition | None:
    if not rule.HasField(name):  # type: ignore[arg-type]
        return None
    message: ingest_pb2.ChannelTextCondition = getattr(rule, name)
    match = _MATCHES.get(message.match)
    if match is None:
        check.add(
            f"{where}.{name}.match",
            "must be CHANNEL_MATCH_EXACT, CHANNEL_MATCH_PREFIX or CHANNEL_MATCH_REGEX",
        )
        match = MatchKind.EXACT
    return TextCondition(match, tuple(message.values))


def rules_from_request(
    request: ingest_pb2.SetChannelGroupsRequest, check: FieldChecks
) -> ChannelRules:
    """The rules of a SetChannelGroups request; each problem is added to `check` by field
    (`rules[2].source.values[0]`)."""
    if len(request.rules) > MAX_RULES:
        check.add("rules", f"at most {MAX_RULES} rules")
    rules = []
    for index, message in enumerate(request.rules[:MAX_RULES]):
        where = f"rules[{index}]"
        kinds = set()
        for position, number in enumerate(message.referrer_kinds):
            kind = _REFERRER_KINDS.get(number)
            if kind is None:
                check.add(
                    f"{where}.referrer_kinds[{position}]",
                    "must be REFERRER_KIND_SEARCH, _SOCIAL, _INTERNAL, _NONE or _OTHER",
                )
            else:
                kinds.add(kind)
        rules.append(
            CustomRule(
                channel=message.channel.strip(),
                source=_condition(message, "source", where, check),
                medium=_condition(message, "medium", where, check),
                campaign=_condition(message, "campaign", where, check),
                click_id_types=frozenset(t.strip().lower() for t in message.click_id_types),
                referrer_kinds=frozenset(kinds),
            )
        )
    chosen = ChannelRules(tuple(rules), request.replace_defaults)
    for problem in rule_problems(chosen):
        check.add(problem.field, problem.description)
    return chosen


def _condition_message(condition: TextCondition | None) -> ingest_pb2.ChannelTextCondition | None:
    if condition is None:
        return None
    return ingest_pb2.ChannelTextCondition(
        match=_MATCHES_BACK[condition.match], values=list(condition.values)
    )


def rule_message(rule: CustomRule) -> ingest_pb2.ChannelRule:
    """The ChannelRule message of a stored rule."""
    return ingest_pb2.ChannelRule(
        channel=rule.channel,
        source=_condition_message(rule.source),
        medium=_condition_message(rule.medium),
        campaign=_condition_message(rule.campaign),
        click_id_types=sorted(rule.click_id_types),
        referrer_kinds=sorted(_REFERRER_KINDS_BACK[kind] for kind in rule.referrer_kinds),
    )


def channel_groups_message(
    property_id: str, applied: AppliedChannelRules
) -> ingest_pb2.GetChannelGroupsResponse:
    """A property's channel rules as answered."""
    return ingest_pb2.GetChannelGroupsResponse(
        property_id=property_id,
        rules=[rule_message(rule) for rule in applied.rules.rules],
        replace_defaults=applied.rules.replace_defaults,
        source=_SOURCES[applied.source],
    )
