"""`convtrack channels show|set`: a property's custom channel rules (or the deployment
default's, property "*"), read from and printed as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import grpc

from common.channels import operator_tls
from common.grpc_errors import bad_request_of
from common.settings import SettingsError, process_env
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.commands.credentials import client_channel, sent_api_key

CALL_TIMEOUT = 30.0
T = TypeVar("T")
MATCHES = {
    "exact": ingest_pb2.CHANNEL_MATCH_EXACT,
    "prefix": ingest_pb2.CHANNEL_MATCH_PREFIX,
    "regex": ingest_pb2.CHANNEL_MATCH_REGEX,
}
REFERRER_KINDS = {
    "search": ingest_pb2.REFERRER_KIND_SEARCH,
    "social": ingest_pb2.REFERRER_KIND_SOCIAL,
    "internal": ingest_pb2.REFERRER_KIND_INTERNAL,
    "none": ingest_pb2.REFERRER_KIND_NONE,
    "other": ingest_pb2.REFERRER_KIND_OTHER,
}
SOURCES = {
    ingest_pb2.CHANNEL_RULES_SOURCE_BUILT_IN: "the built-in default rules, nobody set any",
    ingest_pb2.CHANNEL_RULES_SOURCE_DEFAULT: 'the deployment default (--property "*")',
    ingest_pb2.CHANNEL_RULES_SOURCE_PROPERTY: "this property's own rules",
}
TEXT_FIELDS = ("source", "medium", "campaign")


class RulesFileError(ValueError):
    """A rules file that is not in the documented JSON form."""


def _stub(args: argparse.Namespace, command: str) -> Any | None:
    env = process_env()
    address = args.addr or env.get("INGEST_ADDR", "127.0.0.1:50051")
    try:
        channel = client_channel(
            address, sent_api_key(args.api_key, env, address), operator_tls(args.tls_dir, env)
        )
    except SettingsError as error:
        print(f"convtrack channels {command}: {error}", file=sys.stderr)
        return None
    return ingest_pb2_grpc.IngestServiceStub(channel)


def _named(table: Mapping[str, T], value: Any, where: str) -> T:
    if not isinstance(value, str) or value.lower() not in table:
        raise RulesFileError(f"{where}: must be one of {', '.join(table)}, not {value!r}")
    return table[value.lower()]


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RulesFileError(f"{where}: must be a list of strings")
    return value


def rule_message(data: Any, where: str) -> ingest_pb2.ChannelRule:
    """One rule of the JSON form as a ChannelRule message."""
    if not isinstance(data, dict) or not isinstance(data.get("channel"), str):
        raise RulesFileError(f'{where}: must be an object with a "channel" name')
    known = {"channel", *TEXT_FIELDS, "click_id_types", "referrer_kinds"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RulesFileError(f"{where}: unknown key(s) {', '.join(unknown)}")
    rule = ingest_pb2.ChannelRule(
        channel=data["channel"],
        click_id_types=_strings(data.get("click_id_types", []), f"{where}.click_id_types"),
        referrer_kinds=[
            _named(REFERRER_KINDS, kind, f"{where}.referrer_kinds")
            for kind in _strings(data.get("referrer_kinds", []), f"{where}.referrer_kinds")
        ],
    )
    for name in TEXT_FIELDS:
        condition = data.get(name)
        if condition is None:
            continue
        if not isinstance(condition, dict):
            raise RulesFileError(f'{where}.{name}: must be {{"match": ..., "values": [...]}}')
        getattr(rule, name).CopyFrom(
            ingest_pb2.ChannelTextCondition(
                match=_named(MATCHES, condition.get("match"), f"{where}.{name}.match"),
                values=_strings(condition.get("values"), f"{where}.{name}.values"),
            )
        )
    return rule


def request_of(property_id: str, data: Any) -> ingest_pb2.SetChannelGroupsRequest:
    """The SetChannelGroups request of a rules file's JSON."""
    if not isinstance(data, dict) or not isinstance(data.get("rules", []), list):
        raise RulesFileError('expected {"rules": [...], "replace_defaults": false}')
    replace_defaults = data.get("replace_defaults", False)
    if not isinstance(replace_defaults, bool):
        raise RulesFileError("replace_defaults: must be true or false")
    return ingest_pb2.SetChannelGroupsRequest(
        property_id=property_id,
        rules=[rule_message(rule, f"rules[{i}]") for i, rule in enumerate(data.get("rules", []))],
        replace_defaults=replace_defaults,
    )


def rules_json(answer: ingest_pb2.GetChannelGroupsResponse) -> dict[str, Any]:
    """A property's rules in the JSON form `channels set` reads."""
    matches = {number: name for name, number in MATCHES.items()}
    kinds = {number: name for name, number in REFERRER_KINDS.items()}
    rules = []
    for rule in answer.rules:
        data: dict[str, Any] = {"channel": rule.channel}
        for name in TEXT_FIELDS:
            if rule.HasField(name):  # type: ignore[arg-type]
                condition = getattr(rule, name)
                data[name] = {"match": matches[condition.match], "values": list(condition.values)}
        if rule.click_id_types:
            data["click_id_types"] = list(rule.click_id_types)
        if rule.referrer_kinds:
            data["referrer_kinds"] = [kinds[kind] for kind in rule.referrer_kinds]
        rules.append(data)
    return {"rules": rules, "replace_defaults": answer.replace_defaults}


def _print(answer: ingest_pb2.GetChannelGroupsResponse) -> None:
    scope = answer.property_id
    name = "the deployment default" if scope == "*" else f"property {scope!r}"
    print(
        f"# Channel rules of {name} ({SOURCES.get(answer.source, 'unknown source')}); "
        "they apply to events received after they were set",
        file=sys.stderr,
    )
    print(json.dumps(rules_json(answer), indent=2))


def show(args: argparse.Namespace) -> int:
    """Prints a property's channel rules as JSON (the form `set` reads); 1 when the call
    fails."""
    stub = _stub(args, "show")
    if stub is None:
        return 2
    try:
        answer = stub.GetChannelGroups(
            ingest_pb2.GetChannelGroupsRequest(property_id=args.property_id),
            timeout=CALL_TIMEOUT,
        )
    except grpc.RpcError as error:
        print(f"convtrack channels show: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    _print(answer)
    return 0


def set_rules(args: argparse.Namespace) -> int:
    """Sets a property's channel rules from a JSON file and prints them as stored; 2 when the
    file cannot be read, 1 when ingest refuses them (naming each field at fault)."""
    try:
        request = request_of(
            args.property_id, json.loads(Path(args.rules).read_text(encoding="utf-8"))
        )
    except (OSError, ValueError) as error:
        print(f"convtrack channels set: {args.rules}: {error}", file=sys.stderr)
        return 2
    stub = _stub(args, "set")
    if stub is None:
        return 2
    try:
        answer = stub.SetChannelGroups(request, timeout=CALL_TIMEOUT).channel_groups
    except grpc.RpcError as error:
        print(f"convtrack channels set: {error.code().name}: {error.details()}", file=sys.stderr)
        for problem in bad_request_of(error):
            print(f"  {problem.field}: {problem.description}", file=sys.stderr)
        return 1
    _print(answer)
    return 0
