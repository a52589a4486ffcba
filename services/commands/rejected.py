"""`convtrack rejected`: the dead letters of a property, counts by reason then the latest."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

import grpc

from common.channels import operator_tls
from common.settings import SettingsError, TlsSettings, process_env
from common.wire import from_timestamp, to_timestamp
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.commands.credentials import client_channel, sent_api_key

CALL_TIMEOUT = 30.0


def rejected(args: argparse.Namespace) -> int:
    """Prints the property's rejected events by reason, then the latest; 1 when the call fails."""
    address = args.addr or process_env().get("INGEST_ADDR", "127.0.0.1:50051")
    try:
        tls = operator_tls(args.tls_dir, process_env())
        api_key = sent_api_key(args.api_key, process_env(), address)
    except SettingsError as error:
        print(f"convtrack rejected: {error}", file=sys.stderr)
        return 2
    try:
        page = list_rejected(
            address,
            property_id=args.property_id,
            since=args.since,
            field=args.field,
            reason=args.reason,
            page_size=args.limit,
            api_key=api_key,
            tls=tls,
        )
    except grpc.RpcError as error:
        print(f"convtrack rejected: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    print(format_rejected(page))
    return 0


def list_rejected(
    address: str,
    *,
    property_id: str,
    since: datetime | None = None,
    field: str = "",
    reason: str = "",
    page_size: int = 20,
    api_key: str | None = None,
    tls: TlsSettings | None = None,
) -> ingest_pb2.ListRejectedResponse:
    """The first page of a property's dead letters, from the ingest service."""
    request = ingest_pb2.ListRejectedRequest(
        property_id=property_id, field=field, reason=reason, page_size=page_size
    )
    if since is not None:
        request.since.CopyFrom(to_timestamp(since))
    with client_channel(address, api_key, tls) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        return stub.ListRejected(request, timeout=CALL_TIMEOUT)


def format_rejected(page: ingest_pb2.ListRejectedResponse) -> str:
    """Counts by field and reason, then one block per listed event, newest first."""
    if not page.counts:
        return "no rejected events"
    width = max(len(f"{c.count:,}") for c in page.counts)
    lines = ["rejections by field and reason:"]
    lines += [f"  {c.count:>{width},}  {c.field}: {c.description}" for c in page.counts]
    lines.append("")
    lines.append(f"latest {len(page.events)} rejected events:")
    for event in page.events:
        received = from_timestamp(event.received_at).isoformat(timespec="seconds")
        lines.append(f"  {received}  {event.kind or '(no kind)'}  {event.event_id!r}")
        lines += [f"      {v.field}: {v.description}" for v in event.violations]
    if page.next_page_token:
        lines.append("  ... (more: raise --limit or narrow with --since, --field, --reason)")
    return "\n".join(lines)
