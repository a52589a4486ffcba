"""The ingest activity projection: ingest's log replayed into the spend and sessions views."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update

from common.follower import UpstreamEntry
from common.sql_positions import record_position, stored_position
from services.reporting.bulk import by_property_chunks, delete_keys, insert_rows, qualified_name
from services.reporting.domainmodel import SpendEntry, VisitEvent
from services.reporting.generations import Connectable, writer
from services.reporting.log_clock import record_times
from services.reporting.person_projection import apply_person_events
from services.reporting.person_values import ConversionRetraction, PersonEvent, TrackedVisit
from services.reporting.projections import StalePositionError
from services.reporting.sessions import Session, VisitorSessions, place, property_time_zone
from services.reporting.views import (
    projection_positions,
    session_starts,
    session_visitors,
    sessions,
    spend,
)

PROJECTION_NAME = "ingest_activity"
LOOKUP_CHUNK = 200

Activity = SpendEntry | VisitEvent | PersonEvent | TrackedVisit | ConversionRetraction | None
VisitorKey = tuple[str, str]
SessionKey = tuple[str, str, int]


class IngestActivityProjection:
    """Keeps in `spend` every figure of each key (the latest current), in `sessions` the
    sessions of every visitor and in the person events views the events funnels count, from
    ingest's log.

    A follower's sink, like the conversion credits projection: each page's rows and the
    position are written in one transaction. Sessions are built incrementally: a page loads
    only the state of the visitors it names (`session_visitors`), so catching up never
    rescans, and replaying the log from 0 builds the same rows.
    """

    def __init__(self, engine: Connectable) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self.lock = threading.Lock()

    def position(self, upstream: str) -> int:
        """The last position of `upstream` this projection has processed (0 before the first)."""
        with self._engine.connect() as conn:
            return stored_position(conn, projection_positions, PROJECTION_NAME, upstream)

    def process_page(
        self, upstream: str, entries: Sequence[UpstreamEntry[Activity]], after: int | None = None
    ) -> None:
        """Applies a page's spend figures and visit events and records its position (checked
        against `after`, as in ConversionCreditsProjection)."""
        if not entries:
            return
        values: list[tuple[int, SpendEntry | VisitEvent | PersonEvent | ConversionRetraction]] = []
        for entry in entries:
            if isinstance(entry.value, TrackedVisit):
                values += [(entry.position, entry.value.visit), (entry.position, entry.value.event)]
            elif entry.value is not None:
                values.append((entry.position, entry.value))
        with self._writer.begin() as conn:
            if after is not None:
                current = stored_position(conn, projection_positions, PROJECTION_NAME, upstream)
                if current != after:
                    raise StalePositionError(
                        f"{upstream} position is {current}, not {after}: "
                        "the views were rebuilt; reading again"
                    )
            figures = [(e.position, e.value) for e in entries if isinstance(e.value, SpendEntry)]
            _apply_spend(conn, figures)
            started = _apply_visits(conn, [(p, v) for p, v in values if isinstance(v, VisitEvent)])
            record_times(conn, upstream, entries, {p for p, _ in figures} | started)
            apply_person_events(
                conn,
                [(p, v) for p, v in values if isinstance(v, PersonEvent)],
                [(p, v) for p, v in values if isinstance(v, ConversionRetraction)],
            )
            record_position(
                conn, projection_positions, PROJECTION_NAME, upstream, entries[-1].position
            )


def _apply_spend(conn: Connection, figures: Sequence[tuple[int, SpendEntry]]) -> None:
    """Makes each figure its key's current one from its position on (the log's order
    decides), ending the key's current row there: every figure is kept."""
    by_key: dict[tuple[str, str, str, str, str], list[tuple[int, SpendEntry]]] = {}
    for position, f in figures:
        key = (f.property_id, f.day, f.source, f.medium, f.campaign)
        by_key.setdefault(key, []).append((position, f))
    if not by_key:
        return
    c = spend.c
    conn.execute(
        update(spend)
        .where(
            c.property_id == bindparam("k_property"),
            c.day == bindparam("k_day"),
            c.source == bindparam("k_source"),
            c.medium == bindparam("k_medium"),
            c.campaign == bindparam("k_campaign"),
            c.valid_to.is_(None),
        )
        .values(valid_to=bindparam("k_end")),
        [
            {
                "k_property": p,
                "k_day": d,
                "k_source": s,
                "k_medium": m,
                "k_campaign": n,
                "k_end": found[0][0],
            }
            for (p, d, s, m, n), found in by_key.items()
        ],
    )
    rows: list[dict[str, Any]] = []
    for found in by_key.values():
        ends: list[int | None] = [position for position, _ in found[1:]]
        ends.append(None)
        rows += [
            {
                "property_id": f.property_id,
                "day": f.day,
                "source": f.source,
                "medium": f.medium,
                "campaign": f.campaign,
                "channel": f.channel,
                "cost_micros": f.cost_micros,
                "currency_code": f.currency_code,
                "original_cost_micros": f.original_cost_micros,
                "original_currency_code": f.original_currency_code,
                "revision": f.revision,
                "valid_from": position,
                "valid_to": end,
            }
            for (position, f), end in zip(found, ends, strict=True)
        ]
    insert_rows(conn, spend, rows)


