"""The live cohort summary: each deterministic person's first touch and conversions, and their
sums per first-touch day, channel and period, kept by the projections for the persons each
page changes, so that live cohorts add up sums instead of resolving every person at query
time.

A person here is what the live person views make of it under the deterministic identity: an
identifier's person in `identity_links`, else the identifier itself; its first touch is the
earliest (then lowest record id) first touch of its identifiers and of the person itself, and
its conversions those of the same identifiers, at their value after outcomes. Each projection
that changes what a person's summary reads (a first touch, a conversion or its retraction,
an identifier's person, a conversion's value) recomputes that person's rows from the live
views in its page's transaction and adds the difference to the sums, so the summary is a
function of the live views however the followers interleave (on PostgreSQL the projections
take a per-property advisory lock before they find the persons, so that two followers never
recompute a person from each other's uncommitted rows).

The sums are in one time zone per property (`cohort_zones`); after the property's setting
changes, the next page of the property recomputes them. Queries read the summary only where
it answers exactly what the person views answer (`summary_figures`); otherwise (as of a
past position, the blended identity, several conversion names, another zone) they query the
person views.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from services.reporting.bulk import (
    by_property_chunks,
    delete_keys,
    insert_rows,
    qualified_name,
    rows_by_key,
)
from services.reporting.domainmodel import Interval
from services.reporting.periods import key_of, key_of_day, local_day, period_start
from services.reporting.person_values import CohortQuery, EventKind
from services.reporting.value_parts import joined_value, value_parts
from services.reporting.views import (
    cohort_conversions,
    cohort_persons,
    cohort_totals,
    cohort_zones,
    conversion_values,
    identity_links,
    person_events,
    property_settings,
    visitor_first_touches,
)

DEFAULT_ZONE = "UTC"
INTERVALS = {"week": Interval.WEEK, "month": Interval.MONTH}
"""The intervals the sums are kept in, by the name `cohort_totals.interval` stores."""
SIZE_PERIOD = -1
"""The period of a cohort's row of persons in `cohort_totals`."""
ANY_NAME = ""
"""The conversion name of the rows counting the persons first converted under any name."""
LOCK_SPACE = 7007
"""The first key of the PostgreSQL advisory locks the projections take per property."""
LOOKUP_CHUNK = 500
FILL_CHUNK = 5_000
"""Persons recomputed together when a property's whole summary is filled."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOTAL_KEYS = (
    "property_id",
    "interval",
    "first_day",
    "channel",
    "period",
    "conversion_name",
    "currency_code",
)
_TOTAL_SUMS = ("persons", "conversions", "value_high", "value_middle", "value_low", "converted")
_CONVERTED = _TOTAL_SUMS.index("converted")

Conversion = tuple[str, str, int, int, str]
"""(record id, conversion name, microseconds since 1970, value micros, currency code)."""
TotalKey = tuple[str, int, str, int, str, str]
"""(interval, first-touch day, channel, period, conversion name, currency code) of
`cohort_totals`."""


@dataclass(frozen=True, slots=True)
class PersonFigures:
    """What the summary holds of one person: its first touch and its conversions (by
    record id)."""

    first_us: int
    channel: str
    conversions: tuple[Conversion, ...] = ()


@dataclass(slots=True)
class CohortFigures:
    """The figures a cohort report is made of: persons per (cohort, channel); conversions and
    their value per (cohort, channel, period); persons first converted per (cohort, channel,
    period); and the currencies of the conversions counted."""

    sizes: dict[tuple[int, str], int] = field(default_factory=dict)
    sums: dict[tuple[int, str, int], tuple[int, int]] = field(default_factory=dict)
    converted: dict[tuple[int, str, int], int] = field(default_factory=dict)
    currencies: set[str] = field(default_factory=set)

    def add_sum(self, key: tuple[int, str, int], count: int, value: int) -> None:
        """Adds conversions and their value to a period's sums."""
        n, v = self.sums.get(key, (0, 0))
        self.sums[key] = (n + count, v + value)


def moment_of(micros: int) -> datetime:
    """The UTC moment of microseconds since 1970."""
    return _EPOCH + timedelta(microseconds=micros)


