"""Ingest's use case: track a batch of events, each stored once, and serve the log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import TypeVar
from uuid import UUID

from eventsourcing.domain import datetime_now_with_tzinfo
from eventsourcing.persistence import IntegrityError, StoredEvent

from common.consent import Consent
from common.eventlog import LoggedApplication
from common.group_commit import (
    GroupCommit,
    GroupCommitFullError,
    GroupCommitTimeoutError,
    GroupWriteError,
)
from common.identifiers import placeholder_reason
from services.ingest.channel_settings import ChannelRulesBook
from services.ingest.consent import recorded_consent, remembered_consent
from services.ingest.consent_defaults import ConsentDefaults, ConsentDefaultsBook
from services.ingest.domainmodel import IncomingEvent, SpendFigure, SpendLine
from services.ingest.network import NetworkPseudonyms
from services.ingest.normalise import FactState, Limits, Normaliser, ValidEvent, Violation
from services.ingest.rejected import RejectedStore
from services.ingest.spend import MAX_SPEND_ROWS, IncomingSpend, SpendNormaliser, today_utc
from services.ingest.stored_facts import stored_facts
from services.ingest.vault import ConsentRow, KeyRow, KeysTakenError, Sealed, SubjectVault

SAVE_ATTEMPTS = 20
UNKNOWN_CONSENT = Consent()
"""Tries of one group's insert. Each conflict means another replica committed some of the
same events meanwhile (they are filtered out before the next try), so tries make progress;
with several replicas sending the same events at once, three were too few (INTERNAL)."""
logger = logging.getLogger(__name__)


LOOKUP_THREADS = 16
T = TypeVar("T")


class IngestError(Exception):
    """Base of ingest's errors."""


class BatchTooLargeError(IngestError):
    """A batch over the documented limits; the whole batch is refused."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field
        self.description = description


class IngestBusyError(IngestError):
    """More events are waiting to be stored than ingest may hold: the whole batch is refused
    (nothing of it is stored) and may be sent again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Outcome(StrEnum):
    """What happened to one event."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class SpendOutcome(StrEnum):
    """What happened to one spend row."""

    RECORDED = "recorded"
    CORRECTED = "corrected"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class SpendVerdict:
    """The verdict on one spend row; violations' fields are relative to the row."""

    outcome: SpendOutcome
    record_id: UUID | None = None
    violations: tuple[Violation, ...] = ()


@dataclass(slots=True)
class FactWrite:
    """A fact's stored event and the vault rows that commit with it: the new keys its
    identifiers were sealed under and the consent it records for them. Treated as immutable,
    not frozen: one is built per event, and a frozen dataclass's fields are each set through
    `object.__setattr__` (2-3x the cost)."""

    event: StoredEvent
    keys: tuple[KeyRow, ...] = ()
    consents: tuple[ConsentRow, ...] = ()


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A call's new events with their consents and sealed identifiers, ready to store."""

    new: list[ValidEvent]
    consents: dict[UUID, Consent]
    consent_rows: dict[UUID, tuple[ConsentRow, ...]]
    sealed: dict[str, dict[str, Sealed]]
    key_rows: dict[str, dict[str, KeyRow]]


@dataclass(slots=True)
class Verdict:
    """The verdict on one event of a batch. Treated as immutable, not frozen: one is built
    per event (see `FactWrite`)."""

    outcome: Outcome
    record_id: UUID | None = None
    violations: tuple[Violation, ...] = field(default_factory=tuple)


