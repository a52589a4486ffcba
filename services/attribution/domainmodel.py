"""Attribution's domain: visitors and their touchpoints, persons as identity reports them,
and conversions with their successive attributions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, DomainEvent, event

from common.consent import is_paid_channel
from services.attribution.models import DETAIL_DIMENSIONS, Credit, JourneyTouch, details_of
from services.attribution.outcomes import OutcomeState, OutcomeValue, stages_to_list
from services.attribution.paths import conversion_path, path_of_stored_journey, path_to_dict
from services.attribution.summary import bound_attribution, journey_digest_of

VISITOR_NAMESPACE = uuid5(NAMESPACE_URL, "https://convtrack.dev/ns/attribution-visitor")
FIT_NAMESPACE = uuid5(NAMESPACE_URL, "https://convtrack.dev/ns/attribution-fit")
CONFIGURATION_ID = uuid5(NAMESPACE_URL, "https://convtrack.dev/ns/attribution-configuration")
SETTINGS_NAMESPACE = uuid5(NAMESPACE_URL, "https://convtrack.dev/ns/attribution-property-settings")
OUTCOMES_NAMESPACE = uuid5(NAMESPACE_URL, "https://convtrack.dev/ns/attribution-outcomes")
DEFAULT_SCOPE = "*"
"""The property id that names the deployment default of the per-property settings."""


@dataclass(frozen=True, slots=True)
class TouchpointSeen:
    """A touchpoint from ingest's log."""

    property_id: str
    record_id: str
    identifiers: tuple[str, ...]
    touch: JourneyTouch
    is_bot: bool


@dataclass(frozen=True, slots=True)
class ConversionSeen:
    """A conversion from ingest's log; money in micros (millionths of a unit)."""

    property_id: str
    record_id: str
    event_id: str
    name: str
    occurred_at: datetime
    identifiers: tuple[str, ...]
    currency_code: str
    value_micros: int
    reporting_currency_code: str
    reporting_value_micros: int
    unconsented: bool = False
    advertising_denied: bool = False
    own_touch: JourneyTouch | None = None


@dataclass(frozen=True, slots=True)
class OutcomeSeen:
    """An outcome of a conversion from ingest's log (stage, new value, refund, retraction);
    the conversion may not have been seen yet."""

    property_id: str
    record_id: str
    conversion_id: str
    conversion_name: str
    occurred_at: datetime
    stage: str
    value: OutcomeValue | None
    refund: OutcomeValue | None
    retracted: bool


@dataclass(frozen=True, slots=True)
class PersonChanged:
    """From identity's log: identifiers now belong to a person; `merged_person_id` is set
    when another person was merged into it."""

    property_id: str
    person_id: str
    identifiers: tuple[str, ...]
    merged_person_id: str = ""


@dataclass(frozen=True, slots=True)
class PersonSplitSeen:
    """From identity's log: `parts` (new person id, identifiers) left `person_id`."""

    property_id: str
    person_id: str
    parts: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class IdentifierShared:
    """From identity's log: the identifier was detached into its own shared person."""

    property_id: str
    identifier: str
    shared_person_id: str


@dataclass(frozen=True, slots=True)
class PersonForgottenSeen:
    """From identity's log: a person was forgotten; its identifiers belong to nobody."""

    property_id: str
    person_id: str
    identifiers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProbabilisticLinkSeen:
    """From identity's log: a probabilistic link between two identifiers was accepted
    (`accepted`) or removed; used by the blended reporting identity only."""

    property_id: str
    a: str
    b: str
    accepted: bool


class ReportingIdentity(StrEnum):
    """Which identity links make up a person's journey (as GA4's reporting identity)."""

    DETERMINISTIC = "deterministic"
    BLENDED = "blended"


AttributionInput = (
    TouchpointSeen
    | ConversionSeen
    | OutcomeSeen
    | PersonChanged
    | PersonSplitSeen
    | IdentifierShared
    | PersonForgottenSeen
    | ProbabilisticLinkSeen
)


