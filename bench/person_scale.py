"""Funnels and cohorts at the issue's scale (issue #9: "10M touchpoints ... funnels and cohorts
under 500 ms"): reporting's person views loaded through the ingest activity projection's own
`process_page` in pages of PAGE entries (its exact rows, in fewer transactions than the
follower uses), persons from identity's log through the identity links projection, then
funnels and cohorts over varied time ranges of the largest property, p50 and p99.

Per visitor: 1-8 touchpoints (landing pages with Zipf-like popularity, a share under
/pricing) over a year, an identify call for every second visitor, and a purchase for about
one in five; persons of two visitors for one in ten. Sessions (visits) are not loaded: no
funnel or cohort reads them.

`python -m bench.person_scale --touchpoints 10000000 --backends sqlite,postgres`

`--keep DIR` (one backend, SQLite) loads into DIR and keeps it; run again with the same DIR
and size, it asks the questions of the kept views without loading them again. `--bulk`
writes the rows funnels read (person events, first touches, identity links, positions)
directly, as the projections would write them, without the cohort summary or the log's
clock: a 10M load in minutes rather than an hour or more on a shared machine, for timing
live funnels only (as-of questions need the clock); it asks only the funnels.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from bench.reporting_bulk import analyse
from bench.reporting_queries import views_engine
from bench.storage import BACKENDS, fresh_env
from bench.table import Row, format_table, per_second
from common import storage
from common.follower import UpstreamEntry
from common.sql_positions import record_position
from services.reporting import activity, person_projection
from services.reporting.activity import IngestActivityProjection
from services.reporting.generations import writer
from services.reporting.person_projection import IdentityLinksProjection, micros_of
from services.reporting.person_reports import PersonReports
from services.reporting.person_values import (
    CohortQuery,
    EventKind,
    FunnelQuery,
    FunnelStep,
    IdentityChange,
    MatchMode,
    PersonEvent,
    StepKind,
)
from services.reporting.views import (
    identity_links,
    person_events,
    projection_positions,
    visitor_first_touches,
)

log = logging.getLogger("bench")

PAGE = 20_000
"""Entries per process_page call (one transaction)."""
PROPERTIES = (("shop-eu", 0.7), ("shop-us", 0.3))
"""Properties and their share of visitors; queries go to the first."""
START = datetime(2025, 11, 1, tzinfo=UTC)
DAYS = 365
CHANNELS = ("paid_search", "organic_search", "direct", "email", "paid_social", "referral")
PAGES = 2_000
"""Distinct landing pages; one in ten is under /pricing."""
STEPS = (
    FunnelStep(StepKind.PAGE, "/pricing", MatchMode.PREFIX),
    FunnelStep(StepKind.EVENT, "identify"),
    FunnelStep(StepKind.CONVERSION, "purchase"),
)
TARGET_SECONDS = 0.5
BULK_CACHE_KIB = 3_000_000
"""SQLite's page cache while bulk loading (KiB)."""


def _page(rng: random.Random) -> str:
    rank = int(rng.paretovariate(1.0)) % PAGES
    return f"/pricing/{rank}" if rank % 10 == 0 else f"/page/{rank}"


def person_log(touchpoints: int, seed: int = 9) -> Iterator[PersonEvent]:
    """Ingest's person events in time order per visitor (visitors one after another, as
    a log of many interleaved visitors would hold the same rows): about `touchpoints`
    touchpoints."""
    rng = random.Random(seed)
    made = 0
    visitor = 0
    while made < touchpoints:
        visitor += 1
        property_id = PROPERTIES[0][0] if rng.random() < PROPERTIES[0][1] else PROPERTIES[1][0]
        name = f"anon:v{visitor}"
        at = START + timedelta(seconds=rng.random() * (DAYS - 30) * 86_400)
        for n in range(1 + min(7, int(rng.expovariate(1 / 3.0)))):
            made += 1
            yield PersonEvent(
                property_id, f"t{visitor}-{n}", name, EventKind.TOUCHPOINT, _page(rng), at,
                rng.choice(CHANNELS),
            )  # fmt: skip
            at += timedelta(hours=rng.random() * 48)
        if visitor % 2 == 0:
            yield PersonEvent(property_id, f"i{visitor}", name, EventKind.IDENTIFY, "", at)
        if rng.random() < 0.2:
            at += timedelta(hours=rng.random() * 24)
            yield PersonEvent(
                property_id, f"c{visitor}", name, EventKind.CONVERSION, "purchase", at,
                value_micros=rng.randrange(5, 500) * 1_000_000, currency_code="EUR",
            )  # fmt: skip


def identity_log(visitors: int) -> Iterator[IdentityChange]:
    """Persons of two consecutive visitors of the same property, for one in ten visitors
    (the property drawn as `person_log` draws it is not known here: both get a person)."""
    for n in range(1, visitors, 20):
        for property_id, _ in PROPERTIES:
            yield IdentityChange(property_id, ((f"person-{n}", (f"anon:v{n}", f"anon:v{n + 1}")),))