def add_person(
    totals: dict[TotalKey, list[int]], person: PersonFigures, zone: ZoneInfo, sign: int
) -> None:
    """Adds (sign 1) or takes away (-1) a person's part of the sums of every interval."""
    first_day = local_day(moment_of(person.first_us), zone)
    days = [local_day(moment_of(c[2]), zone) for c in person.conversions]
    for name, interval in INTERVALS.items():
        cohort = key_of_day(interval, first_day)
        base = (name, first_day, person.channel)
        _sum_row(totals, (*base, SIZE_PERIOD, ANY_NAME, ""))[0] += sign
        first_any: int | None = None
        first_of: dict[str, int] = {}
        for (_, conversion_name, _, value, currency), day in zip(
            person.conversions, days, strict=True
        ):
            period = key_of_day(interval, day) - cohort
            if period < 0:
                continue
            row = _sum_row(totals, (*base, period, conversion_name, currency))
            row[1] += sign
            for index, part in enumerate(value_parts(value), start=2):
                row[index] += sign * part
            first_any = period if first_any is None else min(first_any, period)
            if conversion_name != ANY_NAME:
                first_of[conversion_name] = min(first_of.get(conversion_name, period), period)
        if first_any is not None:
            _sum_row(totals, (*base, first_any, ANY_NAME, ""))[_CONVERTED] += sign
        for conversion_name, period in first_of.items():
            _sum_row(totals, (*base, period, conversion_name, ""))[_CONVERTED] += sign


def _sum_row(totals: dict[TotalKey, list[int]], key: TotalKey) -> list[int]:
    found = totals.get(key)
    if found is None:
        found = totals[key] = [0] * len(_TOTAL_SUMS)
    return found


def refresh_visitors(
    conn: Connection, visitors: Iterable[tuple[str, str]], properties: Iterable[str] = ()
) -> None:
    """Recomputes the summary of the persons of the (property, identifier) `visitors` (their
    persons now, and each identifier as a person of its own), after their first touches or
    conversions changed in the views; `prepare`s their properties and `properties`."""
    grouped: dict[str, set[str]] = {p: set() for p in properties}
    for property_id, visitor in visitors:
        grouped.setdefault(property_id, set()).add(visitor)
    for property_id in sorted(grouped):
        zone = prepare(conn, property_id)
        if zone is None:
            continue
        identifiers = sorted(grouped[property_id])
        owners = live_owners(conn, property_id, identifiers)
        persons = {owners.get(i, i) for i in identifiers} | set(identifiers)
        _refresh(conn, property_id, persons, zone)


def refresh_persons(
    conn: Connection, persons: Iterable[tuple[str, str]], properties: Iterable[str] = ()
) -> None:
    """Recomputes the summary of the (property, person) `persons`, after identifiers moved
    between them in `identity_links`; `prepare`s their properties and `properties`."""
    grouped: dict[str, set[str]] = {p: set() for p in properties}
    for property_id, person in persons:
        grouped.setdefault(property_id, set()).add(person)
    for property_id in sorted(grouped):
        zone = prepare(conn, property_id)
        if zone is not None:
            _refresh(conn, property_id, grouped[property_id], zone)


def refresh_conversions(
    conn: Connection, conversions: Iterable[tuple[str, str]], properties: Iterable[str] = ()
) -> None:
    """Recomputes the summary of the persons of the (property, conversion record id)
    `conversions`, after their values changed or they were retracted; `prepare`s their
    properties and `properties`."""
    refresh_visitors(conn, conversion_visitors(conn, conversions), properties)


def conversion_visitors(
    conn: Connection, conversions: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The (property, visitor) of each of the (property, record id) `conversions` that the
    person events hold (current or not)."""
    visitors: set[tuple[str, str]] = set()
    for property_id, chunk in by_property_chunks(conversions, LOOKUP_CHUNK):
        visitors.update(
            (property_id, v)
            for (v,) in rows_by_key(
                conn, person_events, property_id, "record_id", chunk, ["visitor"]
            )
        )
    return visitors


def prepare(conn: Connection, property_id: str) -> ZoneInfo | None:
    """Locks the property's summary to the transaction (PostgreSQL), brings its sums to the
    property's time zone setting and returns that zone; or fills the summary of a property
    that has none (new, or views migrated before it existed) from the live views, and
    returns None: nothing is left to recompute in this transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:property))"),
            {"space": LOCK_SPACE, "property": property_id},
        )
    z, s = cohort_zones.c, property_settings.c
    recorded = conn.execute(
        select(z.time_zone).where(z.property_id == property_id)
    ).scalar_one_or_none()
    setting = conn.execute(
        select(s.time_zone).where(s.property_id == property_id)
    ).scalar_one_or_none()
    name = str(setting or DEFAULT_ZONE)
    zone = ZoneInfo(name)
    if recorded is None:
        conn.execute(insert(cohort_zones).values(property_id=property_id, time_zone=name))
        _fill(conn, property_id, zone)
        return None
    elif recorded != name:
        conn.execute(
            update(cohort_zones).where(z.property_id == property_id).values(time_zone=name)
        )
        _resum(conn, property_id, zone)
    return zone


