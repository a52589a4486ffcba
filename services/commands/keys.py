"""`convtrack keys create|list|revoke`: API keys, through ingest's admin RPCs or (the first
admin key) straight into ingest's store."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta

import grpc

from common.callers import Scope
from common.channels import operator_tls
from common.key_ring import SCOPES, SCOPES_BACK
from common.settings import SettingsError, env_str, process_env
from common.wire import from_timestamp, to_timestamp
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.commands.credentials import client_channel, sent_api_key

CALL_TIMEOUT = 10.0
RELATIVE_EXPIRY = re.compile(r"^(\d+)([dh])$")


def expiry(text: str, now: datetime) -> datetime:
    """`--expires`: an ISO 8601 time (UTC when no offset is given), or `<n>d` / `<n>h` from
    now."""
    relative = RELATIVE_EXPIRY.match(text.strip())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return now + (timedelta(days=amount) if unit == "d" else timedelta(hours=amount))
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def scopes_of(text: str) -> list[Scope]:
    """`--scopes`: comma-separated scope names."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    known = {s.value for s in Scope}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown scopes {', '.join(unknown)}; choose from {', '.join(known)}")
    return [Scope(n) for n in names]


def _address(args: argparse.Namespace) -> str:
    return args.addr or env_str(process_env(), "INGEST_ADDR", "127.0.0.1:50051")


def _stub(args: argparse.Namespace) -> tuple[grpc.Channel, ingest_pb2_grpc.IngestServiceStub]:
    env = process_env()
    address = _address(args)
    channel = client_channel(
        address, sent_api_key(args.api_key, env, address), operator_tls(args.tls_dir, env)
    )
    return channel, ingest_pb2_grpc.IngestServiceStub(channel)


def _describe(key: ingest_pb2.ApiKey) -> str:
    scopes = ",".join(SCOPES[s].value for s in key.scopes if s in SCOPES)
    expires = (
        from_timestamp(key.expires_at).isoformat(timespec="seconds")
        if key.HasField("expires_at")
        else "never"
    )
    state = "revoked" if key.revoked else "active"
    expired = key.HasField("expires_at") and from_timestamp(key.expires_at) <= datetime.now(UTC)
    if expired and not key.revoked:
        state = "expired"
    created = from_timestamp(key.created_at).isoformat(timespec="seconds")
    return (
        f"{key.key_id}  {key.property_id or '(every property)'}  {scopes}  created {created}  "
        f"expires {expires}  {state}" + (f"  {key.description}" if key.description else "")
    )


def _failed(command: str, error: grpc.RpcError) -> int:
    print(f"convtrack keys {command}: {error.code().name}: {error.details()}", file=sys.stderr)
    return 1


def create(args: argparse.Namespace) -> int:
    """Creates a key and prints it once (the key alone on stdout, what it is on stderr)."""
    now = datetime.now(UTC)
    try:
        scopes = [Scope.ADMIN] if args.admin else scopes_of(args.scopes or "")
        expires_at = expiry(args.expires, now) if args.expires else None
    except ValueError as error:
        print(f"convtrack keys create: {error}", file=sys.stderr)
        return 2
    if args.offline:
        return _create_offline(args, scopes, now, expires_at)
    request = ingest_pb2.CreateApiKeyRequest(
        property_id=args.property_id or "",
        scopes=[SCOPES_BACK[s] for s in scopes],
        description=args.description,
    )
    if expires_at is not None:
        request.expires_at.CopyFrom(to_timestamp(expires_at))
    channel, stub = _stub(args)
    try:
        with channel:
            created = stub.CreateApiKey(request, timeout=CALL_TIMEOUT)
    except grpc.RpcError as error:
        return _failed("create", error)
    print(created.api_key)
    print(f"created (shown once, store it now): {_describe(created.key)}", file=sys.stderr)
    return 0


def _create_offline(
    args: argparse.Namespace, scopes: list[Scope], now: datetime, expires_at: datetime | None
) -> int:
    from services.ingest.api_keys import InvalidKeyRequestError
    from services.ingest.server import IngestSettings, offline_api_keys

    try:
        keys, close = offline_api_keys(IngestSettings.from_env(process_env()))
    except SettingsError as error:
        print(f"convtrack keys create: {error}", file=sys.stderr)
        return 2
    try:
        created = keys.create(
            property_id=args.property_id or "",
            scopes=scopes,
            now=now,
            expires_at=expires_at,
            description=args.description,
        )
    except InvalidKeyRequestError as error:
        print(f"convtrack keys create: {error}", file=sys.stderr)
        return 2
    finally:
        close()
    print(created.token)
    print(
        f"created in ingest's store (shown once, store it now): key {created.key.key_id}, "
        f"scopes {','.join(created.key.scopes)}, property "
        f"{created.key.property_id or '(every property)'}; running services accept it within "
        "about a second",
        file=sys.stderr,
    )
    return 0


def list_keys(args: argparse.Namespace) -> int:
    """Prints the keys, one per line (never their secrets)."""
    channel, stub = _stub(args)
    try:
        with channel:
            listed = stub.ListApiKeys(
                ingest_pb2.ListApiKeysRequest(property_id=args.property_id or ""),
                timeout=CALL_TIMEOUT,
            )
    except grpc.RpcError as error:
        return _failed("list", error)
    if not listed.keys:
        print("no API keys")
    for key in listed.keys:
        print(_describe(key))
    return 0


def revoke(args: argparse.Namespace) -> int:
    """Revokes a key; every service refuses it within about a second."""
    channel, stub = _stub(args)
    try:
        with channel:
            revoked = stub.RevokeApiKey(
                ingest_pb2.RevokeApiKeyRequest(key_id=args.key_id), timeout=CALL_TIMEOUT
            )
    except grpc.RpcError as error:
        return _failed("revoke", error)
    print(f"revoked: {_describe(revoked.key)}")
    return 0