@dataclass(frozen=True)
class Loaded:
    """What loading did."""

    events: int
    visitors: int
    seconds: float
    cpu: float


def load(engine: Engine, touchpoints: int) -> Loaded:
    """Feeds the person log to the activity projection and the identity log to the links
    projection, PAGE entries per call."""
    wall, cpu = time.perf_counter(), time.process_time()
    activity = IngestActivityProjection(engine)
    clock = START
    events = 0
    visitors = 0
    page: list[UpstreamEntry[Any]] = []
    for event in person_log(touchpoints):
        events += 1
        clock += timedelta(milliseconds=5)
        page.append(UpstreamEntry(events, event, recorded_at=clock))
        if event.kind is EventKind.TOUCHPOINT and event.record_id.endswith("-0"):
            visitors += 1
        if len(page) == PAGE:
            activity.process_page("ingest", page)
            page = []
            if events % (PAGE * 25) < PAGE:
                log.info("%s person events", f"{events:,}")
    activity.process_page("ingest", page)
    links = IdentityLinksProjection(engine)
    changes: list[UpstreamEntry[Any]] = []
    for n, change in enumerate(identity_log(visitors), start=1):
        changes.append(UpstreamEntry(n, change, recorded_at=clock))
        if len(changes) == PAGE:
            links.process_page("identity", changes)
            changes = []
    links.process_page("identity", changes)
    analyse(engine)
    return Loaded(events, visitors, time.perf_counter() - wall, time.process_time() - cpu)


def bulk_load(engine: Engine, touchpoints: int) -> Loaded:
    """Writes the rows `load` writes into `person_events`, `visitor_first_touches`,
    `identity_links` and the positions, directly and PAGE entries per transaction (not the
    cohort summary, nor the log's clock): for timing live funnels on a large store."""
    wall, cpu = time.perf_counter(), time.process_time()
    write = writer(engine)
    events = visitors = 0
    rows: list[dict[str, Any]] = []
    firsts: list[dict[str, Any]] = []
    first: tuple[str, str, int, str] = ("", "", 0, "")
    """The current visitor's first touch (person_log gives a visitor's events together)."""

    def flush() -> None:
        for table, new in ((person_events, rows), (visitor_first_touches, firsts)):
            if not new:
                continue
            if engine.dialect.name == "sqlite":
                columns = list(new[0])
                conn.exec_driver_sql(
                    f"INSERT INTO {table.name} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})",
                    [tuple(row.values()) for row in new],
                )
            else:
                conn.execute(table.insert(), new)
        conn.commit()
        rows.clear()
        firsts.clear()

    conn = storage.writer(engine).connect()
    if engine.dialect.name == "sqlite":
        # The indexes' pages in memory while rows arrive in record id order, not theirs;
        # the connection's default again before it returns to the pool.
        conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")

    for event in person_log(touchpoints):
        events += 1
        at = micros_of(event.occurred_at)
        rows.append(
            {
                "property_id": event.property_id,
                "record_id": event.record_id,
                "visitor": event.visitor,
                "kind": event.kind.value,
                "name": event.name,
                "occurred_us": at,
                "value_micros": event.value_micros,
                "currency_code": event.currency_code,
                "valid_from": events,
                "valid_to": None,
            }
        )
        if event.kind is EventKind.TOUCHPOINT:
            if first[:2] == (event.property_id, event.visitor):
                if (at, event.record_id) < first[2:]:
                    raise ValueError(f"{event}: earlier than its visitor's first touch")
            else:
                first = (event.property_id, event.visitor, at, event.record_id)
                visitors += 1
                firsts.append(
                    {
                        "property_id": event.property_id,
                        "visitor": event.visitor,
                        "occurred_us": at,
                        "record_id": event.record_id,
                        "channel": event.channel,
                        "valid_from": events,
                        "valid_to": None,
                    }
                )
        if len(rows) == PAGE:
            flush()
            if events % (PAGE * 25) < PAGE:
                log.info("%s person events", f"{events:,}")
    flush()
    if engine.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA cache_size=-2000")
        conn.commit()
    conn.close()
    links = []
    changes = 0
    for changes, change in enumerate(identity_log(visitors), start=1):
        for person_id, identifiers in change.moves:
            links += [
                {
                    "property_id": change.property_id,
                    "identifier": identifier,
                    "person_id": person_id,
                    "valid_from": changes,
                    "valid_to": None,
                }
                for identifier in identifiers
            ]
    with write.begin() as conn:
        for start in range(0, len(links), PAGE):
            conn.execute(identity_links.insert(), links[start : start + PAGE])
        for name, upstream, position in (
            (activity.PROJECTION_NAME, "ingest", events),
            (person_projection.PROJECTION_NAME, "identity", changes),
        ):
            record_position(conn, projection_positions, name, upstream, position)
    analyse(engine)
    return Loaded(events, visitors, time.perf_counter() - wall, time.process_time() - cpu)