def _fill(conn: Connection, property_id: str, zone: ZoneInfo) -> None:
    """Replaces the property's summary by that of every person with a first touch."""
    for table in (cohort_persons, cohort_conversions, cohort_totals):
        conn.execute(delete(table).where(table.c.property_id == property_id))
    f = visitor_first_touches.c
    links = identity_links.c
    person = func.coalesce(links.person_id, f.visitor)
    persons = sorted(
        conn.execute(
            select(person)
            .select_from(
                visitor_first_touches.outerjoin(
                    identity_links,
                    and_(
                        links.property_id == f.property_id,
                        links.identifier == f.visitor,
                        links.valid_to.is_(None),
                    ),
                )
            )
            .where(f.property_id == property_id, f.valid_to.is_(None))
            .distinct()
        ).scalars()
    )
    for start in range(0, len(persons), FILL_CHUNK):
        _refresh(conn, property_id, persons[start : start + FILL_CHUNK], zone)


def _resum(conn: Connection, property_id: str, zone: ZoneInfo) -> None:
    """Replaces the property's sums by those of its stored persons in `zone`."""
    conn.execute(delete(cohort_totals).where(cohort_totals.c.property_id == property_id))
    p = cohort_persons.c
    persons = sorted(
        conn.execute(select(p.person_id).where(p.property_id == property_id)).scalars()
    )
    totals: dict[TotalKey, list[int]] = {}
    for start in range(0, len(persons), FILL_CHUNK):
        stored = _stored_figures(conn, property_id, persons[start : start + FILL_CHUNK])
        for figures in stored.values():
            add_person(totals, figures, zone, 1)
    _add_totals(conn, property_id, totals)


def _refresh(conn: Connection, property_id: str, persons: Iterable[str], zone: ZoneInfo) -> None:
    """Rewrites the rows of the persons whose figures in the live views differ from the
    stored ones, and adds the difference to the sums."""
    wanted = sorted(set(persons))
    if not wanted:
        return
    live = _live_figures(conn, property_id, wanted)
    stored = _stored_figures(conn, property_id, wanted)
    changed = [p for p in wanted if live.get(p) != stored.get(p)]
    if not changed:
        return
    totals: dict[TotalKey, list[int]] = {}
    for person in changed:
        old, new = stored.get(person), live.get(person)
        if old is not None:
            add_person(totals, old, zone, -1)
        if new is not None:
            add_person(totals, new, zone, 1)
    gone = [(property_id, p) for p in changed if p in stored]
    delete_keys(conn, cohort_persons, ("property_id", "person_id"), gone)
    delete_keys(
        conn,
        cohort_conversions,
        ("property_id", "person_id"),
        [k for k in gone if stored[k[1]].conversions],
    )
    insert_rows(
        conn,
        cohort_persons,
        [
            {
                "property_id": property_id,
                "person_id": p,
                "first_us": live[p].first_us,
                "channel": live[p].channel,
            }
            for p in changed
            if p in live
        ],
    )
    insert_rows(
        conn,
        cohort_conversions,
        [
            {
                "property_id": property_id,
                "person_id": p,
                "record_id": record,
                "conversion_name": name,
                "occurred_us": at,
                "value_micros": value,
                "currency_code": currency,
            }
            for p in changed
            if p in live
            for record, name, at, value, currency in live[p].conversions
        ],
    )
    _add_totals(conn, property_id, totals)


def _chunks(keys: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(keys), LOOKUP_CHUNK):
        yield keys[start : start + LOOKUP_CHUNK]


def live_owners(conn: Connection, property_id: str, identifiers: Sequence[str]) -> dict[str, str]:
    """The live deterministic person (in `identity_links`) of each of a property's
    `identifiers` that has one."""
    rows = rows_by_key(
        conn,
        identity_links,
        property_id,
        "identifier",
        identifiers,
        ("identifier", "person_id"),
        current=True,
    )
    return {identifier: person for identifier, person in rows}


