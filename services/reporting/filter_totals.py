"""The filter totals follower: whole days' live credits summed per value of a filter dimension,
kept apart from the catch-up, in its own bounded transactions."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Connection,
    Insert,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.exc import DBAPIError

from common.leadership import Leadership, SoleLeadership
from services.reporting.day_totals import DIMENSIONS
from services.reporting.domainmodel import Interval
from services.reporting.generations import Connectable, writer
from services.reporting.periods import period_start
from services.reporting.value_parts import value_part_sums
from services.reporting.views import (
    conversion_credits,
    conversion_day_counts,
    day_total_zones,
    filter_day_counts,
    filter_day_totals,
    filter_summarised_days,
    unconsented_conversions,
)

FILTER_DIMENSIONS = ("channel", "device_type", "country")
"""The dimensions whose values the filter totals split a day's credits by: few values each,
the filters reports take most (a filter on another dimension reads the credits)."""

BATCH_DAYS = 8
"""At most this many days are summarised per transaction."""
BATCH_CREDITS = 2_000
"""A batch ends after the day that brings the live credits it read to this many (on SQLite
the follower holds the write lock for its batch: ~0.6-1.2 s per 2,000 credits measured)."""
PAUSE_RATIO = 1.0
"""After a batch, the follower waits this many times the batch's time before the next, so
that the catch-up gets the write lock (SQLite) and the cores at least half of the time."""
IDLE_SECONDS = 1.0
"""How long the follower waits when no day is stale."""
RACE_PAUSE_SECONDS = 0.05
"""How long `summarise_all` waits before a batch again after a concurrent summariser's
conflict (on PostgreSQL both may insert the same day's rows)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StaleDay:
    """A day of the day counts whose filter summary is missing or out of date: its key, the
    `changed_at` its count row has and the zone its property's day totals are in."""

    property_id: str
    conversion_name: str
    model: str
    day: int
    changed_at: int
    time_zone: str


@dataclass(frozen=True, slots=True)
class Pass:
    """What one batch did: days summarised, summaries of days gone removed, live credits
    read."""

    summarised: int
    removed: int
    credits: int


def stale_days(conn: Connection, limit: int) -> list[StaleDay]:
    """Up to `limit` days whose count row has no summary, or one made at another
    `changed_at` or in another zone: the least recently changed first."""
    n, s, z = conversion_day_counts.c, filter_summarised_days.c, day_total_zones.c
    statement = (
        select(n.property_id, n.conversion_name, n.model, n.day, n.changed_at, z.time_zone)
        .join_from(conversion_day_counts, day_total_zones, z.property_id == n.property_id)
        .outerjoin(
            filter_summarised_days,
            and_(
                s.property_id == n.property_id,
                s.conversion_name == n.conversion_name,
                s.model == n.model,
                s.day == n.day,
            ),
        )
        .where(or_(s.day.is_(None), s.changed_at != n.changed_at, s.time_zone != z.time_zone))
        .order_by(n.changed_at, n.property_id, n.conversion_name, n.model, n.day)
        .limit(limit)
    )
    return [StaleDay(*row) for row in conn.execute(statement)]


def _gone_days(conn: Connection, limit: int) -> list[tuple[str, str, str, int]]:
    """Up to `limit` summarised days whose count row is gone (no live credits left)."""
    n, s = conversion_day_counts.c, filter_summarised_days.c
    counted = (
        select(n.day)
        .where(
            n.property_id == s.property_id,
            n.conversion_name == s.conversion_name,
            n.model == s.model,
            n.day == s.day,
        )
        .exists()
    )
    statement = (
        select(s.property_id, s.conversion_name, s.model, s.day).where(~counted).limit(limit)
    )
    return [(str(p), str(c), str(m), int(d)) for p, c, m, d in conn.execute(statement)]


def _forget(conn: Connection, key: tuple[str, str, str, int]) -> None:
    """Deletes a day's summary and its filter totals and counts."""
    property_id, name, model, day = key
    for table in (filter_summarised_days, filter_day_totals, filter_day_counts):
        t = table.c
        conn.execute(
            delete(table).where(
                t.property_id == property_id,
                t.conversion_name == name,
                t.model == model,
                t.day == day,
            )
        )


def summarise(conn: Connection, day: StaleDay) -> int:
    """Replaces a day's filter totals and counts by those of its live credits now (in `conn`'s
    snapshot, the one `day.changed_at` was read in) and records the summary. Returns how many
    live credits the day has."""
    key = (day.property_id, day.conversion_name, day.model, day.day)
    _forget(conn, key)
    zone = ZoneInfo(day.time_zone)
    parameters = {
        "p_property": day.property_id,
        "p_name": day.conversion_name,
        "p_model": day.model,
        "p_day": day.day,
        "p_start": period_start(Interval.DAY, day.day, zone),
        "p_end": period_start(Interval.DAY, day.day + 1, zone),
    }
    totals, counts = _summing_statements()
    conn.execute(totals, parameters)
    conn.execute(counts, parameters)
    conn.execute(
        insert(filter_summarised_days).values(
            property_id=day.property_id,
            conversion_name=day.conversion_name,
            model=day.model,
            day=day.day,
            changed_at=day.changed_at,
            time_zone=day.time_zone,
        )
    )
    t = filter_day_totals.c
    first = FILTER_DIMENSIONS[0]
    read = conn.execute(
        select(func.sum(t.credits)).where(
            t.property_id == day.property_id,
            t.conversion_name == day.conversion_name,
            t.model == day.model,
            t.filter_dimension == first,
            t.dimension == first,
            t.day == day.day,
        )
    ).scalar()
    return int(read or 0)


@cache
def _summing_statements() -> tuple[Insert, Insert]:
    """The two statements that sum one day's live credits into the filter totals and counts,
    built once (building them per day cost more CPU than the database's work on small days),
    with parameters p_property, p_name, p_model, p_day and the day's [p_start, p_end)."""
    c, u = conversion_credits.c, unconsented_conversions.c
    dimensions = dict.fromkeys((*FILTER_DIMENSIONS, *DIMENSIONS))
    credits = (
        select(
            c.conversion_id,
            c.currency_code,
            func.coalesce(c.fraction_units, 0).label("units"),
            c.value_micros.label("micros"),
            *(c[d] for d in dimensions),
        )
        .where(
            c.property_id == bindparam("p_property"),
            c.conversion_name == bindparam("p_name"),
            c.model == bindparam("p_model"),
            c.valid_to.is_(None),
            c.occurred_at >= bindparam("p_start"),
            c.occurred_at < bindparam("p_end"),
        )
        .cte("filter_day_credits")
        .prefix_with("MATERIALIZED")
    )
    head = (
        bindparam("p_property", type_=String).label("property_id"),
        bindparam("p_name", type_=String).label("conversion_name"),
        bindparam("p_model", type_=String).label("model"),
    )
    day = bindparam("p_day", type_=Integer).label("day")
    pairs = union_all(
        *(
            select(
                literal(f).label("filter_dimension"),
                credits.c[f].label("filter_value"),
                literal(d).label("dimension"),
                credits.c[d].label("value"),
                credits.c.currency_code,
                credits.c.units,
                credits.c.micros,
            )
            for f in FILTER_DIMENSIONS
            for d in DIMENSIONS
        )
    ).subquery("pairs")
    keys = (pairs.c.filter_dimension, pairs.c.filter_value, pairs.c.dimension)
    ends = (pairs.c.value, pairs.c.currency_code)
    summed = select(
        *head,
        *keys,
        day,
        *ends,
        cast(func.count(), BigInteger),
        func.sum(pairs.c.units),
        *value_part_sums(pairs.c.micros),
    ).group_by(*keys, *ends)
    t = filter_day_totals.c
    totals = insert(filter_day_totals).from_select(
        [
            t.property_id,
            t.conversion_name,
            t.model,
            t.filter_dimension,
            t.filter_value,
            t.dimension,
            t.day,
            t.value,
            t.currency_code,
            t.credits,
            t.fraction_units,
            t.value_high,
            t.value_middle,
            t.value_low,
        ],
        summed,
    )
    per_value = union_all(
        *(
            select(
                literal(f).label("filter_dimension"),
                credits.c[f].label("filter_value"),
                credits.c.conversion_id,
            ).distinct()
            for f in FILTER_DIMENSIONS
        )
    ).subquery("per_value")
    flagged = (
        select(u.conversion_id)
        .where(
            u.property_id == bindparam("p_property"),
            u.conversion_id == per_value.c.conversion_id,
            u.valid_to.is_(None),
        )
        .exists()
    )
    counted = select(
        *head,
        per_value.c.filter_dimension,
        per_value.c.filter_value,
        day,
        cast(func.count(), BigInteger),
        cast(func.count(case((flagged, 1), else_=None)), BigInteger),
    ).group_by(per_value.c.filter_dimension, per_value.c.filter_value)
    k = filter_day_counts.c
    counts = insert(filter_day_counts).from_select(
        [
            k.property_id,
            k.conversion_name,
            k.model,
            k.filter_dimension,
            k.filter_value,
            k.day,
            k.conversions,
            k.unconsented,
        ],
        counted,
    )
    return totals, counts


def summarise_batch(
    engine: Connectable, limit: int = BATCH_DAYS, credit_budget: int = BATCH_CREDITS
) -> Pass:
    """Summarises up to `limit` stale days (fewer once they have read `credit_budget` live
    credits) and removes up to `limit` summaries of days gone, in one transaction whose
    reads see one snapshot (REPEATABLE READ on PostgreSQL; SQLite's write transaction is
    one), so each summary holds the credits its `changed_at` stood for."""
    with writer(engine).connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            gone = _gone_days(conn, limit)
            for key in gone:
                _forget(conn, key)
            credits = summarised = 0
            for day in stale_days(conn, limit):
                credits += summarise(conn, day)
                summarised += 1
                if credits >= credit_budget:
                    break
    return Pass(summarised, len(gone), credits)


def summarise_all(engine: Connectable, limit: int = BATCH_DAYS) -> Pass:
    """Runs batches until no day is stale (the follower's work to its end, as tests and
    benches need it), again after a batch that a follower summarising the same views at
    the same time made fail. Returns what the batches did, added up."""
    summarised = removed = credits = 0
    while True:
        try:
            done = summarise_batch(engine, limit)
        except DBAPIError as error:
            if error.connection_invalidated:
                raise
            log.info("summarising the filter totals again after: %s", error)
            time.sleep(RACE_PAUSE_SECONDS)
            continue
        summarised += done.summarised
        removed += done.removed
        credits += done.credits
        if not done.summarised and not done.removed:
            return Pass(summarised, removed, credits)


class FilterTotalsFollower:
    """Keeps the filter totals of the live views in the background, in the replica that
    leads the task: batches of BATCH_DAYS stale days, each batch followed by a pause as long
    as it took (PAUSE_RATIO), so the credits' catch-up keeps the lead; idle for IDLE_SECONDS
    when nothing is stale. Failures are logged and retried: the reports read the credits for
    any day not summarised, so a stopped follower costs speed, never correctness."""

    def __init__(
        self,
        engine: Connectable,
        leadership: Leadership | None = None,
        *,
        batch_days: int = BATCH_DAYS,
        pause_ratio: float = PAUSE_RATIO,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self._engine = engine
        self._leadership = leadership or SoleLeadership()
        self._batch_days = batch_days
        self._pause_ratio = pause_ratio
        self._idle = idle_seconds
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="filter-totals", daemon=True)

    def start(self) -> None:
        """Starts following in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stops after the batch in flight."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(30.0)

    def _run(self) -> None:
        while not self._stopping.is_set():
            wait = self._idle
            if self._leadership.term is not None:
                try:
                    wait = self._step()
                except Exception as error:  # the reports read the credits meanwhile
                    log.warning("summarising the filter totals: %s", error)
            self._stopping.wait(wait)

    def _step(self) -> float:
        """One batch; how long to wait before the next."""
        started = time.monotonic()
        done = summarise_batch(self._engine, self._batch_days)
        if not done.summarised and not done.removed:
            return self._idle
        return (time.monotonic() - started) * self._pause_ratio
