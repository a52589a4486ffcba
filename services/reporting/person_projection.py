"""The person views: the events funnels and cohorts count and each visitor's first touch (from
ingest's log), and which person each identifier belongs to (from identity's log).

Each view depends on one log only, so however the two followers interleave, and after a
rebuild, the views come out the same; reports join them when they are asked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from common.follower import UpstreamEntry
from common.sql_positions import record_position, stored_position
from services.reporting.bulk import rows_by_key
from services.reporting.cohort_summary import (
    conversion_visitors,
    live_owners,
    refresh_persons,
    refresh_visitors,
)
from services.reporting.generations import Connectable, writer
from services.reporting.log_clock import record_times
from services.reporting.periods import EPOCH
from services.reporting.person_values import (
    ConversionRetraction,
    EventKind,
    IdentityChange,
    PersonEvent,
)
from services.reporting.projections import StalePositionError
from services.reporting.revisions import Revisions, revise
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
    events: Sequence[tuple[int, PersonEvent]],
    retractions: Sequence[tuple[int, ConversionRetraction]] = (),
) -> None:
    """Stores a page's person events (a record's row from its position of ingest's log on),
    lowers the first touch of each visitor whose touchpoints are earlier than its current
    one, and ends the row of each conversion an outcome retracted, before or after it was
    recorded (at the later of the two); then recomputes the cohort summary of the persons of
    the visitors whose first touch or conversions changed."""
    _record_retractions(conn, [r for _, r in retractions])
    changed: set[VisitorKey] = set()
    if events:
        changed = _store_events(conn, events)
    ends: dict[tuple[str, str], int] = {}
    for position, r in retractions:
        key = (r.property_id, r.conversion_id)
        ends[key] = max(ends.get(key, 0), position)
    for position, x in events:
        if x.kind is EventKind.CONVERSION:
            key = (x.property_id, x.record_id)
            ends[key] = max(ends.get(key, 0), position)
    _end_retracted(conn, ends)
    changed.update((x.property_id, x.visitor) for _, x in events if x.kind is EventKind.CONVERSION)
    changed |= conversion_visitors(conn, [(r.property_id, r.conversion_id) for _, r in retractions])
    refresh_visitors(
        conn, changed, {x.property_id for _, x in events} | {r.property_id for _, r in retractions}
    )


def _store_events(conn: Connection, events: Sequence[tuple[int, PersonEvent]]) -> set[VisitorKey]:
    """Stores the events' rows and lowers first touches; the visitors whose first touch
    changed."""
    revisions: Revisions = {}
    for position, x in events:
        revisions.setdefault((x.property_id, x.record_id), []).append(
            (
                position,
                {
                    "property_id": x.property_id,
                    "record_id": x.record_id,
                    "visitor": x.visitor,
                    "kind": x.kind.value,
                    "name": x.name,
                    "occurred_us": micros_of(x.occurred_at),
                    "value_micros": x.value_micros,
                    "currency_code": x.currency_code,
                },
            )
        )
    revise(conn, person_events, ("property_id", "record_id"), revisions)
    return _lower_first_touches(conn, [(p, x) for p, x in events if x.kind is EventKind.TOUCHPOINT])


def _by_property(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, set[str]] = {}
    for property_id, key in keys:
        grouped.setdefault(property_id, set()).add(key)
    return {p: sorted(ids) for p, ids in grouped.items()}


def _retracted_among(conn: Connection, property_id: str, ids: Sequence[str]) -> set[str]:
    """The conversions among `ids` of `property_id` that were retracted (each found by its
    key, bulk.rows_by_key)."""
    found = rows_by_key(
        conn, retracted_conversions, property_id, "conversion_id", ids, ("conversion_id",)
    )
    return {conversion_id for (conversion_id,) in found}


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


def _end_retracted(conn: Connection, ends: dict[tuple[str, str], int]) -> None:
    """Ends the current row of each retracted conversion among `ends` (property, record id)
    at its position, and drops a row that so never was current (recorded after its
    retraction)."""
    e = person_events.c
    parameters = []
    for property_id, ids in _by_property(ends).items():
        retracted = _retracted_among(conn, property_id, ids)
        parameters += [
            {"k_property": property_id, "k_record": i, "k_end": ends[(property_id, i)]}
            for i in sorted(retracted)
        ]
    if not parameters:
        return
    key = (e.property_id == bindparam("k_property"), e.record_id == bindparam("k_record"))
    conn.execute(
        update(person_events)
        .where(*key, e.kind == EventKind.CONVERSION.value, e.valid_to.is_(None))
        .values(valid_to=bindparam("k_end")),
        parameters,
    )
    conn.execute(
        delete(person_events).where(*key, e.valid_to <= e.valid_from),
        [{"k_property": p["k_property"], "k_record": p["k_record"]} for p in parameters],
    )


def _lower_first_touches(
    conn: Connection, touches: Sequence[tuple[int, PersonEvent]]
) -> set[VisitorKey]:
    """Each touch earlier than its visitor's first touch so far (stored, or earlier in the
    page) becomes the first touch from its position on; the visitors whose first touch
    changed. A first touch only ever moves earlier: ingest's log holds each touchpoint
    record once (an event id is a duplicate for as long as ingest's store keeps the first,
    docs/api.md), so no record comes back later with a later time or another channel."""
    if not touches:
        return set()
    stored = _stored_first_touches(conn, {(x.property_id, x.visitor) for _, x in touches})
    revisions: Revisions = {}
    for position, touch in touches:
        key = (touch.property_id, touch.visitor)
        found: FirstTouch = (micros_of(touch.occurred_at), touch.record_id, touch.channel)
        known = stored.get(key)
        if known is not None and found[:2] >= known[:2]:
            continue
        stored[key] = found
        at, record, channel = found
        revisions.setdefault(key, []).append(
            (
                position,
                {
                    "property_id": touch.property_id,
                    "visitor": touch.visitor,
                    "occurred_us": at,
                    "record_id": record,
                    "channel": channel,
                },
            )
        )
    revise(conn, visitor_first_touches, ("property_id", "visitor"), revisions)
    return {(p, v) for p, v in revisions}


def _stored_first_touches(
    conn: Connection, visitors: Iterable[VisitorKey]
) -> dict[VisitorKey, FirstTouch]:
    found: dict[VisitorKey, FirstTouch] = {}
    for property_id, keys in _by_property(visitors).items():
        for visitor, at, record, channel in rows_by_key(
            conn,
            visitor_first_touches,
            property_id,
            "visitor",
            keys,
            ("visitor", "occurred_us", "record_id", "channel"),
            current=True,
        ):
            found[(property_id, visitor)] = (int(at), record, channel)
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
        """Moves the identifiers of the page's changes and applies its probabilistic links,
        each from its position on, and records the page's position and times (checked
        against `after`, as in ConversionCreditsProjection).

        The blended persons of a property are recomputed after each of its entries once
        it has a probabilistic link (in log order, so that they come out the same however
        the log is paged); a property without any takes the batched path. Then the cohort
        summary of the persons identifiers left or joined is recomputed."""
        if not entries:
            return
        by_property: dict[str, list[tuple[int, IdentityChange]]] = {}
        for entry in entries:
            if entry.value is not None:
                by_property.setdefault(entry.value.property_id, []).append(
                    (entry.position, entry.value)
                )
        with self._writer.begin() as conn:
            if after is not None:
                current = stored_position(conn, projection_positions, PROJECTION_NAME, upstream)
                if current != after:
                    raise StalePositionError(
                        f"{upstream} position is {current}, not {after}: "
                        "the views were rebuilt; reading again"
                    )
            moved = {
                (property_id, identifier)
                for property_id, changes in by_property.items()
                for _, change in changes
                for _, identifiers in change.moves
                for identifier in identifiers
            }
            owners_before = _link_owners(conn, moved)
            for property_id, changes in by_property.items():
                if any(c.probable for _, c in changes) or _has_probable(conn, property_id):
                    for position, change in changes:
                        _apply_identity(conn, [(position, change)])
                        blend(conn, property_id, _touched(change), position)
                else:
                    _apply_identity(conn, changes)
            owners_after = _link_owners(conn, moved)
            # Before the cohort summary, whose lock (PostgreSQL) the other followers wait for.
            record_times(conn, upstream, entries, {e.position for e in entries})
            refresh_persons(
                conn,
                moved
                | {(p, owners_before.get((p, i), i)) for p, i in moved}
                | {(p, owners_after.get((p, i), i)) for p, i in moved},
                by_property,
            )
            record_position(
                conn, projection_positions, PROJECTION_NAME, upstream, entries[-1].position
            )


def _link_owners(conn: Connection, identifiers: set[VisitorKey]) -> dict[VisitorKey, str]:
    """The live deterministic person of each (property, identifier) that has one."""
    found: dict[VisitorKey, str] = {}
    for property_id, keys in _by_property(identifiers).items():
        for identifier, person in live_owners(conn, property_id, keys).items():
            found[(property_id, identifier)] = person
    return found


def _touched(change: IdentityChange) -> set[str]:
    moved = {i for _, identifiers in change.moves for i in identifiers}
    return moved | {a for a, _, _ in change.probable} | {b for _, b, _ in change.probable}


def _has_probable(conn: Connection, property_id: str) -> bool:
    c = probable_links.c
    found = conn.execute(select(c.identifier).where(c.property_id == property_id).limit(1)).first()
    return found is not None


def _apply_identity(conn: Connection, changes: Sequence[tuple[int, IdentityChange]]) -> None:
    """Writes the changes' identity links (a revision per move) and probabilistic links."""
    links: Revisions = {}
    probable: dict[tuple[str, str, str], bool] = {}
    for position, change in changes:
        for person_id, identifiers in change.moves:
            for identifier in identifiers:
                row = (
                    {
                        "property_id": change.property_id,
                        "identifier": identifier,
                        "person_id": person_id,
                    }
                    if person_id
                    else None
                )
                links.setdefault((change.property_id, identifier), []).append((position, row))
        for a, b, accepted in change.probable:
            if a != b:
                probable[(change.property_id, a, b)] = accepted
                probable[(change.property_id, b, a)] = accepted
    revise(conn, identity_links, ("property_id", "identifier"), links)
    _write_probable(conn, probable)


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