def _live_figures(
    conn: Connection, property_id: str, persons: Sequence[str]
) -> dict[str, PersonFigures]:
    """The figures of each of `persons` that the live views make a person with a first
    touch: one that is the person of an identifier with a first touch."""
    members: dict[str, set[str]] = {p: {p} for p in persons}
    for identifier, person in rows_by_key(
        conn,
        identity_links,
        property_id,
        "person_id",
        persons,
        ("identifier", "person_id"),
        current=True,
    ):
        members[person].add(identifier)
    own_owner = live_owners(conn, property_id, persons)
    of_visitor: dict[str, list[str]] = {}
    for person, identifiers in members.items():
        for identifier in identifiers:
            of_visitor.setdefault(identifier, []).append(person)
    visitors = sorted(of_visitor)
    firsts: dict[str, tuple[int, str, str]] = {}
    qualified: set[str] = set()
    for visitor, at, record, channel in rows_by_key(
        conn,
        visitor_first_touches,
        property_id,
        "visitor",
        visitors,
        ("visitor", "occurred_us", "record_id", "channel"),
        current=True,
    ):
        touch = (int(at), record, channel)
        for person in of_visitor[visitor]:
            if visitor != person or own_owner.get(person, person) == person:
                qualified.add(person)
            known = firsts.get(person)
            if known is None or touch[:2] < known[:2]:
                firsts[person] = touch
    counted = {p for p in qualified if p in firsts}
    conversions: dict[str, list[Conversion]] = {p: [] for p in counted}
    wanted = sorted({v for p in counted for v in members[p]})
    for visitor, record, name, at, value, currency in _live_conversions(conn, property_id, wanted):
        for person in of_visitor[visitor]:
            if person in conversions:
                conversions[person].append((record, name, int(at), int(value), str(currency)))
    return {
        p: PersonFigures(firsts[p][0], firsts[p][2], tuple(sorted(conversions[p]))) for p in counted
    }


def _live_conversions(
    conn: Connection, property_id: str, visitors: Sequence[str]
) -> list[tuple[Any, ...]]:
    """The live conversions of a property's `visitors` at their value after outcomes: (visitor,
    record id, name, microseconds, value micros, currency code)."""
    conversion = EventKind.CONVERSION.value
    if conn.dialect.name == "postgresql":
        return _live_conversions_by_visitor(conn, property_id, visitors)
    e, v = person_events.c, conversion_values.c
    found: list[tuple[Any, ...]] = []
    statement = select(
        e.visitor,
        e.record_id,
        e.name,
        e.occurred_us,
        func.coalesce(v.value_micros, e.value_micros),
        func.coalesce(v.currency_code, e.currency_code),
        e.kind,
        e.valid_to,
    ).select_from(
        person_events.outerjoin(
            conversion_values,
            and_(
                e.kind == conversion,
                v.property_id == e.property_id,
                v.conversion_id == e.record_id,
                v.valid_to.is_(None),
            ),
        )
    )
    for chunk in _chunks(visitors):
        rows = conn.execute(statement.where(e.property_id == property_id, e.visitor.in_(chunk)))
        found += [
            (visitor, record, name, at, value, currency)
            for visitor, record, name, at, value, currency, kind, ended in rows
            if kind == conversion and ended is None
        ]
    return found


def _live_conversions_by_visitor(
    conn: Connection, property_id: str, visitors: Sequence[str]
) -> list[tuple[Any, ...]]:
    """`_live_conversions` on PostgreSQL: each visitor's conversions, then each conversion's
    value, found by a subquery per key that `OFFSET 0` keeps apart, so that each is one probe
    of the (property, visitor, kind) index or of a conversion's key, whatever the statistics
    (`bulk.rows_by_key`). The kind and current rows are picked outside the subquery: inside,
    `kind = 'conversion'` drew the planner without statistics to the (property, kind, name,
    time) index, reading every conversion of the property per visitor, and `valid_to IS NULL`
    to the index of the property's live conversions by time."""
    if not visitors:
        return []
    events, values = qualified_name(conn, person_events), qualified_name(conn, conversion_values)
    rows = conn.exec_driver_sql(
        "SELECT e.visitor, e.record_id, e.name, e.occurred_us, "
        "coalesce(v.value_micros, e.value_micros), coalesce(v.currency_code, e.currency_code) "
        "FROM unnest(%s::text[]) AS k(key) CROSS JOIN LATERAL "
        "(SELECT visitor, record_id, name, occurred_us, value_micros, currency_code, kind, "
        f"valid_to FROM {events} WHERE property_id = %s AND visitor = k.key OFFSET 0) AS e "
        "LEFT JOIN LATERAL (SELECT value_micros, currency_code, valid_to "
        f"FROM {values} WHERE property_id = %s AND conversion_id = e.record_id OFFSET 0) AS v "
        "ON v.valid_to IS NULL WHERE e.kind = %s AND e.valid_to IS NULL",
        (list(visitors), property_id, property_id, EventKind.CONVERSION.value),
    )
    return [tuple(row) for row in rows]


