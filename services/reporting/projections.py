"""The conversion credits projection: attribution's log replayed into the report views."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    func,
    select,
    update,
)

from common.follower import UpstreamEntry
from common.sql_positions import record_position, stored_position
from services.reporting.bulk import insert_rows, qualified_name, stage_rows
from services.reporting.cohort_summary import refresh_conversions
from services.reporting.day_totals import (
    DIMENSIONS,
    STAGED_EXTRA,
    add_staged_credits,
    subtract_live,
    zones_for,
)
from services.reporting.domainmodel import (
    ConfiguredModels,
    ConversionAttribution,
    ReportingInput,
    Retraction,
    Revision,
    StageChange,
)
from services.reporting.fraction_units import fraction_units
from services.reporting.generations import Connectable, writer
from services.reporting.identity_settings import apply_reporting_identities
from services.reporting.log_clock import record_times
from services.reporting.outcome_projection import HISTORY_TABLES, apply_outcomes
from services.reporting.path_projection import PATH_TABLES, insert_paths
from services.reporting.periods import local_day
from services.reporting.revisions import Revisions, revise
from services.reporting.views import (
    configured_models,
    conversion_credits,
    projection_positions,
    unconsented_conversions,
)

PROJECTION_NAME = "conversion_credits"
log = logging.getLogger(__name__)


class StalePositionError(Exception):
    """The stored position moved (a rebuild) between reading a page and applying it."""


REVISION_LOOKUP_CHUNK = 500


class ConversionCreditsProjection:
    """Keeps in `conversion_credits` every attribution revision of every conversion (the
    latest one current), and in `configured_models` and `reporting_identities` every change
    of the models attribution credits in each property and of the identity it credits by
    (both from attribution's settings entries), each row with the positions it was current
    between.

    It is a follower's sink: each page's rows and the upstream position are written in
    one transaction, so a crash or a failing page never leaves one without the other.
    `lock` serialises the follower's reads of the position with its writes.
    """

    def __init__(self, engine: Connectable) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self.lock = threading.Lock()

    def position(self, upstream: str) -> int:
        """The last position of `upstream` this projection has processed (0 before the first)."""
        with self._engine.connect() as conn:
            return stored_position(conn, projection_positions, PROJECTION_NAME, upstream)

    def positions(self, upstreams: Iterable[str]) -> dict[str, int]:
        """The position of each named upstream."""
        return {name: self.position(name) for name in upstreams}

    def process_page(
        self,
        upstream: str,
        entries: Sequence[UpstreamEntry[ReportingInput | None]],
        after: int | None = None,
    ) -> None:
        """Applies each attribution that supersedes its conversion's current one as a new
        revision (ending the current rows at its position), each change of configured models
        likewise, and records the page's position.

        With `after` (the position the page was read after), the page is applied only if the
        stored position still equals it: a rebuild from another process in the meantime
        raises StalePositionError instead of leaving a hole in the views.
        """
        if not entries:
            return
        attributions = [
            (e.position, e.value) for e in entries if isinstance(e.value, ConversionAttribution)
        ]
        settings = [(e.position, e.value) for e in entries if isinstance(e.value, ConfiguredModels)]
        with self._writer.begin() as conn:
            if after is not None:
                current = stored_position(conn, projection_positions, PROJECTION_NAME, upstream)
                if current != after:
                    raise StalePositionError(
                        f"{upstream} position is {current}, not {after}: "
                        "the views were rebuilt; reading again"
                    )
            stored = _stored_revisions(
                conn, {(a.property_id, a.conversion_id) for _, a in attributions if a.models}
            )
            revisions = _accepted_revisions(attributions, stored)
            retractions = [e.value for e in entries if isinstance(e.value, Retraction)]
            position = entries[-1].position
            zones = zones_for(
                conn,
                [r.attribution.property_id for r in revisions]
                + [r.property_id for r in retractions],
                position,
            )
            revised = (conversion_credits, unconsented_conversions, *PATH_TABLES)
            ending = _with_current_rows(
                conn, revised, _first_per_key((r.key, r.valid_from) for r in revisions), stored
            )
            subtract_live(conn, ending, zones, position)
            _end_current(conn, revised, ending)
            _insert_credits(conn, revisions, zones, position)
            insert_paths(conn, revisions)
            retracted = apply_outcomes(conn, entries)
            subtract_live(conn, retracted, zones, position)
            _end_current(conn, HISTORY_TABLES, retracted)
            # Every entry's time: attribution's entries are few beside the rows each writes.
            # Before the cohort summary, whose lock (PostgreSQL) the other followers wait for.
            record_times(conn, upstream, entries, {e.position for e in entries})
            refresh_conversions(
                conn,
                [
                    (e.value.property_id, e.value.conversion_id)
                    for e in entries
                    if isinstance(e.value, StageChange | Retraction)
                ],
                {r.attribution.property_id for r in revisions},
            )
            _apply_configured_models(conn, settings)
            apply_reporting_identities(conn, settings)
            record_position(conn, projection_positions, PROJECTION_NAME, upstream, position)


def _accepted_revisions(
    attributions: Sequence[tuple[int, ConversionAttribution]],
    stored: dict[tuple[str, str], int],
) -> list[Revision]:
    """The page's attributions that become current, in log order, each with the position
    range it stays current in: one with models and a revision at least its conversion's
    current one (stored, or accepted earlier in the page) supersedes it."""
    accepted: dict[tuple[str, str], list[tuple[int, ConversionAttribution]]] = {}
    latest = dict(stored)
    for position, a in attributions:
        key = (a.property_id, a.conversion_id)
        if not a.models or a.revision < latest.get(key, a.revision):
            continue
        latest[key] = a.revision
        accepted.setdefault(key, []).append((position, a))
    revisions = []
    for found in accepted.values():
        ends: list[int | None] = [position for position, _ in found[1:]]
        ends.append(None)
        revisions += [
            Revision(a, position, end) for (position, a), end in zip(found, ends, strict=True)
        ]
    return sorted(revisions, key=lambda r: r.valid_from)


def _first_per_key(
    starts: Iterable[tuple[tuple[str, str], int]],
) -> dict[tuple[str, str], int]:
    """The first position at which each key gets a new revision."""
    first: dict[tuple[str, str], int] = {}
    for key, position in starts:
        first.setdefault(key, position)
    return first


def _end_current(
    conn: Connection, tables: Iterable[Table], ends: dict[tuple[str, str], int]
) -> None:
    """Ends the current rows of each conversion at the position its new revision starts."""
    if not ends:
        return
    parameters = [
        {"p_property": p, "p_conversion": c, "p_end": position} for (p, c), position in ends.items()
    ]
    for table in tables:
        t = table.c
        conn.execute(
            update(table)
            .where(
                t.property_id == bindparam("p_property"),
                t.conversion_id == bindparam("p_conversion"),
                t.valid_to.is_(None),
            )
            .values(valid_to=bindparam("p_end")),
            parameters,
        )


def _with_current_rows(
    conn: Connection,
    tables: Iterable[Table],
    ends: dict[tuple[str, str], int],
    known: Iterable[tuple[str, str]],
) -> dict[tuple[str, str], int]:
    """The ends of the conversions that have current rows to end: those `known` to have
    some, and those found in `tables` by one query per property and chunk (most of a page's
    conversions are new; ending rows key by key cost more than inserting the new ones)."""
    found = {key: ends[key] for key in known if key in ends}
    for table in tables:
        missing: dict[str, list[str]] = {}
        for property_id, conversion_id in ends:
            if (property_id, conversion_id) not in found:
                missing.setdefault(property_id, []).append(conversion_id)
        t = table.c
        for property_id, conversion_ids in missing.items():
            for start in range(0, len(conversion_ids), REVISION_LOOKUP_CHUNK):
                chunk = conversion_ids[start : start + REVISION_LOOKUP_CHUNK]
                rows = conn.execute(
                    select(t.conversion_id)
                    .distinct()
                    .where(
                        t.property_id == property_id,
                        t.conversion_id.in_(chunk),
                        t.valid_to.is_(None),
                    )
                )
                for (conversion_id,) in rows:
                    found[(property_id, conversion_id)] = ends[(property_id, conversion_id)]
    return found


def _stored_revisions(
    conn: Connection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    by_property: dict[str, list[str]] = {}
    for property_id, conversion_id in keys:
        by_property.setdefault(property_id, []).append(conversion_id)
    c = conversion_credits.c
    stored: dict[tuple[str, str], int] = {}
    for property_id, conversion_ids in by_property.items():
        for start in range(0, len(conversion_ids), REVISION_LOOKUP_CHUNK):
            chunk = conversion_ids[start : start + REVISION_LOOKUP_CHUNK]
            rows = conn.execute(
                select(c.conversion_id, func.max(c.revision))
                .where(
                    c.property_id == property_id,
                    c.conversion_id.in_(chunk),
                    c.valid_to.is_(None),
                )
                .group_by(c.conversion_id)
            )
            for conversion_id, revision in rows:
                stored[(property_id, conversion_id)] = int(revision)
    return stored


def _apply_configured_models(
    conn: Connection, changes: Sequence[tuple[int, ConfiguredModels]]
) -> None:
    """Records each change of a property's configured models as a revision: the current row
    ends where the property's first change in the page starts."""
    revisions: Revisions = {}
    for position, change in changes:
        models = None if change.models is None else list(change.models)
        row = {"property_id": change.property_id, "models": models}
        revisions.setdefault((change.property_id,), []).append((position, row))
    revise(conn, configured_models, ("property_id",), revisions)


_CREDIT_COLUMNS = (
    "property_id", "conversion_id", "model", "credit_index", "conversion_name", "occurred_at",
    *DIMENSIONS, "fraction", "fraction_units", "value_micros", "currency_code", "revision",
    "valid_from", "valid_to",
)  # fmt: skip
_STAGED_CREDIT_COLUMNS = (*_CREDIT_COLUMNS, *STAGED_EXTRA)
_dimension_values = attrgetter(*DIMENSIONS)


def _insert_credits(
    conn: Connection, revisions: Sequence[Revision], zones: dict[str, ZoneInfo], position: int
) -> None:
    """Inserts every credit of each revision (with its fraction units) and adds the live ones
    to the day totals: the rows are staged once (bulk.stage_rows) and go on to
    `conversion_credits` and into the day sums by SQL. An attribution carries all the models
    attribution is configured with, so a model taken out of the configuration has no current
    credits once its conversions are re-attributed."""
    rows: list[tuple[Any, ...]] = []
    unconsented: list[dict[str, Any]] = []
    for r in revisions:
        a = r.attribution
        occurred_at = a.occurred_at.astimezone(UTC)
        day = local_day(occurred_at, zones[a.property_id]) if r.valid_to is None else 0
        if a.unconsented:
            unconsented.append(
                {
                    "property_id": a.property_id,
                    "conversion_id": a.conversion_id,
                    "conversion_name": a.conversion_name,
                    "occurred_at": occurred_at,
                    "valid_from": r.valid_from,
                    "valid_to": r.valid_to,
                }
            )
        head = (a.property_id, a.conversion_id)
        tail = (a.currency_code, a.revision, r.valid_from, r.valid_to, day, int(a.unconsented))
        for model in a.models:
            credits = model.credits
            units = fraction_units([credit.fraction for credit in credits])
            rows += [
                (
                    *head,
                    model.model,
                    index,
                    a.conversion_name,
                    occurred_at,
                    *_dimension_values(credit),
                    credit.fraction,
                    units[index],
                    credit.value_micros,
                    *tail,
                )
                for index, credit in enumerate(credits)
            ]
    if rows:
        staged = stage_rows(conn, conversion_credits, STAGED_EXTRA, _STAGED_CREDIT_COLUMNS, rows)
        names = ", ".join(_CREDIT_COLUMNS)
        conn.exec_driver_sql(
            f"INSERT INTO {qualified_name(conn, conversion_credits)} ({names}) "
            f"SELECT {names} FROM {staged}"
        )
        add_staged_credits(conn, staged, position)
    if unconsented:
        insert_rows(conn, unconsented_conversions, unconsented)