# Ids are derived again for every entry that names them: a cache spares the hashing.
ID_CACHE_SIZE = 1 << 16


@lru_cache(maxsize=ID_CACHE_SIZE)
def visitor_id(property_id: str, identifier: str) -> UUID:
    """The id of the visitor an identifier stands for."""
    return uuid5(VISITOR_NAMESPACE, f"{property_id}\x1f{identifier}")


@lru_cache(maxsize=ID_CACHE_SIZE)
def outcomes_id(conversion_id: UUID) -> UUID:
    """The id of the outcomes received for a conversion."""
    return uuid5(OUTCOMES_NAMESPACE, str(conversion_id))


def fit_id(property_id: str, conversion_name: str, model: str) -> UUID:
    """The id of a data-driven model's fits for one property and conversion name."""
    return uuid5(FIT_NAMESPACE, f"{property_id}\x1f{conversion_name}\x1f{model}")


def touch_to_dict(touch: JourneyTouch) -> dict[str, Any]:
    """A touchpoint as stored in events."""
    return {
        "touchpoint_id": touch.touchpoint_id,
        "occurred_at": touch.occurred_at,
        "channel": touch.channel,
        "source": touch.source,
        "medium": touch.medium,
        "campaign": touch.campaign,
        "touch_type": touch.touch_type,
        **{name: value for name, value in details_of(touch).items() if value},
        "advertising_denied": touch.advertising_denied,
    }


def touch_from_dict(data: dict[str, Any]) -> JourneyTouch:
    """A touchpoint from its stored form."""
    return JourneyTouch(**data)


def credit_to_dict(credit: Credit) -> dict[str, Any]:
    """A credit as stored in events."""
    return {
        "touchpoint_id": credit.touchpoint_id,
        "channel": credit.channel,
        "source": credit.source,
        "medium": credit.medium,
        "campaign": credit.campaign,
        "fraction": credit.fraction,
        "value_micros": credit.value_micros,
        "touchpoint_count": credit.touchpoint_count,
        **{name: value for name, value in details_of(credit).items() if value},
    }


def credit_from_dict(data: dict[str, Any]) -> Credit:
    """A credit from its stored form (stored before `touchpoint_count`: one touchpoint, or
    none for an unattributed conversion's credit; before the detail dimensions: empty)."""
    return Credit(
        touchpoint_id=data["touchpoint_id"],
        channel=data["channel"],
        source=data["source"],
        medium=data["medium"],
        campaign=data["campaign"],
        fraction=data["fraction"],
        value_micros=data["value_micros"],
        touchpoint_count=data.get("touchpoint_count", 1 if data["touchpoint_id"] else 0),
        **{name: data.get(name, "") for name in DETAIL_DIMENSIONS},
    )


class Visitor(Aggregate):
    """One identifier's activity: its touchpoints, its conversions and its person."""

    Seen: ClassVar[type[DomainEvent]]
    TouchpointAdded: ClassVar[type[DomainEvent]]
    ConversionAdded: ClassVar[type[DomainEvent]]
    LinkedToPerson: ClassVar[type[DomainEvent]]

    @event("Seen")
    def __init__(
        self,
        *,
        id: UUID,
        property_id: str,
        identifier: str,
        person_id: UUID | None = None,
        touchpoint: dict[str, Any] | None = None,
    ) -> None:
        """A visitor, with its person when identity linked its identifier first, and with its
        first touchpoint when one created it. The defaults are for `Seen` events stored
        before they carried them (then `LinkedToPerson` or `TouchpointAdded` followed); the
        library's constructor still requires the arguments (keyword-only defaults count as
        required there), so callers always pass them."""
        self.property_id = property_id
        self.identifier = identifier
        self.touchpoints: list[dict[str, Any]] = [touchpoint] if touchpoint is not None else []
        self.conversion_ids: list[UUID] = []
        self.person_id: UUID | None = person_id
        self.probable_matches: list[str] = []

    @event("TouchpointAdded")
    def add_touchpoint(self, *, touchpoint: dict[str, Any]) -> None:
        """Records a touchpoint of this visitor."""
        self.touchpoints.append(touchpoint)

    @event("ConversionAdded")
    def add_conversion(self, *, conversion_id: UUID) -> None:
        """Records a conversion of this visitor."""
        self.conversion_ids.append(conversion_id)

    @event("LinkedToPerson")
    def link_to_person(self, *, person_id: UUID | None) -> None:
        """Records the person identity says this visitor belongs to (None: to nobody, after
        the person was forgotten)."""
        self.person_id = person_id

    @event("ProbablyMatched")
    def add_probable_match(self, *, identifier: str) -> None:
        """Identity accepted a probabilistic link from this identifier to another."""
        if identifier not in self.probable_matches:
            self.probable_matches.append(identifier)

    @event("ProbableMatchRemoved")
    def remove_probable_match(self, *, identifier: str) -> None:
        """Identity removed a probabilistic link from this identifier to another."""
        self.probable_matches = [i for i in self.probable_matches if i != identifier]


