"""`convtrack import events FILE.jsonl`: backfill history into a running ingest, in batches."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TextIO, TypeVar

import grpc
from google.protobuf import json_format

from common.channels import operator_tls
from common.grpc_errors import retry_delay_of
from common.settings import SettingsError, TlsSettings, process_env
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.commands.credentials import client_channel, sent_api_key

BATCH_EVENTS = 500
MAX_BATCH_EVENTS = 1000  # ingest's limit per batch
BATCH_BYTES = 3 * 1024 * 1024  # under ingest's 4 MiB per batch
CALL_TIMEOUT = 60.0
ATTEMPTS = 5
RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# Ingest is busy (its queue or call limit is full): it says how long to wait, and a busy
# server is no sign of failure, so these are retried for longer than outages.
BUSY = grpc.StatusCode.RESOURCE_EXHAUSTED
BUSY_WAIT_LIMIT = 300.0
MAX_BACKOFF = 30.0

_Reply = TypeVar("_Reply")


@dataclass
class ImportTally:
    """What happened to the lines of an import file."""

    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    unreadable: int = 0
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def lines(self) -> int:
        """Every line read, but blank ones."""
        return self.accepted + self.duplicate + self.rejected + self.unreadable


def import_events(args: argparse.Namespace) -> int:
    """Sends the file's events with the backfill flag and prints the verdict counts; 1 when
    the file cannot be read or a batch cannot be sent."""
    if not 1 <= args.batch_size <= MAX_BATCH_EVENTS:
        print(
            f"convtrack import events: --batch-size must be 1 to {MAX_BATCH_EVENTS}",
            file=sys.stderr,
        )
        return 2
    address = args.addr or process_env().get("INGEST_ADDR", "127.0.0.1:50051")
    try:
        tls = operator_tls(args.tls_dir, process_env())
        api_key = sent_api_key(args.api_key, process_env(), address)
    except SettingsError as error:
        print(f"convtrack import events: {error}", file=sys.stderr)
        return 2
    try:
        with args.file.open(encoding="utf-8") as lines:
            tally = send_events(
                address,
                lines,
                progress=sys.stderr,
                batch_size=args.batch_size,
                api_key=api_key,
                tls=tls,
            )
    except OSError as error:
        print(f"convtrack import events: {error}", file=sys.stderr)
        return 1
    except grpc.RpcError as error:
        print(f"convtrack import events: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    print(format_tally(tally))
    return 0


def send_events(
    address: str,
    lines: TextIO,
    *,
    progress: TextIO | None = None,
    batch_size: int = BATCH_EVENTS,
    api_key: str | None = None,
    tls: TlsSettings | None = None,
) -> ImportTally:
    """Reads one `ingest.v1.Event` per line (protobuf JSON mapping) and tracks them in
    backfill batches; unreadable lines are counted and reported on `progress`. A batch that
    fails with UNAVAILABLE or DEADLINE_EXCEEDED, or is refused as busy (RESOURCE_EXHAUSTED),
    is retried (see `track_with_retries`)."""
    tally = ImportTally()
    with client_channel(address, api_key, tls) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        for batch in _batches(lines, tally, progress, batch_size):
            response = track_with_retries(
                stub, ingest_pb2.TrackEventsRequest(events=batch, backfill=True)
            )
            tally.accepted += response.accepted_count
            tally.duplicate += response.duplicate_count
            tally.rejected += response.rejected_count
            for verdict in response.verdicts:
                for violation in verdict.violations:
                    tally.reasons[(violation.field, violation.description)] += 1
            if progress is not None:
                print(
                    f"{tally.lines:,} lines: {tally.accepted:,} accepted, "
                    f"{tally.duplicate:,} duplicate, {tally.rejected:,} rejected, "
                    f"{tally.unreadable:,} unreadable",
                    file=progress,
                    flush=True,
                )
    return tally


def _batches(
    lines: TextIO, tally: ImportTally, progress: TextIO | None, batch_size: int
) -> Iterator[list[ingest_pb2.Event]]:
    batch: list[ingest_pb2.Event] = []
    size = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json_format.Parse(line, ingest_pb2.Event())
        except json_format.ParseError as error:
            tally.unreadable += 1
            if progress is not None:
                print(f"line {number}: not an Event: {error}", file=progress)
            continue
        event_size = event.ByteSize()
        if batch and (len(batch) >= batch_size or size + event_size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += event_size
    if batch:
        yield batch


def track_with_retries(
    stub: ingest_pb2_grpc.IngestServiceStub,
    request: ingest_pb2.TrackEventsRequest,
    busy_wait_limit: float = BUSY_WAIT_LIMIT,
) -> ingest_pb2.TrackEventsResponse:
    """Tracks one batch, retried as `call_with_retries` says. Retries are safe: events are
    stored once by id."""
    return call_with_retries(
        lambda: stub.TrackEvents(request, timeout=CALL_TIMEOUT), busy_wait_limit
    )


def call_with_retries(
    call: Callable[[], _Reply], busy_wait_limit: float = BUSY_WAIT_LIMIT
) -> _Reply:
    """Makes an idempotent call to ingest. UNAVAILABLE and DEADLINE_EXCEEDED are retried
    ATTEMPTS times with exponential backoff; RESOURCE_EXHAUSTED (ingest busy) is retried after
    the delay its RetryInfo asks for until `busy_wait_limit` seconds were spent waiting."""
    failures = 0
    waited = 0.0
    while True:
        try:
            return call()
        except grpc.RpcError as error:
            code = error.code()
            if code is BUSY:
                asked = retry_delay_of(error)
                delay = asked.total_seconds() if asked is not None else 1.0
                if waited + delay > busy_wait_limit:
                    raise
            elif code in RETRIED and failures < ATTEMPTS - 1:
                delay = min(2.0**failures, MAX_BACKOFF)
                failures += 1
            else:
                raise
            waited += delay
            time.sleep(delay)


def format_tally(tally: ImportTally) -> str:
    """The verdict counts, then the rejections by field and reason."""
    lines = [
        f"accepted {tally.accepted:,}",
        f"duplicate {tally.duplicate:,}",
        f"rejected {tally.rejected:,}",
        f"unreadable {tally.unreadable:,}",
    ]
    lines += [
        f"  {count:,}  {field_path}: {reason}"
        for (field_path, reason), count in tally.reasons.most_common()
    ]
    return "\n".join(lines)