def _apply_visits(conn: Connection, events: Sequence[tuple[int, VisitEvent]]) -> set[int]:
    """Places each event (with its position) into its visitor's sessions, in log order, and
    writes the sessions and visitor states that changed, and each new start time of a
    session from the position that created or moved it. Returns those positions (their
    times go to the log clock, so that an as-of time finds them)."""
    if not events:
        return set()
    states = _load_states(conn, {(e.property_id, e.visitor) for _, e in events})
    zones = {p: property_time_zone(conn, p) for p in {e.property_id for _, e in events}}
    starts: dict[SessionKey, datetime] = {
        (x.property_id, x.visitor, x.number): x.started_at
        for x in (state.current for state in states.values())
    }
    stored = set(starts)
    changed: dict[SessionKey, Session] = {}
    moved: dict[SessionKey, list[tuple[int, datetime]]] = {}
    for position, event in events:
        key = (event.property_id, event.visitor)
        state, session = place(states.get(key), event, zones[event.property_id])
        states[key] = state
        session_key = (session.property_id, session.visitor, session.number)
        changed[session_key] = session
        if starts.get(session_key) != session.started_at:
            starts[session_key] = session.started_at
            moved.setdefault(session_key, []).append((position, session.started_at))
    touched = {(e.property_id, e.visitor) for _, e in events}
    _write_sessions(conn, list(changed.values()))
    _write_states(conn, {k: states[k] for k in touched})
    _write_starts(conn, moved, stored)
    return {position for found in moved.values() for position, _ in found}


def _write_starts(
    conn: Connection,
    moved: dict[SessionKey, list[tuple[int, datetime]]],
    stored: set[SessionKey],
) -> None:
    """Makes each session's new start times current from their positions, ending the start
    it had before the page (when it was stored) at the first of them."""
    t = session_starts.c
    ended = [(key, found[0][0]) for key, found in moved.items() if key in stored]
    if ended:
        conn.execute(
            update(session_starts)
            .where(
                t.property_id == bindparam("k_property"),
                t.visitor == bindparam("k_visitor"),
                t.number == bindparam("k_number"),
                t.valid_to.is_(None),
            )
            .values(valid_to=bindparam("k_end")),
            [
                {"k_property": p, "k_visitor": v, "k_number": n, "k_end": end}
                for (p, v, n), end in ended
            ],
        )
    rows: list[dict[str, Any]] = []
    for (p, v, n), found in moved.items():
        ends: list[int | None] = [position for position, _ in found[1:]]
        ends.append(None)
        rows += [
            {
                "property_id": p,
                "visitor": v,
                "number": n,
                "started_at": started_at.astimezone(UTC),
                "valid_from": position,
                "valid_to": end,
            }
            for (position, started_at), end in zip(found, ends, strict=True)
        ]
    insert_rows(conn, session_starts, rows)