class Person(Aggregate):
    """A person as identity reports it: its identifiers, or the person it was merged into."""

    Seen: ClassVar[type[DomainEvent]]
    IdentifiersAdded: ClassVar[type[DomainEvent]]
    IdentifiersRemoved: ClassVar[type[DomainEvent]]
    MergedInto: ClassVar[type[DomainEvent]]

    @event("Seen")
    def __init__(self, *, id: UUID, property_id: str, identifiers: list[str] | None = None) -> None:
        """A person, with the identifiers identity first gave it. The default is for `Seen`
        events stored before they carried them (then `IdentifiersAdded` followed); callers
        always pass them, as for `Visitor`."""
        self.property_id = property_id
        self.identifiers: list[str] = list(dict.fromkeys(identifiers or ()))
        self.merged_into: UUID | None = None

    @event("IdentifiersAdded")
    def add_identifiers(self, *, identifiers: list[str]) -> None:
        """Adds identifiers identity linked to this person."""
        self.identifiers.extend(i for i in identifiers if i not in self.identifiers)

    @event("IdentifiersRemoved")
    def remove_identifiers(self, *, identifiers: list[str]) -> None:
        """Identity split identifiers off this person."""
        self.identifiers = [i for i in self.identifiers if i not in identifiers]

    @event("MergedInto")
    def merge_into(self, *, surviving_person_id: UUID) -> None:
        """Identity merged this person into another."""
        self.merged_into = surviving_person_id


