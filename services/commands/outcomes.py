"""CRM outcomes on the command line: `convtrack outcomes import FILE.csv` sends deal stages,
value changes, refunds and retractions to ingest (our columns, or HubSpot and Salesforce export
names), and `convtrack report outcomes` fetches the outcome report as a table."""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TextIO

from common.settings import TlsSettings
from common.wire import from_money_pb, from_timestamp, to_timestamp
from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.commands.credentials import client_channel
from services.commands.csv_import import CsvHeaderError, Tally, records, run_import, send_batches

if TYPE_CHECKING:
    from services.commands.metric_output import MetricTable

BATCH_EVENTS = 500
CALL_TIMEOUT = 60.0
NANOS = Decimal(1_000_000_000)
TRUE_TEXTS = frozenset({"1", "true", "yes", "y", "x"})
COLUMNS: Mapping[str, str] = {
    # ours
    "property": "property",
    "property_id": "property",
    "event_id": "event_id",
    "conversion": "conversion",
    "conversion_name": "conversion",
    "order_id": "order_id",
    "stage": "stage",
    "timestamp": "timestamp",
    "value": "value",
    "currency": "currency",
    "refund": "refund",
    "retracted": "retracted",
    # HubSpot deal exports
    "record_id": "order_id",
    "deal_id": "order_id",
    "deal_stage": "stage",
    "amount": "value",
    "last_modified_date": "timestamp",
    "currency_code": "currency",
    # Salesforce opportunity exports
    "opportunity_id": "order_id",
    "opportunity_currency": "currency",
    "last_stage_change_date": "timestamp",
    "is_deleted": "retracted",
    "deleted": "retracted",
    "close_date": "close_date",
}
"""Header names (lower case, runs of spaces, hyphens and dots as "_") → our column."""


@dataclass
class OutcomeTally(Tally):
    """What happened to the rows of an outcomes file."""

    accepted: int = 0
    duplicate: int = 0

    @property
    def rows(self) -> int:
        """Every data row read."""
        return self.accepted + self.duplicate + self.rejected

    def summary(self) -> str:
        """The verdict counts, as one line."""
        return (
            f"{self.rows:,} rows: {self.accepted:,} accepted, {self.duplicate:,} already "
            f"sent, {self.rejected:,} rejected"
        )


def outcomes_import(args: argparse.Namespace) -> int:
    """Sends the file's outcomes and prints the verdict counts and each rejected line; 1 when
    the file cannot be read or sent or a row was rejected, 2 for a bad header."""

    def send(address: str, text: TextIO, api_key: str | None, tls: TlsSettings | None) -> Any:
        return send_outcomes(
            address,
            text,
            property_id=args.property_id or "",
            conversion_name=args.conversion,
            currency=args.currency or "",
            backfill=args.backfill,
            progress=sys.stderr,
            api_key=api_key,
            tls=tls,
        )

    return run_import("outcomes import", args, send)


def send_outcomes(
    address: str,
    text: TextIO,
    *,
    property_id: str = "",
    conversion_name: str = "deal",
    currency: str = "",
    backfill: bool = False,
    progress: TextIO | None = None,
    batch_events: int = BATCH_EVENTS,
    api_key: str | None = None,
    tls: TlsSettings | None = None,
) -> OutcomeTally:
    """Reads the CSV, sends its outcomes in batches and tallies the verdicts; errors name the
    file's line numbers. A row without an event id gets one derived from its content, so
    importing the same file again sends nothing new."""
    tally = OutcomeTally()
    with client_channel(address, api_key, tls) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        send_batches(
            read_outcomes(text, property_id, conversion_name, currency, tally),
            batch_events,
            lambda batch: _send(stub, batch, backfill, tally, progress),
        )
    return tally


