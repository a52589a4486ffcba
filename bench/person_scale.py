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
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from bench.reporting_bulk import analyse
from bench.reporting_queries import views_engine
from bench.storage import BACKENDS, fresh_env
from bench.table import Row, format_table, per_second
from common.follower import UpstreamEntry
from services.reporting.activity import IngestActivityProjection
from services.reporting.person_projection import IdentityLinksProjection
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
from services.reporting.views import person_events

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


def run(env: dict[str, str], backend: str, touchpoints: int, queries: int) -> list[Row]:
    """Loads and asks; the rows."""
    rows = []
    with views_engine(env) as engine:
        log.info("%s: loading about %s touchpoints", backend, f"{touchpoints:,}")
        loaded = load(engine, touchpoints)
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(person_events)).scalar_one()
        rows.append(
            Row(
                "person views load (activity projection, pages of 20,000)",
                backend,
                f"{loaded.events:,} events",
                loaded.seconds,
                per_second(loaded.events, loaded.seconds, "entries"),
                f"{stored:,} person_events rows, {loaded.visitors:,} visitors; "
                f"{loaded.cpu:,.0f} s CPU in the bench process",
            )
        )
        for kind, ask in questions(engine).items():
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    rows: list[Row] = []
    for backend in args.backends.split(","):
        with fresh_env(backend.strip()) as env:
            rows += run(env, backend.strip(), args.touchpoints, args.queries)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