def _stored_figures(
    conn: Connection, property_id: str, persons: Sequence[str]
) -> dict[str, PersonFigures]:
    """The figures the summary holds of each of `persons` that it holds."""
    firsts: dict[str, tuple[int, str]] = {}
    conversions: dict[str, list[Conversion]] = {}
    for person, at, channel in rows_by_key(
        conn,
        cohort_persons,
        property_id,
        "person_id",
        persons,
        ("person_id", "first_us", "channel"),
    ):
        firsts[person] = (int(at), channel)
    for person, record, name, at, value, currency in rows_by_key(
        conn,
        cohort_conversions,
        property_id,
        "person_id",
        persons,
        (
            "person_id",
            "record_id",
            "conversion_name",
            "occurred_us",
            "value_micros",
            "currency_code",
        ),
    ):
        conversions.setdefault(person, []).append((record, name, int(at), int(value), currency))
    return {
        person: PersonFigures(at, channel, tuple(sorted(conversions.get(person, ()))))
        for person, (at, channel) in firsts.items()
    }


def _add_totals(conn: Connection, property_id: str, totals: dict[TotalKey, list[int]]) -> None:
    """Adds the sums to `cohort_totals` (inserting missing rows), then deletes the rows
    whose sums all became 0."""
    changed = [(key, sums) for key, sums in sorted(totals.items()) if any(sums)]
    rows = [
        {
            "property_id": property_id,
            **dict(zip(_TOTAL_KEYS[1:], key, strict=True)),
            **dict(zip(_TOTAL_SUMS, sums, strict=True)),
        }
        for key, sums in changed
    ]
    if not rows:
        return
    dialect_insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(cohort_totals)
    statement = statement.on_conflict_do_update(
        index_elements=list(_TOTAL_KEYS),
        set_={s: cohort_totals.c[s] + statement.excluded[s] for s in _TOTAL_SUMS},
    )
    conn.execute(statement, rows)
    lowered = [r for r, (_, sums) in zip(rows, changed, strict=True) if min(sums) < 0]
    if lowered:
        t = cohort_totals.c
        conn.execute(
            delete(cohort_totals).where(
                *(t[k] == bindparam(f"k_{k}") for k in _TOTAL_KEYS),
                t.persons == 0,
                t.conversions == 0,
                t.converted == 0,
            ),
            [{f"k_{k}": r[k] for k in _TOTAL_KEYS} for r in lowered],
        )