def _send(
    stub: ingest_pb2_grpc.IngestServiceStub,
    batch: Sequence[tuple[int, ingest_pb2.Event]],
    backfill: bool,
    tally: OutcomeTally,
    progress: TextIO | None,
) -> None:
    request = ingest_pb2.TrackEventsRequest(events=[e for _, e in batch], backfill=backfill)
    response = stub.TrackEvents(request, timeout=CALL_TIMEOUT)
    tally.accepted += response.accepted_count
    tally.duplicate += response.duplicate_count
    tally.rejected += response.rejected_count
    for verdict in response.verdicts:
        if verdict.verdict == ingest_pb2.VERDICT_REJECTED:
            line = batch[verdict.index][0]
            for violation in verdict.violations:
                tally.errors.append(f"{line}: {violation.field}: {violation.description}")
    if progress is not None:
        print(f"outcomes import: {tally.rows:,} rows sent (line {batch[-1][0]:,})", file=progress)


def _key(name: str) -> str:
    return re.sub(r"[\s.\-]+", "_", name.strip().lower())


def stage_name(text: str) -> str:
    """A CRM's stage label as a stage name: "Closed Won" → "closed_won"."""
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


def read_outcomes(
    text: TextIO, property_id: str, conversion_name: str, currency: str, tally: OutcomeTally
) -> Iterator[tuple[int, ingest_pb2.Event]]:
    """Each data row as (line number, Event); a row that cannot be read is counted as
    rejected with its line number."""
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        raise CsvHeaderError("the file is empty")
    columns = {i: COLUMNS[_key(name)] for i, name in enumerate(header) if _key(name) in COLUMNS}
    found = set(columns.values())
    missing = [
        need
        for need, names in (("order_id", ("order_id",)), ("timestamp", ("timestamp", "close_date")))
        if not found & set(names)
    ]
    if missing:
        raise CsvHeaderError(
            f"needs columns for {', '.join(missing)} (order_id or Record ID / Opportunity ID; "
            f"timestamp or Last Modified Date / Close Date); the header has {', '.join(header)}"
        )
    for line, values in records(reader, columns, lambda: reader.line_num):
        event, problem = _event(values, property_id, conversion_name, currency)
        if problem:
            tally.reject(line, problem)
            continue
        yield line, event


def _event(
    values: Mapping[str, str], property_id: str, conversion_name: str, currency: str
) -> tuple[ingest_pb2.Event, str]:
    outcome = ingest_pb2.Outcome(
        conversion_name=values.get("conversion", "") or conversion_name,
        order_id=values.get("order_id", ""),
        stage=stage_name(values.get("stage", "")),
        retracted=values.get("retracted", "").lower() in TRUE_TEXTS,
    )
    event = ingest_pb2.Event(property_id=property_id or values.get("property", ""))
    if not event.property_id:
        return event, "property: is empty (give --property or a property column)"
    moment = _moment(values.get("timestamp", "") or values.get("close_date", ""))
    if moment is None:
        return event, "timestamp: is not an ISO 8601 date or time (2026-03-01T14:05:00Z)"
    code = (values.get("currency", "") or currency).strip().upper()
    for name, target in (("value", outcome.value), ("refund", outcome.refund)):
        text = values.get(name, "").replace(",", "").replace(" ", "")
        if not text:
            continue
        try:
            amount = Decimal(text)
        except InvalidOperation:
            return event, f"{name}: {values.get(name, '')!r} is not a number"
        if not amount.is_finite():
            return event, f"{name}: {values.get(name, '')!r} is not a number"
        if not code:
            return event, f"currency: is empty (a currency column or --currency) for a {name}"
        units = int(amount)
        target.CopyFrom(
            common_pb2.Money(currency_code=code, units=units, nanos=int((amount - units) * NANOS))
        )
    event.outcome.CopyFrom(outcome)
    event.timestamp.CopyFrom(to_timestamp(moment))
    event.event_id = values.get("event_id", "") or _derived_id(event)
    return event, ""