class Conversion(Aggregate):
    """A conversion and its latest attribution; each re-attribution is a new event."""

    Recorded: ClassVar[type[DomainEvent]]

    class Attributed(Aggregate.Event):
        """The conversion was credited (again). Its size is bounded whatever the journey's
        length (`summary.py`): a long journey is carried as its first and last touchpoints,
        its length and digest, with credits summed per (channel, source, medium, campaign)."""

        class_version = 5

        property_id: str
        event_id: str
        name: str
        occurred_at: datetime
        currency_code: str
        value_micros: int
        reporting_currency_code: str
        reporting_value_micros: int
        revision: int
        journey: list[dict[str, Any]]
        journey_length: int
        journey_digest: str
        credits_grouped: bool
        credits: dict[str, list[dict[str, Any]]]
        model_versions: dict[str, int]
        non_conserving: list[str]
        trace_parent: str
        unconsented: bool
        advertising_denied: bool
        path: dict[str, Any]
        stage: str
        stages: list[dict[str, Any]]

        @staticmethod
        def upcast_v4_v5(state: dict[str, Any]) -> None:
            """Attributions stored before outcomes had no stage."""
            state.setdefault("stage", "")
            state.setdefault("stages", [])

        @staticmethod
        def upcast_v3_v4(state: dict[str, Any]) -> None:
            """Attributions stored before paths get the path of the journey they kept
            (`paths.path_of_stored_journey`); those upcast from version 1 kept it whole."""
            if "path" in state:
                return
            state["path"] = path_to_dict(
                path_of_stored_journey(
                    [touch_from_dict(t) for t in state["journey"]],
                    state["journey_length"],
                    [c["channel"] for found in state["credits"].values() for c in found],
                )
            )

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """Attributions stored before consent were of consented conversions."""
            state.setdefault("unconsented", False)
            state.setdefault("advertising_denied", False)

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Attributions stored before entries were bounded carry whole journeys and
            per-touchpoint credits: they are read bounded the same way."""
            journey = [touch_from_dict(t) for t in state["journey"]]
            credits = {
                model: [credit_from_dict(c) for c in found]
                for model, found in state["credits"].items()
            }
            state.update(_bounded_fields(journey, credits))

    @event("Recorded")
    def __init__(
        self,
        *,
        id: UUID,
        property_id: str,
        event_id: str,
        name: str,
        occurred_at: datetime,
        identifiers: list[str],
        currency_code: str,
        value_micros: int,
        reporting_currency_code: str,
        reporting_value_micros: int,
        unconsented: bool = False,
        advertising_denied: bool = False,
        own_touch: dict[str, Any] | None = None,
    ) -> None:
        self.property_id = property_id
        self.event_id = event_id
        self.name = name
        self.occurred_at = occurred_at
        self.identifiers = identifiers
        self.unconsented = unconsented
        self.advertising_denied = advertising_denied
        self.own_touch = own_touch
        self.currency_code = currency_code
        self.value_micros = value_micros
        self.reporting_currency_code = reporting_currency_code
        self.reporting_value_micros = reporting_value_micros
        self.recorded_value = OutcomeValue(
            currency_code, value_micros, reporting_currency_code, reporting_value_micros
        )
        self.attributed_value_micros: int | None = None
        self.attributed_stages: tuple[str, list[dict[str, Any]]] = ("", [])
        self.stage = ""
        self.stages: list[dict[str, Any]] = []
        self.retracted = False
        self.revision = 0
        self.journey: list[dict[str, Any]] = []
        self.journey_digest = ""
        self.credits: dict[str, list[dict[str, Any]]] = {}
        self.model_versions: dict[str, int] = {}

    def credit_candidates(self, touches: list[JourneyTouch]) -> list[JourneyTouch]:
        """The touchpoints that may be credited for this conversion: an unconsented one has
        only its own pseudo-touchpoint (no journey); a touchpoint of a paid channel counts
        only when neither it nor the conversion had advertising consent denied."""
        if self.unconsented:
            touches = [touch_from_dict(self.own_touch)] if self.own_touch else []
        return [
            t
            for t in touches
            if not is_paid_channel(t.channel)
            or not (t.advertising_denied or self.advertising_denied)
        ]

    def needs_attribution(self, journey: list[JourneyTouch], versions: dict[str, int]) -> bool:
        """True before the first attribution, or when the journey, the models, a model's
        fit version, the value or the stages (outcomes) changed; never once retracted."""
        if self.retracted:
            return False
        return (
            self.revision == 0
            or self.journey_digest != journey_digest_of(t.touchpoint_id for t in journey)
            or self.model_versions != versions
            or self.attributed_value_micros != self.reporting_value_micros
            or self.attributed_stages != (self.stage, self.stages)
        )

    def attribute(
        self,
        journey: list[JourneyTouch],
        credits: dict[str, list[Credit]],
        versions: dict[str, int],
        non_conserving: list[str],
        trace_parent: str = "",
    ) -> None:
        """Credits the conversion from `journey`, superseding any earlier attribution.

        `versions` names the fit version of each data-driven model (0 for rules);
        `non_conserving` lists the models whose credits exceed one conversion by design.
        A long journey is recorded summarised (`summary.py`).
        """
        self._attributed(
            property_id=self.property_id,
            event_id=self.event_id,
            name=self.name,
            occurred_at=self.occurred_at,
            currency_code=self.currency_code,
            value_micros=self.value_micros,
            reporting_currency_code=self.reporting_currency_code,
            reporting_value_micros=self.reporting_value_micros,
            revision=self.revision + 1,
            **_bounded_fields(journey, credits),
            model_versions=versions,
            non_conserving=non_conserving,
            trace_parent=trace_parent,
            unconsented=self.unconsented,
            advertising_denied=self.advertising_denied,
            stage=self.stage,
            stages=list(self.stages),
        )

    def apply_outcomes(self, state: OutcomeState) -> None:
        """Takes the stage and value its outcomes give (`outcomes.fold_outcomes`): retracts it
        for good when one retracted it, else records a change of stage or value (a value
        change is credited by the next `attribute`). Nothing changes once retracted."""
        if self.retracted:
            return
        if state.retracted_at is not None:
            self._retracted(
                property_id=self.property_id,
                name=self.name,
                occurred_at=self.occurred_at,
                retracted_at=state.retracted_at,
            )
            return
        stages = stages_to_list(state.stages)
        value = state.value
        if (state.stage, stages) == (self.stage, self.stages) and (
            value.currency_code,
            value.value_micros,
            value.reporting_currency_code,
            value.reporting_value_micros,
        ) == (
            self.currency_code,
            self.value_micros,
            self.reporting_currency_code,
            self.reporting_value_micros,
        ):
            return
        self._outcome_changed(
            property_id=self.property_id,
            name=self.name,
            occurred_at=self.occurred_at,
            stage=state.stage,
            stages=stages,
            currency_code=value.currency_code,
            value_micros=value.value_micros,
            reporting_currency_code=value.reporting_currency_code,
            reporting_value_micros=value.reporting_value_micros,
        )

    class OutcomeChanged(Aggregate.Event):
        """The conversion's outcomes changed its stage or value: the state after the change."""

        property_id: str
        name: str
        occurred_at: datetime
        stage: str
        stages: list[dict[str, Any]]
        currency_code: str
        value_micros: int
        reporting_currency_code: str
        reporting_value_micros: int

    @event(OutcomeChanged)
    def _outcome_changed(
        self,
        *,
        property_id: str,
        name: str,
        occurred_at: datetime,
        stage: str,
        stages: list[dict[str, Any]],
        currency_code: str,
        value_micros: int,
        reporting_currency_code: str,
        reporting_value_micros: int,
    ) -> None:
        self.stage = stage
        self.stages = stages
        self.currency_code = currency_code
        self.value_micros = value_micros
        self.reporting_currency_code = reporting_currency_code
        self.reporting_value_micros = reporting_value_micros

    class Retracted(Aggregate.Event):
        """An outcome retracted the conversion: it never counts again."""

        property_id: str
        name: str
        occurred_at: datetime
        retracted_at: datetime

    @event(Retracted)
    def _retracted(
        self, *, property_id: str, name: str, occurred_at: datetime, retracted_at: datetime
    ) -> None:
        self.retracted = True

    @event(Attributed)
    def _attributed(
        self,
        *,
        property_id: str,
        event_id: str,
        name: str,
        occurred_at: datetime,
        currency_code: str,
        value_micros: int,
        reporting_currency_code: str,
        reporting_value_micros: int,
        revision: int,
        journey: list[dict[str, Any]],
        journey_length: int,
        journey_digest: str,
        credits_grouped: bool,
        credits: dict[str, list[dict[str, Any]]],
        model_versions: dict[str, int],
        non_conserving: list[str],
        trace_parent: str,
        unconsented: bool = False,
        advertising_denied: bool = False,
        path: dict[str, Any] | None = None,
        stage: str = "",
        stages: list[dict[str, Any]] | None = None,
    ) -> None:
        self.attributed_value_micros = reporting_value_micros
        self.attributed_stages = (stage, list(stages or []))
        self.revision = revision
        self.journey = journey
        self.journey_digest = journey_digest
        self.credits = credits
        self.model_versions = model_versions


