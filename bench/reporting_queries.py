"""Report query speed on large views, and the projection's catch-up rate that loads them.

The views are loaded through reporting's own projection (`ConversionCreditsProjection.
process_page`, 8 pages of 500 per call, as the follower hands them over while catching up)
from a prepared, synthetic attribution log held in memory: conversions in several
properties, 11 dimensions with skewed cardinalities, four models (first_click, last_click,
linear, position_based: about ten credits per conversion), paths, and re-attributions of a
share of conversions later in the log (their first revision stays as history, `valid_to`
set, for as-of queries). The time this takes is the projection catch-up row (entries/s;
gRPC reads and decoding excluded).

Then the filter totals follower (services/reporting/filter_totals.py) summarises every day
to its end, as the running service does in the background: its row gives its CPU per live
credit read. Then the public query objects (`ReportingApplication`, `MetricsReports`,
`PathReports`, not gRPC) answer repeated, varied queries of each kind on the largest
property; p50 and p99 are printed with the number of queries (with few queries p99 is about
the slowest one).

Scales: `tiny` (tests), `default` (20k conversions, about 200k credit rows; `make bench`)
and `full` (1M conversions, about 10M credit rows: the issue's scale). `--loader bulk` (the
default at `full`) writes the same rows with bench/reporting_bulk.py instead of the
projection (its row is then a load time, not catch-up); `--conversions N` sets the size.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import logging
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, insert, select

from bench.reporting_bulk import analyse, bulk_load
from bench.storage import BACKENDS, fresh_env
from bench.table import Row, format_table, per_second
from common.follower import CATCH_UP_PAGES, UpstreamEntry
from services.reporting.application import ReportingApplication
from services.reporting.domainmodel import (
    AsOf,
    AttributedCredit,
    ConversionAttribution,
    DimensionFilter,
    GroupBy,
    Interval,
    MetricsQuery,
    ModelCredits,
    ReportingInput,
    ReportQuery,
)
from services.reporting.filter_totals import summarise_all
from services.reporting.metrics import MetricsReports
from services.reporting.path_reports import PathReports
from services.reporting.path_values import DistributionKind, PathQuery, PathSummary
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.server import ReportingSettings, build_engine, migrate
from services.reporting.views import conversion_credits, spend

log = logging.getLogger("bench")

PAGE = 500 * CATCH_UP_PAGES
"""Entries per projection call: the follower's pages of 500, CATCH_UP_PAGES of them per
transaction while it catches up."""


@dataclass(frozen=True)
class Scale:
    """How much to load and how many queries of each kind to time."""

    name: str
    conversions: int
    queries: int
    seconds_per_kind: float


SCALES = {
    "tiny": Scale("tiny", 600, 3, 5.0),
    "default": Scale("default", 20_000, 30, 10.0),
    "full": Scale("full", 1_000_000, 50, 30.0),
}

MODELS = ("first_click", "last_click", "linear", "position_based")
PROPERTIES = (("shop-eu", 0.55), ("shop-us", 0.25), ("saas", 0.15), ("blog", 0.05))
"""Properties and their share of conversions; queries go to the first (largest)."""
CONVERSION_NAMES = (("purchase", 0.6), ("sign_up", 0.3), ("lead", 0.1))
REVISED_SHARE = 0.1
"""The share of conversions re-attributed later in the log (a superseded revision each)."""
UNCONSENTED_SHARE = 0.02
DAYS = 365
END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=DAYS)
TOUCHPOINT_POOL = 50_000
"""Distinct touchpoints (dimension tuples) drawn from, with skewed popularity."""

CHANNELS = (
    "Paid Search", "Organic Search", "Direct", "Email", "Paid Social", "Organic Social",
    "Referral", "Display", "Affiliates", "Video",
)  # fmt: skip
DIMENSION_SIZES = {
    "source": 60,
    "medium": 8,
    "campaign": 800,
    "term": 3000,
    "content": 200,
    "device_type": 3,
    "browser": 8,
    "country": 80,
    "landing_page": 1500,
}
"""Distinct values per dimension besides channel; popularity is Zipf-like (1/rank)."""


def _zipf_picker(rng: random.Random, values: Sequence[str]) -> Callable[[], str]:
    """Picks values with weight 1/rank."""
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(values))))
    total = cumulative[-1]

    def pick() -> str:
        return values[bisect.bisect_left(cumulative, rng.random() * total)]

    return pick


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, float]]) -> str:
    return rng.choices([p for p, _ in pairs], weights=[w for _, w in pairs])[0]


@dataclass(frozen=True, slots=True)
class _Touch:
    channel: str
    dims: dict[str, str]


def _touchpoint_pool(rng: random.Random) -> list[_Touch]:
    pickers = {
        name: _zipf_picker(rng, [f"{name}-{n}" for n in range(size)])
        for name, size in DIMENSION_SIZES.items()
    }
    channel = _zipf_picker(rng, CHANNELS)
    return [
        _Touch(channel(), {name: pick() for name, pick in pickers.items()})
        for _ in range(TOUCHPOINT_POOL)
    ]


def _credits(touches: Sequence[_Touch], value: int) -> tuple[ModelCredits, ...]:
    n = len(touches)
    if n == 1:
        position = [1.0]
    elif n == 2:
        position = [0.5, 0.5]
    else:
        position = [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]
    fractions = {
        "first_click": [(0, 1.0)],
        "last_click": [(n - 1, 1.0)],
        "linear": [(i, 1.0 / n) for i in range(n)],
        "position_based": list(enumerate(position)),
    }
    return tuple(
        ModelCredits(
            model,
            tuple(
                AttributedCredit(
                    touchpoint_id=f"t{i}",
                    channel=touches[i].channel,
                    source=touches[i].dims["source"],
                    medium=touches[i].dims["medium"],
                    campaign=touches[i].dims["campaign"],
                    fraction=fraction,
                    value_micros=round(value * fraction),
                    term=touches[i].dims["term"],
                    content=touches[i].dims["content"],
                    device_type=touches[i].dims["device_type"],
                    browser=touches[i].dims["browser"],
                    country=touches[i].dims["country"],
                    landing_page=touches[i].dims["landing_page"],
                )
                for i, fraction in fractions[model]
            ),
        )
        for model in MODELS
    )


def _attribution(
    rng: random.Random, pool: Sequence[_Touch], number: int, revision: int, touches: int
) -> ConversionAttribution:
    property_id = _weighted(rng, PROPERTIES)
    occurred = START + timedelta(seconds=rng.random() * DAYS * 86_400)
    chosen = [pool[int(rng.paretovariate(1.2)) % len(pool)] for _ in range(touches)]
    first_touch = occurred - timedelta(days=rng.random() * 30)
    value = rng.randrange(5, 500) * 1_000_000
    runs: list[tuple[str, int]] = []
    for touch in chosen:
        if runs and runs[-1][0] == touch.channel:
            runs[-1] = (touch.channel, runs[-1][1] + 1)
        else:
            runs.append((touch.channel, 1))
    non_direct = [t.channel for t in chosen if t.channel != "Direct"]
    return ConversionAttribution(
        property_id=property_id,
        conversion_id=f"c{number:08d}",
        event_id=f"e{number:08d}",
        conversion_name=_weighted(rng, CONVERSION_NAMES),
        occurred_at=occurred,
        currency_code="EUR",
        value_micros=value,
        revision=revision,
        models=_credits(chosen, value),
        unconsented=rng.random() < UNCONSENTED_SHARE,
        path=PathSummary(
            channels=tuple(c for c, _ in runs),
            run_lengths=tuple(n for _, n in runs),
            touchpoint_count=touches,
            first_touch_at=first_touch,
            last_non_direct_channel=non_direct[-1] if non_direct else "Direct",
        ),
    )


def attribution_log(conversions: int, seed: int = 9) -> Iterator[ReportingInput]:
    """A synthetic attribution log: every conversion's first attribution, with the
    re-attributions of REVISED_SHARE of them (one more touchpoint) interleaved later."""
    rng = random.Random(seed)
    pool = _touchpoint_pool(rng)
    pending: list[tuple[int, ConversionAttribution, int]] = []  # (due entry, first, touches)
    for number in range(conversions):
        touches = 1 + min(11, int(rng.expovariate(1 / 3.0)))
        first = _attribution(rng, pool, number, 1, touches)
        yield first
        if rng.random() < REVISED_SHARE:
            bisect.insort(pending, (number + rng.randrange(1, 5000), first, touches),
                          key=lambda p: p[0])  # fmt: skip
        while pending and pending[0][0] <= number:
            _, earlier, count = pending.pop(0)
            yield _revision(rng, pool, earlier, number, count)
    for _, earlier, count in pending:
        yield _revision(rng, pool, earlier, conversions, count)


def _revision(
    rng: random.Random,
    pool: Sequence[_Touch],
    first: ConversionAttribution,
    number: int,
    touches: int,
) -> ConversionAttribution:
    """A re-attribution of `first`: same conversion, one more touchpoint."""
    extra = _attribution(rng, pool, number, 2, min(touches + 1, 12))
    return replace(
        extra,
        property_id=first.property_id,
        conversion_id=first.conversion_id,
        event_id=first.event_id,
        conversion_name=first.conversion_name,
        occurred_at=first.occurred_at,
        unconsented=first.unconsented,
    )


@dataclass(frozen=True)
class Loaded:
    """What loading the views did."""

    entries: int
    seconds: float
    last_position: int


def log_entries(conversions: int) -> Iterator[UpstreamEntry[ReportingInput | None]]:
    """The synthetic log as upstream entries from position 1, recorded a second apart."""
    recorded = START
    for position, value in enumerate(attribution_log(conversions), start=1):
        recorded += timedelta(seconds=1)
        yield UpstreamEntry(position, value, recorded_at=recorded)


def load(engine: Engine, conversions: int) -> Loaded:
    """Feeds the synthetic log to the projection page by page (the views migrated: see
    `views_engine`); also adds a year of daily spend per channel and campaign for the largest
    property."""
    projection = ConversionCreditsProjection(engine)
    position = 0
    entries = 0
    seconds = 0.0
    page: list[UpstreamEntry[ReportingInput | None]] = []
    for entry in log_entries(conversions):
        position = entry.position
        page.append(entry)
        if len(page) == PAGE:
            started = time.perf_counter()
            projection.process_page("attribution", page)
            seconds += time.perf_counter() - started
            entries += len(page)
            page = []
    if page:
        started = time.perf_counter()
        projection.process_page("attribution", page)
        seconds += time.perf_counter() - started
        entries += len(page)
    _load_spend(engine)
    return Loaded(entries, seconds, position)


def load_in_bulk(engine: Engine, conversions: int) -> Loaded:
    """The same views as `load`, written by the bulk loader (bench/reporting_bulk.py), then
    analysed; `seconds` is the whole load with generating the log."""
    started = time.perf_counter()
    entries, position = bulk_load(engine, log_entries(conversions))
    _load_spend(engine)
    analyse(engine)
    return Loaded(entries, time.perf_counter() - started, position)


def _load_spend(engine: Engine) -> None:
    rng = random.Random(3)
    rows = []
    for day in range(DAYS):
        date = (START + timedelta(days=day)).date().isoformat()
        for channel in CHANNELS[:6]:
            for campaign in range(5):
                cost = rng.randrange(10, 2000) * 1_000_000
                rows.append(
                    {
                        "property_id": PROPERTIES[0][0],
                        "day": date,
                        "source": f"source-{campaign}",
                        "medium": "cpc",
                        "campaign": f"campaign-{campaign}",
                        "channel": channel if campaign else CHANNELS[0],
                        "cost_micros": cost,
                        "currency_code": "EUR",
                        "original_cost_micros": cost,
                        "original_currency_code": "EUR",
                        "revision": 1,
                        "valid_from": day * 30 + campaign * 6 + CHANNELS.index(channel) + 1,
                        "valid_to": None,
                    }
                )
    with engine.begin() as conn:
        unique = {(r["day"], r["source"], r["medium"], r["campaign"]): r for r in rows}
        conn.execute(insert(spend), list(unique.values()))


@dataclass(frozen=True)
class Timings:
    """The seconds each query of one kind took."""

    kind: str
    seconds: list[float]

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _window(rng: random.Random, days: int) -> tuple[datetime, datetime]:
    start = START + timedelta(days=rng.randrange(days, DAYS - days))
    return start, start + timedelta(days=days)


def query_kinds(engine: Engine, last_position: int) -> dict[str, Callable[[random.Random], object]]:
    """Each kind of query, as a function of a random generator that varies it."""
    reports = ReportingApplication(engine, ("attribution",), filter_totals=True)
    metrics = MetricsReports(engine)
    paths = PathReports(engine)
    prop = PROPERTIES[0][0]
    dimensions = [g for g in GroupBy if g is not GroupBy.CONVERSION_NAME]
    filter_values = {
        GroupBy.CHANNEL: CHANNELS[:4],
        GroupBy.COUNTRY: ("country-0", "country-1", "country-5"),
        GroupBy.DEVICE_TYPE: ("device_type-0", "device_type-1"),
        GroupBy.CAMPAIGN: ("campaign-0", "campaign-3", "campaign-40"),
    }

    def base(rng: random.Random, days: int) -> ReportQuery:
        start, end = _window(rng, days)
        return ReportQuery(
            property_id=prop,
            model=rng.choice(MODELS),
            conversion_name=rng.choice(("purchase", "sign_up")),
            start=start,
            end=end,
        )

    def grouped(rng: random.Random) -> object:
        query = replace(base(rng, rng.choice((7, 30, 90))), group_by=rng.choice(dimensions))
        return reports.conversion_report(query, limit=50)

    def filtered(rng: random.Random) -> object:
        dimension = rng.choice(list(filter_values))
        found = DimensionFilter(dimension, (rng.choice(filter_values[dimension]),))
        query = replace(
            base(rng, rng.choice((7, 30, 90))),
            group_by=rng.choice(dimensions),
            filters=(found,),
        )
        return reports.conversion_report(query, limit=50)

    def interval(rng: random.Random) -> object:
        days, step = rng.choice(((30, Interval.DAY), (90, Interval.WEEK), (180, Interval.MONTH)))
        query = replace(base(rng, days), group_by=GroupBy.CHANNEL, interval=step)
        return reports.conversion_report(query, limit=200)

    def compared(rng: random.Random) -> object:
        days = rng.choice((7, 30))
        query = base(rng, days)
        assert query.start is not None
        query = replace(
            query,
            group_by=rng.choice(dimensions),
            compare_start=query.start - timedelta(days=days),
            compare_end=query.start,
        )
        return reports.conversion_report(query, limit=50)

    def models(rng: random.Random) -> object:
        return reports.compare_models(base(rng, 30), MODELS)

    def models_sliced(rng: random.Random) -> object:
        query = base(rng, 30)
        assert query.start is not None
        query = replace(
            query,
            dimensions=(GroupBy.CHANNEL, GroupBy.CAMPAIGN),
            compare_start=query.start - timedelta(days=30),
            compare_end=query.start,
        )
        return reports.compare_models(query, MODELS)

    def cost(rng: random.Random) -> object:
        start, end = _window(rng, rng.choice((7, 30, 90)))
        query = MetricsQuery(
            property_id=prop,
            model=rng.choice(MODELS),
            group_by=rng.choice((GroupBy.CHANNEL, GroupBy.CAMPAIGN)),
            conversion_name="purchase",
            start=start,
            end=end,
        )
        return metrics.cost_report(query)

    def top_paths(rng: random.Random) -> object:
        start, end = _window(rng, rng.choice((7, 30, 90)))
        query = PathQuery(
            property_id=prop,
            start=start,
            end=end,
            conversion_name="purchase",
            collapse_repeats=rng.random() < 0.5,
            page_size=20,
        )
        return paths.top_paths(query)

    def path_length(rng: random.Random) -> object:
        start, end = _window(rng, rng.choice((30, 90)))
        query = PathQuery(property_id=prop, start=start, end=end, conversion_name="purchase")
        kind = rng.choice(list(DistributionKind))
        return paths.distribution(query, kind)

    def as_of(rng: random.Random) -> object:
        query = replace(
            base(rng, 30),
            group_by=rng.choice(dimensions),
            as_of=AsOf(attribution_position=rng.randrange(last_position // 2, last_position)),
        )
        return reports.conversion_report(query, limit=50)

    return {
        "grouped": grouped,
        "filtered": filtered,
        "interval": interval,
        "compared": compared,
        "compare models (4)": models,
        "compare models (4), channel+campaign, compared": models_sliced,
        "cost": cost,
        "top paths": top_paths,
        "path length / time lag": path_length,
        "as-of (grouped)": as_of,
    }


TARGETS = {"grouped": 0.05, "filtered": 0.05, "compared": 0.05}
"""The issue's p99 targets, in seconds (funnels and cohorts: 0.5 s, once they exist)."""

