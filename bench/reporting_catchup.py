"""Reporting's catch-up per upstream: how many entries per second each projection applies
when it is behind (after an outage or a rebuild), on fresh views.

Synthetic, prepared logs held in memory go through each projection's `process_page`, as its
follower hands them over: attribution's (bench.reporting_queries' log: ~10 credit rows and
~3 path rows per entry) into ConversionCreditsProjection; ingest's (visitors' page views,
touchpoints and conversions: sessions, person events, first touches) into
IngestActivityProjection; identity's (persons created, identifiers linked, merges) into
IdentityLinksProjection. Each is timed twice in one run, a page of 500 per transaction (the
follower's page) and CATCH_UP_PAGES pages per transaction (what the follower does while
full pages come), so their ratio is measured under the same load. gRPC reads and decoding
are excluded.

The mixed rows put the three logs through their projections together, in the proportions
the demo sample gives them (DEMO_SAMPLE_MIX: per conversion ~55 ingest, ~13 identity and
~51 attribution entries, one of them an attribution), each upstream's transactions
interleaved: the issue's 20k entries/s counts entries of all three logs.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.reporting_queries import attribution_log, views_engine
from bench.storage import BACKENDS, fresh_env
from bench.table import Row, format_table, per_second
from common.follower import CATCH_UP_PAGES, UpstreamEntry
from services.reporting.activity import IngestActivityProjection
from services.reporting.domainmodel import VisitEvent
from services.reporting.person_projection import IdentityLinksProjection
from services.reporting.person_values import (
    EventKind,
    IdentityChange,
    PersonEvent,
    TrackedVisit,
)
from services.reporting.projections import ConversionCreditsProjection

log = logging.getLogger("bench")

PAGE = 500
"""Entries per page (the follower's page size)."""
SIZES = {"tiny": 2_000, "default": 10_000}
"""Entries per upstream log."""
START = datetime(2026, 10, 1, tzinfo=UTC)
CHANNELS = ("Paid Search", "Organic Search", "Email", "Paid Social", "Referral", "Direct")


def ingest_log(entries: int, seed: int = 5) -> list[Any]:
    """Visitors' page views and touchpoints (each a visit and a person event) and
    conversions, interleaved in time order: about 8 events per visitor."""
    rng = random.Random(seed)
    values: list[Any] = []
    moment = START
    active: list[tuple[str, str, int]] = []  # (property, visitor, events left)
    visitor = 0
    while len(values) < entries:
        if not active or rng.random() < 0.15:
            visitor += 1
            active.append((f"shop-{visitor % 3}", f"v{visitor:08d}", rng.randrange(2, 15)))
        index = rng.randrange(len(active))
        property_id, name, left = active[index]
        moment += timedelta(milliseconds=rng.randrange(1, 2_000))
        record = f"r{len(values):09d}"
        roll = rng.random()
        if roll < 0.08:
            values.append(
                PersonEvent(
                    property_id, record, name, EventKind.CONVERSION, "purchase", moment,
                    value_micros=rng.randrange(5, 500) * 1_000_000, currency_code="EUR",
                )
            )  # fmt: skip
        else:
            touch = roll < 0.3
            channel = rng.choice(CHANNELS) if touch else ""
            kind = EventKind.TOUCHPOINT if touch else EventKind.PAGE_VIEW
            values.append(
                TrackedVisit(
                    VisitEvent(
                        property_id, name, moment, touch and channel != "Direct", channel,
                        f"src-{rng.randrange(20)}" if touch else "", "cpc" if touch else "",
                        f"cmp-{rng.randrange(50)}" if touch else "",
                    ),
                    PersonEvent(
                        property_id, record, name, kind, f"/p/{rng.randrange(300)}", moment,
                        channel=channel,
                    ),
                )
            )  # fmt: skip
        if left <= 1:
            active.pop(index)
        else:
            active[index] = (property_id, name, left - 1)
    return values


def identity_log(entries: int, seed: int = 6) -> list[Any]:
    """Persons created with two identifiers, identifiers linked to them later, and merges."""
    rng = random.Random(seed)
    values: list[Any] = []
    persons = 0
    while len(values) < entries:
        roll = rng.random()
        property_id = f"shop-{rng.randrange(3)}"
        if roll < 0.7 or persons < 10:
            persons += 1
            ids = (f"anonymous_id:a{persons}", f"email:e{persons}")
            values.append(IdentityChange(property_id, ((f"p{persons}", ids),)))
        elif roll < 0.9:
            person = rng.randrange(1, persons + 1)
            extra = (f"user_id:u{person}-{len(values)}",)
            values.append(IdentityChange(property_id, ((f"p{person}", extra),)))
        else:
            a, b = rng.randrange(1, persons + 1), rng.randrange(1, persons + 1)
            moved = (f"anonymous_id:a{b}", f"email:e{b}", f"anonymous_id:a{a}", f"email:e{a}")
            values.append(IdentityChange(property_id, ((f"p{a}", moved),)))
    return values


DEMO_SAMPLE_MIX = {"ingest": 19_761, "identity": 4_813, "attribution": 18_570}
"""Entries each upstream log held after the demo sample of 3,000 visitors (19,763 events,
361 conversions) went through ingest, identity and attribution (2026-12-01, served entries
counted by kind): attribution's log serves an entry for every event it stores, and only 367
of them carry an attribution (one settings entry; the rest carry no reporting event and
reach the projection as None)."""
DEMO_SAMPLE_ATTRIBUTIONS = 367


def mixed_logs(entries: int) -> dict[str, list[Any]]:
    """About `entries` upstream entries of the three logs in the demo sample's proportions
    (DEMO_SAMPLE_MIX), attribution's the synthetic attributions spread among entries
    without a reporting event."""
    total = sum(DEMO_SAMPLE_MIX.values())
    sizes = {name: max(1, entries * count // total) for name, count in DEMO_SAMPLE_MIX.items()}
    attributed = max(
        1, sizes["attribution"] * DEMO_SAMPLE_ATTRIBUTIONS // DEMO_SAMPLE_MIX["attribution"]
    )
    attributions = list(attribution_log(attributed))[:attributed]
    attribution: list[Any] = [None] * sizes["attribution"]
    for number, value in enumerate(attributions, start=1):
        attribution[number * len(attribution) // len(attributions) - 1] = value
    return {
        "ingest": ingest_log(sizes["ingest"]),
        "identity": identity_log(sizes["identity"]),
        "attribution": attribution,
    }


def _entries(values: Sequence[Any]) -> list[UpstreamEntry[Any]]:
    recorded = START
    entries = []
    for position, value in enumerate(values, start=1):
        recorded += timedelta(milliseconds=100)
        entries.append(UpstreamEntry(position, value, recorded_at=recorded))
    return entries


def _time_mixed(
    sinks: dict[str, Any], logs: dict[str, Sequence[Any]], per_transaction: int
) -> tuple[float, float]:
    """Seconds (wall, this process's CPU) the sinks take over their logs, `per_transaction`
    entries a call, the logs' transactions interleaved in proportion (each upstream's
    follower keeps pace with the others)."""
    batches = []
    for name, values in logs.items():
        entries = _entries(values)
        for start in range(0, len(entries), per_transaction):
            batch = entries[start : start + per_transaction]
            batches.append(((start + len(batch)) / len(entries), name, batch))
    seconds = cpu = 0.0
    for _, name, batch in sorted(batches, key=lambda b: (b[0], b[1])):
        began, began_cpu = time.perf_counter(), time.process_time()
        sinks[name].process_page(name, batch)
        seconds += time.perf_counter() - began
        cpu += time.process_time() - began_cpu
    return seconds, cpu


def _time(
    process: Callable[..., None], values: Sequence[Any], per_transaction: int
) -> tuple[float, float]:
    """Seconds `process` takes over the values, `per_transaction` entries a call: wall
    clock, and this process's CPU time (steadier on a shared machine; PostgreSQL's own work
    is not in it)."""
    entries = _entries(values)
    seconds = cpu = 0.0
    for start in range(0, len(entries), per_transaction):
        page = entries[start : start + per_transaction]
        began, began_cpu = time.perf_counter(), time.process_time()
        process(page)
        seconds += time.perf_counter() - began
        cpu += time.process_time() - began_cpu
    return seconds, cpu


def run(backend: str, entries: int) -> list[Row]:
    """The catch-up rows of one backend: each upstream at one and at CATCH_UP_PAGES pages
    per transaction, each on fresh storage."""
    logs: dict[str, Callable[[], list[Any]]] = {
        "attribution": lambda: list(attribution_log(int(entries / 1.1)))[:entries],
        "ingest": lambda: ingest_log(entries),
        "identity": lambda: identity_log(entries),
    }
    sinks: dict[str, Callable[[Any], Any]] = {
        "attribution": ConversionCreditsProjection,
        "ingest": IngestActivityProjection,
        "identity": IdentityLinksProjection,
    }
    rows = []
    for upstream, make_log in logs.items():
        values = make_log()
        for pages in (1, CATCH_UP_PAGES):
            with fresh_env(backend) as env, views_engine(env) as engine:
                sink = sinks[upstream](engine)
                log.info("%s: %s catch-up, %s page(s) per transaction", backend, upstream, pages)
                seconds, cpu = _time(
                    lambda page, sink=sink, name=upstream: sink.process_page(name, page),
                    values,
                    PAGE * pages,
                )
            rows.append(
                Row(
                    f"reporting catch-up: {upstream}",
                    backend,
                    f"{len(values):,} entries",
                    seconds,
                    per_second(len(values), seconds, "entries"),
                    f"{pages} page(s) of {PAGE} per transaction; CPU {cpu:.2f} s, "
                    f"{len(values) / cpu if cpu else 0:,.0f} entries per CPU second; "
                    "target >= 20,000/s; process_page only (no gRPC read or decoding)",
                )
            )
    logs_mixed = mixed_logs(3 * entries)
    mixed = sum(len(values) for values in logs_mixed.values())
    attributed = sum(v is not None for v in logs_mixed["attribution"])
    for pages in (1, CATCH_UP_PAGES):
        with fresh_env(backend) as env, views_engine(env) as engine:
            log.info("%s: mixed catch-up, %s page(s) per transaction", backend, pages)
            seconds, cpu = _time_mixed(
                {name: make(engine) for name, make in sinks.items()}, logs_mixed, PAGE * pages
            )
        rows.append(
            Row(
                "reporting catch-up: mixed",
                backend,
                f"{mixed:,} entries",
                seconds,
                per_second(mixed, seconds, "entries"),
                f"{pages} page(s) of {PAGE} per transaction; CPU {cpu:.2f} s, "
                f"{mixed / cpu if cpu else 0:,.0f} entries per CPU second; the demo sample's "
                f"mix: {len(logs_mixed['ingest']):,} ingest, {len(logs_mixed['identity']):,} "
                f"identity, {len(logs_mixed['attribution']):,} attribution entries "
                f"({attributed:,} attributions); target >= 20,000/s",
            )
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bench.reporting_catchup`: the rows for the chosen backends."""
    parser = argparse.ArgumentParser(prog="python -m bench.reporting_catchup", description=__doc__)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,postgres")
    parser.add_argument("--size", choices=list(SIZES), default="default")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    for name in ("alembic", "services"):
        logging.getLogger(name).setLevel(logging.WARNING)
    rows: list[Row] = []
    for backend in args.backends.split(","):
        rows += run(backend.strip(), SIZES[args.size])
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