class IngestApplication(LoggedApplication):
    """Validates, normalises and stores events; its notification log is ingest's log.

    Facts are keyed by deterministic ids, so a retried event is stored once. One writer
    thread stores what concurrent calls submit in one transaction (group commit), holding at
    most `max_queued_events` events at a time; a batch that does not fit is refused with
    IngestBusyError rather than queued.
    """

    name = "ingest"

    def __init__(
        self,
        *,
        normaliser: Normaliser,
        limits: Limits,
        vault: SubjectVault,
        rejected: RejectedStore,
        env: dict[str, str] | None = None,
        spend: SpendNormaliser,
        max_queued_events: int | None = None,
        busy_retry_after: float = 1.0,
        consent_defaults: ConsentDefaults | None = None,
    ) -> None:
        super().__init__(env=env)
        # What unknown consent counts as, per property (the environment's where none chose).
        self.consent_defaults = ConsentDefaultsBook(self, consent_defaults or ConsentDefaults())
        # Each property's channel rules, compiled: touchpoints are classified with them.
        self.channel_rules = ChannelRulesBook(self)
        normaliser.classify_with(self.channel_rules.group_for)
        vault.when_forgetting(normaliser.forget_remembered_values)
        self._normaliser = normaliser
        self._spend = spend
        self._spend_lock = threading.Lock()
        self.vault = vault
        self.rejected = rejected
        self.dead_letter_failures = 0
        self._limits = limits
        self._writer: GroupCommit[UUID, FactWrite] = GroupCommit(
            self._store_events,
            key=_write_id,
            max_queued_items=max_queued_events,
            retry_after=busy_retry_after,
            name="ingest-writer",
        )
        # The store lookups a call makes before its write (known ids, identifier keys) run
        # here, so that a call can give up on them in time to answer before its deadline.
        self._lookups = ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="ingest-lookup")

    def remembered_values(self) -> int:
        """How many values taken from events (emails, ids, URLs as sent) this process
        remembers to validate repeats quickly; forgetting identifiers empties them."""
        return self._normaliser.remembered_values()

    def track(
        self,
        events: Sequence[IncomingEvent],
        *,
        received_at: datetime,
        sent_at: datetime | None = None,
        trace_parent: str = "",
        write_timeout: float | None = None,
        backfill: bool = False,
    ) -> list[Verdict]:
        """Stores the valid events of a batch; returns one verdict per event, in order.

        Raises BatchTooLargeError when the batch is over the limits, and IngestBusyError
        (before any work, and nothing stored) when its events do not fit in the writer's
        queue. When it returns, every
        accepted event is durable; rejected events are kept as dead letters (see
        `_keep_dead_letters`). A `backfill` batch accepts events up to
        `Limits.max_backfill_age` old instead of `Limits.max_age`. `trace_parent` (W3C) is
        kept with each event so that the services downstream can link their work to this
        call's trace. When the events are not stored within `write_timeout` seconds it raises
        GroupCommitTimeoutError (the events may still be stored: a retry is safe, they are
        keyed by event id).
        """
        started = time.monotonic()
        self._check_batch(events)
        if not self._writer.has_room(len(events)):
            self._refuse_busy(self._writer.refuse(len(events)))
        skew = received_at - sent_at if sent_at is not None else timedelta(0)
        verdicts: list[Verdict | None] = [None] * len(events)
        valid: dict[UUID, tuple[int, ValidEvent]] = {}
        rejected: list[tuple[IncomingEvent, Sequence[Violation]]] = []
        for index, incoming in enumerate(events):
            result = self._normaliser.validate(incoming, received_at, skew, backfill=backfill)
            if isinstance(result, list):
                verdicts[index] = Verdict(Outcome.REJECTED, violations=tuple(result))
                rejected.append((incoming, result))
            elif result.record_id in valid:
                verdicts[index] = Verdict(Outcome.DUPLICATE, record_id=result.record_id)
            else:
                valid[result.record_id] = (index, result)

        # Only the identifiers of events about to be stored are sealed: a key made for a
        # rejected or already stored event would be personal data no erasure can reach.
        def left() -> float | None:
            return None if write_timeout is None else write_timeout - (time.monotonic() - started)

        for attempt in range(SAVE_ATTEMPTS):
            prepared = self._within(write_timeout, lambda: self._new_and_sealed(valid))
            writes = [
                self._fact_write(event, prepared, received_at, trace_parent)
                for event in prepared.new
            ]
            try:
                stored = self._store_new(writes, left())
                break
            except GroupWriteError as error:
                # Another replica stored other keys for some new identifiers first: the
                # vault holds theirs now; seal again (nothing of the group was written).
                if not isinstance(error.__cause__, KeysTakenError) or attempt + 1 == SAVE_ATTEMPTS:
                    raise
        for record_id, (index, _) in valid.items():
            outcome = Outcome.ACCEPTED if record_id in stored else Outcome.DUPLICATE
            verdicts[index] = Verdict(outcome, record_id=record_id)
        self._keep_dead_letters(rejected, received_at)
        return [v for v in verdicts if v is not None]

    def record_spend(
        self, rows: Sequence[IncomingSpend], *, received_at: datetime, trace_parent: str = ""
    ) -> list[SpendVerdict]:
        """Stores the valid spend rows: a key's first figure, or a different figure that
        replaces it; returns one verdict per row, in order. A key sent twice in one call is
        rejected the second time. Rows are few next to events, so they are written directly
        (one transaction per call), not through the events' group commit: a correction is a
        new version of its key's aggregate, which the writer's known-id filter would drop.
        """
        if len(rows) > MAX_SPEND_ROWS:
            raise BatchTooLargeError(
                "rows", f"{len(rows)} rows is over the limit of {MAX_SPEND_ROWS} per call"
            )
        today = today_utc(received_at)
        verdicts: list[SpendVerdict | None] = [None] * len(rows)
        figures: dict[UUID, tuple[int, SpendFigure]] = {}
        for index, row in enumerate(rows):
            result = self._spend.figure(row, today)
            if isinstance(result, list):
                verdicts[index] = SpendVerdict(SpendOutcome.REJECTED, violations=tuple(result))
            elif result.record_id in figures:
                first = figures[result.record_id][0]
                verdicts[index] = SpendVerdict(
                    SpendOutcome.REJECTED,
                    violations=(
                        Violation(
                            "date",
                            f"the same key (property, date, source, medium, campaign) as "
                            f"rows[{first}]: send one figure per key",
                        ),
                    ),
                )
            else:
                figures[result.record_id] = (index, result)
        if figures:
            outcomes = self._store_spend(
                [figure for _, figure in figures.values()], received_at, trace_parent
            )
            for record_id, (index, _) in figures.items():
                verdicts[index] = SpendVerdict(outcomes[record_id], record_id=record_id)
        return [v for v in verdicts if v is not None]

    def _store_spend(
        self, figures: Sequence[SpendFigure], received_at: datetime, trace_parent: str
    ) -> dict[UUID, SpendOutcome]:
        """Each figure recorded, corrected or found unchanged, in one transaction; a
        concurrent writer of the same key (another replica) makes it read and try again."""
        with self._spend_lock:
            for _ in range(SAVE_ATTEMPTS):
                outcomes: dict[UUID, SpendOutcome] = {}
                lines: list[SpendLine] = []
                known = self.stored_ids([f.record_id for f in figures])
                for figure in figures:
                    if figure.record_id not in known:
                        lines.append(SpendLine.record(figure, received_at, trace_parent))
                        outcomes[figure.record_id] = SpendOutcome.RECORDED
                        continue
                    line: object = self.repository.get(figure.record_id)
                    if not isinstance(line, SpendLine):
                        raise TypeError(f"{figure.record_id} is not a spend line")
                    if line.holds(figure):
                        outcomes[figure.record_id] = SpendOutcome.UNCHANGED
                        continue
                    line.correct_to(figure, received_at, trace_parent)
                    lines.append(line)
                    outcomes[figure.record_id] = SpendOutcome.CORRECTED
                events = [e for line in lines for e in line.collect_events()]
                try:
                    if events:
                        self.save_events(events)
                    return outcomes
                except IntegrityError:
                    continue
        raise IngestError("could not store the spend: concurrent writers kept conflicting")

    def _new_and_sealed(self, valid: dict[UUID, tuple[int, ValidEvent]]) -> _Prepared:
        """The valid events not stored before, the consent each is recorded under (and the
        consent rows each leaves), and the identifiers of those with analytics consent
        sealed (the others keep none), with the new keys to write."""
        known = self.stored_ids(list(valid)) if valid else set()
        new = [event for record_id, (_, event) in valid.items() if record_id not in known]
        consents, consent_rows = self._consents(new)
        consented = [e for e in new if not consents[e.record_id].analytics_denied]
        sealed, key_rows = self._seal_identifiers(consented)
        return _Prepared(new, consents, consent_rows, sealed, key_rows)

    def _fact_write(
        self, event: ValidEvent, prepared: _Prepared, received_at: datetime, trace_parent: str
    ) -> tuple[FactState, tuple[KeyRow, ...], tuple[ConsentRow, ...]]:
        """The event's fact with the vault rows that must commit with it."""
        property_id = event.incoming.property_id
        consent = prepared.consents[event.record_id]
        fact = self._normaliser.fact_state(
            event,
            received_at,
            prepared.sealed.get(property_id, {}),
            trace_parent,
            None if consent.analytics_denied else self._network_pseudonyms(event),
            consent,
        )
        new_keys = prepared.key_rows.get(property_id, {})
        keys = tuple([new_keys[k] for k in event.identifier_keys if k in new_keys])
        return fact, keys, prepared.consent_rows.get(event.record_id, ())

    def _consents(
        self, events: Sequence[ValidEvent]
    ) -> tuple[dict[UUID, Consent], dict[UUID, tuple[ConsentRow, ...]]]:
        """The consent each event is recorded under, in batch order: its own signals, and for
        a purpose it says nothing about, its identifiers' last recorded consent (so that a
        withdrawal applies from then on), else its property's consent default ("denied until
        granted" turns unknown into denied). What the events state is recorded per identifier
        (by pseudonym): each event carries the rows it changes, written in the transaction
        that stores it; defaults are not recorded."""
        by_property: dict[str, list[ValidEvent]] = {}
        for event in events:
            by_property.setdefault(event.incoming.property_id, []).append(event)
        consents: dict[UUID, Consent] = {}
        rows: dict[UUID, tuple[ConsentRow, ...]] = {}
        for property_id, found in by_property.items():
            defaults = self.consent_defaults.applying_to(property_id).defaults
            pseudonyms = {
                key: self.vault.pseudonym(property_id, key)
                for key in {key for event in found for key in event.identifier_keys}
            }
            current = self._recorded_consents(property_id, pseudonyms)
            unknown = defaults.applied_to(UNKNOWN_CONSENT)
            for event in found:
                if event.consent == UNKNOWN_CONSENT and not (
                    current and any(pseudonyms[key] in current for key in event.identifier_keys)
                ):
                    # Most events: nothing said, nothing recorded for their identifiers.
                    consents[event.record_id] = unknown
                    continue
                own = [pseudonyms[key] for key in event.identifier_keys]
                consents[event.record_id] = defaults.applied_to(
                    recorded_consent(event.consent, [current[p] for p in own if p in current])
                )
                changed: list[ConsentRow] = []
                for pseudonym in own:
                    updated = remembered_consent(current.get(pseudonym), event.consent)
                    if updated != current.get(pseudonym, Consent()):
                        current[pseudonym] = updated
                        changed.append(ConsentRow(property_id, pseudonym, updated))
                if changed:
                    rows[event.record_id] = tuple(changed)
        return consents, rows

    def _recorded_consents(
        self, property_id: str, pseudonyms: dict[str, str]
    ) -> dict[str, Consent]:
        """The recorded consent of each identifier (key -> pseudonym), by its pseudonym: the
        row under that pseudonym, else one recorded under an earlier secret before a rotation
        (identifiers that only ever denied analytics consent were never sealed, so their
        pseudonym does not follow them to the secret that made it)."""
        candidates = {
            key: (pseudonym, *self.vault.previous_pseudonyms(property_id, key))
            for key, pseudonym in pseudonyms.items()
        }
        stored = self.vault.consents(
            property_id, [p for found in candidates.values() for p in found]
        )
        recorded: dict[str, Consent] = {}
        for key, found in candidates.items():
            consent = next((stored[p] for p in found if p in stored), None)
            if consent is not None:
                recorded[pseudonyms[key]] = consent
        return recorded

    def _within(self, timeout: float | None, work: Callable[[], T]) -> T:
        """The work's result; GroupCommitTimeoutError when it takes longer than `timeout`
        seconds (the work goes on in the background: a store that hangs is given up on, not
        interrupted)."""
        if timeout is None:
            return work()
        try:
            return self._lookups.submit(work).result(timeout=max(timeout, 0.0))
        except FutureTimeoutError:
            raise GroupCommitTimeoutError(
                f"ingest: the store did not answer within {timeout:.1f}s", may_be_written=False
            ) from None

    def _keep_dead_letters(
        self, rejected: Sequence[tuple[IncomingEvent, Sequence[Violation]]], received_at: datetime
    ) -> None:
        """Stores the rejected events, after the accepted ones committed (in their own
        transaction: the event store and the dead-letter tables are written through different
        connections). A failure here never fails the batch: it is logged and counted."""
        try:
            self.rejected.add(rejected, received_at)
        except Exception:
            self.dead_letter_failures += len(rejected)
            logger.exception("could not keep %d rejected events as dead letters", len(rejected))

    def pseudonyms(self, property_id: str, identifiers: Sequence[str]) -> dict[str, str]:
        """Each identifier's pseudonym; placeholder values have none."""
        return {
            i: self.vault.pseudonym(property_id, i)
            for i in identifiers
            if i and placeholder_reason(i.partition(":")[2]) is None
        }

    def _seal_identifiers(
        self, events: Sequence[ValidEvent]
    ) -> tuple[dict[str, dict[str, Sealed]], dict[str, dict[str, KeyRow]]]:
        """Pseudonyms and sealed values of the events' identifiers, per property, and the
        rows of the keys not stored yet (by identifier), to write with the events."""
        by_property: dict[str, list[str]] = {}
        for event in events:
            by_property.setdefault(event.incoming.property_id, []).extend(event.identifier_keys)
        sealed: dict[str, dict[str, Sealed]] = {}
        keys: dict[str, dict[str, KeyRow]] = {}
        for prop, identifiers in by_property.items():
            if identifiers:
                sealed[prop], keys[prop] = self.vault.seal_pending(prop, identifiers)
        return sealed, keys

    def _network_pseudonyms(self, event: ValidEvent) -> NetworkPseudonyms | None:
        """Pseudonyms of the event's client IP address and network, the only form in which
        they are kept; None when there is no address worth forwarding."""
        address = event.forwarded_address
        if address is None:
            return None
        return self.vault.network_pseudonyms(event.incoming.property_id, address)

    def _check_batch(self, events: Sequence[IncomingEvent]) -> None:
        if len(events) > self._limits.max_events_per_batch:
            raise BatchTooLargeError(
                "events",
                f"{len(events)} events is over the limit of "
                f"{self._limits.max_events_per_batch} per batch",
            )
        total = sum(e.size_bytes for e in events)
        if total > self._limits.max_batch_bytes:
            raise BatchTooLargeError(
                "events",
                f"{total} bytes is over the limit of {self._limits.max_batch_bytes} per batch",
            )

    def close(self) -> None:
        """Writes what is queued, then closes the store."""
        self._writer.close()
        self._lookups.shutdown(wait=True)
        super().close()

    def _store_new(
        self,
        facts: list[tuple[FactState, tuple[KeyRow, ...], tuple[ConsentRow, ...]]],
        timeout: float | None,
    ) -> set[UUID]:
        """Saves the facts not stored before, with their vault rows; returns the ids this
        call saved. Concurrent calls are combined into one transaction (group commit); it
        returns once that committed."""
        created = datetime_now_with_tzinfo()
        events = stored_facts([fact for fact, _, _ in facts], created)
        writes = [
            FactWrite(event, keys, rows)
            for event, (_, keys, rows) in zip(events, facts, strict=True)
        ]
        try:
            return self._writer.submit(writes, timeout=timeout)
        except GroupCommitFullError as full:
            self._refuse_busy(full)
            raise

    @property
    def writer(self) -> GroupCommit[UUID, FactWrite]:
        """The group commit that stores accepted events (its counters show what it holds)."""
        return self._writer

    @staticmethod
    def _refuse_busy(full: GroupCommitFullError) -> None:
        raise IngestBusyError(
            f"ingest is holding as many events as it may ({full}); retry after "
            f"{full.retry_after:g}s",
            full.retry_after,
        ) from full

    def _store_events(self, writes: list[FactWrite]) -> set[UUID]:
        """The one writer's transaction: the group's new vault keys, consent records and
        events, committed together. The callers left out what was stored before they sealed
        their events, so the insert is tried as it is; an IntegrityError means that some were
        stored meanwhile (an earlier group, another replica): filter them out with one query
        and retry. KeysTakenError (another replica's keys won) fails the group: its callers
        seal again."""
        for _ in range(SAVE_ATTEMPTS):
            if not writes:
                return set()
            keys = [key for write in writes for key in write.keys]
            consents = [row for write in writes for row in write.consents]
            try:
                self.save_stored(
                    [write.event for write in writes],
                    before=partial(self.vault.write_pending, keys=keys, consents=consents),
                )
            except IntegrityError:
                known = self.stored_ids([_write_id(w) for w in writes])
                writes = [w for w in writes if _write_id(w) not in known]
                continue
            self.vault.keys_committed(keys)
            return {_write_id(w) for w in writes}
        raise IngestError("could not store the batch: concurrent writers kept conflicting")


def _stored_id(event: StoredEvent) -> UUID:
    """A stored fact's record id (ingest's facts have UUID ids)."""
    originator = event.originator_id
    return originator if isinstance(originator, UUID) else UUID(originator)


def _write_id(write: FactWrite) -> UUID:
    """The record id of a fact's write."""
    return _stored_id(write.event)