PERSON_REPORTS_HOOK = (
    "funnels and cohorts (target < 500 ms): the funnel and cohorts rows of "
    "bench/person_identity_bench.py (`python -m bench.person_identity_bench`), on their own data; "
    "at scale: `python -m bench.person_scale --touchpoints N`"
)


def time_queries(
    kinds: Mapping[str, Callable[[random.Random], object]], scale: Scale
) -> list[Timings]:
    """Runs each kind `scale.queries` times (fewer when its time budget runs out), each
    query varied by a seeded generator; the first, warming query is not counted."""
    results = []
    for kind, run in kinds.items():
        rng = random.Random(kind)
        run(rng)
        seconds: list[float] = []
        budget = time.perf_counter() + scale.seconds_per_kind
        while len(seconds) < scale.queries and (len(seconds) < 3 or time.perf_counter() < budget):
            started = time.perf_counter()
            run(rng)
            seconds.append(time.perf_counter() - started)
        results.append(Timings(kind, seconds))
    return results


@contextmanager
def views_engine(env: Mapping[str, str]) -> Iterator[Engine]:
    settings = ReportingSettings.from_env(env)
    migrate(settings)
    engine = build_engine(settings)
    try:
        yield engine
    finally:
        engine.dispose()


def run(env: Mapping[str, str], backend: str, scale: Scale, bulk: bool = False) -> list[Row]:
    """Loads the views at `scale` on fresh storage (through the projection, or with `bulk`
    by the bulk loader) and times the queries; the rows."""
    with views_engine(env) as engine:
        how = "in bulk" if bulk else "through the projection"
        log.info("%s: loading %s conversions %s", backend, scale.conversions, how)
        cpu = time.process_time()
        loaded = (load_in_bulk if bulk else load)(engine, scale.conversions)
        cpu = time.process_time() - cpu
        with engine.connect() as conn:
            credit_rows = conn.execute(
                select(func.count()).select_from(conversion_credits)
            ).scalar_one()
        log.info("%s: summarising the filter totals", backend)
        follower_cpu, follower_wall = time.process_time(), time.perf_counter()
        summarised = summarise_all(engine)
        follower_cpu = time.process_time() - follower_cpu
        follower_wall = time.perf_counter() - follower_wall
        log.info("%s: timing report queries", backend)
        timings = time_queries(query_kinds(engine, loaded.last_position), scale)
    size = f"{scale.name}: {scale.conversions:,} conv"
    if bulk:
        first = Row(
            "reporting views bulk load (not catch-up)",
            backend,
            f"{loaded.entries:,} entries",
            loaded.seconds,
            per_second(loaded.entries, loaded.seconds, "entries"),
            f"{credit_rows:,} credit rows; {cpu:,.0f} s CPU in the bench process; log "
            "generation, day totals recomputed and ANALYZE included",
        )
    else:
        first = Row(
            "reporting projection catch-up",
            backend,
            f"{loaded.entries:,} entries",
            loaded.seconds,
            per_second(loaded.entries, loaded.seconds, "entries"),
            f"target >= 20,000/s; {PAGE} entries per transaction, {credit_rows:,} credit rows "
            "written (process_page only: no gRPC read or decoding)",
        )
    per_credit = follower_cpu / summarised.credits * 1e6 if summarised.credits else 0.0
    follower = Row(
        "filter totals follower, every day to its end",
        backend,
        f"{summarised.summarised:,} days",
        follower_wall,
        per_second(summarised.credits, follower_wall, "credits"),
        f"{summarised.credits:,} live credits read; {follower_cpu:,.1f} s CPU in the bench "
        f"process ({per_credit:,.0f} us per credit; PostgreSQL's server CPU not included)",
    )
    rows = [first, follower]
    for timing in timings:
        p50, p99 = timing.percentile(0.5), timing.percentile(0.99)
        target = TARGETS.get(timing.kind)
        verdict = ""
        if target is not None:
            verdict = (
                f"; target p99 < {target * 1000:.0f} ms: {'met' if p99 < target else 'MISSED'}"
            )
        rows.append(
            Row(
                f"report {timing.kind}",
                backend,
                size,
                None,
                f"p50 {p50 * 1000:,.0f} ms",
                f"p99 {p99 * 1000:,.0f} ms of {len(timing.seconds)} varied queries{verdict}",
            )
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bench.reporting_queries`: the rows for the chosen backends and scale."""
    parser = argparse.ArgumentParser(prog="python -m bench.reporting_queries", description=__doc__)
    parser.add_argument("--scale", choices=list(SCALES), default="default")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,postgres")
    parser.add_argument(
        "--loader",
        choices=("projection", "bulk"),
        help="how the views are loaded (default: the projection, in bulk at the full scale)",
    )
    parser.add_argument("--conversions", type=int, help="load this many instead of the scale's")
    args = parser.parse_args(argv)
    scale = SCALES[args.scale]
    if args.conversions:
        scale = replace(scale, conversions=args.conversions)
    bulk = (args.loader or ("bulk" if scale.name == "full" else "projection")) == "bulk"
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    rows: list[Row] = []
    for backend in args.backends.split(","):
        with fresh_env(backend.strip()) as env:
            rows += run(env, backend.strip(), scale, bulk)
    print(format_table(rows))
    print(PERSON_REPORTS_HOOK)
    return 0


if __name__ == "__main__":
    sys.exit(main())
