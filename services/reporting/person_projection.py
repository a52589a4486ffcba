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

from sqlalchemy import Connection, and_, bindparam, delete, insert, or_, select

from common.follower import UpstreamEntry
from common.sql_positions import record_position, stored_position
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
    blended_links,
    identity_links,
    person_events,
    probable_links,
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
    e = person_events.c
    conn.execute(
        delete(person_events).where(
            e.property_id == bindparam("k_property"), e.record_id == bindparam("k_record")
        ),
        [{"k_property": p, "k_record": r} for p, r in unique],
    )
    conn.execute(
        insert(person_events),
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
    f = visitor_first_touches.c
    conn.execute(
        delete(visitor_first_touches).where(
            f.property_id == bindparam("k_property"), f.visitor == bindparam("k_visitor")
        ),
        [{"k_property": p, "k_visitor": v} for p, v in lowered],
    )
    conn.execute(
        insert(visitor_first_touches),
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
        probable: dict[tuple[str, str, str], bool] = {}
        for entry in entries:
            if entry.value is None:
                continue
            for person_id, identifiers in entry.value.moves:
                for identifier in identifiers:
                    owners[(entry.value.property_id, identifier)] = person_id
            for a, b, accepted in entry.value.probable:
                if a != b:
                    probable[(entry.value.property_id, a, b)] = accepted
                    probable[(entry.value.property_id, b, a)] = accepted
        with self._writer.begin() as conn:
            if after is not None:
                current = stored_position(conn, projection_positions, PROJECTION_NAME, upstream)
                if current != after:
                    raise StalePositionError(
                        f"{upstream} position is {current}, not {after}: "
                        "the views were rebuilt; reading again"
                    )
            _write_links(conn, owners)
            _write_probable(conn, probable)
            touched = set(owners) | {(p, a) for p, a, _ in probable}
            for property_id, keys in _by_property(touched).items():
                blend(conn, property_id, keys)
            record_position(
                conn, projection_positions, PROJECTION_NAME, upstream, entries[-1].position
            )


def _write_links(conn: Connection, owners: dict[tuple[str, str], str]) -> None:
    if not owners:
        return
    c = identity_links.c
    conn.execute(
        delete(identity_links).where(
            c.property_id == bindparam("k_property"), c.identifier == bindparam("k_identifier")
        ),
        [{"k_property": p, "k_identifier": i} for p, i in owners],
    )
    rows: list[dict[str, Any]] = [
        {"property_id": p, "identifier": i, "person_id": person}
        for (p, i), person in owners.items()
        if person
    ]
    if rows:
        conn.execute(insert(identity_links), rows)


def _write_probable(conn: Connection, links: dict[tuple[str, str, str], bool]) -> None:
    if not links:
        return
    c = probable_links.c
    conn.execute(
        delete(probable_links).where(
            c.property_id == bindparam("k_property"),
            c.identifier == bindparam("k_identifier"),
            c.other == bindparam("k_other"),
        ),
        [{"k_property": p, "k_identifier": a, "k_other": b} for p, a, b in links],
    )
    rows = [
        {"property_id": p, "identifier": a, "other": b}
        for (p, a, b), accepted in links.items()
        if accepted
    ]
    if rows:
        conn.execute(insert(probable_links), rows)


def _chunks(keys: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(keys)
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        yield ordered[start : start + LOOKUP_CHUNK]


def _neighbours(conn: Connection, property_id: str, identifiers: set[str]) -> dict[str, set[str]]:
    """For each of `identifiers`, the identifiers joined to it directly: those of its
    deterministic person and those of its accepted probabilistic links."""
    found: dict[str, set[str]] = {i: set() for i in identifiers}
    links, probable = identity_links.c, probable_links.c
    owners: dict[str, str] = {}
    for chunk in _chunks(identifiers):
        owners.update(
            conn.execute(
                select(links.identifier, links.person_id).where(
                    links.property_id == property_id, links.identifier.in_(chunk)
                )
            ).all()
        )
        for identifier, other in conn.execute(
            select(probable.identifier, probable.other).where(
                probable.property_id == property_id, probable.identifier.in_(chunk)
            )
        ):
            found[identifier].add(other)
    members: dict[str, set[str]] = {}
    for chunk in _chunks(set(owners.values())):
        for person, identifier in conn.execute(
            select(links.person_id, links.identifier).where(
                links.property_id == property_id, links.person_id.in_(chunk)
            )
        ):
            members.setdefault(person, set()).add(identifier)
    for identifier, person in owners.items():
        found[identifier] |= members.get(person, set()) - {identifier}
    return found


def blend(conn: Connection, property_id: str, touched: Iterable[str]) -> None:
    """Recomputes the blended persons of `touched` identifiers (after their deterministic
    person or probabilistic links changed): the components, over deterministic persons and
    accepted probabilistic links, of them and of everyone their blended persons held."""
    b = blended_links.c
    seeds = set(touched)
    previous: set[str] = set()
    for chunk in _chunks(seeds):
        previous.update(
            conn.execute(
                select(b.person_id).where(b.property_id == property_id, b.identifier.in_(chunk))
            ).scalars()
        )
    for chunk in _chunks(previous):
        seeds.update(
            conn.execute(
                select(b.identifier).where(b.property_id == property_id, b.person_id.in_(chunk))
            ).scalars()
        )
    edges: dict[str, set[str]] = {}
    frontier = set(seeds)
    while frontier:
        found = _neighbours(conn, property_id, frontier)
        edges.update(found)
        frontier = {o for others in found.values() for o in others} - set(edges)
    rows: list[dict[str, Any]] = []
    placed: set[str] = set()
    for start in sorted(edges):
        if start in placed:
            continue
        component = {start}
        pending = [start]
        while pending:
            for other in edges[pending.pop()]:
                if other not in component:
                    component.add(other)
                    pending.append(other)
        placed |= component
        if len(component) > 1:
            person = "~" + min(component)
            rows += [
                {"property_id": property_id, "identifier": i, "person_id": person}
                for i in sorted(component)
            ]
    for chunk in _chunks(edges):
        conn.execute(
            delete(blended_links).where(b.property_id == property_id, b.identifier.in_(chunk))
        )
    if rows:
        conn.execute(insert(blended_links), rows)
