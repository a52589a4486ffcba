"""Attribution's use cases: follow ingest and identity, (re-)attribute affected conversions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from common.eventlog import TrackingApplication, UnitOfWork
from common.follower import UpstreamEntry
from common.telemetry import current_trace_parent
from services.attribution.clusters import PageClusters
from services.attribution.domainmodel import (
    CONFIGURATION_ID,
    DEFAULT_SCOPE,
    AttributionInput,
    Conversion,
    ConversionOutcomes,
    ConversionSeen,
    IdentifierShared,
    Job,
    ModelConfiguration,
    ModelFit,
    OutcomeSeen,
    Person,
    PersonChanged,
    PersonForgottenSeen,
    PersonSplitSeen,
    ProbabilisticLinkSeen,
    PropertyAttributionSettings,
    ReportingIdentity,
    TouchpointSeen,
    Visitor,
    fit_id,
    outcomes_id,
    settings_id,
    touch_from_dict,
    touch_to_dict,
    visitor_id,
)
from services.attribution.jobs import JobRunner, Progress
from services.attribution.journeys import LookbackPolicy, journey_for
from services.attribution.models import (
    ChannelFit,
    Credit,
    ModelSpec,
    UnknownModelError,
    credit,
    named_model,
)
from services.attribution.outcomes import fold_outcomes, outcome_to_dict
from services.attribution.rules import NAMED_RULES
from services.attribution.settings import (
    PropertySettings,
    Settings,
    SettingsBook,
    SettingSource,
    lookbacks_to_dict,
    models_to_dicts,
)
from services.attribution.training import (
    PastConversion,
    PersonHistory,
    fit_channel_shares,
    training_paths,
)

MAX_MERGE_HOPS = 64
INGEST_INPUTS = (TouchpointSeen, ConversionSeen, OutcomeSeen)
"""Upstream inputs that change no cluster's membership (apart from creating visitors)."""
JOB_CHUNK = 200
LOG_SCAN_PAGE = 1000
SETTINGS_REFRESH_SECONDS = 1.0
"""How often the log is checked for settings another replica stored."""
SETTINGS_TOPICS = [
    get_topic(PropertyAttributionSettings.Created),
    get_topic(PropertyAttributionSettings.Changed),
]


class AttributionError(Exception):
    """Base of attribution's errors."""


class UnknownConversionError(AttributionError):
    """Attribution has not seen the conversion (yet)."""


class UnknownJobError(AttributionError):
    """No background job has that id."""


