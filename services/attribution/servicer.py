"""Attribution's gRPC edge: protobuf messages to plain values and back, errors to status codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import timedelta
from typing import Any
from uuid import UUID

import grpc
from google.protobuf import duration_pb2

from common.audit import AuditLog
from common.audit_api import list_audit_events
from common.grpc_errors import (
    FieldProblem,
    abort_invalid,
    abort_resource_exhausted,
    abort_unavailable,
)
from common.log_endpoint import POSITION_MAX, LogEndpoint
from common.money import Money
from common.requests import FieldChecks
from common.wire import timestamp_fields, to_money_pb, to_timestamp
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.common.v1 import common_pb2
from services.attribution.application import (
    AttributionApplication,
    UnknownConversionError,
    UnknownJobError,
)
from services.attribution.domainmodel import (
    DEFAULT_SCOPE,
    Conversion,
    Job,
    ModelFit,
    PropertyAttributionSettings,
    ReportingIdentity,
)
from services.attribution.journeys import Lookback, LookbackPolicy
from services.attribution.models import (
    DEFAULT_TRAINING_WINDOW,
    DETAIL_DIMENSIONS,
    DataDrivenKind,
    ModelSpec,
    UnknownModelError,
)
from services.attribution.rules import RuleKind, RuleModel
from services.attribution.settings import PropertySettings, SettingSource, lookbacks_from_dict
from services.attribution.watch import (
    DEFAULT_HEARTBEAT,
    MAX_HEARTBEAT,
    MIN_HEARTBEAT,
    ConversionWatches,
    PositionAheadError,
    TooManyWatchesError,
    WatchesStoppedError,
    WatchItem,
    WatchKind,
    WatchQuery,
)

# A client told to come back (too many streams, the server stopping) waits this long.
WATCH_RETRY_SECONDS = 5.0
STOPPING_RETRY_SECONDS = 1.0


def conversion_attributed(event: Any) -> attribution_pb2.ConversionAttributed:
    """The ConversionAttributed message of a `Conversion.Attributed` event."""
    reporting_code = event.reporting_currency_code
    return attribution_pb2.ConversionAttributed(
        property_id=event.property_id,
        conversion_id=str(event.originator_id),
        event_id=event.event_id,
        conversion_name=event.name,
        occurred_at=to_timestamp(event.occurred_at),
        value=(
            to_money_pb(Money.from_micros(event.currency_code, event.value_micros))
            if event.currency_code
            else None
        ),
        reporting_value=to_money_pb(
            Money.from_micros(reporting_code, event.reporting_value_micros)
        ),
        revision=event.revision,
        trace_parent=event.trace_parent,
        journey=[
            attribution_pb2.JourneyTouchpoint(
                touchpoint_id=t["touchpoint_id"],
                occurred_at=to_timestamp(t["occurred_at"]),
                channel=t["channel"],
                source=t["source"],
                medium=t["medium"],
                campaign=t["campaign"],
                **{name: t.get(name, "") for name in DETAIL_DIMENSIONS},
                advertising_denied=t.get("advertising_denied", False),
            )
            for t in event.journey
        ],
        journey_length=event.journey_length,
        credits_grouped=event.credits_grouped,
        unconsented=event.unconsented,
        advertising_denied=event.advertising_denied,
        path=conversion_path_pb(event.path),
        stage=event.stage,
        stages=stages_pb(event.stages),
        models=[
            attribution_pb2.ModelCredits(
                model=model,
                model_version=event.model_versions.get(model, 0),
                exceeds_conversion=model in event.non_conserving,
                credits=[
                    attribution_pb2.Credit(
                        touchpoint_id=c["touchpoint_id"],
                        channel=c["channel"],
                        source=c["source"],
                        medium=c["medium"],
                        campaign=c["campaign"],
                        fraction=c["fraction"],
                        value=to_money_pb(Money.from_micros(reporting_code, c["value_micros"])),
                        touchpoint_count=c["touchpoint_count"],
                        **{name: c.get(name, "") for name in DETAIL_DIMENSIONS},
                    )
                    for c in credits
                ],
            )
            for model, credits in event.credits.items()
        ],
    )


def conversion_path_pb(path: dict[str, Any]) -> attribution_pb2.ConversionPath:
    """The ConversionPath message of a stored path."""
    message = attribution_pb2.ConversionPath(
        channels=path["channels"],
        run_lengths=path["run_lengths"],
        touchpoint_count=path["touchpoint_count"],
        last_non_direct_channel=path["last_non_direct_channel"],
        head_runs=path["head_runs"],
        omitted_runs=path["omitted_runs"],
        omitted_touchpoints=path["omitted_touchpoints"],
        omitted_channels=path["omitted_channels"],
    )
    if path["first_touch_at"] is not None:
        message.first_touch_at.CopyFrom(to_timestamp(path["first_touch_at"]))
    return message


def model_fitted(event: Any) -> attribution_pb2.ModelFitted:
    """The ModelFitted message of a `ModelFit.Fitted` event."""
    return attribution_pb2.ModelFitted(
        property_id=event.property_id,
        conversion_name=event.conversion_name,
        model=event.model,
        version=event.version,
        window_start=to_timestamp(event.window_start),
        window_end=to_timestamp(event.window_end),
        converting_paths=event.converting_paths,
        null_paths=event.null_paths,
        channel_shares=event.channel_shares,
        value_shares=event.value_shares,
    )


def log_entry(position: int, event: Any) -> attribution_pb2.LogEntry:
    """The LogEntry message of an attribution event; internal bookkeeping (an event of a
    class not in LOGGED_EVENTS, or a `Bookkeeping` value) has no event set."""
    entry = attribution_pb2.LogEntry(
        position=position, recorded_at=timestamp_fields(event.timestamp)
    )
    for kind, (field, message) in _LOG_ENTRY_EVENTS.items():
        if isinstance(event, kind):
            getattr(entry, field).CopyFrom(message(event))
            break
    return entry


def conversion_retracted(event: Any) -> attribution_pb2.ConversionRetracted:
    """The ConversionRetracted message of a `Conversion.Retracted` event."""
    return attribution_pb2.ConversionRetracted(
        property_id=event.property_id,
        conversion_id=str(event.originator_id),
        conversion_name=event.name,
        occurred_at=to_timestamp(event.occurred_at),
        retracted_at=to_timestamp(event.retracted_at),
    )


def stages_pb(stages: list[dict[str, Any]]) -> list[attribution_pb2.StageReached]:
    """The StageReached messages of stored stages."""
    return [
        attribution_pb2.StageReached(stage=s["stage"], reached_at=to_timestamp(s["reached_at"]))
        for s in stages
    ]


def stage_changed(event: Any) -> attribution_pb2.ConversionStageChanged:
    """The ConversionStageChanged message of a `Conversion.OutcomeChanged` event."""
    return attribution_pb2.ConversionStageChanged(
        property_id=event.property_id,
        conversion_id=str(event.originator_id),
        conversion_name=event.name,
        occurred_at=to_timestamp(event.occurred_at),
        stage=event.stage,
        stages=stages_pb(event.stages),
        value=(
            to_money_pb(Money.from_micros(event.currency_code, event.value_micros))
            if event.currency_code
            else None
        ),
        reporting_value=to_money_pb(
            Money.from_micros(event.reporting_currency_code, event.reporting_value_micros)
        ),
    )


def settings_changed(event: Any) -> attribution_pb2.AttributionSettingsChanged:
    """The AttributionSettingsChanged message of a `PropertyAttributionSettings.Changed`
    event: a property's own choices, or every setting of the default (its choice, else the
    environment's)."""
    message = attribution_pb2.AttributionSettingsChanged(property_id=event.property_id)
    fallback: dict[str, Any] = {}
    fallback_source = SettingSource.DEFAULT
    if event.property_id == DEFAULT_SCOPE and event.environment is not None:
        fallback, fallback_source = event.environment, SettingSource.ENVIRONMENT
    models = event.models if event.models is not None else fallback.get("models")
    message.models_source = SETTING_SOURCE_PB[
        SettingSource.PROPERTY if event.models is not None else fallback_source
    ]
    message.models.extend(model_config(ModelSpec.from_dict(m)) for m in models or [])
    identity = event.reporting_identity or fallback.get("reporting_identity", "")
    message.reporting_identity_source = SETTING_SOURCE_PB[
        SettingSource.PROPERTY if event.reporting_identity else fallback_source
    ]
    if identity:
        message.reporting_identity = REPORTING_IDENTITY_PB[ReportingIdentity(identity)]
    lookbacks = event.lookbacks if event.lookbacks is not None else fallback.get("lookbacks")
    message.lookbacks_source = SETTING_SOURCE_PB[
        SettingSource.PROPERTY if event.lookbacks is not None else fallback_source
    ]
    if lookbacks is not None:
        message.lookbacks.CopyFrom(lookback_settings(lookbacks_from_dict(lookbacks)))
    return message