_SESSION_COLUMNS = ("property_id", "visitor", "number", "started_at", "last_event_at", "day",
                    "channel", "source", "medium", "campaign", "events")  # fmt: skip


def _load_states(
    conn: Connection, visitors: Iterable[VisitorKey]
) -> dict[VisitorKey, VisitorSessions]:
    """The stored state of each visitor that has one: its current session and how many
    sessions it has."""
    found: dict[VisitorKey, VisitorSessions] = {}
    for property_id, chunk in by_property_chunks(visitors, LOOKUP_CHUNK):
        for row in _current_sessions(conn, property_id, chunk):
            session = Session(
                property_id=row[0],
                visitor=row[1],
                number=row[2],
                started_at=_utc(row[3]),
                last_event_at=_utc(row[4]),
                day=row[5],
                channel=row[6],
                source=row[7],
                medium=row[8],
                campaign=row[9],
                events=row[10],
            )
            found[(session.property_id, session.visitor)] = VisitorSessions(session, row[11])
    return found


def _current_sessions(
    conn: Connection, property_id: str, visitors: Sequence[str]
) -> Iterable[Sequence[Any]]:
    """The current session (_SESSION_COLUMNS) and session count of each of `visitors` of
    `property_id` that has one. On PostgreSQL each visitor is found by its key, as
    bulk.rows_by_key finds rows: a join with an `IN` list was planned, without fresh
    statistics, as a scan of the property's whole range of `sessions`."""
    if conn.dialect.name == "postgresql":
        selected = ", ".join(f"s.{c}" for c in _SESSION_COLUMNS)
        return conn.exec_driver_sql(
            f"SELECT {selected}, v.session_count FROM unnest(%s::text[]) AS k(key) "
            "CROSS JOIN LATERAL (SELECT v.current_number, v.session_count "
            f"FROM {qualified_name(conn, session_visitors)} AS v "
            "WHERE v.property_id = %s AND v.visitor = k.key OFFSET 0) AS v "
            f"CROSS JOIN LATERAL (SELECT * FROM {qualified_name(conn, sessions)} AS s "
            "WHERE s.property_id = %s AND s.visitor = k.key AND s.number = v.current_number "
            "OFFSET 0) AS s",
            (list(visitors), property_id, property_id),
        )
    v, s = session_visitors.c, sessions.c
    return conn.execute(
        select(*(s[c] for c in _SESSION_COLUMNS), v.session_count)
        .join(
            session_visitors,
            and_(
                s.property_id == v.property_id,
                s.visitor == v.visitor,
                s.number == v.current_number,
            ),
        )
        .where(v.property_id == property_id, v.visitor.in_(visitors))
    )


def _write_sessions(conn: Connection, changed: Sequence[Session]) -> None:
    delete_keys(
        conn,
        sessions,
        ("property_id", "visitor", "number"),
        [(x.property_id, x.visitor, x.number) for x in changed],
    )
    insert_rows(
        conn,
        sessions,
        [
            {
                "property_id": x.property_id,
                "visitor": x.visitor,
                "number": x.number,
                "started_at": x.started_at.astimezone(UTC),
                "last_event_at": x.last_event_at.astimezone(UTC),
                "day": x.day,
                "channel": x.channel,
                "source": x.source,
                "medium": x.medium,
                "campaign": x.campaign,
                "events": x.events,
            }
            for x in changed
        ],
    )


def _write_states(conn: Connection, states: dict[VisitorKey, VisitorSessions]) -> None:
    rows: list[dict[str, Any]] = [
        {
            "property_id": p,
            "visitor": w,
            "current_number": state.current.number,
            "session_count": state.count,
        }
        for (p, w), state in states.items()
    ]
    delete_keys(conn, session_visitors, ("property_id", "visitor"), list(states))
    insert_rows(conn, session_visitors, rows)


def _utc(moment: datetime) -> datetime:
    """A stored time in UTC (SQLite gives it back naive)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