def summary_figures(conn: Connection, query: CohortQuery, zone_name: str) -> CohortFigures | None:
    """The figures of a live, deterministic cohort query from the summary: the persons of
    whole local days from the sums, those of a day the query's range cuts from their rows;
    None where the summary cannot answer exactly (no summary in the property's zone
    `zone_name`, or several conversion names, or the name "")."""
    names = query.conversion_names
    if len(names) > 1 or ANY_NAME in names:
        return None
    z = cohort_zones.c
    recorded = conn.execute(
        select(z.time_zone).where(z.property_id == query.property_id)
    ).scalar_one_or_none()
    if recorded != zone_name:
        return None
    zone = ZoneInfo(zone_name)
    interval = INTERVALS[query.interval.value]
    figures = CohortFigures()
    p = cohort_persons.c
    lowest, highest = conn.execute(
        select(func.min(p.first_us), func.max(p.first_us)).where(p.property_id == query.property_id)
    ).one()
    if lowest is None:
        return figures
    low = _micros(query.start) if query.start is not None else int(lowest)
    high = _micros(query.end) if query.end is not None else int(highest) + 1
    if low >= high:
        return figures
    first_day = local_day(moment_of(low), zone)
    last_day = local_day(moment_of(high - 1), zone)
    whole = [first_day, last_day]
    for day in sorted({first_day, last_day}):
        begins = _micros(period_start(Interval.DAY, day, zone))
        ends = _micros(period_start(Interval.DAY, day + 1, zone))
        cut_low = query.start is not None and low > begins
        cut_high = query.end is not None and high < ends
        if cut_low or cut_high:
            span = (max(low, begins), min(high, ends))
            _add_cut(conn, query, figures, key_of_day(interval, day), span, zone)
            if day == first_day:
                whole[0] = day + 1
            if day == last_day:
                whole[1] = day - 1
    if whole[0] <= whole[1]:
        _add_whole(conn, query, figures, (whole[0], whole[1]))
    return figures


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _add_whole(
    conn: Connection, query: CohortQuery, figures: CohortFigures, days: tuple[int, int]
) -> None:
    """Adds the sums of the persons whose first touch was on the local days `days` (first
    and last)."""
    t = cohort_totals.c
    name = query.conversion_names[0] if query.conversion_names else ANY_NAME
    conditions = [
        t.property_id == query.property_id,
        t.interval == query.interval.value,
        t.first_day >= days[0],
        t.first_day <= days[1],
        t.period < query.periods,
    ]
    if query.conversion_names:
        conditions.append(t.conversion_name.in_((name, ANY_NAME)))
    interval = INTERVALS[query.interval.value]
    cohorts: dict[int, int] = {}
    statement = select(
        t.first_day,
        t.channel,
        t.period,
        t.conversion_name,
        t.currency_code,
        t.persons,
        t.conversions,
        t.value_high,
        t.value_middle,
        t.value_low,
        t.converted,
    ).where(*conditions)
    for (
        day,
        channel,
        period,
        conversion_name,
        currency,
        persons,
        count,
        high,
        middle,
        low,
        converted,
    ) in conn.execute(statement):
        cohort = cohorts.get(day)
        if cohort is None:
            cohort = cohorts[day] = key_of_day(interval, day)
        if period == SIZE_PERIOD:
            figures.sizes[(cohort, channel)] = figures.sizes.get((cohort, channel), 0) + persons
            continue
        key = (cohort, channel, period)
        if count and (not query.conversion_names or conversion_name == name):
            figures.add_sum(key, int(count), joined_value(high, middle, low))
            if currency:
                figures.currencies.add(currency)
        if converted and conversion_name == name:
            figures.converted[key] = figures.converted.get(key, 0) + int(converted)


def _add_cut(
    conn: Connection,
    query: CohortQuery,
    figures: CohortFigures,
    cohort: int,
    span: tuple[int, int],
    zone: ZoneInfo,
) -> None:
    """Adds the figures of the persons of cohort `cohort` whose first touch is in `span`
    ([first, end) microseconds), from their rows."""
    p, c = cohort_persons.c, cohort_conversions.c
    in_span = (
        p.property_id == query.property_id,
        p.first_us >= span[0],
        p.first_us < span[1],
    )
    for channel, persons in conn.execute(
        select(p.channel, func.count()).where(*in_span).group_by(p.channel)
    ):
        figures.sizes[(cohort, channel)] = figures.sizes.get((cohort, channel), 0) + int(persons)
    interval = INTERVALS[query.interval.value]
    conditions = [*in_span]
    if query.conversion_names:
        conditions.append(c.conversion_name == query.conversion_names[0])
    statement = (
        select(p.person_id, p.channel, c.occurred_us, c.value_micros, c.currency_code)
        .select_from(
            cohort_persons.join(
                cohort_conversions,
                and_(c.property_id == p.property_id, c.person_id == p.person_id),
            )
        )
        .where(*conditions)
    )
    first: dict[str, tuple[str, int]] = {}
    for person, channel, at, value, currency in conn.execute(statement):
        period = key_of(interval, moment_of(int(at)), zone) - cohort
        if period < 0 or period >= query.periods:
            continue
        figures.add_sum((cohort, channel, period), 1, int(value))
        if currency:
            figures.currencies.add(currency)
        known = first.get(person)
        if known is None or period < known[1]:
            first[person] = (channel, period)
    for channel, period in first.values():
        key = (cohort, channel, period)
        figures.converted[key] = figures.converted.get(key, 0) + 1
