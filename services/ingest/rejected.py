"""Dead letters: rejected events kept for a while, without identifiers, with their reasons.

A rejected event is stored so that a broken tag shows up within minutes and nothing sent
disappears unexplained. Every personal field (anonymous id, user id, email and its hash,
IP address, click ids, order id) is dropped, not sealed: only which of them were present is
kept. URLs and campaign tags pass the same `UrlScrubber` as accepted events, and raw
personal values quoted in reasons are redacted. Rows older than the retention are deleted
on write, a bounded number at a time.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    exists,
    func,
    insert,
    select,
)
from sqlalchemy.exc import DBAPIError

from common.eventlog import MissingTablesError
from common.identifiers import placeholder_reason
from common.money import Money
from services.ingest.domainmodel import IncomingEvent
from services.ingest.normalise import Violation
from services.ingest.url_privacy import UrlScrubber

MAX_PROPERTY_LENGTH = 128
MAX_EVENT_ID_LENGTH = 128
MAX_FIELD_LENGTH = 128
MAX_DESCRIPTION_LENGTH = 512
MAX_FIELDS_JSON_BYTES = 4096
MAX_TEXT_IN_FIELDS = 512
PURGE_INTERVAL = timedelta(minutes=1)
PURGE_BATCH = 10_000
REDACTED = "[redacted]"
MIN_REDACTED_LENGTH = 4
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_PERSONAL_FIELDS = (
    "identity.",
    "context.ip_address",
    "conversion.order_id",
    "outcome.order_id",
    "touchpoint.click_ids.",
)

metadata = MetaData()
_id_type = BigInteger().with_variant(Integer, "sqlite")
rejected_events = Table(
    "rejected_events",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    Column("property_id", String(MAX_PROPERTY_LENGTH), nullable=False),
    Column("event_id", String(MAX_EVENT_ID_LENGTH), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("fields", Text, nullable=False),
    Index("rejected_events_by_property", "property_id", "id"),
    Index("rejected_events_by_time", "received_at"),
)
rejected_violations = Table(
    "rejected_violations",
    metadata,
    Column("rejected_id", _id_type, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("property_id", String(MAX_PROPERTY_LENGTH), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("field", String(MAX_FIELD_LENGTH), nullable=False),
    Column("description", String(MAX_DESCRIPTION_LENGTH), nullable=False),
    Index("rejected_violations_by_property", "property_id", "received_at"),
    Index("rejected_violations_by_time", "received_at"),
)


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """A stored dead letter: what was rejected, when, why, and its fields without personal
    data (`fields`, at most 4 KiB of JSON; `truncated` set when some were left out)."""

    id: int
    property_id: str
    event_id: str
    kind: str
    received_at: datetime
    violations: tuple[Violation, ...]
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReasonCount:
    """How many stored violations have this field and reason."""

    field: str
    description: str
    count: int


@dataclass(frozen=True, slots=True)
class RejectedFilter:
    """Which dead letters to list: one property (required), optionally since a time, on one
    field, or with a reason containing some text."""

    property_id: str
    since: datetime | None = None
    field: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RejectedPage:
    """A page of dead letters, newest first, and the counts by reason over the filter."""

    events: tuple[RejectedEvent, ...]
    counts: tuple[ReasonCount, ...]
    next_before_id: int | None


def _aware(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite keeps it without its offset)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _clean(text: str, limit: int) -> str:
    """Text a PostgreSQL column can hold (no NUL), at most `limit` characters."""
    text = text.replace("\x00", "\ufffd")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RejectedStore:
    """Dead letters in ingest's own database (SQLAlchemy), kept for `retention`."""

    def __init__(self, engine: Engine, urls: UrlScrubber, retention: timedelta) -> None:
        self._engine = engine
        self._urls = urls
        self._retention = retention
        self._last_purge: datetime | None = None
        self._purge_lock = threading.Lock()

    def create_tables(self) -> None:
        """Creates the dead-letter tables when missing."""
        metadata.create_all(self._engine)

    def check_tables(self) -> None:
        """Raises MissingTablesError unless the dead-letter tables exist."""
        try:
            with self._engine.connect() as conn:
                conn.execute(select(rejected_events.c.id).limit(1))
                conn.execute(select(rejected_violations.c.rejected_id).limit(1))
        except DBAPIError as error:
            raise MissingTablesError(
                "ingest's dead-letter tables are missing: run `convtrack migrate` first"
            ) from error

    def add(
        self,
        rejected: Sequence[tuple[IncomingEvent, Sequence[Violation]]],
        received_at: datetime,
    ) -> None:
        """Stores rejected events with their violations, without personal data, in one
        transaction; then deletes expired rows when the last purge is a minute old."""
        if not rejected:
            return
        received_at = received_at.astimezone(UTC)
        with self._engine.begin() as conn:
            for incoming, violations in rejected:
                personal = _personal_values(incoming)
                inserted = conn.execute(
                    insert(rejected_events).values(
                        property_id=_clean(incoming.property_id, MAX_PROPERTY_LENGTH),
                        event_id=_clean(incoming.event_id, MAX_EVENT_ID_LENGTH),
                        kind=incoming.kind.value if incoming.kind else "",
                        received_at=received_at,
                        fields=self._fields_json(incoming, personal),
                    )
                ).inserted_primary_key
                assert inserted is not None
                row_id = inserted[0]
                conn.execute(
                    insert(rejected_violations),
                    [
                        {
                            "rejected_id": row_id,
                            "position": position,
                            "property_id": _clean(incoming.property_id, MAX_PROPERTY_LENGTH),
                            "received_at": received_at,
                            "field": _clean(v.field, MAX_FIELD_LENGTH),
                            "description": _clean(
                                _redacted_description(v, personal), MAX_DESCRIPTION_LENGTH
                            ),
                        }
                        for position, v in enumerate(violations)
                    ],
                )
        self._purge_if_due(received_at)

    def purge_expired(self, now: datetime, limit: int = PURGE_BATCH) -> int:
        """Deletes up to `limit` dead letters received before the retention; returns how
        many."""
        cutoff = now.astimezone(UTC) - self._retention
        with self._engine.begin() as conn:
            expired = select(rejected_events.c.id).where(rejected_events.c.received_at < cutoff)
            ids = [
                row.id for row in conn.execute(expired.order_by(rejected_events.c.id).limit(limit))
            ]
            if not ids:
                return 0
            conn.execute(
                delete(rejected_violations).where(rejected_violations.c.rejected_id.in_(ids))
            )
            conn.execute(delete(rejected_events).where(rejected_events.c.id.in_(ids)))
        return len(ids)

    def list(
        self, where: RejectedFilter, *, page_size: int, before_id: int | None = None
    ) -> RejectedPage:
        """Dead letters matching the filter, newest first, `page_size` at a time, and the
        counts by (field, reason) of their violations over the whole filter."""
        e, v = rejected_events.c, rejected_violations.c
        event_conditions = [e.property_id == where.property_id]
        violation_conditions = [v.property_id == where.property_id]
        if where.since is not None:
            since = where.since.astimezone(UTC)
            event_conditions.append(e.received_at >= since)
            violation_conditions.append(v.received_at >= since)
        if where.field:
            violation_conditions.append(v.field == where.field)
        if where.reason:
            violation_conditions.append(v.description.contains(where.reason, autoescape=True))
        if where.field or where.reason:
            event_conditions.append(exists().where(v.rejected_id == e.id, *violation_conditions))
        page_conditions = list(event_conditions)
        if before_id is not None:
            page_conditions.append(e.id < before_id)
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(rejected_events)
                .where(and_(*page_conditions))
                .order_by(e.id.desc())
                .limit(page_size + 1)
            ).all()
            page = rows[:page_size]
            violations: dict[int, list[Violation]] = {row.id: [] for row in page}
            if page:
                for row in conn.execute(
                    select(v.rejected_id, v.field, v.description)
                    .where(v.rejected_id.in_(list(violations)))
                    .order_by(v.rejected_id, v.position)
                ):
                    violations[row.rejected_id].append(Violation(row.field, row.description))
            counts = conn.execute(
                select(v.field, v.description, func.count().label("n"))
                .where(and_(*violation_conditions))
                .group_by(v.field, v.description)
                .order_by(func.count().desc(), v.field, v.description)
            ).all()
        return RejectedPage(
            events=tuple(
                RejectedEvent(
                    id=row.id,
                    property_id=row.property_id,
                    event_id=row.event_id,
                    kind=row.kind,
                    received_at=_aware(row.received_at),
                    violations=tuple(violations[row.id]),
                    fields=json.loads(row.fields),
                )
                for row in page
            ),
            counts=tuple(ReasonCount(c.field, c.description, c.n) for c in counts),
            next_before_id=page[-1].id if len(rows) > page_size else None,
        )

    def _purge_if_due(self, now: datetime) -> None:
        with self._purge_lock:
            if self._last_purge is not None and now - self._last_purge < PURGE_INTERVAL:
                return
            self._last_purge = now
        self.purge_expired(now)

    def _fields_json(self, incoming: IncomingEvent, personal: Sequence[str]) -> str:
        """The event's fields without personal data, as JSON of at most 4 KiB: the largest
        fields are dropped until it fits, `"truncated": true` saying so."""
        fields = self._kept_fields(incoming, personal)
        text = json.dumps(fields, ensure_ascii=False, sort_keys=True)
        if len(text.encode()) <= MAX_FIELDS_JSON_BYTES:
            return text
        fields["truncated"] = True
        for key in sorted(fields, key=lambda k: -len(json.dumps(fields[k]))):
            if key == "truncated":
                continue
            del fields[key]
            text = json.dumps(fields, ensure_ascii=False, sort_keys=True)
            if len(text.encode()) <= MAX_FIELDS_JSON_BYTES:
                break
        return text

    def _kept_fields(self, incoming: IncomingEvent, personal: Sequence[str]) -> dict[str, Any]:
        """What helps find out why an event was rejected, with no personal field: the texts
        the sender wrote without personal values, URLs scrubbed like accepted events'."""

        def text(value: str) -> str:
            return _clean(_redact(value, personal), MAX_TEXT_IN_FIELDS)

        def url(value: str) -> str:
            return text(self._urls.url(value))

        def tag(value: str) -> str:
            return text(self._urls.value(value))

        fields: dict[str, Any] = {
            "timestamp": incoming.timestamp.isoformat() if incoming.timestamp else "",
            "identifiers_sent": _names_sent(
                anonymous_id=incoming.anonymous_id,
                user_id=incoming.user_id,
                email=incoming.email,
                email_sha256=incoming.email_sha256,
                ip_address=incoming.ip_address,
            ),
            "context": {
                "user_agent": text(incoming.user_agent),
                "page_url": url(incoming.page_url),
                "referrer": url(incoming.referrer),
                "geo_country": text(incoming.geo_country),
                "geo_city": text(incoming.geo_city),
            },
            "size_bytes": incoming.size_bytes,
        }
        if incoming.touchpoint is not None:
            touch, tags, clicks = (
                incoming.touchpoint,
                incoming.touchpoint.tags,
                incoming.touchpoint.click_ids,
            )
            fields["touchpoint"] = {
                "type": touch.type.value if touch.type else "(unknown)",
                "landing_url": url(touch.landing_url),
                "referrer": url(touch.referrer),
                "utm": {
                    "source": tag(tags.source),
                    "medium": tag(tags.medium),
                    "campaign": tag(tags.campaign),
                    "term": tag(tags.term),
                    "content": tag(tags.content),
                },
                "click_ids_sent": _names_sent(
                    gclid=clicks.gclid, fbclid=clicks.fbclid, msclkid=clicks.msclkid
                ),
            }
        if incoming.page_view is not None:
            fields["page_view"] = {
                "url": url(incoming.page_view.url),
                "title": text(incoming.page_view.title),
            }
        if incoming.conversion is not None:
            conversion, value = incoming.conversion, incoming.conversion.value
            fields["conversion"] = {
                "name": text(conversion.name),
                "value": (
                    {
                        "currency_code": text(value.currency_code),
                        "units": value.units,
                        "nanos": value.nanos,
                    }
                    if value
                    else None
                ),
                "order_id_sent": bool(conversion.order_id),
            }
        if incoming.outcome is not None:
            outcome = incoming.outcome
            fields["outcome"] = {
                "conversion_name": text(outcome.conversion_name),
                "stage": text(outcome.stage),
                "value": _amount(outcome.value, text),
                "refund": _amount(outcome.refund, text),
                "retracted": outcome.retracted,
                "order_id_sent": bool(outcome.order_id),
            }
        return fields


