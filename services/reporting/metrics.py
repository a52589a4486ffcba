"""Cost and conversion rate reports: the spend and sessions views beside the credits of one
model, per channel, source, medium or campaign."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TypeVar

from sqlalchemy import ColumnElement, Connection, FromClause, Table, and_, case, func, select

from services.reporting.as_of import ATTRIBUTION, INGEST, ViewsAt, current, live_position, resolve
from services.reporting.domainmodel import (
    NOT_SET,
    CostReport,
    CostRow,
    Freshness,
    GroupBy,
    MetricsQuery,
    RateReport,
    RateRow,
)
from services.reporting.errors import (
    MixedCurrencyError,
    UnknownPropertyError,
)
from services.reporting.fraction_units import UNITS_PER_CONVERSION
from services.reporting.generations import Connectable
from services.reporting.scope import (
    check_request,
    counted_name,
    require_model,
    snapshot,
    utc,
)
from services.reporting.sessions import property_time_zone
from services.reporting.value_parts import joined_value, value_part_sums
from services.reporting.views import (
    conversion_credits,
    session_starts,
    sessions,
    spend,
)

TOTAL = "total"
R = TypeVar("R", CostRow, RateRow)


@dataclass(frozen=True, slots=True)
class _Credited:
    conversions: float
    value_micros: int


class MetricsReports:
    """Answers cost and conversion rate queries from the views, each from one snapshot."""

    def __init__(self, engine: Connectable, shards: int = 1) -> None:
        """`shards`: how many shards the followers run in (freshness is the property's shard's)."""
        self._engine = engine
        self._shards = shards

    def cost_report(self, query: MetricsQuery) -> CostReport:
        """Cost, credited conversions and value, cost per conversion, ROAS and ROI per group.

        A day's spend counts when the day starts (midnight in the property's time zone) inside
        the time range; conversions count when they happened inside it.
        """
        with snapshot(self._engine) as conn:
            views = resolve(conn, query.as_of, query.property_id, self._shards)
            name = self._scope(conn, query, views)
            credited, credit_currencies = self._credited(conn, query, name, views)
            costs, cost_currencies = self._costs(conn, query, views)
            currencies = credit_currencies | cost_currencies
            if len(currencies) > 1:
                raise MixedCurrencyError(
                    f"property {query.property_id!r} has amounts in several reporting "
                    f"currencies ({', '.join(sorted(currencies))}): narrow the time range"
                )
            groups = sorted(set(credited) | set(costs))
            rows = [
                _cost_row(g, costs.get(g, 0), credited.get(g, _Credited(0.0, 0))) for g in groups
            ]
            totals = _cost_row(
                TOTAL,
                sum(costs.values()),
                _Credited(
                    sum(c.conversions for c in credited.values()),
                    sum(c.value_micros for c in credited.values()),
                ),
            )
            page, next_after = _page(rows, query)
            return CostReport(
                rows=tuple(page),
                totals=totals,
                currency_code=next(iter(currencies), ""),
                conversion_name=name,
                model=query.model,
                freshness=self._freshness(conn, query, name, views),
                next_after=next_after,
            )

    def rate_report(self, query: MetricsQuery) -> RateReport:
        """Visitors, sessions and credited conversions per group, with conversions per
        session and per visitor. A session counts when it starts inside the time range.

        As of a past moment, sessions count with the start times they had then (see
        `session_starts`)."""
        with snapshot(self._engine) as conn:
            views = resolve(conn, query.as_of, query.property_id, self._shards)
            name = self._scope(conn, query, views)
            credited, _ = self._credited(conn, query, name, views)
            s = sessions.c
            group = _group(query.group_by, s.channel, s.source, s.medium, s.campaign)
            counted_sessions, started_at, then = _sessions_at(views.ingest)
            conditions = [s.property_id == query.property_id, *then, *_between(started_at, query)]
            counted = {
                str(g): (int(visitors), int(count))
                for g, visitors, count in conn.execute(
                    select(group, func.count(func.distinct(s.visitor)), func.count())
                    .select_from(counted_sessions)
                    .where(*conditions)
                    .group_by(group)
                )
            }
            all_visitors = int(
                conn.execute(
                    select(func.count(func.distinct(s.visitor)))
                    .select_from(counted_sessions)
                    .where(*conditions)
                ).scalar_one()
            )
            groups = sorted(set(counted) | set(credited))
            rows = [
                _rate_row(
                    g, *counted.get(g, (0, 0)), credited.get(g, _Credited(0.0, 0)).conversions
                )
                for g in groups
            ]
            totals = _rate_row(
                TOTAL,
                all_visitors,
                sum(count for _, count in counted.values()),
                sum(c.conversions for c in credited.values()),
            )
            page, next_after = _page(rows, query)
            return RateReport(
                rows=tuple(page),
                totals=totals,
                conversion_name=name,
                model=query.model,
                freshness=self._freshness(conn, query, name, views),
                next_after=next_after,
            )

    def _scope(self, conn: Connection, query: MetricsQuery, views: ViewsAt) -> str:
        """The conversion name the report counts ("" when the property has no conversion),
        once the property and the model are known (at `views`): the shared scope checks,
        with spend or sessions enough to know the property."""
        check_request(query.property_id, query.start, query.end)
        c = conversion_credits.c
        at = views.attribution
        names: list[str] = list(
            conn.execute(
                select(c.conversion_name)
                .where(c.property_id == query.property_id, current(c, at))
                .distinct()
                .order_by(c.conversion_name)
            ).scalars()
        )
        if not names:
            s = spend.c
            has_spend = _exists(
                conn, spend, s.property_id == query.property_id, current(s, views.ingest)
            )
            t = session_starts.c
            has_sessions = _exists(
                conn,
                session_starts,
                t.property_id == query.property_id,
                current(t, views.ingest),
            )
            if not has_spend and not has_sessions:
                raise UnknownPropertyError(
                    f"property {query.property_id!r} has no conversion, spend or session"
                )
            return ""
        name = counted_name(query.property_id, query.conversion_name, names)
        require_model(conn, query.property_id, [name], query.model, at)
        return name

    def _credited(
        self, conn: Connection, query: MetricsQuery, name: str, views: ViewsAt
    ) -> tuple[dict[str, _Credited], set[str]]:
        """Conversions and value credited to each group under the model, and the currencies."""
        if not name:
            return {}, set()
        c = conversion_credits.c
        group = _group(query.group_by, c.channel, c.source, c.medium, c.campaign)
        statement = (
            select(
                group,
                func.sum(c.fraction_units),
                *value_part_sums(c.value_micros),
                func.min(c.currency_code),
                func.max(c.currency_code),
            )
            .where(*self._credit_conditions(query, name, views))
            .group_by(group)
        )
        credited: dict[str, _Credited] = {}
        currencies: set[str] = set()
        for row in conn.execute(statement):
            g, units, high, middle, low, lowest, highest = tuple(row)
            conversions = int(units) / UNITS_PER_CONVERSION
            credited[str(g)] = _Credited(conversions, joined_value(high, middle, low))
            currencies.update(code for code in (lowest, highest) if code)
        return credited, currencies

    def _credit_conditions(
        self, query: MetricsQuery, name: str, views: ViewsAt
    ) -> list[ColumnElement[bool]]:
        c = conversion_credits.c
        return [
            c.property_id == query.property_id,
            current(c, views.attribution),
            c.model == query.model,
            c.conversion_name == name,
            *_between(c.occurred_at, query),
        ]

    def _costs(
        self, conn: Connection, query: MetricsQuery, views: ViewsAt
    ) -> tuple[dict[str, int], set[str]]:
        """Spend per group in the time range's days, and the currencies (the figures current
        at `views`)."""
        s = spend.c
        group = _group(query.group_by, s.channel, s.source, s.medium, s.campaign)
        conditions = [s.property_id == query.property_id, current(s, views.ingest)]
        zone = property_time_zone(conn, query.property_id)
        if query.start is not None:
            conditions.append(s.day >= _first_day_from(query.start, zone))
        if query.end is not None:
            conditions.append(s.day < _first_day_from(query.end, zone))
        statement = (
            select(
                group,
                *value_part_sums(s.cost_micros),
                func.min(s.currency_code),
                func.max(s.currency_code),
            )
            .where(*conditions)
            .group_by(group)
        )
        costs: dict[str, int] = {}
        currencies: set[str] = set()
        for row in conn.execute(statement):
            g, high, middle, low, lowest, highest = tuple(row)
            costs[str(g)] = joined_value(high, middle, low)
            currencies.update(code for code in (lowest, highest) if code)
        return costs, currencies

    def _freshness(
        self, conn: Connection, query: MetricsQuery, name: str, views: ViewsAt
    ) -> Freshness:
        newest = None
        if name:
            c = conversion_credits.c
            found = conn.execute(
                select(func.max(c.occurred_at)).where(*self._credit_conditions(query, name, views))
            ).scalar_one()
            newest = None if found is None else utc(found)
        positions = tuple(
            (
                upstream,
                live_position(conn, upstream, query.property_id, self._shards)
                if at is None
                else at,
            )
            for upstream, at in ((ATTRIBUTION, views.attribution), (INGEST, views.ingest))
        )
        return Freshness(positions, newest, None if views.is_live else views.recorded_at)


def _group(
    group_by: GroupBy,
    channel: ColumnElement[str],
    source: ColumnElement[str],
    medium: ColumnElement[str],
    campaign: ColumnElement[str],
) -> ColumnElement[str]:
    dimension = {
        GroupBy.CHANNEL: channel,
        GroupBy.SOURCE: source,
        GroupBy.MEDIUM: medium,
        GroupBy.CAMPAIGN: campaign,
    }[group_by]
    return case((func.coalesce(dimension, "") == "", NOT_SET), else_=dimension).label("grp")


def _sessions_at(
    position: int | None,
) -> tuple[FromClause, ColumnElement[datetime], list[ColumnElement[bool]]]:
    """The sessions to count at a position of ingest's log (None: live), the column of their
    start time then, and the conditions that keep the sessions that existed then."""
    if position is None:
        return sessions, sessions.c.started_at, []
    s, t = sessions.c, session_starts.c
    joined = sessions.join(
        session_starts,
        and_(t.property_id == s.property_id, t.visitor == s.visitor, t.number == s.number),
    )
    return joined, t.started_at, [current(t, position)]


def _between(column: ColumnElement[datetime], query: MetricsQuery) -> list[ColumnElement[bool]]:
    conditions = []
    if query.start is not None:
        conditions.append(column >= utc(query.start))
    if query.end is not None:
        conditions.append(column < utc(query.end))
    return conditions


def _first_day_from(moment: datetime, zone: tzinfo) -> str:
    """The first day (ISO date) whose midnight in the zone is at or after the moment."""
    local = utc(moment).astimezone(zone)
    day = local.date()
    if local.timetz().replace(tzinfo=None) != time(0):
        day += timedelta(days=1)
    return day.isoformat()


def _exists(conn: Connection, table: Table, *conditions: ColumnElement[bool]) -> bool:
    return conn.execute(select(table.c.property_id).where(*conditions).limit(1)).first() is not None


def _cost_row(group: str, cost_micros: int, credited: _Credited) -> CostRow:
    conversions, value = credited.conversions, credited.value_micros
    per_conversion = None
    if conversions > 0:
        per_conversion = int(
            (Decimal(cost_micros) / Decimal(repr(conversions))).to_integral_value(ROUND_HALF_EVEN)
        )
    return CostRow(
        group=group,
        cost_micros=cost_micros,
        conversions=conversions,
        value_micros=value,
        cost_per_conversion_micros=per_conversion,
        roas=value / cost_micros if cost_micros else None,
        roi=(value - cost_micros) / cost_micros if cost_micros else None,
    )


def _rate_row(group: str, visitors: int, count: int, conversions: float) -> RateRow:
    return RateRow(
        group=group,
        visitors=visitors,
        sessions=count,
        conversions=conversions,
        per_session=conversions / count if count else None,
        per_visitor=conversions / visitors if visitors else None,
    )


def _page(rows: Sequence[R], query: MetricsQuery) -> tuple[list[R], str]:
    """The rows after `query.after`, at most a page, and the group to continue after."""
    following = [r for r in rows if r.group > query.after] if query.after else list(rows)
    page = following[: query.page_size]
    return page, page[-1].group if len(following) > query.page_size else ""
