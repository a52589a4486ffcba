"""`convtrack audit list`: a service's audit log (its admin calls), as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

import grpc

from common.channels import operator_tls
from common.settings import SettingsError, TlsSettings, env_str, process_env
from common.wire import from_timestamp, to_timestamp
from services.commands.credentials import client_channel, sent_api_key

CALL_TIMEOUT = 30.0
MAX_PAGE_SIZE = 500  # ListAuditEvents' largest page
DEFAULT_ADDRESSES = {
    "ingest": "127.0.0.1:50051",
    "identity": "127.0.0.1:50052",
    "attribution": "127.0.0.1:50053",
    "reporting": "127.0.0.1:50054",
}


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One listed entry; `outcome` empty when the call's end was not recorded."""

    time: str
    caller: str
    rpc: str
    property_id: str
    outcome: str
    summary: str


def _api(service: str) -> tuple[ModuleType, Any]:
    """The service's protobuf module and stub class, imported now."""
    import importlib

    messages = importlib.import_module(f"convtrack.{service}.v1.{service}_pb2")
    stubs = importlib.import_module(f"convtrack.{service}.v1.{service}_pb2_grpc")
    stub_class = getattr(stubs, f"{service.capitalize()}ServiceStub")
    return messages, stub_class


def list_audit_events(
    service: str,
    address: str,
    *,
    property_id: str = "",
    since: datetime | None = None,
    limit: int = 100,
    api_key: str | None = None,
    tls: TlsSettings | None = None,
) -> tuple[list[AuditRow], bool]:
    """Up to `limit` audit entries of `service` (oldest first, a page at a time), and whether
    there are more."""
    messages, stub_class = _api(service)
    rows: list[AuditRow] = []
    token = ""
    with client_channel(address, api_key, tls) as channel:
        stub = stub_class(channel)
        while len(rows) < limit:
            request = messages.ListAuditEventsRequest(
                property_id=property_id,
                page_token=token,
                page_size=min(MAX_PAGE_SIZE, limit - len(rows)),
            )
            if since is not None:
                request.since.CopyFrom(to_timestamp(since))
            page = stub.ListAuditEvents(request, timeout=CALL_TIMEOUT)
            rows += [
                AuditRow(
                    time=from_timestamp(e.time).isoformat(timespec="seconds"),
                    caller=e.caller,
                    rpc=e.rpc,
                    property_id=e.property_id,
                    outcome=e.outcome,
                    summary=e.request_summary,
                )
                for e in page.events
            ]
            token = page.next_page_token
            if not token:
                return rows, False
    return rows, True


def format_table(rows: list[AuditRow], more: bool) -> str:
    """Aligned columns, oldest first."""
    if not rows:
        return "no audit entries"
    header = AuditRow("time", "caller", "rpc", "property", "outcome", "request")
    header_cells = _cells(header)
    shown = [
        header,
        *(
            AuditRow(
                r.time,
                r.caller,
                r.rpc,
                r.property_id or "(every property)",
                r.outcome or "(unknown)",
                r.summary,
            )
            for r in rows
        ),
    ]
    cells = [_cells(r) for r in shown]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header_cells) - 1)]
    lines = [
        "  ".join(c[i].ljust(width) for i, width in enumerate(widths)) + "  " + c[-1] for c in cells
    ]
    lines.insert(1, "─" * max(len(line) for line in lines))
    if more:
        lines.append("... (more: raise --limit or narrow with --since, --property)")
    return "\n".join(line.rstrip() for line in lines)


def _cells(row: AuditRow) -> tuple[str, ...]:
    """The row's cells in column order."""
    return (row.time, row.caller, row.rpc, row.property_id, row.outcome, row.summary)


def audit_list(args: argparse.Namespace) -> int:
    """Prints the service's audit entries; 1 when the call fails, 2 for a bad setting."""
    env = process_env()
    service: str = args.service
    address = args.addr or env_str(env, f"{service.upper()}_ADDR", DEFAULT_ADDRESSES[service])
    try:
        tls = operator_tls(args.tls_dir, env)
        api_key = sent_api_key(args.api_key, env, address)
    except SettingsError as error:
        print(f"convtrack audit list: {error}", file=sys.stderr)
        return 2
    if args.limit < 1:
        print("convtrack audit list: --limit must be at least 1", file=sys.stderr)
        return 2
    try:
        rows, more = list_audit_events(
            service,
            address,
            property_id=args.property_id or "",
            since=args.since,
            limit=args.limit,
            api_key=api_key,
            tls=tls,
        )
    except grpc.RpcError as error:
        print(f"convtrack audit list: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    if args.output_format == "json":
        document = {"service": service, "events": [asdict(r) for r in rows], "more": more}
        print(json.dumps(document, indent=2))
    else:
        print(format_table(rows, more))
    return 0