def _bounded_fields(
    journey: list[JourneyTouch], credits: dict[str, list[Credit]]
) -> dict[str, Any]:
    """The journey and credits fields of a `Conversion.Attributed` event, bounded."""
    bounded = bound_attribution(journey, credits)
    return {
        "path": path_to_dict(conversion_path(journey)),
        "journey": [touch_to_dict(t) for t in bounded.journey],
        "journey_length": bounded.journey_length,
        "journey_digest": bounded.journey_digest,
        "credits_grouped": bounded.grouped,
        "credits": {m: [credit_to_dict(c) for c in cs] for m, cs in bounded.credits.items()},
    }


class ConversionOutcomes(Aggregate):
    """The outcomes received for one conversion (`outcomes_id` of its id), kept whether the
    conversion was seen yet or not, each once (by its record id)."""

    @event("Created")
    def __init__(self, *, id: UUID, property_id: str, conversion_id: str) -> None:
        self.property_id = property_id
        self.conversion_id = conversion_id
        self.outcomes: list[dict[str, Any]] = []

    def holds(self, record_id: str) -> bool:
        """Whether the outcome with this record id was added."""
        return any(o["record_id"] == record_id for o in self.outcomes)

    @event("Added")
    def add(self, *, outcome: dict[str, Any]) -> None:
        """Adds an outcome (its stored form, `outcomes.outcome_to_dict`)."""
        self.outcomes.append(outcome)