# The events attribution's log serves, each as its `LogEntry.event` field and message.
_LOG_ENTRY_EVENTS: dict[type, tuple[str, Callable[[Any], Any]]] = {
    Conversion.Attributed: ("conversion_attributed", conversion_attributed),
    ModelFit.Fitted: ("model_fitted", model_fitted),
    PropertyAttributionSettings.Changed: ("settings_changed", settings_changed),
    Conversion.OutcomeChanged: ("conversion_stage_changed", stage_changed),
    Conversion.Retracted: ("conversion_retracted", conversion_retracted),
}
LOGGED_EVENTS = tuple(_LOG_ENTRY_EVENTS)
"""The event classes whose entries carry an event: `ListEvents` decodes only those, and
serves the others with their position and time alone (`LogEndpoint`'s `served`)."""


SETTING_SOURCE_PB = {
    SettingSource.ENVIRONMENT: attribution_pb2.SETTING_SOURCE_ENVIRONMENT,
    SettingSource.DEFAULT: attribution_pb2.SETTING_SOURCE_DEFAULT,
    SettingSource.PROPERTY: attribution_pb2.SETTING_SOURCE_PROPERTY,
}


def lookback_settings(policy: LookbackPolicy) -> attribution_pb2.LookbackSettings:
    """The LookbackSettings message of plain lookback windows."""
    message = attribution_pb2.LookbackSettings()
    message.default_window.CopyFrom(_lookback_window(policy.default))
    for name, window in sorted(policy.by_conversion.items()):
        message.by_conversion[name].CopyFrom(_lookback_window(window))
    return message