class AttributionApplication(TrackingApplication):
    """Credits conversions from journeys; its notification log is attribution's log.

    Journeys span every identifier identity links to the converting visitor. A touchpoint
    that arrives late, or an identity change, re-attributes the affected conversions as new
    `Conversion.Attributed` events; an attribution whose journey did not change is not
    repeated. `lock` serialises processing and queries (cached aggregates are shared).
    """

    name = "attribution"
    env = {
        "AGGREGATE_CACHE_MAXSIZE": "50000",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }

    def __init__(
        self,
        *,
        models: Sequence[ModelSpec] | None = None,
        lookbacks: LookbackPolicy | None = None,
        reporting_identity: ReportingIdentity = ReportingIdentity.DETERMINISTIC,
        env: dict[str, str] | None = None,
    ) -> None:
        """`models`, `lookbacks` and `reporting_identity` are the environment's settings:
        they apply to every property that did not choose its own, while the deployment
        default (property id `*`) did not choose either."""
        super().__init__(env=env)
        self.lock = threading.Lock()
        self._jobs = JobRunner(self)
        environment = Settings(
            tuple(models or DEFAULT_MODELS), lookbacks or LookbackPolicy(), reporting_identity
        )
        _check_unique(environment.models)
        self._book = SettingsBook(environment)
        self._clusters: PageClusters | None = None
        self._settings_position = 0
        self._settings_refreshed_at = 0.0
        self._refresh_settings(force=True)
        self._record_environment()
        self._adopt_deployment_configuration()
        self._fail_interrupted_jobs()

    def process_page(
        self,
        upstream: str,
        entries: Sequence[UpstreamEntry[AttributionInput | None]],
        after: int | None = None,
    ) -> None:
        """Applies a page of ingest or identity events and re-attributes what they affect,
        saving everything with the upstream position in one transaction."""
        self._refresh_settings()
        unit = self.unit_of_work()
        affected: dict[UUID, None] = {}
        clusters = self._clusters = PageClusters()
        try:
            unit.learn_absent(_candidate_ids(entries), self.stored_ids)
            for entry in entries:
                value = entry.value
                if value is not None and not isinstance(value, INGEST_INPUTS):
                    clusters.clear()  # identity's changes move visitors between clusters
                if isinstance(value, TouchpointSeen):
                    affected.update(dict.fromkeys(self._touchpoint(unit, value)))
                elif isinstance(value, ConversionSeen):
                    affected.update(dict.fromkeys(self._conversion(unit, value)))
                elif isinstance(value, OutcomeSeen):
                    affected.update(dict.fromkeys(self._outcome(unit, value)))
                elif isinstance(value, PersonChanged):
                    affected.update(dict.fromkeys(self._person_changed(unit, value)))
                elif isinstance(value, PersonSplitSeen):
                    affected.update(dict.fromkeys(self._person_split(unit, value)))
                elif isinstance(value, IdentifierShared):
                    affected.update(dict.fromkeys(self._identifier_shared(unit, value)))
                elif isinstance(value, PersonForgottenSeen):
                    affected.update(dict.fromkeys(self._person_forgotten(unit, value)))
                elif isinstance(value, ProbabilisticLinkSeen):
                    affected.update(dict.fromkeys(self._probabilistic_link(unit, value)))
                if value is not None and not isinstance(value, INGEST_INPUTS):
                    clusters.clear()
            for conversion_id in affected:
                self._attribute(unit, conversion_id)
            self.save_tracked(upstream, entries[-1].position, unit)
        except BaseException:
            self.discard_cached_state()
            raise
        finally:
            self._clusters = None

    def settings(self, property_id: str) -> PropertySettings:
        """The settings that apply to a property (`*`: the deployment default), with where
        each comes from."""
        with self.lock:
            self._refresh_settings(force=True)
            return self._book.for_property(property_id)

    def configure_models(
        self,
        property_id: str,
        models: Sequence[ModelSpec] | None,
        lookbacks: LookbackPolicy | None = None,
    ) -> UUID:
        """Stores a property's models (None: it follows the default again) and, when given,
        its lookback windows; then starts re-attributing the conversions the change applies
        to (the property's, or for `*` those of every property that follows the default);
        returns the job's id."""
        if models is not None:
            _check_unique(models)

        def change(stored: PropertyAttributionSettings) -> None:
            stored.configure_models(None if models is None else models_to_dicts(models))
            if lookbacks is not None:
                stored.choose_lookbacks(lookbacks_to_dict(lookbacks))
            elif models is None:
                stored.choose_lookbacks(None)

        self._change_settings(property_id, change)
        return self._reattribute_after_change(
            property_id, "models", lambda s: s.models_source, lambda s: s.lookbacks_source
        )

    def choose_reporting_identity(
        self, property_id: str, reporting_identity: ReportingIdentity
    ) -> UUID:
        """Chooses which identity links make up a property's journeys (deterministic only,
        or blended with identity's accepted probabilistic links; `*`: the default's) and
        starts re-attributing the conversions the choice applies to; returns the job's id."""
        self._change_settings(
            property_id, lambda s: s.choose_reporting_identity(reporting_identity.value)
        )
        return self._reattribute_after_change(
            property_id,
            f"the {reporting_identity.value} reporting identity",
            lambda s: s.reporting_identity_source,
        )

    def _change_settings(
        self, property_id: str, change: Callable[[PropertyAttributionSettings], None]
    ) -> None:
        with self.lock:
            unit = self.unit_of_work()
            stored = self._stored_settings(unit, property_id)
            change(stored)
            unit.collect(stored)
            self.save_unit(unit)
            self._refresh_settings(force=True)

    def _reattribute_after_change(
        self,
        property_id: str,
        what: str,
        *sources: Callable[[PropertySettings], SettingSource],
    ) -> UUID:
        """Re-attributes the property's conversions, or after a change of the default those
        of every property for which one of the changed settings follows the default."""
        if property_id != DEFAULT_SCOPE:
            return self.start_reattribution(
                f"re-attribute {property_id!r} conversions under {what}",
                lambda c: c.property_id == property_id,
                property_id=property_id,
            )

        def follows_default(conversion: Conversion) -> bool:
            applied = self._book.for_property(conversion.property_id)
            return any(source(applied) is not SettingSource.PROPERTY for source in sources)

        return self.start_reattribution(
            f"re-attribute the conversions of properties that follow the default under {what}",
            follows_default,
        )

    def start_reattribution(
        self,
        description: str = "re-attribute all conversions",
        only: Callable[[Conversion], bool] | None = None,
        *,
        property_id: str = "",
    ) -> UUID:
        """Re-attributes every stored conversion (or those `only` selects) under the
        current settings, in the background; returns the job's id. The job is of
        `property_id` (of every property when empty)."""
        return self._jobs.start(
            description, lambda report: self._reattribute(report, only), property_id
        )

    def refit(self, property_id: str, conversion_name: str, model: str) -> UUID:
        """Fits a data-driven model on its training window now, then re-credits the
        conversions of that property and name; returns the job's id."""
        with self.lock:
            self._refresh_settings(force=True)
            spec = self._book.for_property(property_id).settings.model(model)
        if spec is None or spec.data_driven is None:
            raise UnknownModelError(
                f"{model!r} is not a data-driven model configured for property {property_id!r}"
            )

        def work(report: Progress) -> None:
            self._fit_model(spec, property_id, conversion_name)
            self._reattribute(
                report, lambda c: (c.property_id, c.name) == (property_id, conversion_name)
            )

        return self._jobs.start(
            f"fit {model} for {conversion_name!r} in {property_id!r}, then re-credit",
            work,
            property_id,
        )

    def refit_all(self) -> list[UUID]:
        """Starts a refit of every data-driven model for every property and conversion name
        that has conversions; returns the jobs' ids (what the refit schedule runs)."""
        pairs: set[tuple[str, str]] = set()
        ids = self._ids_of(Conversion.Recorded)
        for start in range(0, len(ids), JOB_CHUNK):
            with self.lock:
                unit = self.unit_of_work()
                for conversion_id in ids[start : start + JOB_CHUNK]:
                    conversion = unit.get(Conversion, conversion_id)
                    if conversion is not None:
                        pairs.add((conversion.property_id, conversion.name))
        with self.lock:
            self._refresh_settings(force=True)
            models = {p: self._book.for_property(p).settings.models for p, _ in pairs}
        return [
            self.refit(property_id, name, spec.name)
            for property_id, name in sorted(pairs)
            for spec in models[property_id]
            if spec.data_driven is not None
        ]

    def refit_every(self, interval: timedelta) -> None:
        """Refits every data-driven model each `interval` in the background, until closed."""
        self._jobs.every(interval, self.refit_all)

    def job(self, job_id: UUID, property_id: str | None = None) -> Job:
        """A background job's progress; with `property_id`, only a job of that property (a
        job of another property, or of every property, is unknown to the caller)."""
        with self.lock:
            try:
                found = self.unit_of_work().get(Job, job_id)
            except TypeError:  # the id is another aggregate's, not a job's
                found = None
        if found is None or (property_id is not None and found.property_id != property_id):
            raise UnknownJobError(f"no job {job_id}")
        return found

    def close(self) -> None:
        """Stops background jobs, then closes the store."""
        self._jobs.stop()
        super().close()

    def _refresh_settings(self, force: bool = False) -> None:
        """Learns the settings stored since last looked, by this replica or another one (at
        most once per SETTINGS_REFRESH_SECONDS unless forced). Called with the lock held."""
        now = time.monotonic()
        if not force and now - self._settings_refreshed_at < SETTINGS_REFRESH_SECONDS:
            return
        self._settings_refreshed_at = now
        # Entries up to the head are committed (the recorders keep id order equal to commit
        # order), so the next look can start after the head even when none was a setting.
        head = self.recorder.max_notification_id() or 0
        while self._settings_position < head:
            page = self.recorder.select_notifications(
                start=self._settings_position,
                limit=LOG_SCAN_PAGE,
                stop=head,
                topics=SETTINGS_TOPICS,
                inclusive_of_start=False,
            )
            for originator_id in dict.fromkeys(UUID(str(n.originator_id)) for n in page):
                stored = self._load_settings(originator_id)
                if stored is not None:
                    self._book.learn(stored)
            if len(page) < LOG_SCAN_PAGE:
                self._settings_position = head
            else:
                self._settings_position = page[-1].id

    def _load_settings(self, aggregate_id: UUID) -> PropertyAttributionSettings | None:
        """A property's stored settings, read from its events (never from the aggregate
        cache, which another replica's writes leave behind)."""
        found: Any = None
        stored: Any
        for stored in self.events.get(aggregate_id):
            found = stored.mutate(found)
        return found if isinstance(found, PropertyAttributionSettings) else None

    def _stored_settings(self, unit: UnitOfWork, property_id: str) -> PropertyAttributionSettings:
        """A property's stored settings added to the unit (created when it has none)."""
        stored = self._load_settings(settings_id(property_id))
        if stored is None:
            stored = PropertyAttributionSettings(
                id=settings_id(property_id), property_id=property_id
            )
        unit.add(stored)
        return stored

    def _adopt_deployment_configuration(self) -> None:
        """Makes the deployment-wide configuration stored before settings became per-property
        the deployment default's choice (once)."""
        if self._book.chose(DEFAULT_SCOPE):
            return
        legacy = self.unit_of_work().get(ModelConfiguration, CONFIGURATION_ID)
        if legacy is None:
            return
        with self.lock:
            unit = self.unit_of_work()
            stored = self._stored_settings(unit, DEFAULT_SCOPE)
            stored.configure_models(list(legacy.models))
            if legacy.reporting_identity:
                stored.choose_reporting_identity(legacy.reporting_identity)
            unit.collect(stored)
            self._save_settings(unit)

    def _record_environment(self) -> None:
        """Records the environment's settings on the deployment default when they changed,
        so that attribution's log carries what applies to properties nobody configured."""
        environment = self._book.environment
        with self.lock:
            unit = self.unit_of_work()
            stored = self._stored_settings(unit, DEFAULT_SCOPE)
            stored.read_environment(
                models_to_dicts(environment.models),
                lookbacks_to_dict(environment.lookbacks),
                environment.reporting_identity.value,
            )
            unit.collect(stored)
            if unit.events:
                self._save_settings(unit)

    def _save_settings(self, unit: UnitOfWork) -> None:
        """Saves a settings change; when another replica saved one first, its is kept."""
        try:
            self.save_unit(unit)
        except IntegrityError:
            self.discard_cached_state()
        self._refresh_settings(force=True)

    def _fail_interrupted_jobs(self) -> None:
        """Marks jobs a previous run left running as failed: they do not resume."""
        unit = self.unit_of_work()
        for job_id in self._ids_of(Job.Started):
            job = unit.get(Job, job_id)
            if job is not None and job.state == "running":
                job.fail(error="interrupted by a restart of the service; start it again")
                unit.collect(job)
        if unit.events:
            self.save_unit(unit)

    def _reattribute(self, report: Progress, only: Callable[[Conversion], bool] | None) -> None:
        conversion_ids = self._ids_of(Conversion.Recorded)
        done = 0
        for start in range(0, len(conversion_ids), JOB_CHUNK):
            chunk = conversion_ids[start : start + JOB_CHUNK]
            with self.lock:
                self._refresh_settings()
                unit = self.unit_of_work()
                try:
                    for conversion_id in chunk:
                        conversion = unit.get(Conversion, conversion_id)
                        if conversion is None or (only is not None and not only(conversion)):
                            continue
                        self._attribute(unit, conversion_id)
                    self.save_unit(unit)
                except BaseException:
                    self.discard_cached_state()
                    raise
            done += len(chunk)
            report(done, len(conversion_ids))

    def _fit_model(self, spec: ModelSpec, property_id: str, conversion_name: str) -> None:
        window_end = datetime.now(UTC)
        window_start = window_end - spec.training_window
        histories = self._histories(property_id)
        with self.lock:
            lookbacks = self._book.for_property(property_id).settings.lookbacks
        paths = training_paths(
            histories,
            conversion_name,
            window_start,
            window_end,
            lookbacks.for_conversion(conversion_name),
        )
        if paths.converting == 0:
            raise AttributionError(
                f"no {conversion_name!r} conversions with touchpoints in {property_id!r} "
                f"between {window_start:%Y-%m-%d} and {window_end:%Y-%m-%d}"
            )
        shares = fit_channel_shares(spec, paths)
        with self.lock:
            unit = self.unit_of_work()
            fits = unit.get(ModelFit, fit_id(property_id, conversion_name, spec.name))
            if fits is None:
                fits = ModelFit(
                    id=fit_id(property_id, conversion_name, spec.name),
                    property_id=property_id,
                    conversion_name=conversion_name,
                    model=spec.name,
                )
                unit.add(fits)
            fits.record_fit(
                window_start=window_start,
                window_end=window_end,
                converting_paths=paths.converting,
                null_paths=paths.null,
                channel_shares=shares.conversions,
                value_shares=shares.value,
            )
            self.save_unit(unit)

    def _histories(self, property_id: str) -> list[PersonHistory]:
        """Every person's (or unlinked visitor's) touchpoints and conversions in a property."""
        by_key: dict[str, PersonHistory] = {}
        seen_touches: dict[str, set[str]] = {}
        visitor_ids = self._ids_of(Visitor.Seen)
        for start in range(0, len(visitor_ids), JOB_CHUNK):
            with self.lock:
                unit = self.unit_of_work()
                for visitor_id in visitor_ids[start : start + JOB_CHUNK]:
                    visitor = unit.get(Visitor, visitor_id)
                    if visitor is None or visitor.property_id != property_id:
                        continue
                    key = str(visitor.id)
                    if visitor.person_id is not None:
                        key = str(_current_person(unit, visitor.person_id).id)
                    history = by_key.setdefault(key, PersonHistory())
                    known = seen_touches.setdefault(key, set())
                    for touch in visitor.touchpoints:
                        if touch["touchpoint_id"] not in known:
                            known.add(touch["touchpoint_id"])
                            history.touches.append(touch_from_dict(touch))
                    for conversion_id in visitor.conversion_ids:
                        conversion = unit.get(Conversion, conversion_id)
                        if conversion is not None and not conversion.retracted:
                            history.conversions.append(
                                PastConversion(
                                    str(conversion.id),
                                    conversion.name,
                                    conversion.occurred_at,
                                    conversion.reporting_value_micros,
                                )
                            )
        return list(by_key.values())

    def _ids_of(self, event_class: type[DomainEvent]) -> list[UUID]:
        """The originator ids of every stored event of a class, in log order."""
        topic = get_topic(event_class)
        ids: list[UUID] = []
        after = 0
        while True:
            page = self.recorder.select_notifications(
                start=after, limit=LOG_SCAN_PAGE, topics=[topic], inclusive_of_start=False
            )
            if not page:
                return ids
            ids.extend(UUID(str(n.originator_id)) for n in page)
            after = page[-1].id

    def latest_attribution(
        self, conversion_id: UUID, property_id: str | None = None
    ) -> DomainEvent:
        """The conversion's latest `Conversion.Attributed` event; with `property_id`, only a
        conversion of that property (another property's is unknown to the caller)."""
        for stored in self.events.get(conversion_id, desc=True):
            if isinstance(stored, Conversion.Retracted):
                break
            if isinstance(stored, Conversion.Attributed):
                if property_id is not None and stored.property_id != property_id:
                    break
                return stored
        raise UnknownConversionError(f"conversion {conversion_id} has not been attributed")

    def _touchpoint(self, unit: UnitOfWork, seen: TouchpointSeen) -> list[UUID]:
        if seen.is_bot or not seen.identifiers:
            return []
        prop, identifier = seen.property_id, seen.identifiers[0]
        touchpoint = touch_to_dict(seen.touch)
        visitor = unit.get(Visitor, visitor_id(prop, identifier))
        if visitor is None:  # a new visitor is created with its first touchpoint
            self._new_visitor(unit, prop, identifier, touchpoint=touchpoint)
        else:
            unit.trigger(visitor, Visitor.TouchpointAdded, touchpoint=touchpoint)
        at = seen.touch.occurred_at
        longest = self._book.for_property(seen.property_id).settings.lookbacks.longest
        return [
            c.id
            for c in self._conversions(
                unit, self._cluster(unit, seen.property_id, seen.identifiers)
            )
            if at <= c.occurred_at <= at + longest
        ]

    def _outcome(self, unit: UnitOfWork, seen: OutcomeSeen) -> list[UUID]:
        """Keeps the outcome with its conversion's others; when the conversion is known, applies
        them all (in timestamp order) and, when that retracts it, re-attributes the person's
        later conversions of its name (their journeys no longer stop at it)."""
        conversion_id = UUID(seen.conversion_id)
        received = unit.get(ConversionOutcomes, outcomes_id(conversion_id))
        if received is None:
            received = ConversionOutcomes(
                id=outcomes_id(conversion_id),
                property_id=seen.property_id,
                conversion_id=seen.conversion_id,
            )
            unit.add(received)
        if received.holds(seen.record_id):
            return []
        received.add(
            outcome=outcome_to_dict(
                record_id=seen.record_id,
                occurred_at=seen.occurred_at,
                stage=seen.stage,
                value=seen.value,
                refund=seen.refund,
                retracted=seen.retracted,
            )
        )
        unit.collect(received)
        conversion = unit.get(Conversion, conversion_id)
        if conversion is None or conversion.property_id != seen.property_id:
            return []
        return self._apply_outcomes(unit, conversion, received)

    def _apply_outcomes(
        self, unit: UnitOfWork, conversion: Conversion, received: ConversionOutcomes
    ) -> list[UUID]:
        """The conversions to re-attribute after applying a conversion's outcomes."""
        was_retracted = conversion.retracted
        conversion.apply_outcomes(fold_outcomes(conversion.recorded_value, received.outcomes))
        unit.collect(conversion)
        if conversion.retracted and not was_retracted:
            cluster = self._cluster(unit, conversion.property_id, tuple(conversion.identifiers))
            return [
                c.id
                for c in self._conversions(unit, cluster)
                if c.name == conversion.name and c.occurred_at >= conversion.occurred_at
            ]
        return [conversion.id]

    def _conversion(self, unit: UnitOfWork, seen: ConversionSeen) -> list[UUID]:
        conversion_id = UUID(seen.record_id)
        if unit.get(Conversion, conversion_id) is not None:
            return []
        affected = self._new_conversion(unit, seen)
        conversion = unit.get(Conversion, conversion_id)
        received = unit.get(ConversionOutcomes, outcomes_id(conversion_id))
        if conversion is not None and received is not None and received.outcomes:
            affected += self._apply_outcomes(unit, conversion, received)
        return affected

    def _new_conversion(self, unit: UnitOfWork, seen: ConversionSeen) -> list[UUID]:
        conversion_id = UUID(seen.record_id)
        if seen.unconsented:
            # No identifier, so no visitor and no journey: credited to its own touchpoint.
            unit.add(
                Conversion(
                    id=conversion_id,
                    property_id=seen.property_id,
                    event_id=seen.event_id,
                    name=seen.name,
                    occurred_at=seen.occurred_at,
                    identifiers=[],
                    currency_code=seen.currency_code,
                    value_micros=seen.value_micros,
                    reporting_currency_code=seen.reporting_currency_code,
                    reporting_value_micros=seen.reporting_value_micros,
                    unconsented=True,
                    advertising_denied=seen.advertising_denied,
                    own_touch=touch_to_dict(seen.own_touch) if seen.own_touch else None,
                )
            )
            return [conversion_id]
        if not seen.identifiers:
            return []
        unit.add(
            Conversion(
                id=conversion_id,
                property_id=seen.property_id,
                event_id=seen.event_id,
                name=seen.name,
                occurred_at=seen.occurred_at,
                identifiers=list(seen.identifiers),
                currency_code=seen.currency_code,
                value_micros=seen.value_micros,
                reporting_currency_code=seen.reporting_currency_code,
                reporting_value_micros=seen.reporting_value_micros,
                unconsented=False,
                advertising_denied=seen.advertising_denied,
                own_touch=None,
            )
        )
        visitor = self._visitor(unit, seen.property_id, seen.identifiers[0])
        unit.trigger(visitor, Visitor.ConversionAdded, conversion_id=conversion_id)
        cluster = self._cluster(unit, seen.property_id, seen.identifiers)
        later_same_name = [
            c.id
            for c in self._conversions(unit, cluster)
            if c.name == seen.name and c.id != conversion_id and c.occurred_at >= seen.occurred_at
        ]
        return [conversion_id, *later_same_name]

    def _person_changed(self, unit: UnitOfWork, changed: PersonChanged) -> list[UUID]:
        prop, person_id = changed.property_id, UUID(changed.person_id)
        if changed.merged_person_id:
            merged = self._person(unit, prop, UUID(changed.merged_person_id))
            unit.trigger(merged, Person.MergedInto, surviving_person_id=person_id)
        self._move(unit, prop, person_id, changed.identifiers)
        person = self._person(unit, prop, person_id)
        cluster = self._cluster(unit, prop, tuple(person.identifiers))
        return [c.id for c in self._conversions(unit, cluster)]

    def _person_split(self, unit: UnitOfWork, split: PersonSplitSeen) -> list[UUID]:
        prop = split.property_id
        person = self._person(unit, prop, UUID(split.person_id))
        before = self._conversions(unit, self._cluster(unit, prop, tuple(person.identifiers)))
        leaving = [i for _, identifiers in split.parts for i in identifiers]
        person.remove_identifiers(identifiers=leaving)
        unit.collect(person)
        for part_id, identifiers in split.parts:
            self._move(unit, prop, UUID(part_id), identifiers)
        return [c.id for c in before]

    def _identifier_shared(self, unit: UnitOfWork, shared: IdentifierShared) -> list[UUID]:
        prop = shared.property_id
        visitor = self._visitor(unit, prop, shared.identifier)
        before = self._conversions(unit, self._cluster(unit, prop, (shared.identifier,)))
        if visitor.person_id is not None:
            owner = _current_person(unit, visitor.person_id)
            owner.remove_identifiers(identifiers=[shared.identifier])
            unit.collect(owner)
        self._move(unit, prop, UUID(shared.shared_person_id), (shared.identifier,))
        return [c.id for c in before]

    def _person_forgotten(self, unit: UnitOfWork, forgotten: PersonForgottenSeen) -> list[UUID]:
        """The person's visitors belong to nobody now; its conversions keep their credits but
        are re-attributed from each visitor's own touchpoints."""
        prop = forgotten.property_id
        person = self._person(unit, prop, UUID(forgotten.person_id))
        before = self._conversions(unit, self._cluster(unit, prop, forgotten.identifiers))
        person.remove_identifiers(identifiers=list(forgotten.identifiers))
        unit.collect(person)
        for identifier in forgotten.identifiers:
            visitor = unit.get(Visitor, visitor_id(prop, identifier))
            if visitor is None:
                continue
            if visitor.person_id is not None:
                visitor.link_to_person(person_id=None)
                unit.collect(visitor)
            for other in visitor.probable_matches:
                visitor.remove_probable_match(identifier=other)
                matched = unit.get(Visitor, visitor_id(prop, other))
                if matched is not None and identifier in matched.probable_matches:
                    matched.remove_probable_match(identifier=identifier)
                    unit.collect(matched)
            unit.collect(visitor)
        return [c.id for c in before]

    def _probabilistic_link(self, unit: UnitOfWork, link: ProbabilisticLinkSeen) -> list[UUID]:
        """Records the link on both visitors; under the blended reporting identity, the
        conversions of the persons it joins (or joined) are re-attributed."""
        prop = link.property_id
        before = (
            self._conversions(unit, self._cluster(unit, prop, (link.a, link.b)))
            if not link.accepted
            else []
        )
        for identifier, other in ((link.a, link.b), (link.b, link.a)):
            visitor = self._visitor(unit, prop, identifier)
            if link.accepted and other not in visitor.probable_matches:
                visitor.add_probable_match(identifier=other)
                unit.collect(visitor)
            elif not link.accepted and other in visitor.probable_matches:
                visitor.remove_probable_match(identifier=other)
                unit.collect(visitor)
        settings = self._book.for_property(prop).settings
        if settings.reporting_identity is not ReportingIdentity.BLENDED:
            return []
        after = self._conversions(unit, self._cluster(unit, prop, (link.a, link.b)))
        return list(dict.fromkeys(c.id for c in [*before, *after]))

    def _move(
        self, unit: UnitOfWork, property_id: str, person_id: UUID, identifiers: Sequence[str]
    ) -> None:
        """Gives identifiers to a (new) person and points their visitors at it; a person that
        has them all already gets no event. A new person is created with its identifiers and
        a new visitor with its person (one event each)."""
        person = unit.get(Person, person_id)
        if person is None:
            unit.create(Person, person_id, property_id=property_id, identifiers=list(identifiers))
        else:
            known = set(person.identifiers)
            if any(i not in known for i in identifiers):
                unit.trigger(person, Person.IdentifiersAdded, identifiers=list(identifiers))
        for identifier in identifiers:
            visitor = self._visitor(unit, property_id, identifier, person_id)
            if visitor.person_id != person_id:
                unit.trigger(visitor, Visitor.LinkedToPerson, person_id=person_id)

    @staticmethod
    def _person(unit: UnitOfWork, property_id: str, person_id: UUID) -> Person:
        person = unit.get(Person, person_id)
        if person is None:
            person = unit.create(Person, person_id, property_id=property_id, identifiers=[])
        return person

    def _attribute(self, unit: UnitOfWork, conversion_id: UUID) -> None:
        conversion = unit.get(Conversion, conversion_id)
        if conversion is None or conversion.retracted:
            return
        settings = self._book.for_property(conversion.property_id).settings
        visitors = self._cluster(unit, conversion.property_id, tuple(conversion.identifiers))
        touches = conversion.credit_candidates(
            [touch_from_dict(t) for v in visitors for t in v.touchpoints]
        )
        journey = journey_for(
            touches,
            conversion.occurred_at,
            settings.lookbacks.for_conversion(conversion.name),
            after=_previous_conversion_at(conversion, self._conversions(unit, visitors)),
        )
        # A data-driven model without a fit credits nothing; the others credit, so whether
        # anything changed is known before crediting (most re-attributions change nothing).
        fits = {
            spec.name: self._fit(unit, conversion, spec) if spec.data_driven else None
            for spec in settings.models
        }
        versions = {
            spec.name: (fit.version if fit else 0)
            for spec in settings.models
            if (fit := fits[spec.name]) is not None or not spec.data_driven
        }
        if not conversion.needs_attribution(journey, versions):
            return
        credits: dict[str, list[Credit]] = {}
        for spec in settings.models:
            credited = credit(
                spec,
                journey,
                conversion.occurred_at,
                conversion.reporting_value_micros,
                fits[spec.name],
            )
            if credited is not None:
                credits[spec.name] = credited
        non_conserving = [
            s.name for s in settings.models if s.name in credits and not s.conserves_credit
        ]
        conversion.attribute(journey, credits, versions, non_conserving, current_trace_parent())
        unit.collect(conversion)

    @staticmethod
    def _fit(unit: UnitOfWork, conversion: Conversion, spec: ModelSpec) -> ChannelFit | None:
        fits = unit.get(ModelFit, fit_id(conversion.property_id, conversion.name, spec.name))
        if fits is None or fits.fit_version == 0:
            return None
        return ChannelFit(fits.fit_version, fits.channel_shares, fits.value_shares)

    def _visitor(
        self, unit: UnitOfWork, property_id: str, identifier: str, person_id: UUID | None = None
    ) -> Visitor:
        """The identifier's visitor; a new one is linked to `person_id` when it is given."""
        visitor = unit.get(Visitor, visitor_id(property_id, identifier))
        if visitor is None:
            visitor = self._new_visitor(unit, property_id, identifier, person_id)
        return visitor

    def _new_visitor(
        self,
        unit: UnitOfWork,
        property_id: str,
        identifier: str,
        person_id: UUID | None = None,
        touchpoint: dict[str, Any] | None = None,
    ) -> Visitor:
        """Creates the identifier's visitor (with its person or first touchpoint, one event)
        and forgets the page's clusters that walked the identifier without one."""
        visitor = unit.create(
            Visitor,
            visitor_id(property_id, identifier),
            property_id=property_id,
            identifier=identifier,
            person_id=person_id,
            touchpoint=touchpoint,
        )
        if self._clusters is not None:
            self._clusters.visitor_created(property_id, identifier)
        return visitor

    def _cluster(
        self, unit: UnitOfWork, property_id: str, identifiers: tuple[str, ...]
    ) -> list[Visitor]:
        """The visitors of every person the identifiers belong to (or just theirs); under the
        blended reporting identity also of the persons accepted probabilistic links join.
        While a page is processed, a cluster found is reused until it may have changed."""
        memo = self._clusters
        if memo is not None and (known := memo.get(property_id, identifiers)) is not None:
            return known
        settings = self._book.for_property(property_id).settings
        blended = settings.reporting_identity is ReportingIdentity.BLENDED
        keys: set[str] = set()
        visitors: list[Visitor] = []
        without_visitor: list[str] = []
        pending = list(identifiers)
        while pending:
            identifier = pending.pop()
            if identifier in keys:
                continue
            keys.add(identifier)
            visitor = unit.get(Visitor, visitor_id(property_id, identifier))
            if visitor is None:
                without_visitor.append(identifier)
                continue
            visitors.append(visitor)
            if visitor.person_id is not None:
                person = _current_person(unit, visitor.person_id)
                pending.extend(i for i in person.identifiers if i not in keys)
            if blended:
                pending.extend(i for i in visitor.probable_matches if i not in keys)
        visitors.sort(key=lambda v: v.identifier)
        if memo is not None:
            memo.put(property_id, identifiers, visitors, without_visitor)
        return visitors

    @staticmethod
    def _conversions(unit: UnitOfWork, visitors: Iterable[Visitor]) -> list[Conversion]:
        """The visitors' conversions, retracted ones left out (they never happened)."""
        ids = dict.fromkeys(c for v in visitors for c in v.conversion_ids)
        found = (unit.get(Conversion, c) for c in ids)
        return [c for c in found if c is not None and not c.retracted]