def _amount(value: Money | None, text: Callable[[str], str]) -> dict[str, Any] | None:
    """An amount as dead letters keep it; None when none was sent."""
    if value is None:
        return None
    return {"currency_code": text(value.currency_code), "units": value.units, "nanos": value.nanos}


def _names_sent(**values: str) -> list[str]:
    """The names of the fields that were sent (non-empty), in order."""
    return [name for name, value in values.items() if value]


def _personal_values(incoming: IncomingEvent) -> list[str]:
    """The raw personal values of an event (of at least 4 characters, placeholders such as
    "undefined" left out), longest first:
    none of them may be stored. Quoted parts of an email address in a reason are redacted
    by `_redacted_description`."""
    values = [
        incoming.anonymous_id,
        incoming.user_id,
        incoming.email,
        incoming.email_sha256,
        incoming.ip_address,
    ]
    if incoming.touchpoint is not None:
        clicks = incoming.touchpoint.click_ids
        values += [clicks.gclid, clicks.fbclid, clicks.msclkid]
    if incoming.conversion is not None:
        values.append(incoming.conversion.order_id)
    if incoming.outcome is not None:
        values.append(incoming.outcome.order_id)
    wanted = {
        value
        for value in (*values, *(v.strip() for v in values))
        if len(value) >= MIN_REDACTED_LENGTH and placeholder_reason(value) is None
    }
    return sorted(wanted, key=len, reverse=True)


def _redact(text: str, personal: Iterable[str]) -> str:
    for value in personal:
        text = text.replace(value, REDACTED)
    return text


def _redacted_description(violation: Violation, personal: Sequence[str]) -> str:
    """The reason without personal values: on a personal field every quoted literal but a
    placeholder ("null", "undefined") is redacted, and raw values anywhere."""
    description = violation.description
    if violation.field.startswith(_PERSONAL_FIELDS):
        description = _QUOTED.sub(
            lambda m: m.group(0) if placeholder_reason(m.group(0)[1:-1]) else REDACTED,
            description,
        )
    return _redact(description, personal)