def _lookback_window(window: Lookback) -> attribution_pb2.LookbackWindow:
    message = attribution_pb2.LookbackWindow()
    message.clicks.FromTimedelta(window.clicks)
    message.views.FromTimedelta(window.views)
    return message


def lookback_policy(
    message: attribution_pb2.LookbackSettings, field: str, check: FieldChecks
) -> LookbackPolicy:
    """The plain lookback windows of a LookbackSettings message at `field`; problems go to
    `check`."""
    if not message.HasField("default_window"):
        check.add(f"{field}.default_window", "is required")
        return LookbackPolicy()
    default = _window(message.default_window, f"{field}.default_window", check)
    by_conversion = {}
    for name, window in sorted(message.by_conversion.items()):
        key = check.name(name, f"{field}.by_conversion[{name}]")
        by_conversion[key] = _window(window, f"{field}.by_conversion[{name}]", check)
    return LookbackPolicy(default=default, by_conversion=by_conversion)


def _window(message: attribution_pb2.LookbackWindow, field: str, check: FieldChecks) -> Lookback:
    if not message.HasField("clicks"):
        check.add(f"{field}.clicks", "is required")
        return Lookback()
    clicks = check.duration(
        message.clicks, f"{field}.clicks", minimum=timedelta(seconds=1), maximum=MAX_WINDOW
    )
    views = check.duration(
        message.views, f"{field}.views", minimum=timedelta(0), maximum=MAX_WINDOW
    )
    return Lookback(clicks=clicks, views=views)