def _neighbours(
    conn: Connection, property_id: str, identifiers: set[str]
) -> dict[str, tuple[set[str], set[str]]]:
    """For each of `identifiers`, the identifiers joined to it directly: those of its
    current deterministic person, and those of its accepted probabilistic links."""
    found: dict[str, tuple[set[str], set[str]]] = {i: (set(), set()) for i in identifiers}
    ordered = sorted(identifiers)
    owners = live_owners(conn, property_id, ordered)
    for identifier, other in rows_by_key(
        conn, probable_links, property_id, "identifier", ordered, ("identifier", "other")
    ):
        found[identifier][1].add(other)
    members: dict[str, set[str]] = {}
    for owner, identifier in rows_by_key(
        conn,
        identity_links,
        property_id,
        "person_id",
        sorted(set(owners.values())),
        ("person_id", "identifier"),
        current=True,
    ):
        members.setdefault(owner, set()).add(identifier)
    for identifier, owner in owners.items():
        found[identifier][0].update(members.get(owner, set()) - {identifier})
    return found


def blend(conn: Connection, property_id: str, touched: Iterable[str], position: int) -> None:
    """Recomputes, from `position` on, the blended persons of `touched` identifiers (after
    their deterministic person or probabilistic links changed): the components, over
    deterministic persons and accepted probabilistic links, of them and of everyone their
    blended persons held; a component joined by no probabilistic link has no row."""
    seeds = set(touched)
    selected = ("identifier", "person_id")
    stored: dict[str, str] = dict(
        rows_by_key(
            conn, blended_links, property_id, "identifier", sorted(seeds), selected, current=True
        )
    )
    stored.update(
        rows_by_key(
            conn,
            blended_links,
            property_id,
            "person_id",
            sorted(set(stored.values())),
            selected,
            current=True,
        )
    )
    seeds |= set(stored)
    edges: dict[str, tuple[set[str], set[str]]] = {}
    frontier = set(seeds)
    while frontier:
        found = _neighbours(conn, property_id, frontier)
        edges.update(found)
        frontier = {o for near in found.values() for o in near[0] | near[1]} - set(edges)
    wanted: dict[str, str] = {}
    placed: set[str] = set()
    for start in sorted(edges):
        if start in placed:
            continue
        component = {start}
        pending = [start]
        while pending:
            deterministic, probabilistic = edges[pending.pop()]
            for other in deterministic | probabilistic:
                if other not in component:
                    component.add(other)
                    pending.append(other)
        placed |= component
        if any(edges[i][1] for i in component):
            wanted.update(dict.fromkeys(component, "~" + min(component)))
    revisions: Revisions = {
        (property_id, i): [
            (
                position,
                {"property_id": property_id, "identifier": i, "person_id": wanted[i]}
                if i in wanted
                else None,
            )
        ]
        for i in sorted(edges)
        if wanted.get(i) != stored.get(i)
    }
    revise(conn, blended_links, ("property_id", "identifier"), revisions)
