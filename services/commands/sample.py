"""`convtrack sample send`: the demo's sample traffic and ad spend, sent to a running ingest."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

import grpc

from common.channels import operator_tls
from common.settings import SettingsError, TlsSettings, process_env
from common.wire import to_timestamp
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services import sample_data
from services.commands.credentials import client_channel, sent_api_key
from services.commands.import_events import (
    CALL_TIMEOUT,
    MAX_BATCH_EVENTS,
    call_with_retries,
    track_with_retries,
)

SPEND_BATCH_ROWS = 500
REPORTED_CONVERSION = "purchase"


@dataclass
class SampleTally:
    """What ingest answered for the sample's events and spend rows."""

    sent: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    spend_rows: int = 0


def sample_send(args: argparse.Namespace) -> int:
    """Generates the demo sample for today (the same events all day, so a second run is
    all duplicates), sends it with progress on stderr and prints what ingest accepted."""
    if not 1 <= args.batch_size <= MAX_BATCH_EVENTS:
        print(
            f"convtrack sample send: --batch-size must be 1 to {MAX_BATCH_EVENTS}", file=sys.stderr
        )
        return 2
    address = args.ingest or process_env().get("INGEST_ADDR", "127.0.0.1:50051")
    try:
        tls = operator_tls(args.tls_dir, process_env())
        api_key = sent_api_key(args.api_key, process_env(), address)
    except SettingsError as error:
        print(f"convtrack sample send: {error}", file=sys.stderr)
        return 2
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        config = sample_data.SampleConfig(
            property_id=args.property_id, visitors=args.visitors, end=today
        )
    except ValueError as error:
        print(f"convtrack sample send: {error}", file=sys.stderr)
        return 2
    print(
        f"Sending the sample of {config.visitors:,} visitors over {config.days} days for "
        f"property {config.property_id!r} to ingest at {address} ...",
        file=sys.stderr,
    )
    try:
        tally = send_sample(
            address,
            config,
            progress=sys.stderr,
            batch_size=args.batch_size,
            api_key=api_key,
            tls=tls,
        )
    except grpc.RpcError as error:
        print(f"convtrack sample send: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    print(
        f"Sent {tally.sent:,} events: {tally.accepted:,} accepted, {tally.duplicate:,} "
        f"duplicate, {tally.rejected:,} rejected; {tally.spend_rows:,} daily spend rows "
        "recorded."
    )
    print(
        "Reports follow within seconds: convtrack report conversions "
        f"--property {config.property_id} --conversion {REPORTED_CONVERSION}; the CRM's "
        f"deals: convtrack report outcomes --property {config.property_id} "
        f"--conversion {sample_data.DEAL_CONVERSION}"
    )
    return 0


def send_sample(
    address: str,
    config: sample_data.SampleConfig,
    *,
    progress: TextIO | None = None,
    batch_size: int = 500,
    api_key: str | None = None,
    tls: TlsSettings | None = None,
) -> SampleTally:
    """Tracks the sample's events in batches (live traffic, with the client's clock) and
    records its daily spend (the events are `sample_data.sample_events`: the web traffic with
    the CRM deals and their outcomes among it); busy and unavailable answers are retried as
    `convtrack import events` retries them (safe: events are stored once by id, spend once
    per day and key). Connects with the operators' TLS identity `tls` and sends `api_key`
    when given."""
    events = sample_data.sample_events(config)
    tally = SampleTally()
    with client_channel(address, api_key, tls) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        for batch in sample_data.batches(events, batch_size):
            response = track_with_retries(
                stub,
                ingest_pb2.TrackEventsRequest(
                    events=batch, sent_at=to_timestamp(datetime.now(UTC))
                ),
            )
            tally.sent += len(batch)
            tally.accepted += response.accepted_count
            tally.duplicate += response.duplicate_count
            tally.rejected += response.rejected_count
            if progress is not None:
                print(
                    f"{tally.sent:,}/{len(events):,} events: {tally.accepted:,} accepted, "
                    f"{tally.duplicate:,} duplicate, {tally.rejected:,} rejected",
                    file=progress,
                    flush=True,
                )
        spend = sample_data.generate_spend(config)
        for start in range(0, len(spend), SPEND_BATCH_ROWS):
            tally.spend_rows += _record_spend(stub, spend[start : start + SPEND_BATCH_ROWS])
        if progress is not None:
            print(f"{tally.spend_rows:,} daily spend rows recorded", file=progress, flush=True)
    return tally


def _record_spend(stub: ingest_pb2_grpc.IngestServiceStub, rows: list[ingest_pb2.SpendRow]) -> int:
    """Records one batch of spend rows, retried like events; the number recorded."""
    request = ingest_pb2.RecordSpendRequest(rows=rows)
    response: ingest_pb2.RecordSpendResponse = call_with_retries(
        lambda: stub.RecordSpend(request, timeout=CALL_TIMEOUT)
    )
    return response.recorded_count