class ModelFit(Aggregate):
    """The fits of one data-driven model for one property and conversion name; each refit is
    a new version, and every conversion it credits names that version."""

    class Fitted(Aggregate.Event):
        """A fit: each channel's share of conversions and of value.

        Version 2 added `value_shares`. A version 1 fit credited value in proportion to its
        conversion shares, so upcasting copies them and replays credit exactly as before.
        """

        class_version = 2

        property_id: str
        conversion_name: str
        model: str
        version: int
        window_start: datetime
        window_end: datetime
        converting_paths: int
        null_paths: int
        channel_shares: dict[str, float]
        value_shares: dict[str, float]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A version 1 fit split value like conversions."""
            state["value_shares"] = dict(state["channel_shares"])

    @event("Created")
    def __init__(self, *, id: UUID, property_id: str, conversion_name: str, model: str) -> None:
        self.property_id = property_id
        self.conversion_name = conversion_name
        self.model = model
        self.fit_version = 0
        self.channel_shares: dict[str, float] = {}
        self.value_shares: dict[str, float] = {}

    def record_fit(
        self,
        *,
        window_start: datetime,
        window_end: datetime,
        converting_paths: int,
        null_paths: int,
        channel_shares: dict[str, float],
        value_shares: dict[str, float],
    ) -> None:
        """Records a new fit as the next version: `channel_shares` credit conversions,
        `value_shares` their value."""
        self._fitted(
            property_id=self.property_id,
            conversion_name=self.conversion_name,
            model=self.model,
            version=self.fit_version + 1,
            window_start=window_start,
            window_end=window_end,
            converting_paths=converting_paths,
            null_paths=null_paths,
            channel_shares=channel_shares,
            value_shares=value_shares,
        )

    @event(Fitted)
    def _fitted(
        self,
        *,
        property_id: str,
        conversion_name: str,
        model: str,
        version: int,
        window_start: datetime,
        window_end: datetime,
        converting_paths: int,
        null_paths: int,
        channel_shares: dict[str, float],
        value_shares: dict[str, float],
    ) -> None:
        self.fit_version = version
        self.channel_shares = channel_shares
        self.value_shares = value_shares


def settings_id(property_id: str) -> UUID:
    """The id of a property's attribution settings (`DEFAULT_SCOPE` for the default's)."""
    return uuid5(SETTINGS_NAMESPACE, property_id)


class PropertyAttributionSettings(Aggregate):
    """What one property chose for its attribution, or with property id `DEFAULT_SCOPE`
    what the deployment default is: the models (with their data-driven settings), the
    lookback windows and the reporting identity. A setting not chosen (None, "") follows the
    default; the default's unset settings follow the environment, whose values the default
    records (`environment`) so that every change carries what applies after it."""

    class Changed(Aggregate.Event):
        """The settings as they are after a change: each event carries all of them, so
        attribution's log tells a reader the whole choice without replaying."""

        property_id: str
        models: list[dict[str, Any]] | None
        lookbacks: dict[str, Any] | None
        reporting_identity: str
        environment: dict[str, Any] | None

    @event("Created")
    def __init__(self, *, id: UUID, property_id: str) -> None:
        self.property_id = property_id
        self.models: list[dict[str, Any]] | None = None
        self.lookbacks: dict[str, Any] | None = None
        self.reporting_identity = ""
        self.environment: dict[str, Any] | None = None

    def configure_models(self, models: list[dict[str, Any]] | None) -> None:
        """Chooses the models (None: follow the default)."""
        self._change(models=models)

    def choose_lookbacks(self, lookbacks: dict[str, Any] | None) -> None:
        """Chooses the lookback windows (None: follow the default)."""
        self._change(lookbacks=lookbacks)

    def choose_reporting_identity(self, reporting_identity: str) -> None:
        """Chooses the reporting identity ("": follow the default)."""
        self._change(reporting_identity=reporting_identity)

    def read_environment(
        self, models: list[dict[str, Any]], lookbacks: dict[str, Any], reporting_identity: str
    ) -> None:
        """Records the environment's values of the settings, unless they are known already."""
        found = {"models": models, "lookbacks": lookbacks, "reporting_identity": reporting_identity}
        if found != self.environment:
            self._change(environment=found)

    def _change(self, **changes: Any) -> None:
        state = {
            "models": self.models,
            "lookbacks": self.lookbacks,
            "reporting_identity": self.reporting_identity,
            "environment": self.environment,
        }
        self._changed(property_id=self.property_id, **{**state, **changes})

    @event(Changed)
    def _changed(
        self,
        *,
        property_id: str,
        models: list[dict[str, Any]] | None,
        lookbacks: dict[str, Any] | None,
        reporting_identity: str,
        environment: dict[str, Any] | None,
    ) -> None:
        self.models = models
        self.lookbacks = lookbacks
        self.reporting_identity = reporting_identity
        self.environment = environment