def settings_scope(value: str, check: FieldChecks) -> str:
    """The property id of a settings request: a property, or "*" for the default."""
    if value.strip() == DEFAULT_SCOPE:
        return DEFAULT_SCOPE
    return check.property_id(value)


def list_models_response(applied: PropertySettings) -> attribution_pb2.ListModelsResponse:
    """The ListModelsResponse message of the settings that apply to a property."""
    settings = applied.settings
    return attribution_pb2.ListModelsResponse(
        property_id=applied.property_id,
        models=[model_config(spec) for spec in settings.models],
        reporting_identity=REPORTING_IDENTITY_PB[settings.reporting_identity],
        lookbacks=lookback_settings(settings.lookbacks),
        models_source=SETTING_SOURCE_PB[applied.models_source],
        reporting_identity_source=SETTING_SOURCE_PB[applied.reporting_identity_source],
        lookbacks_source=SETTING_SOURCE_PB[applied.lookbacks_source],
    )


REPORTING_IDENTITY_PB = {
    ReportingIdentity.DETERMINISTIC: common_pb2.REPORTING_IDENTITY_DETERMINISTIC,
    ReportingIdentity.BLENDED: common_pb2.REPORTING_IDENTITY_BLENDED,
}
REPORTING_IDENTITY_OF = {v: k for k, v in REPORTING_IDENTITY_PB.items()}

_RULE_KINDS = {
    attribution_pb2.MODEL_KIND_FIRST_TOUCH: RuleKind.FIRST_TOUCH,
    attribution_pb2.MODEL_KIND_LAST_TOUCH: RuleKind.LAST_TOUCH,
    attribution_pb2.MODEL_KIND_LAST_NON_DIRECT: RuleKind.LAST_NON_DIRECT,
    attribution_pb2.MODEL_KIND_LINEAR: RuleKind.LINEAR,
    attribution_pb2.MODEL_KIND_POSITION_BASED: RuleKind.POSITION_BASED,
    attribution_pb2.MODEL_KIND_W_SHAPED: RuleKind.W_SHAPED,
    attribution_pb2.MODEL_KIND_J_SHAPED: RuleKind.J_SHAPED,
    attribution_pb2.MODEL_KIND_INVERSE_J: RuleKind.INVERSE_J,
    attribution_pb2.MODEL_KIND_TIME_DECAY: RuleKind.TIME_DECAY,
    attribution_pb2.MODEL_KIND_PARTICIPATION: RuleKind.PARTICIPATION,
    attribution_pb2.MODEL_KIND_CUSTOM_POSITIONS: RuleKind.CUSTOM_POSITIONS,
}
_RULE_KINDS_BACK = {v: k for k, v in _RULE_KINDS.items()}
_DATA_DRIVEN = {
    attribution_pb2.MODEL_KIND_MARKOV: DataDrivenKind.MARKOV,
    attribution_pb2.MODEL_KIND_SHAPLEY: DataDrivenKind.SHAPLEY,
}
_DATA_DRIVEN_BACK = {v: k for k, v in _DATA_DRIVEN.items()}
_MODEL_KINDS: dict[Any, RuleKind | DataDrivenKind] = {
    **_RULE_KINDS,
    **_DATA_DRIVEN,
}
DEFAULT_HALF_LIFE = timedelta(days=7)
MAX_WINDOW = timedelta(days=3650)
MAX_POSITION_WEIGHT = 1e6
MAX_MARKOV_ORDER = 4


