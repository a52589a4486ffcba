"""The person views: the events funnels and cohorts count and each visitor's first touch (from
ingest's log), and which person each identifier belongs to (from identity's log).

Each view depends on one log only, so however the two followers interleave, and after a
rebuild, the views come out the same; reports join them when they are asked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select

from common.follower import UpstreamEntry
from common.sql_positions import record_position, stored_position
from services.reporting.bulk import delete_keys, insert_rows
from services.reporting.generations import Connectable, writer
from services.reporting.periods import EPOCH
from services.reporting.person_values import (
    ConversionRetraction,
    EventKind,
    IdentityChange,
    PersonEvent,
)
from services.reporting.projections import StalePositionError
from services.reporting.views import (
    identity_links,
    person_events,
    projection_positions,
    retracted_conversions,
    visitor_first_touches,
)

PROJECTION_NAME = "identity_links"
LOOKUP_CHUNK = 200

VisitorKey = tuple[str, str]
FirstTouch = tuple[int, str, str]
"""(microseconds since 1970, record id, channel)."""


def micros_of(moment: datetime) -> int:
    """Microseconds since 1970-01-01 UTC; a naive moment is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def apply_person_events(
    conn: Connection,
    events: Sequence[PersonEvent],
    retractions: Sequence[ConversionRetraction] = (),
) -> None:
    """Stores a page's person events (once per record), lowers the first touch of each
    visitor whose touchpoints in the page are earlier than its stored one, and keeps no
    conversion that an outcome retracted, before or after it was recorded."""
    _record_retractions(conn, retractions)
    if events:
        _store_events(conn, events)
    _drop_retracted(
        conn,
        {(r.property_id, r.conversion_id) for r in retractions}
        | {(x.property_id, x.record_id) for x in events if x.kind is EventKind.CONVERSION},
    )


def _store_events(conn: Connection, events: Sequence[PersonEvent]) -> None:
    unique = {(e.property_id, e.record_id): e for e in events}
    delete_keys(conn, person_events, ("property_id", "record_id"), list(unique))
    insert_rows(
        conn,
        person_events,
        [
            {
                "property_id": x.property_id,
                "record_id": x.record_id,
                "visitor": x.visitor,
                "kind": x.kind.value,
                "name": x.name,
                "occurred_us": micros_of(x.occurred_at),
                "value_micros": x.value_micros,
                "currency_code": x.currency_code,
            }
            for x in unique.values()
        ],
    )
    _lower_first_touches(conn, [x for x in unique.values() if x.kind is EventKind.TOUCHPOINT])


def _by_property(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, set[str]] = {}
    for property_id, key in keys:
        grouped.setdefault(property_id, set()).add(key)
    return {p: sorted(ids) for p, ids in grouped.items()}


def _retracted_among(conn: Connection, property_id: str, ids: Sequence[str]) -> set[str]:
    r = retracted_conversions.c
    found: set[str] = set()
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        found.update(
            conn.execute(
                select(r.conversion_id).where(
                    r.property_id == property_id, r.conversion_id.in_(chunk)
                )
            ).scalars()
        )
    return found


def _record_retractions(conn: Connection, retractions: Sequence[ConversionRetraction]) -> None:
    for property_id, ids in _by_property(
        (r.property_id, r.conversion_id) for r in retractions
    ).items():
        known = _retracted_among(conn, property_id, ids)
        new = [i for i in ids if i not in known]
        if new:
            conn.execute(
                insert(retracted_conversions),
                [{"property_id": property_id, "conversion_id": i} for i in new],
            )


def _drop_retracted(conn: Connection, candidates: Iterable[tuple[str, str]]) -> None:
    """Removes the conversions among `candidates` (property, record id) that are retracted."""
    e = person_events.c
    for property_id, ids in _by_property(candidates).items():
        retracted = sorted(_retracted_among(conn, property_id, ids))
        for start in range(0, len(retracted), LOOKUP_CHUNK):
            conn.execute(
                delete(person_events).where(
                    e.property_id == property_id,
                    e.kind == EventKind.CONVERSION.value,
                    e.record_id.in_(retracted[start : start + LOOKUP_CHUNK]),
                )
            )


def _lower_first_touches(conn: Connection, touches: Sequence[PersonEvent]) -> None:
    earliest: dict[VisitorKey, FirstTouch] = {}
    for touch in touches:
        key = (touch.property_id, touch.visitor)
        found: FirstTouch = (micros_of(touch.occurred_at), touch.record_id, touch.channel)
        known = earliest.get(key)
        if known is None or found[:2] < known[:2]:
            earliest[key] = found
    if not earliest:
        return
    stored = _stored_first_touches(conn, earliest)
    lowered = {
        key: touch
        for key, touch in earliest.items()
        if key not in stored or touch[:2] < stored[key][:2]
    }
    if not lowered:
        return
    delete_keys(conn, visitor_first_touches, ("property_id", "visitor"), list(lowered))
    insert_rows(
        conn,
        visitor_first_touches,
        [
            {
                "property_id": p,
                "visitor": v,
                "occurred_us": at,
                "record_id": record,
                "channel": channel,
            }
            for (p, v), (at, record, channel) in lowered.items()
        ],
    )


def _stored_first_touches(
    conn: Connection, visitors: Iterable[VisitorKey]
) -> dict[VisitorKey, FirstTouch]:
    f = visitor_first_touches.c
    keys = sorted(visitors)
    found: dict[VisitorKey, FirstTouch] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        rows = conn.execute(
            select(f.property_id, f.visitor, f.occurred_us, f.record_id, f.channel).where(
                or_(*(and_(f.property_id == p, f.visitor == v) for p, v in chunk))
            )
        )
        for p, v, at, record, channel in rows:
            found[(p, v)] = (int(at), record, channel)
    return found


class IdentityLinksProjection:
    """Keeps `identity_links` equal to the person each identifier belongs to, from identity's
    log: a follower's sink, each page's rows and position in one transaction."""

    def __init__(self, engine: Connectable) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self.lock = threading.Lock()

    def position(self, upstream: str) -> int:
        """The last position of `upstream` this projection has processed (0 before the first)."""
        with self._engine.connect() as conn:
            return stored_position(conn, projection_positions, PROJECTION_NAME, upstream)

    def process_page(
        self,
        upstream: str,
        entries: Sequence[UpstreamEntry[IdentityChange | None]],
        after: int | None = None,
    ) -> None:
        """Moves the identifiers of the page's changes, in log order, and records its
        position (checked against `after`, as in ConversionCreditsProjection)."""
        if not entries:
            return
        owners: dict[tuple[str, str], str] = {}
        for entry in entries:
            if entry.value is None:
                continue
            for person_id, identifiers in entry.value.moves:
                for identifier in identifiers:
                    owners[(entry.value.property_id, identifier)] = person_id
        with self._writer.begin() as conn:
            if after is not None:
                current = stored_position(conn, projection_positions, PROJECTION_NAME, upstream)
                if current != after:
                    raise StalePositionError(
                        f"{upstream} position is {current}, not {after}: "
                        "the views were rebuilt; reading again"
                    )
            _write_links(conn, owners)
            record_position(
                conn, projection_positions, PROJECTION_NAME, upstream, entries[-1].position
            )


def _write_links(conn: Connection, owners: dict[tuple[str, str], str]) -> None:
    if not owners:
        return
    delete_keys(conn, identity_links, ("property_id", "identifier"), list(owners))
    rows: list[dict[str, Any]] = [
        {"property_id": p, "identifier": i, "person_id": person}
        for (p, i), person in owners.items()
        if person
    ]
    if rows:
        insert_rows(conn, identity_links, rows)