def _window(rng: random.Random, days: int) -> tuple[datetime, datetime]:
    start = START + timedelta(days=rng.randrange(0, DAYS - days))
    return start, start + timedelta(days=days)


def questions(engine: Engine) -> dict[str, Callable[[random.Random], object]]:
    """Each kind of question, varied by a generator."""
    reports = PersonReports(engine)
    prop = PROPERTIES[0][0]
    now = START + timedelta(days=DAYS + 60)

    def funnel(days: int) -> Callable[[random.Random], object]:
        def ask(rng: random.Random) -> object:
            start, end = _window(rng, days)
            return reports.funnel(FunnelQuery(prop, STEPS, start=start, end=end))

        return ask

    def cohorts(days: int) -> Callable[[random.Random], object]:
        def ask(rng: random.Random) -> object:
            start, end = _window(rng, days)
            return reports.cohorts(CohortQuery(prop, start=start, end=end), now=now)

        return ask

    return {
        "funnel, 7 days": funnel(7),
        "funnel, 30 days": funnel(30),
        "funnel, 90 days": funnel(90),
        "cohorts, 8 weeks": cohorts(56),
        "cohorts, 26 weeks": cohorts(182),
    }


LOADED = "person_scale_loaded.json"
"""In a kept data directory: what loading did, and at which size."""


def kept_or_load(engine: Engine, touchpoints: int, kept: Path | None, bulk: bool = False) -> Loaded:
    """What loading did: read from `kept` when it holds views of this size, else loaded now
    (and recorded in `kept`, when given)."""
    marker = kept / LOADED if kept is not None else None
    if marker is not None and marker.exists():
        recorded = json.loads(marker.read_text())
        if (recorded.pop("touchpoints"), recorded.pop("bulk")) != (touchpoints, bulk):
            raise SystemExit(f"{kept} holds another load: {marker.read_text()}")
        log.info("reusing the views loaded in %s", kept)
        return Loaded(**recorded)
    loaded = (bulk_load if bulk else load)(engine, touchpoints)
    if marker is not None:
        marker.write_text(json.dumps({"touchpoints": touchpoints, "bulk": bulk, **asdict(loaded)}))
    return loaded


def run(
    env: dict[str, str],
    backend: str,
    touchpoints: int,
    queries: int,
    kept: Path | None = None,
    bulk: bool = False,
) -> list[Row]:
    """Loads (or reuses the views kept in `kept`; `bulk`: the funnels' rows only) and asks;
    the rows."""
    rows = []
    with views_engine(env) as engine:
        log.info("%s: loading about %s touchpoints", backend, f"{touchpoints:,}")
        loaded = kept_or_load(engine, touchpoints, kept, bulk)
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(person_events)).scalar_one()
        rows.append(
            Row(
                "person views bulk load (funnels' rows)"
                if bulk
                else "person views load (activity projection, pages of 20,000)",
                backend,
                f"{loaded.events:,} events",
                loaded.seconds,
                per_second(loaded.events, loaded.seconds, "entries"),
                f"{stored:,} person_events rows, {loaded.visitors:,} visitors; "
                f"{loaded.cpu:,.0f} s CPU in the bench process",
            )
        )
        for kind, ask in questions(engine).items():
            if bulk and not kind.startswith("funnel"):
                continue
            rng = random.Random(kind)
            ask(rng)
            seconds = []
            for _ in range(queries):
                started = time.perf_counter()
                ask(rng)
                seconds.append(time.perf_counter() - started)
            ordered = sorted(seconds)
            p50, p99 = (
                ordered[len(ordered) // 2],
                ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            )
            verdict = "met" if p99 < TARGET_SECONDS else "MISSED"
            rows.append(
                Row(
                    kind,
                    backend,
                    f"{touchpoints:,} touchpoints",
                    None,
                    f"p50 {p50 * 1000:,.0f} ms",
                    f"p99 {p99 * 1000:,.0f} ms of {queries}; target < 500 ms: {verdict}",
                )
            )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bench.person_scale`: the rows for the chosen backends and size."""
    parser = argparse.ArgumentParser(prog="python -m bench.person_scale", description=__doc__)
    parser.add_argument("--touchpoints", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,postgres")
    parser.add_argument(
        "--keep", type=Path, help="SQLite only: load into this directory, or reuse its views"
    )
    parser.add_argument(
        "--bulk", action="store_true", help="write the funnels' rows directly; funnels only"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    backends = [b.strip() for b in args.backends.split(",")]
    if args.keep is not None and backends != ["sqlite"]:
        parser.error("--keep needs --backends sqlite")
    rows: list[Row] = []
    for backend in backends:
        storage: AbstractContextManager[dict[str, str]] = (
            nullcontext({"CONVTRACK_DATA_DIR": str(args.keep)})
            if args.keep is not None
            else fresh_env(backend)
        )
        with storage as env:
            if args.keep is not None:
                args.keep.mkdir(parents=True, exist_ok=True)
            rows += run(env, backend, args.touchpoints, args.queries, args.keep, args.bulk)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