def model_spec(
    config: attribution_pb2.ModelConfig, field: str, check: FieldChecks
) -> ModelSpec | None:
    """The plain model spec of a ModelConfig message at `field` of a request; None when it is
    invalid, with each invalid field, and what the model itself refuses (on `field`),
    recorded in `check`."""
    found = len(check.problems)
    name = check.name(config.name, f"{field}.name")
    kind = check.choice(
        config.kind, f"{field}.kind", _MODEL_KINDS, attribution_pb2.ModelKind.DESCRIPTOR
    )
    first, key, last = (
        check.number(getattr(config, share), f"{field}.{share}", minimum=0.0, maximum=1.0)
        for share in ("first_share", "key_share", "last_share")
    )
    weights = tuple(
        check.number(
            weight, f"{field}.position_weights[{i}]", minimum=0.0, maximum=MAX_POSITION_WEIGHT
        )
        for i, weight in enumerate(config.position_weights)
    )
    order = check.integer(
        config.markov_order, f"{field}.markov_order", minimum=0, maximum=MAX_MARKOV_ORDER
    )
    half_life = _optional_span(config, "half_life", field, check, DEFAULT_HALF_LIFE)
    training = _optional_span(config, "training_window", field, check, DEFAULT_TRAINING_WINDOW)
    if len(check.problems) > found:
        return None
    try:
        if isinstance(kind, DataDrivenKind):
            return ModelSpec(
                name=name, data_driven=kind, markov_order=order or 1, training_window=training
            )
        rule = RuleModel(
            kind=kind,
            first_share=first or None,
            key_share=key or None,
            last_share=last or None,
            half_life_days=half_life.total_seconds() / 86400,
            position_weights=weights,
        )
        return ModelSpec(name=name, rule=rule)
    except ValueError as error:
        check.add(field, str(error))
        return None


def _optional_span(
    config: attribution_pb2.ModelConfig,
    name: str,
    field: str,
    check: FieldChecks,
    default: timedelta,
) -> timedelta:
    if not config.HasField(name):  # type: ignore[arg-type]
        return default
    span: duration_pb2.Duration = getattr(config, name)
    return check.duration(span, f"{field}.{name}", minimum=timedelta(seconds=1), maximum=MAX_WINDOW)


def model_config(spec: ModelSpec) -> attribution_pb2.ModelConfig:
    """The ModelConfig message of a plain model spec."""
    config = attribution_pb2.ModelConfig(name=spec.name)
    if spec.data_driven is not None:
        config.kind = _DATA_DRIVEN_BACK[spec.data_driven]
        config.markov_order = spec.markov_order
        config.training_window.FromTimedelta(spec.training_window)
        return config
    rule = spec.rule
    assert rule is not None
    config.kind = _RULE_KINDS_BACK[rule.kind]
    config.first_share = rule.first_share or 0.0
    config.key_share = rule.key_share or 0.0
    config.last_share = rule.last_share or 0.0
    if rule.kind is RuleKind.TIME_DECAY:
        config.half_life.FromTimedelta(timedelta(days=rule.half_life_days))
    config.position_weights.extend(rule.position_weights)
    return config


def job_message(job_id: UUID, job: Job) -> attribution_pb2.GetJobResponse:
    """The GetJobResponse message of a job."""
    response = attribution_pb2.GetJobResponse(
        job_id=str(job_id),
        description=job.description,
        state=_JOB_STATES[job.state],
        total=job.total,
        done=job.done,
        error=job.error,
        started_at=to_timestamp(job.created_on),
    )
    if job.state != "running":
        response.finished_at.CopyFrom(to_timestamp(job.modified_on))
    return response


_JOB_STATES = {
    "running": attribution_pb2.JOB_STATE_RUNNING,
    "completed": attribution_pb2.JOB_STATE_COMPLETED,
    "failed": attribution_pb2.JOB_STATE_FAILED,
}


WATCH_KINDS_PB = {
    WatchKind.ATTRIBUTED: attribution_pb2.WATCH_EVENT_KIND_ATTRIBUTED,
    WatchKind.REATTRIBUTED: attribution_pb2.WATCH_EVENT_KIND_REATTRIBUTED,
    WatchKind.HEARTBEAT: attribution_pb2.WATCH_EVENT_KIND_HEARTBEAT,
    WatchKind.RETRACTED: attribution_pb2.WATCH_EVENT_KIND_RETRACTED,
}