def _candidate_ids(entries: Sequence[UpstreamEntry[AttributionInput | None]]) -> list[UUID]:
    """The aggregates a page will look up first: its visitors, persons and conversions."""
    ids: list[UUID] = []
    for entry in entries:
        value = entry.value
        if isinstance(value, TouchpointSeen | ConversionSeen):
            ids.extend(visitor_id(value.property_id, i) for i in value.identifiers)
            if isinstance(value, ConversionSeen):
                ids.append(UUID(value.record_id))
                ids.append(outcomes_id(UUID(value.record_id)))
        elif isinstance(value, OutcomeSeen):
            ids.append(UUID(value.conversion_id))
            ids.append(outcomes_id(UUID(value.conversion_id)))
        elif isinstance(value, PersonChanged):
            ids.append(UUID(value.person_id))
            ids.extend(visitor_id(value.property_id, i) for i in value.identifiers)
            if value.merged_person_id:
                ids.append(UUID(value.merged_person_id))
    return ids


DEFAULT_MODELS = tuple(named_model(name) for name in NAMED_RULES)
"""Every named rule-based model: cheap, and reportable from the first conversion (data-driven
models credit nothing before their first fit, so they are configured on purpose)."""


def _check_unique(models: Sequence[ModelSpec]) -> None:
    names = [m.name for m in models]
    if len(set(names)) != len(names) or not names:
        raise UnknownModelError(f"model names must be unique and at least one: {names}")


def _previous_conversion_at(
    conversion: Conversion, others: Iterable[Conversion]
) -> datetime | None:
    """When the person's previous conversion of the same name happened (ties by id)."""
    key = (conversion.occurred_at, str(conversion.id))
    earlier = [
        c.occurred_at
        for c in others
        if c.name == conversion.name and (c.occurred_at, str(c.id)) < key
    ]
    return max(earlier, default=None)


def _current_person(unit: UnitOfWork, person_id: UUID) -> Person:
    for _ in range(MAX_MERGE_HOPS):
        person = unit.get(Person, person_id)
        if person is None:
            raise AttributionError(f"person {person_id} is missing from the store")
        if person.merged_into is None:
            return person
        person_id = person.merged_into
    raise AttributionError(f"merge chain from {person_id} is longer than {MAX_MERGE_HOPS}")