def _derived_id(event: ingest_pb2.Event) -> str:
    """An event id from the outcome's content and time: the same row gets the same id."""
    digest = hashlib.sha256(event.outcome.SerializeToString(deterministic=True))
    digest.update(event.timestamp.SerializeToString(deterministic=True))
    return f"outcome-{digest.hexdigest()[:32]}"


def _moment(text: str) -> datetime | None:
    """An ISO 8601 time (UTC when it names no offset) or date (midnight UTC)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def fetch_outcome_table(
    address: str,
    *,
    property_id: str,
    model: str = "last_click",
    group_by: str = "channel",
    start: datetime | None = None,
    end: datetime | None = None,
    conversion_name: str = "",
    api_key: str | None = None,
    tls: TlsSettings | None = None,
    as_of: reporting_pb2.AsOf | None = None,
) -> MetricTable:
    """The outcome report as a table: per stage a row for all its conversions (group "(all)"),
    then one per group the model credits; as it stood at `as_of` when given."""
    from services.commands.metric_output import Column, Kind, MetricTable
    from services.commands.reports import GROUP_BY

    request = reporting_pb2.GetOutcomeReportRequest(
        property_id=property_id,
        conversion_name=conversion_name,
        model=model,
        group_by=GROUP_BY[group_by],
    )
    if start:
        request.start_time.CopyFrom(to_timestamp(start))
    if end:
        request.end_time.CopyFrom(to_timestamp(end))
    if as_of is not None:
        request.as_of.CopyFrom(as_of)
    with client_channel(address, api_key, tls) as channel:
        response = reporting_pb2_grpc.ReportingServiceStub(channel).GetOutcomeReport(
            request, timeout=CALL_TIMEOUT
        )
    rows: list[dict[str, Any]] = []
    for stage in response.stages:
        rows.append(
            {
                "stage": stage.stage,
                "group": "(all)",
                "conversions": float(stage.conversions),
                "current": stage.current_conversions,
                "value": _money_text(stage.value),
                "share": stage.conversion_share,
            }
        )
        rows += [
            {
                "stage": stage.stage,
                "group": group.group,
                "conversions": group.conversions,
                "current": None,
                "value": _money_text(group.value),
                "share": group.share,
            }
            for group in stage.groups
        ]
    currency = response.currency_code
    unit = f" ({currency})" if currency else ""
    columns = (
        Column("stage", "stage", Kind.TEXT),
        Column("group", group_by, Kind.TEXT),
        Column("conversions", "conversions", Kind.NUMBER),
        Column("current", "now at stage", Kind.COUNT),
        Column("value", f"value{unit}", Kind.MONEY),
        Column("share", "share", Kind.RATIO),
    )
    newest = (
        from_timestamp(response.freshness.newest_conversion_time)
        if response.freshness.HasField("newest_conversion_time")
        else None
    )
    positions = {p.upstream: p.position for p in response.freshness.upstream_positions}
    totals = {
        "stage": "total",
        "group": "",
        "conversions": float(response.total_conversions),
        "current": None,
        "value": None,
        "share": None,
    }
    scope = {
        "kind": "outcomes",
        "conversion_name": response.conversion_name,
        "model": response.model,
        "group_by": group_by,
        "currency": currency,
        "newest_conversion_time": newest.isoformat() if newest else None,
        "upstream_positions": positions,
    }
    caption = (
        f"Conversion name: {response.conversion_name}; model: {response.model}; a stage's "
        "conversions are those that ever reached it ((all) rows; share: of conversions with "
        f"any stage), credited per {group_by} below it (share: of the stage); values are "
        "current (after value changes and refunds); retracted conversions are left out; "
        f"newest conversion counted: {newest.isoformat(timespec='seconds') if newest else 'none'}"
    )
    return MetricTable(columns, tuple(rows), totals, scope, caption)


def _money_text(money: common_pb2.Money) -> str:
    return str(from_money_pb(money).to_decimal())