def watch_query(request: attribution_pb2.WatchConversionsRequest, check: FieldChecks) -> WatchQuery:
    """The plain watch of a WatchConversions request; problems go to `check`."""
    property_id = check.property_id(request.property_id)
    names = frozenset(
        check.name(name, f"conversion_names[{index}]")
        for index, name in enumerate(request.conversion_names)
    )
    if request.after > POSITION_MAX:
        check.add("after", f"must be at most {POSITION_MAX} (positions are int64)")
    if request.from_now and request.after:
        check.add("after", "must be 0 with from_now")
    heartbeat = DEFAULT_HEARTBEAT
    if request.HasField("heartbeat_interval"):
        heartbeat = check.duration(
            request.heartbeat_interval,
            "heartbeat_interval",
            minimum=MIN_HEARTBEAT,
            maximum=MAX_HEARTBEAT,
        )
    return WatchQuery(
        property_id=property_id,
        after=request.after,
        from_now=request.from_now,
        conversion_names=names,
        heartbeat=heartbeat,
    )


def watch_message(item: WatchItem) -> attribution_pb2.WatchConversionsResponse:
    """The WatchConversionsResponse message of a watch item."""
    message = attribution_pb2.WatchConversionsResponse(
        position=item.position,
        kind=WATCH_KINDS_PB[item.kind],
        recorded_at=to_timestamp(item.recorded_at),
        log_head=item.log_head,
    )
    if item.attribution is not None:
        message.attribution.CopyFrom(conversion_attributed(item.attribution))
    if item.retraction is not None:
        message.retraction.CopyFrom(conversion_retracted(item.retraction))
    return message


