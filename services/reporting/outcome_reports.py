"""Outcome reports: per stage of CRM outcomes (lead, qualified, won...), the conversions that
reached it, their current value, and that value credited back to channels or campaigns under
a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, select

from services.reporting.as_of import ATTRIBUTION, current, live_position, resolve
from services.reporting.domainmodel import NOT_SET, AsOf, Freshness, GroupBy
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
    unknown_name,
    utc,
)
from services.reporting.views import conversion_credits, conversion_stages


@dataclass(frozen=True, slots=True)
class OutcomeQuery:
    """An outcome report's parameters: [start, end) bounds of the conversion time (optional),
    a conversion name (empty: the property's only one with outcomes), the model and
    dimension credits are grouped by, and optionally the stages to show, in order."""

    property_id: str
    model: str = "last_click"
    group_by: GroupBy = GroupBy.CHANNEL
    start: datetime | None = None
    end: datetime | None = None
    conversion_name: str = ""
    stages: tuple[str, ...] = ()
    as_of: AsOf | None = None


@dataclass(frozen=True, slots=True)
class OutcomeGroup:
    """One group's credited conversions and value (micros) among a stage's conversions."""

    group: str
    conversions: float
    value_micros: int
    share: float


@dataclass(frozen=True, slots=True)
class OutcomeStage:
    """One stage: the conversions that reached it, those now at it, their current value and
    that value credited per group (most conversions first, then by group)."""

    stage: str
    conversions: int
    current_conversions: int
    value_micros: int
    conversion_share: float
    groups: tuple[OutcomeGroup, ...] = ()


@dataclass(frozen=True, slots=True)
class OutcomeReport:
    """Every stage, and what the report counts."""

    stages: tuple[OutcomeStage, ...]
    conversion_name: str
    model: str
    group_by: GroupBy
    currency_code: str
    total_conversions: int
    freshness: Freshness


@dataclass(slots=True)
class _StageSums:
    conversions: int = 0
    current: int = 0
    value_micros: int = 0
    first_reached: datetime | None = None
    groups: dict[str, list[int]] = field(default_factory=dict)
    """Per group: credited fraction units and value micros."""


class OutcomeReports:
    """Answers outcome queries from the stages and credits views, from one snapshot.

    Sums are made in Python of integers (fraction units, value micros), so a rebuilt view
    gives the same figures bit for bit and values are exact: CRM outcomes are
    few next to conversions (moving the sums into SQL is the step when they are not)."""

    def __init__(self, engine: Connectable, shards: int = 1) -> None:
        """`shards`: how many shards the followers run in (freshness is the property's shard's)."""
        self._engine = engine
        self._shards = shards

    def outcome_report(self, query: OutcomeQuery) -> OutcomeReport:
        """The stages of one conversion name's outcomes; stages ordered as `query.stages`
        (which keeps stages nobody reached, at zero), else by conversions (most first), then
        by when first reached; as they stood at `query.as_of` when given."""
        with snapshot(self._engine) as conn:
            views = resolve(conn, query.as_of, query.property_id, self._shards)
            at = views.attribution
            name = self._scope(conn, query, at)
            s = conversion_stages.c
            stage_rows = conn.execute(
                select(
                    s.stage, s.conversion_id, s.is_current, s.value_micros, s.currency_code
                ).where(*self._conditions(query, name, at))
            ).all()
            currencies = {row.currency_code for row in stage_rows}
            if len(currencies) > 1:
                raise MixedCurrencyError(
                    f"property {query.property_id!r} has values in several reporting "
                    f"currencies ({', '.join(sorted(currencies))}): narrow the time range"
                )
            sums: dict[str, _StageSums] = {}
            reached = dict(
                conn.execute(
                    select(s.stage, s.reached_at)
                    .where(*self._conditions(query, name, at))
                    .order_by(s.reached_at.desc())
                ).all()
            )
            conversions: set[str] = set()
            for row in stage_rows:
                found = sums.setdefault(row.stage, _StageSums())
                found.conversions += 1
                found.current += int(bool(row.is_current))
                found.value_micros += int(row.value_micros)
                conversions.add(row.conversion_id)
            self._credit(conn, query, name, sums, at)
            newest = conn.execute(
                select(s.occurred_at)
                .where(*self._conditions(query, name, at))
                .order_by(s.occurred_at.desc())
                .limit(1)
            ).scalar()
            position = (
                live_position(conn, ATTRIBUTION, query.property_id, self._shards)
                if at is None
                else at
            )
        order = list(query.stages) or sorted(
            sums, key=lambda stage: (-sums[stage].conversions, utc(reached[stage]), stage)
        )
        total = len(conversions)
        return OutcomeReport(
            stages=tuple(_stage(stage, sums.get(stage, _StageSums()), total) for stage in order),
            conversion_name=name,
            model=query.model,
            group_by=query.group_by,
            currency_code=next(iter(currencies), ""),
            total_conversions=total,
            freshness=Freshness(
                (("attribution", position),),
                None if newest is None else utc(newest),
                views.recorded_at if at is not None else None,
            ),
        )

    def _credit(
        self,
        conn: Connection,
        query: OutcomeQuery,
        name: str,
        sums: dict[str, _StageSums],
        at: int | None,
    ) -> None:
        """Adds each stage's credits per group under the query's model."""
        s, c = conversion_stages.c, conversion_credits.c
        dimension = getattr(c, query.group_by.value)
        rows = conn.execute(
            select(s.stage, dimension, c.fraction_units, c.value_micros)
            .join_from(
                conversion_stages,
                conversion_credits,
                (c.property_id == s.property_id)
                & (c.conversion_id == s.conversion_id)
                & current(c, at),
            )
            .where(c.model == query.model, *self._conditions(query, name, at))
            .order_by(s.stage, s.conversion_id, c.credit_index)
        ).all()
        for stage, group, units, value_micros in rows:
            figures = sums[stage].groups.setdefault(group or NOT_SET, [0, 0])
            figures[0] += int(units)
            figures[1] += int(value_micros)

    @staticmethod
    def _conditions(query: OutcomeQuery, name: str, at: int | None) -> list[ColumnElement[bool]]:
        s = conversion_stages.c
        conditions = [
            s.property_id == query.property_id,
            s.conversion_name == name,
            current(s, at),
        ]
        if query.start is not None:
            conditions.append(s.occurred_at >= utc(query.start))
        if query.end is not None:
            conditions.append(s.occurred_at < utc(query.end))
        return conditions

    def _scope(self, conn: Connection, query: OutcomeQuery, at: int | None) -> str:
        """The conversion name the report counts, once the property, the name and the model's
        credits are known."""
        check_request(query.property_id, query.start, query.end)
        c, s = conversion_credits.c, conversion_stages.c
        names = _names(conn, c, query.property_id, at)
        if not names:
            raise UnknownPropertyError(
                f"property {query.property_id!r} has no attributed conversion"
            )
        name = query.conversion_name
        if name and name not in names:
            raise unknown_name(query.property_id, f"{name!r} conversion", names)
        if not name:
            staged = _names(conn, s, query.property_id, at) or names
            name = counted_name(
                query.property_id, "", staged, several="outcomes of several conversion names"
            )
        require_model(conn, query.property_id, [name], query.model, at)
        return name


def _names(conn: Connection, columns: object, property_id: str, at: int | None) -> list[str]:
    """The distinct conversion names of a property in a view (its rows current at `at`,
    None: now), in order."""
    column = columns.conversion_name  # type: ignore[attr-defined]
    conditions = [
        columns.property_id == property_id,  # type: ignore[attr-defined]
        current(columns, at),
    ]
    found: Sequence[str] = (
        conn.execute(select(column).where(*conditions).distinct().order_by(column)).scalars().all()
    )
    return list(found)


def _stage(stage: str, sums: _StageSums, total: int) -> OutcomeStage:
    groups = sorted(sums.groups.items(), key=lambda item: (-item[1][0], item[0]))
    return OutcomeStage(
        stage=stage,
        conversions=sums.conversions,
        current_conversions=sums.current,
        value_micros=sums.value_micros,
        conversion_share=sums.conversions / total if total else 0.0,
        groups=tuple(
            OutcomeGroup(
                group=group,
                conversions=figures[0] / UNITS_PER_CONVERSION,
                value_micros=figures[1],
                share=figures[0] / UNITS_PER_CONVERSION / sums.conversions
                if sums.conversions
                else 0.0,
            )
            for group, figures in groups
        ),
    )
