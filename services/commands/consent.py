"""`convtrack consent defaults|forget`: show or choose what unknown consent counts as for a
property (or the deployment default), and erase the consent ingest recorded for identifiers."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import grpc

from common.channels import operator_tls
from common.settings import SettingsError, process_env
from common.values import Identifier, IdentifierType
from common.wire import from_identifier_pb, to_identifier_pb
from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.commands.credentials import client_channel, sent_api_key

ALL_PROPERTIES = "*"
CALL_TIMEOUT = 30.0
CHOICES = {
    None: ingest_pb2.CONSENT_DEFAULT_UNSPECIFIED,
    "granted": ingest_pb2.CONSENT_DEFAULT_GRANTED,
    "denied": ingest_pb2.CONSENT_DEFAULT_DENIED,
}
SOURCES = {
    ingest_pb2.CONSENT_DEFAULTS_SOURCE_ENVIRONMENT: (
        "the environment (INGEST_CONSENT_DEFAULT_*), nobody chose"
    ),
    ingest_pb2.CONSENT_DEFAULTS_SOURCE_DEFAULT: "the deployment default (--all-properties)",
    ingest_pb2.CONSENT_DEFAULTS_SOURCE_PROPERTY: "this property's own choice",
}


def _stub(args: argparse.Namespace, command: str) -> Any | None:
    """A stub of ingest sending the command's API key over the operators' TLS when
    configured; None (after saying why) when the TLS directory or key cannot be read."""
    env = process_env()
    address = args.addr or env.get("INGEST_ADDR", "127.0.0.1:50051")
    try:
        channel = client_channel(
            address, sent_api_key(args.api_key, env, address), operator_tls(args.tls_dir, env)
        )
    except SettingsError as error:
        print(f"convtrack consent {command}: {error}", file=sys.stderr)
        return None
    return ingest_pb2_grpc.IngestServiceStub(channel)


def _failed(command: str, error: grpc.RpcError) -> int:
    print(f"convtrack consent {command}: {error.code().name}: {error.details()}", file=sys.stderr)
    return 1


def _state(number: int) -> str:
    return "denied" if number == ingest_pb2.CONSENT_DEFAULT_DENIED else "granted"


def defaults(args: argparse.Namespace) -> int:
    """Prints what unknown consent counts as for a property (or the deployment default), after
    setting it when --analytics or --advertising is given; 1 when the call fails."""
    scope = ALL_PROPERTIES if args.all_properties else str(args.property_id)
    stub = _stub(args, "defaults")
    if stub is None:
        return 2
    try:
        if args.analytics or args.advertising:
            answer = stub.SetConsentDefaults(
                ingest_pb2.SetConsentDefaultsRequest(
                    property_id=scope,
                    analytics=CHOICES[args.analytics],
                    advertising=CHOICES[args.advertising],
                ),
                timeout=CALL_TIMEOUT,
            ).defaults
        else:
            answer = stub.GetConsentDefaults(
                ingest_pb2.GetConsentDefaultsRequest(property_id=scope), timeout=CALL_TIMEOUT
            )
    except grpc.RpcError as error:
        return _failed("defaults", error)
    name = "the deployment default" if scope == ALL_PROPERTIES else f"property {scope!r}"
    print(f"Consent defaults of {name} ({SOURCES.get(answer.source, 'unknown source')}):")
    print(f"  unknown analytics consent counts as {_state(answer.analytics)}")
    print(f"  unknown advertising consent counts as {_state(answer.advertising)}")
    return 0


def _identifier(text: str) -> common_pb2.Identifier | None:
    """An identifier given as TYPE:VALUE (anon, user, email, phone or crm; an email with an
    "@" is sent plain, for ingest to normalise and hash); None when the type is unknown."""
    kind, _, value = text.partition(":")
    try:
        stored = IdentifierType(kind)
    except ValueError:
        return None
    if not value:
        return None
    if stored is IdentifierType.EMAIL_SHA256 and "@" in value:
        return common_pb2.Identifier(type=common_pb2.IDENTIFIER_TYPE_EMAIL, value=value)
    return to_identifier_pb(Identifier(stored, value))


def forget(args: argparse.Namespace) -> int:
    """Erases the consent ingest recorded for identifiers; prints those that belong to a
    person (erase them with ForgetPerson). 2 on bad arguments, 1 when the call fails."""
    identifiers = [_identifier(text) for text in args.identifier]
    bad = [text for text, found in zip(args.identifier, identifiers, strict=True) if found is None]
    if bad:
        print(
            f"convtrack consent forget: not an identifier (TYPE:VALUE, e.g. anon:COOKIE or "
            f"email:ana@example.com): {', '.join(bad)}",
            file=sys.stderr,
        )
        return 2
    stub = _stub(args, "forget")
    if stub is None:
        return 2
    try:
        answer = stub.ForgetIdentifiers(
            ingest_pb2.ForgetIdentifiersRequest(
                property_id=args.property_id,
                identifiers=[i for i in identifiers if i is not None],
                note=args.note,
            ),
            timeout=CALL_TIMEOUT,
        )
    except grpc.RpcError as error:
        return _failed("forget", error)
    print(f"Erased {answer.consent_records_erased} consent record(s).")
    for held in answer.held_for_persons:
        print(
            f"  {from_identifier_pb(held).key} belongs to a person: erase it with identity's "
            "ResolveIdentity and ForgetPerson"
        )
    return 0