class ModelConfiguration(Aggregate):
    """The configured models of the whole deployment, as stored before settings became
    per-property: read once at start as the deployment default's choice
    (`PropertyAttributionSettings` with `DEFAULT_SCOPE`), never written any more."""

    Configured: ClassVar[type[DomainEvent]]

    @event("Created")
    def __init__(self, *, id: UUID, models: list[dict[str, Any]]) -> None:
        self.models = models
        self.reporting_identity = ""

    @event("Configured")
    def configure(self, *, models: list[dict[str, Any]]) -> None:
        """Replaces the configured models."""
        self.models = models

    @event("ReportingIdentityChosen")
    def choose_reporting_identity(self, *, reporting_identity: str) -> None:
        """Chooses which identity links make up journeys from now on ("" until chosen: the
        settings' default applies)."""
        self.reporting_identity = reporting_identity


class Job(Aggregate):
    """A background job (a refit or a re-attribution of history) and its progress."""

    Started: ClassVar[type[DomainEvent]]
    Progressed: ClassVar[type[DomainEvent]]
    Completed: ClassVar[type[DomainEvent]]
    Failed: ClassVar[type[DomainEvent]]

    # Not keyword-only: the library applies the default only to positional-or-keyword
    # parameters, and jobs stored before `property_id` existed are read with it.
    @event("Started")
    def __init__(self, id: UUID, description: str, total: int, property_id: str = "") -> None:
        self.description = description
        self.property_id = property_id  # empty for jobs over every property
        self.total = total
        self.done = 0
        self.state = "running"
        self.error = ""

    @event("Progressed")
    def progress(self, *, done: int, total: int) -> None:
        """Records how many conversions are done (the total can grow while ingesting)."""
        self.done = done
        self.total = total

    @event("Completed")
    def complete(self) -> None:
        """The job finished."""
        self.state = "completed"

    @event("Failed")
    def fail(self, *, error: str) -> None:
        """The job stopped with an error."""
        self.state = "failed"
        self.error = error
