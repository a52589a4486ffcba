"""Funnels and cohorts: per person as identity sees them, from the person views.

Every query joins the events (or first touches) of visitors to `identity_links` to count
persons: an identifier identity linked counts as its person, any other as a person of its
own. The work is bounded by the rows a query selects through the indexes, not by the size of
the views: a funnel reads the events of its first step in its time range (by property, kind,
name or page prefix, and time), the first touches of the persons who entered (by visitor),
and for each later step, per person who reached the one before, the person's identifiers
(by person) and their events of the step (by visitor and kind); cohorts read the first
touches in their time range (by property and time), the identifiers of those persons (by
person) and their conversions (by visitor and kind).

Live cohorts under the deterministic identity read the cohort summary instead
(services/reporting/cohort_summary.py), which the projections keep per person: sums per
first-touch day, channel and period, and the persons' rows for a day the time range cuts. As of a
past position, under the blended identity, for several conversion names, or before the
summary is in the property's time zone, cohorts query the person views as described above.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Connection,
    FromClause,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    select,
    union_all,
)

from services.reporting.as_of import IDENTITY, INGEST, ViewsAt, current, live_position, resolve
from services.reporting.cohort_summary import CohortFigures, summary_figures
from services.reporting.domainmodel import AsOf, Freshness, Interval
from services.reporting.errors import (
    MissingPropertyError,
    MixedCurrencyError,
    UnknownPropertyError,
)
from services.reporting.generations import Connectable
from services.reporting.identity_settings import DEFAULT_SCOPE
from services.reporting.periods import first_day, key_of, period_key_sql, period_start
from services.reporting.person_projection import micros_of
from services.reporting.person_values import (
    NO_FIRST_TOUCH,
    CohortInterval,
    CohortPeriod,
    CohortQuery,
    CohortReport,
    CohortRow,
    EventKind,
    FunnelBreakdown,
    FunnelQuery,
    FunnelReport,
    FunnelStep,
    FunnelStepFigures,
    MatchMode,
    StepKind,
)
from services.reporting.scope import check_request, snapshot, utc
from services.reporting.value_parts import joined_value, value_part_sums
from services.reporting.views import (
    blended_links,
    conversion_values,
    identity_links,
    person_events,
    property_settings,
    reporting_identities,
    visitor_first_touches,
)

MICROS_PER_SECOND = 1_000_000
_INTERVALS = {CohortInterval.WEEK: Interval.WEEK, CohortInterval.MONTH: Interval.MONTH}
_PAGE_KINDS = (EventKind.PAGE_VIEW.value, EventKind.TOUCHPOINT.value)
_EVENT_KINDS = {k.value for k in EventKind} - {EventKind.CONVERSION.value}


class PersonReports:
    """Answers funnel and cohort queries from the person views, each from one snapshot.

    `shards` is the number of shards the followers run in (the freshness of a property is its
    shard's position); `cohort_summary` False makes cohorts always query the person views
    (for comparing the two)."""

    def __init__(self, engine: Connectable, shards: int = 1, cohort_summary: bool = True) -> None:
        self._engine = engine
        self._shards = shards
        self._cohort_summary = cohort_summary

    def funnel(self, query: FunnelQuery) -> FunnelReport:
        """Persons reaching each step, overall and per first-touch channel (channels by name,
        a page of them after `query.after`)."""
        if not query.steps:
            raise ValueError("a funnel needs at least one step")
        with snapshot(self._engine) as conn:
            scope = _scope(conn, query.property_id, query.as_of, self._shards)
            self._require_property(conn, scope, query.start, query.end)
            shape = _FunnelShape(
                query.property_id,
                tuple(query.steps),
                query.within,
                query.start is not None,
                query.end is not None,
            )
            statement = _funnel_statement(shape, scope, conn.dialect.name)
            within = query.within // timedelta(microseconds=1)
            start_us = micros_of(query.start) if query.start is not None else None
            end_us = micros_of(query.end) if query.end is not None else None
            bounds = {
                "start_us": start_us,
                "end_us": end_us,
                "end_within_us": None if end_us is None else end_us + within,
            }
            counts: dict[str, list[int]] = {}
            for index, name, persons in conn.execute(statement, bounds):
                counts.setdefault(str(name), [0] * len(query.steps))[int(index)] = int(persons)
            totals = [sum(c[n] for c in counts.values()) for n in range(len(query.steps))]
            channels = sorted(c for c in counts if c > query.after)
            page = channels[: query.page_size]
            more = len(channels) > query.page_size
            names = [s.value for s in query.steps if s.kind is StepKind.CONVERSION]
            return FunnelReport(
                steps=_figures(query.steps, totals),
                channels=tuple(FunnelBreakdown(c, _figures(query.steps, counts[c])) for c in page),
                within=query.within,
                freshness=self._fresh(conn, scope, names),
                next_after=page[-1] if more and page else "",
            )

    def cohorts(self, query: CohortQuery, now: datetime | None = None) -> CohortReport:
        """Persons by first-touch period and channel, with their conversions counted up to
        the end of each period since (periods that have not begun by `now` are left out; as
        of a past moment, `now` is that moment unless given). Live and deterministic, from the
        cohort summary where it answers (see the module's docstring); else from the person
        views."""
        with snapshot(self._engine) as conn:
            scope = _scope(conn, query.property_id, query.as_of, self._shards)
            if now is None and query.as_of is not None:
                now = query.as_of.time or scope.views.recorded_at
            now = utc(now or datetime.now(UTC))
            self._require_property(conn, scope, query.start, query.end)
            zone_name = _time_zone(conn, query.property_id)
            zone = ZoneInfo(zone_name)
            interval = _INTERVALS[query.interval]
            f = visitor_first_touches.c
            earliest = conn.execute(
                select(func.min(f.occurred_us)).where(
                    f.property_id == query.property_id, current(f, scope.views.ingest)
                )
            ).scalar_one()
            if earliest is None:
                return CohortReport(
                    (),
                    query.interval,
                    zone_name,
                    query.conversion_names,
                    "",
                    self._fresh(conn, scope, query.conversion_names),
                )
            figures = None
            if self._cohort_summary and scope.live and not scope.blended:
                figures = summary_figures(conn, query, zone_name)
            if figures is None:
                figures = _queried_figures(conn, query, scope, zone, int(earliest), now)
            sizes, sums = figures.sizes, figures.sums
            converted, currencies = figures.converted, figures.currencies
            if len(currencies) > 1:
                raise MixedCurrencyError(
                    f"property {query.property_id!r} has conversion values in several "
                    f"reporting currencies ({', '.join(sorted(currencies))}): narrow the "
                    "time range or the conversion names"
                )
            now_key = key_of(interval, now, zone)
            rows = []
            for cohort_key, channel in sorted(sizes):
                persons = sizes[(cohort_key, channel)]
                periods = []
                count = value = people = 0
                for index in range(min(query.periods, now_key - cohort_key + 1)):
                    n, v = sums.get((cohort_key, channel, index), (0, 0))
                    count, value = count + n, value + v
                    people += converted.get((cohort_key, channel, index), 0)
                    periods.append(
                        CohortPeriod(
                            index, count, people, people / persons if persons else 0.0, value
                        )
                    )
                rows.append(
                    CohortRow(
                        start=period_start(interval, cohort_key, zone),
                        period=first_day(interval, cohort_key).isoformat(),
                        channel=channel,
                        persons=persons,
                        periods=tuple(periods),
                    )
                )
            listed = [r for r in rows if _row_key(r) > query.after]
            page = listed[: query.page_size]
            more = len(listed) > query.page_size
            return CohortReport(
                rows=tuple(page),
                interval=query.interval,
                time_zone=zone_name,
                conversion_names=query.conversion_names,
                currency_code=next(iter(currencies), ""),
                freshness=self._fresh(conn, scope, query.conversion_names),
                next_after=_row_key(page[-1]) if more and page else "",
            )

    def _require_property(
        self, conn: Connection, scope: _Scope, start: datetime | None, end: datetime | None
    ) -> None:
        property_id = scope.property_id
        check_request(property_id, start, end)
        e = person_events.c
        found = conn.execute(
            select(e.property_id)
            .where(e.property_id == property_id, current(e, scope.views.ingest))
            .limit(1)
        ).first()
        if found is None:
            raise UnknownPropertyError(
                f"property {property_id!r} has no recorded page view, touchpoint, conversion "
                "or identify call (events recorded before reporting kept them appear after "
                "`convtrack rebuild-reports`)"
            )

    def _fresh(self, conn: Connection, scope: _Scope, names: Sequence[str]) -> Freshness:
        """The positions of ingest's and identity's logs the views reflect, and the newest
        conversion (of the names, or of any name) of the property; as of a past moment,
        the positions then and when attribution recorded its newest entry then."""
        property_id = scope.property_id
        e = person_events.c
        conditions = [
            e.property_id == property_id,
            e.kind == EventKind.CONVERSION.value,
            current(e, scope.views.ingest),
        ]
        if names:
            conditions.append(e.name.in_(names))
        newest = conn.execute(select(func.max(e.occurred_us)).where(*conditions)).scalar_one()
        positions = []
        for upstream, past in ((INGEST, scope.views.ingest), (IDENTITY, scope.views.identity)):
            live = live_position(conn, upstream, property_id, self._shards)
            positions.append((upstream, live if past is None else past))
        return Freshness(
            tuple(positions),
            None if newest is None else _moment(int(newest)),
            None if scope.live else scope.views.recorded_at,
        )


def _queried_figures(
    conn: Connection,
    query: CohortQuery,
    scope: _Scope,
    zone: ZoneInfo,
    earliest: int,
    now: datetime,
) -> CohortFigures:
    """The figures of a cohort query from the person views (`earliest` the property's first
    first touch)."""
    interval = _INTERVALS[query.interval]
    low = min(_moment(earliest), utc(query.start) if query.start else _moment(earliest))
    high = max(now, utc(query.end) if query.end else now) + timedelta(days=1)

    def key(micros: ColumnElement[int]) -> ColumnElement[int]:
        seconds = micros // literal(MICROS_PER_SECOND, Integer)
        return period_key_sql(seconds, interval, zone, low, high)

    cohort = _cohort_persons(query, key, scope)
    conversions = _cohort_conversions(query, cohort, key, scope)
    figures = CohortFigures()
    for part, k, c, p, n, high_part, middle, low_part, lowest, highest in conn.execute(
        _cohort_figures(cohort, conversions)
    ):
        if part == _SIZES:
            figures.sizes[(int(k), str(c))] = int(n)
        elif part == _SUMS:
            figures.sums[(int(k), str(c), int(p))] = (
                int(n),
                joined_value(high_part, middle, low_part),
            )
            figures.currencies |= {lowest, highest} - {""}
        else:
            figures.converted[(int(k), str(c), int(p))] = int(n)
    return figures


def _moment(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def _row_key(row: CohortRow) -> str:
    return f"{row.period}\x1f{row.channel}"


def _time_zone(conn: Connection, property_id: str) -> str:
    t = property_settings.c
    found = conn.execute(
        select(t.time_zone).where(t.property_id == property_id)
    ).scalar_one_or_none()
    return str(found or "UTC")


def _figures(steps: Sequence[FunnelStep], persons: Sequence[int]) -> tuple[FunnelStepFigures, ...]:
    figures = []
    for index, step in enumerate(steps):
        previous = persons[index - 1] if index else persons[0]
        figures.append(
            FunnelStepFigures(
                step=step,
                persons=persons[index],
                from_previous=persons[index] / previous if previous else 0.0,
                from_first=persons[index] / persons[0] if persons[0] else 0.0,
                dropped=previous - persons[index],
            )
        )
    return tuple(figures)


@dataclass(frozen=True, slots=True)
class _Scope:
    """What a person query reads: the property, whether its persons are blended, and the
    positions of the logs whose rows it reads (live: None)."""

    property_id: str
    blended: bool
    views: ViewsAt

    @property
    def live(self) -> bool:
        """Whether every view is read live."""
        return self.views.is_live and self.views.identity is None


def _scope(conn: Connection, property_id: str, as_of: AsOf | None, shards: int) -> _Scope:
    if not property_id:
        raise MissingPropertyError("property_id is required")
    views = resolve(conn, as_of, property_id, shards)
    return _Scope(property_id, is_blended(conn, property_id, views.attribution), views)


def is_blended(conn: Connection, property_id: str, position: int | None = None) -> bool:
    """Whether the property resolves persons by the blended reporting identity at
    `position` of attribution's log (None: now): its own choice, else the default's, else
    deterministic (attribution's own default, before its log says otherwise)."""
    r = reporting_identities.c
    chosen = dict(
        conn.execute(
            select(r.property_id, r.blended).where(
                r.property_id.in_((property_id, DEFAULT_SCOPE)), current(r, position)
            )
        ).all()
    )
    own = chosen.get(property_id)
    return bool(chosen.get(DEFAULT_SCOPE) if own is None else own)


def _resolved(
    events: FromClause, scope: _Scope
) -> tuple[Any, ColumnElement[str], ColumnElement[str]]:
    """`events` (with a visitor column) joined to their identity links, the person of each
    (its blended person under the blended identity, else its deterministic person, else the
    visitor itself) and its deterministic link's person (NULL without one)."""
    at = scope.views.identity
    links = identity_links.alias()
    joined = events.outerjoin(
        links,
        and_(
            links.c.property_id == scope.property_id,
            links.c.identifier == events.c.visitor,
            current(links.c, at),
        ),
    )
    people: list[ColumnElement[str]] = [links.c.person_id, events.c.visitor]
    if scope.blended:
        blended = blended_links.alias()
        joined = joined.outerjoin(
            blended,
            and_(
                blended.c.property_id == scope.property_id,
                blended.c.identifier == events.c.visitor,
                current(blended.c, at),
            ),
        )
        people.insert(0, blended.c.person_id)
    return joined, func.coalesce(*people), links.c.person_id


def _name_matches(
    column: ColumnElement[str], value: str, mode: MatchMode, dialect: str
) -> ColumnElement[bool]:
    if mode is MatchMode.EXACT:
        return column == value
    return and_(func.substr(column, 1, len(value)) == value, *_prefix_seek(column, value, dialect))


def _prefix_seek(column: ColumnElement[str], value: str, dialect: str) -> list[Any]:
    """Conditions that every name starting with `value` meets, in a form the (property, kind,
    name, time) index can seek, so that a page step reads the names under its prefix rather
    than all of the kind's: on SQLite a range (its BINARY collation orders names by code
    point), on PostgreSQL a LIKE pattern (the index orders names by code point too:
    text_pattern_ops, whatever the database's collation). None on other databases."""
    if not value:
        return []
    if dialect == "postgresql":
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return [column.like(escaped + "%", escape="\\")]
    if dialect != "sqlite":
        return []
    following = _following_prefix(value)
    return [column >= value] + ([column < following] if following is not None else [])


def _following_prefix(value: str) -> str | None:
    """The least string above every string that starts with `value`, in code point order
    (None when there is none: `value` is only the highest code point)."""
    kept = value.rstrip(chr(sys.maxunicode))
    if not kept:
        return None
    following = ord(kept[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:
        following = 0xE000
    return kept[:-1] + chr(following)


def _step_condition(events: FromClause, step: FunnelStep, dialect: str) -> ColumnElement[bool]:
    kind, name = events.c.kind, events.c.name
    if step.kind is StepKind.PAGE:
        return and_(kind.in_(_PAGE_KINDS), _name_matches(name, step.value, step.match, dialect))
    if step.kind is StepKind.EVENT and step.match is MatchMode.EXACT and step.value in _EVENT_KINDS:
        return kind == step.value
    return and_(
        kind == EventKind.CONVERSION.value, _name_matches(name, step.value, step.match, dialect)
    )


@dataclass(frozen=True, slots=True)
class _FunnelShape:
    """What a funnel's statement depends on besides its scope: its time range only by
    whether it has each end (the ends are bind parameters)."""

    property_id: str
    steps: tuple[FunnelStep, ...]
    within: timedelta
    has_start: bool
    has_end: bool


@functools.lru_cache(maxsize=256)
def _funnel_statement(shape: _FunnelShape, scope: _Scope, dialect: str) -> Any:
    """The statement counting the persons reaching each step per channel (step, channel,
    persons), taking the range as bind parameters `start_us`, `end_us` and `end_within_us`
    (the end + `within`): built once per shape and scope, since building it costs more
    than answering a narrow funnel."""
    reached = _reached_steps(shape, scope, dialect)
    return union_all(
        *(
            select(literal(index, Integer).label("step"), step.c.channel, func.count(step.c.at))
            .select_from(step)
            .group_by(step.c.channel)
            for index, step in enumerate(reached)
        )
    )


def _reached_steps(query: _FunnelShape, scope: _Scope, dialect: str) -> list[CTE]:
    """One CTE per step: (person, entered, at, channel) of each person who reached the
    previous step, `at` the time of its event of this step (NULL when it did not reach this
    one), `entered` that of its first step's and `channel` that of its first touch
    (NO_FIRST_TOUCH without one), found once for the persons who entered.

    The first step reads its events in [start, end) through the (property, kind, name, time)
    index (a page prefix seeks the names under it); each later step looks up, per person,
    its visitors (by person) and their events of the step (by visitor and kind) between the
    previous step and `within` after entering: no step reads the events of persons who did
    not enter, and the planners cannot choose otherwise (a correlated subquery per person).
    An entrant that is a lone visitor (`_alone`, most of them) has its first touch and its
    steps' events looked up by its own visitor directly."""
    events = person_events.alias("first_step")
    joined, person, linked = _resolved(events, scope)
    conditions = [
        events.c.property_id == query.property_id,
        current(events.c, scope.views.ingest),
        _step_condition(events, query.steps[0], dialect),
    ]
    if query.has_start:
        conditions.append(events.c.occurred_us >= bindparam("start_us", type_=BigInteger))
    if query.has_end:
        conditions.append(events.c.occurred_us < bindparam("end_us", type_=BigInteger))
    entered = func.min(events.c.occurred_us)
    unlinked = func.min(case((linked.is_(None), 1), else_=0))
    entrants = (
        select(person.label("person"), entered.label("entered"), unlinked.label("unlinked"))
        .select_from(joined)
        .where(*conditions)
        .group_by(person)
        .cte("entrants")
    )
    alone = _alone(scope, entrants)
    channel = _first_channel(scope, entrants)
    if alone is not None:
        channel = case((alone, _own_first_channel(scope, entrants.c.person)), else_=channel)
    first = select(
        entrants.c.person,
        entrants.c.entered,
        entrants.c.entered.label("at"),
        func.coalesce(channel, NO_FIRST_TOUCH).label("channel"),
        (literal(0, Integer) if alone is None else case((alone, 1), else_=0)).label("alone"),
    ).cte("step_1")
    reached = [first]
    for index, step in enumerate(query.steps[1:], start=2):
        previous = reached[-1]
        events = person_events.alias(f"events_{index}")
        visitors = _visitors_of(scope, previous, f"visitors_{index}")
        joined, person, _ = _resolved(visitors, scope)
        at: Any = (
            select(func.min(events.c.occurred_us))
            .select_from(
                joined.join(
                    events,
                    and_(
                        events.c.visitor == visitors.c.visitor,
                        *_step_bounds(query, scope, step, events, previous, dialect),
                    ),
                )
            )
            .where(person == previous.c.person)
            .correlate(previous)
            .scalar_subquery()
        )
        if alone is not None:
            own = person_events.alias(f"own_events_{index}")
            own_at = (
                select(func.min(own.c.occurred_us))
                .where(
                    own.c.visitor == previous.c.person,
                    *_step_bounds(query, scope, step, own, previous, dialect),
                )
                .correlate(previous)
                .scalar_subquery()
            )
            at = case((previous.c.alone == 1, own_at), else_=at)
        statement: Select[Any] = select(
            previous.c.person,
            previous.c.entered,
            at.label("at"),
            previous.c.channel,
            previous.c.alone,
        ).where(previous.c.at.is_not(None))
        reached.append(statement.cte(f"step_{index}"))
    return reached


def _step_bounds(
    query: _FunnelShape,
    scope: _Scope,
    step: FunnelStep,
    events: FromClause,
    previous: FromClause,
    dialect: str,
) -> list[ColumnElement[bool]]:
    """The conditions on `events` of a person who reached `previous` (the row of the
    previous step) that reach `step`: its kind and name, current, from the previous step's
    time to `within` after entering, and before the range's end + `within`.

    The time is compared as `occurred_us + 0`, which no index serves, so that neither
    planner reads the step's events of the whole property by (kind, name, time) for each
    person (taking the correlated bounds for a narrow range) instead of the person's
    visitors' few events by (visitor, kind)."""
    within = query.within // timedelta(microseconds=1)
    occurred = events.c.occurred_us + literal(0, BigInteger)
    conditions = [
        events.c.property_id == query.property_id,
        _step_condition(events, step, dialect),
        current(events.c, scope.views.ingest),
        occurred >= previous.c.at,
        occurred <= previous.c.entered + literal(within, BigInteger),
    ]
    if query.has_start:
        conditions.append(occurred >= bindparam("start_us", type_=BigInteger))
    if query.has_end:
        conditions.append(occurred < bindparam("end_within_us", type_=BigInteger))
    return conditions


def _alone(scope: _Scope, entrants: FromClause) -> ColumnElement[bool] | None:
    """Whether the entrant of the current row of `entrants` is a lone visitor: every event
    that entered it was its own visitor's, unlinked, and no identifier is linked to it (so its
    only candidate visitor is itself, and it resolves to itself). Under the blended identity,
    None: no shortcut is taken. A lone entrant's first touch and steps are read by its own
    visitor alone, without the candidates' union and resolution (same answers, fewer steps
    for the planners)."""
    if scope.blended:
        return None
    links = identity_links.alias("entrant_links")
    linked = (
        exists()
        .where(
            links.c.property_id == scope.property_id,
            links.c.person_id == entrants.c.person,
            current(links.c, scope.views.identity),
        )
        .correlate(entrants)
    )
    return and_(entrants.c.unlinked == 1, ~linked)


def _own_first_channel(scope: _Scope, visitor: ColumnElement[str]) -> Any:
    """The channel of the first touch of `visitor` itself (one row per visitor at any
    position), NULL without one."""
    f = visitor_first_touches.alias("own_touch")
    return (
        select(f.c.channel)
        .where(
            f.c.property_id == scope.property_id,
            f.c.visitor == visitor,
            current(f.c, scope.views.ingest),
        )
        .scalar_subquery()
    )


def _first_channel(scope: _Scope, persons: FromClause) -> Any:
    """The channel of the first touch of the person of the current row of `persons` (as
    `_first_touches` finds it, looked up per person: its candidate visitors by person, their
    first touches by visitor), NULL without one."""
    visitors = _visitors_of(scope, persons, "touch_visitors")
    f = visitor_first_touches.alias("member_touches")
    return (
        select(f.c.channel)
        .select_from(
            visitors.join(
                f,
                and_(
                    f.c.property_id == scope.property_id,
                    f.c.visitor == visitors.c.visitor,
                    current(f.c, scope.views.ingest),
                ),
            )
        )
        .order_by(f.c.occurred_us, f.c.record_id)
        .limit(1)
        .correlate(persons)
        .scalar_subquery()
    )


def _visitors_of(scope: _Scope, persons: FromClause, name: str) -> Any:
    """(visitor) of every candidate visitor of the person of the current row of `persons`
    (correlated: one lookup per person through the (property, person) indexes): its linked
    identifiers and itself, as `_members` names them. A step counts a candidate only when it
    resolves (`_resolved`) to the person."""
    at = scope.views.identity
    tables = [identity_links, blended_links] if scope.blended else [identity_links]
    parts: list[Select[Any]] = []
    for number, table in enumerate(tables):
        links = table.alias(f"{name}_links_{number}")
        parts.append(
            select(links.c.identifier.label("visitor"))
            .where(
                links.c.property_id == scope.property_id,
                links.c.person_id == persons.c.person,
                current(links.c, at),
            )
            .correlate(persons)
        )
    parts.append(select(persons.c.person.label("visitor")).correlate(persons))
    return union_all(*parts).subquery(name)


def _members(scope: _Scope, persons: FromClause, name: str, carried: Sequence[str] = ()) -> CTE:
    """(person, visitor) of every identifier of each person in `persons` (a person that is
    an unlinked visitor is its own), with the `carried` columns of `persons` (so that a
    query joins the members alone, not them and `persons` again)."""
    at = scope.views.identity
    parts: list[Select[Any]] = []
    tables = [identity_links, blended_links] if scope.blended else [identity_links]
    kept = [persons.c.person, *(persons.c[c] for c in carried)]
    for number, table in enumerate(tables):
        links = table.alias(f"{name}_links_{number}")
        parts.append(
            select(*kept, links.c.identifier.label("visitor")).join(
                links,
                and_(
                    links.c.property_id == scope.property_id,
                    links.c.person_id == persons.c.person,
                    current(links.c, at),
                ),
            )
        )
    parts.append(select(*kept, persons.c.person.label("visitor")))
    return union_all(*parts).cte(name)


def _first_touches(scope: _Scope, persons: FromClause) -> Any:
    """(person, occurred_us, channel) of the first touch of each person in `persons` that has
    one: the earliest (then lowest record id) of its visitors' first touches."""
    members = _members(scope, persons, "touch_members")
    f = visitor_first_touches.alias("member_touches")
    rank = (
        func.row_number()
        .over(partition_by=members.c.person, order_by=(f.c.occurred_us, f.c.record_id))
        .label("rank")
    )
    ranked = (
        select(members.c.person, f.c.occurred_us, f.c.channel, rank)
        .join(
            f,
            and_(
                f.c.property_id == scope.property_id,
                f.c.visitor == members.c.visitor,
                current(f.c, scope.views.ingest),
            ),
        )
        .subquery("ranked_touches")
    )
    return (
        select(ranked.c.person, ranked.c.occurred_us, ranked.c.channel)
        .where(ranked.c.rank == 1)
        .subquery("first_touches")
    )


def _cohort_persons(query: CohortQuery, key: Any, scope: _Scope) -> CTE:
    """(person, first_us, cohort, channel) of each person whose first touch is in the
    query's time range."""
    f = visitor_first_touches.alias("range_touches")
    joined, person, _ = _resolved(f, scope)
    conditions = [f.c.property_id == query.property_id, current(f.c, scope.views.ingest)]
    if query.start is not None:
        conditions.append(f.c.occurred_us >= micros_of(query.start))
    if query.end is not None:
        conditions.append(f.c.occurred_us < micros_of(query.end))
    candidates = (
        select(person.label("person")).select_from(joined).where(*conditions).distinct()
    ).cte("candidates")
    firsts = _first_touches(scope, candidates)
    conditions = []
    if query.start is not None:
        conditions.append(firsts.c.occurred_us >= micros_of(query.start))
    if query.end is not None:
        conditions.append(firsts.c.occurred_us < micros_of(query.end))
    return (
        select(
            firsts.c.person,
            firsts.c.occurred_us.label("first_us"),
            key(firsts.c.occurred_us).label("cohort"),
            firsts.c.channel,
        )
        .where(*conditions)
        .cte("cohort_persons")
    )


_SIZES, _SUMS, _CONVERTED = 0, 1, 2
"""The parts of `_cohort_figures`' rows."""


def _cohort_figures(cohort: CTE, conversions: CTE) -> Any:
    """One statement (so that the cohorts' persons and conversions are found once) of rows
    (part, cohort, channel, period, count, value parts, lowest and highest currency): the
    persons of each cohort (_SIZES), the conversions and their value per period (_SUMS), and
    the persons who first converted in each period (_CONVERTED)."""
    zero, blank = literal(0, BigInteger), literal("")
    sizes = select(
        literal(_SIZES, Integer),
        cohort.c.cohort,
        cohort.c.channel,
        zero,
        func.count(),
        zero,
        zero,
        zero,
        blank,
        blank,
    ).group_by(cohort.c.cohort, cohort.c.channel)
    sums = select(
        literal(_SUMS, Integer),
        conversions.c.cohort,
        conversions.c.channel,
        conversions.c.period,
        func.count(),
        *value_part_sums(conversions.c.value_micros),
        func.min(conversions.c.currency_code),
        func.max(conversions.c.currency_code),
    ).group_by(conversions.c.cohort, conversions.c.channel, conversions.c.period)
    firsts = (
        select(
            conversions.c.cohort,
            conversions.c.channel,
            func.min(conversions.c.period).label("period"),
        )
        .group_by(conversions.c.person, conversions.c.cohort, conversions.c.channel)
        .subquery("first_conversions")
    )
    converted = select(
        literal(_CONVERTED, Integer),
        firsts.c.cohort,
        firsts.c.channel,
        firsts.c.period,
        func.count(),
        zero,
        zero,
        zero,
        blank,
        blank,
    ).group_by(firsts.c.cohort, firsts.c.channel, firsts.c.period)
    return union_all(sizes, sums, converted)


def _cohort_conversions(query: CohortQuery, cohort: CTE, key: Any, scope: _Scope) -> CTE:
    """(person, cohort, channel, period, value_micros, currency_code) of each conversion of
    the cohorts' persons (of the query's names) from their cohort's period on, `period`
    counted from it; the value after the conversion's outcomes (value changes and refunds)
    when it has any, else the value it was sent with."""
    members = _members(scope, cohort, "cohort_members", ("cohort", "channel"))
    e = person_events.alias("conversions")
    v = conversion_values.alias("outcome_values")
    period = (key(e.c.occurred_us) - members.c.cohort).label("period")
    conditions = [
        e.c.property_id == query.property_id,
        e.c.visitor == members.c.visitor,
        e.c.kind == EventKind.CONVERSION.value,
        current(e.c, scope.views.ingest),
    ]
    if query.conversion_names:
        conditions.append(e.c.name.in_(query.conversion_names))
    inner = (
        select(
            members.c.person,
            members.c.cohort,
            members.c.channel,
            period,
            func.coalesce(v.c.value_micros, e.c.value_micros).label("value_micros"),
            func.coalesce(v.c.currency_code, e.c.currency_code).label("currency_code"),
        )
        .select_from(
            members.join(e, and_(*conditions)).outerjoin(
                v,
                and_(
                    v.c.property_id == query.property_id,
                    v.c.conversion_id == e.c.record_id,
                    current(v.c, scope.views.attribution),
                ),
            )
        )
        .subquery("all_conversions")
    )
    return (
        select(inner)
        .where(inner.c.period >= 0, inner.c.period < literal(query.periods, Integer))
        .cte("cohort_conversions")
    )