class AttributionServicer(attribution_pb2_grpc.AttributionServiceServicer):
    """Translates AttributionService calls to the attribution application."""

    def __init__(
        self,
        app: AttributionApplication,
        positions: Callable[[], dict[str, int]],
        audit: AuditLog | None = None,
        watches: ConversionWatches | None = None,
    ) -> None:
        self._app = app
        self._audit = audit
        self._log = LogEndpoint(app, log_entry, served=LOGGED_EVENTS)
        self._positions = positions
        self._watches = watches or ConversionWatches(app)

    def WatchConversions(
        self, request: attribution_pb2.WatchConversionsRequest, context: grpc.ServicerContext
    ) -> Iterator[attribution_pb2.WatchConversionsResponse]:
        check = FieldChecks()
        query = watch_query(request, check)
        check.abort_if_invalid(context, "invalid WatchConversions request")
        try:
            with closing(self._watches.watch(query, context.is_active)) as items:
                for item in items:
                    yield watch_message(item)
        except TooManyWatchesError as error:
            abort_resource_exhausted(context, str(error), WATCH_RETRY_SECONDS)
        except WatchesStoppedError as error:
            abort_unavailable(context, str(error), STOPPING_RETRY_SECONDS)
        except PositionAheadError as error:
            context.abort(grpc.StatusCode.OUT_OF_RANGE, str(error))

    def ListAuditEvents(
        self, request: attribution_pb2.ListAuditEventsRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.ListAuditEventsResponse:
        """A page of this service's audit log."""
        if self._audit is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "this server keeps no audit log")
            raise AssertionError("unreachable: abort raises")
        return list_audit_events(
            self._audit, request, context, attribution_pb2.ListAuditEventsResponse
        )

    def GetAttribution(
        self, request: attribution_pb2.GetAttributionRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.GetAttributionResponse:
        check = FieldChecks()
        conversion_id = check.uuid(
            request.conversion_id, "conversion_id", "a UUID (the record_id ingest returned)"
        )
        property_id = check.property_id(request.property_id, required=False)
        check.abort_if_invalid(context, "invalid GetAttribution request")
        try:
            latest = self._app.latest_attribution(conversion_id, property_id or None)
        except UnknownConversionError as error:
            context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        return attribution_pb2.GetAttributionResponse(attribution=conversion_attributed(latest))

    def ListModels(
        self, request: attribution_pb2.ListModelsRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.ListModelsResponse:
        check = FieldChecks()
        property_id = settings_scope(request.property_id, check)
        check.abort_if_invalid(context, "invalid ListModels request")
        return list_models_response(self._app.settings(property_id))

    def SetReportingIdentity(
        self, request: attribution_pb2.SetReportingIdentityRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.SetReportingIdentityResponse:
        check = FieldChecks()
        chosen = check.choice(
            request.reporting_identity,
            "reporting_identity",
            REPORTING_IDENTITY_OF,
            common_pb2.ReportingIdentity.DESCRIPTOR,
        )
        property_id = settings_scope(request.property_id, check)
        check.abort_if_invalid(context, "invalid SetReportingIdentity request")
        job_id = self._app.choose_reporting_identity(property_id, chosen)
        return attribution_pb2.SetReportingIdentityResponse(job_id=str(job_id))

    def ConfigureModels(
        self, request: attribution_pb2.ConfigureModelsRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.ConfigureModelsResponse:
        check = FieldChecks()
        property_id = settings_scope(request.property_id, check)
        read = [
            model_spec(config, f"models[{index}]", check)
            for index, config in enumerate(request.models)
        ]
        specs = [spec for spec in read if spec is not None]
        names = [spec.name for spec in specs]
        lookbacks = (
            lookback_policy(request.lookbacks, "lookbacks", check)
            if request.HasField("lookbacks")
            else None
        )
        if request.follow_default:
            if request.models:
                check.add("models", "must be empty with follow_default")
            if request.HasField("lookbacks"):
                check.add("lookbacks", "must be unset with follow_default")
        elif not request.models:
            check.add("models", "at least one model is required")
        elif len(set(names)) != len(names):
            check.add("models", "model names must be unique")
        check.abort_if_invalid(context, "invalid model configuration")
        job_id = self._app.configure_models(
            property_id, None if request.follow_default else specs, lookbacks
        )
        return attribution_pb2.ConfigureModelsResponse(job_id=str(job_id))

    def RefitModel(
        self, request: attribution_pb2.RefitModelRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.RefitModelResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        conversion_name = check.name(request.conversion_name, "conversion_name")
        model = check.name(request.model, "model")
        check.abort_if_invalid(context, "invalid RefitModel request")
        try:
            job_id = self._app.refit(property_id, conversion_name, model)
        except UnknownModelError as error:
            abort_invalid(context, str(error), [FieldProblem("model", str(error))])
            raise
        return attribution_pb2.RefitModelResponse(job_id=str(job_id))

    def StartReattribution(
        self, request: attribution_pb2.StartReattributionRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.StartReattributionResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id, required=False)
        check.abort_if_invalid(context, "invalid StartReattribution request")
        if not property_id:
            return attribution_pb2.StartReattributionResponse(
                job_id=str(self._app.start_reattribution())
            )
        job_id = self._app.start_reattribution(
            f"re-attribute {property_id!r} conversions", lambda c: c.property_id == property_id
        )
        return attribution_pb2.StartReattributionResponse(job_id=str(job_id))

    def GetJob(
        self, request: attribution_pb2.GetJobRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.GetJobResponse:
        check = FieldChecks()
        job_id = check.uuid(request.job_id, "job_id")
        property_id = check.property_id(request.property_id, required=False)
        check.abort_if_invalid(context, "invalid GetJob request")
        try:
            job = self._app.job(job_id, property_id or None)
        except UnknownJobError as error:
            context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        return job_message(job_id, job)

    def ListEvents(
        self, request: attribution_pb2.ListEventsRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.ListEventsResponse:
        return attribution_pb2.ListEventsResponse.FromString(
            self._log.encoded_page(request, context)
        )

    def GetLogHead(
        self, request: attribution_pb2.GetLogHeadRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.GetLogHeadResponse:
        return attribution_pb2.GetLogHeadResponse(position=self._app.log_head())

    def GetSyncStatus(
        self, request: attribution_pb2.GetSyncStatusRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.GetSyncStatusResponse:
        return attribution_pb2.GetSyncStatusResponse(
            upstreams=[
                common_pb2.UpstreamPosition(upstream=name, position=position)
                for name, position in self._positions().items()
            ]
        )
