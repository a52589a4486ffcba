"""Reporting's gRPC edge: protobuf messages to plain values and back, errors to status codes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from opentelemetry.metrics import Meter

from common.audit import AuditLog
from common.audit_api import list_audit_events
from common.grpc_errors import FieldProblem, abort_invalid
from common.money import Money
from common.requests import FieldChecks
from common.wire import to_duration, to_money_pb, to_timestamp
from convtrack.common.v1 import common_pb2
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting.application import (
    ReportingApplication,
)
from services.reporting.as_of import ATTRIBUTION
from services.reporting.domainmodel import (
    DIMENSION_DESCRIPTIONS,
    AsOf,
    ComparisonRow,
    CostRow,
    DimensionFilter,
    Freshness,
    GroupBy,
    Interval,
    MetricsQuery,
    Page,
    PreviousFigures,
    PropertySettings,
    RateRow,
    ReportQuery,
    ReportRow,
)
from services.reporting.errors import (
    ConversionNameRequiredError,
    InvalidComparisonError,
    InvalidTimeRangeError,
    InvalidTimeZoneError,
    MissingPropertyError,
    MixedCurrencyError,
    ModelWithoutCreditsError,
    NotFoundError,
)
from services.reporting.kinds import report_kinds
from services.reporting.metrics import MetricsReports
from services.reporting.outcome_reports import OutcomeQuery, OutcomeReport, OutcomeReports
from services.reporting.path_reports import PathReports
from services.reporting.path_values import DistributionKind, PathQuery, PathTotals
from services.reporting.periods import previous_period
from services.reporting.person_reports import PersonReports
from services.reporting.person_values import (
    DEFAULT_WITHIN,
    CohortInterval,
    CohortQuery,
    FunnelQuery,
    FunnelStep,
    FunnelStepFigures,
    MatchMode,
    StepKind,
)
from services.reporting.rebuild import Rebuilder

T = TypeVar("T")
MAX_COMPARED_MODELS = 20
DEFAULT_PAGE_SIZE = 100
DEFAULT_METRICS_MODEL = "last_click"
MAX_PAGE_SIZE = 1000
MAX_TIME_ZONE_LENGTH = 64

DEFAULT_REPORT_PAGE_SIZE = 1000
MAX_REPORT_PAGE_SIZE = 10_000
MAX_DIMENSIONS = 5
MAX_FILTERS = 10
MAX_FILTER_VALUES = 100
MAX_FILTER_VALUE_LENGTH = 2048

_GROUP_BY_PB: dict[GroupBy, Any] = {
    dimension: reporting_pb2.GroupBy.Value(f"GROUP_BY_{dimension.name}") for dimension in GroupBy
}
_DIMENSIONS = {number: dimension for dimension, number in _GROUP_BY_PB.items()}
_GROUP_BY = {reporting_pb2.GROUP_BY_UNSPECIFIED: GroupBy.CHANNEL, **_DIMENSIONS}
_INTERVALS = {
    reporting_pb2.REPORT_INTERVAL_UNSPECIFIED: Interval.NONE,
    reporting_pb2.REPORT_INTERVAL_DAY: Interval.DAY,
    reporting_pb2.REPORT_INTERVAL_WEEK: Interval.WEEK,
    reporting_pb2.REPORT_INTERVAL_MONTH: Interval.MONTH,
}
_METRIC_GROUP_BY = {
    number: _GROUP_BY[number]
    for number in (
        reporting_pb2.GROUP_BY_UNSPECIFIED,
        reporting_pb2.GROUP_BY_CHANNEL,
        reporting_pb2.GROUP_BY_SOURCE,
        reporting_pb2.GROUP_BY_MEDIUM,
        reporting_pb2.GROUP_BY_CAMPAIGN,
    )
}
"""What cost and rate reports group by: the dimensions spend and sessions are kept by."""
_INTERVALS_PB = {interval: number for number, interval in _INTERVALS.items()}


_DISTRIBUTION_KIND = {
    reporting_pb2.PATH_DISTRIBUTION_KIND_PATH_LENGTH: DistributionKind.PATH_LENGTH,
    reporting_pb2.PATH_DISTRIBUTION_KIND_TIME_LAG: DistributionKind.TIME_LAG,
}


class ReportingServicer(reporting_pb2_grpc.ReportingServiceServicer):
    """Translates ReportingService calls to the reporting application."""

    def __init__(
        self,
        app: ReportingApplication,
        positions: Callable[[], dict[str, int]],
        meter: Meter | None = None,
        metrics: MetricsReports | None = None,
        paths: PathReports | None = None,
        rebuilds: Rebuilder | None = None,
        outcomes: OutcomeReports | None = None,
        audit: AuditLog | None = None,
        people: PersonReports | None = None,
    ) -> None:
        self._app = app
        self._rebuilds = rebuilds
        self._audit = audit
        self._kinds = report_kinds(app, metrics, paths, outcomes, people)
        self._latency = (
            meter.create_histogram(
                "convtrack.reporting.query.duration",
                unit="s",
                description="report query latency, by query",
            )
            if meter
            else None
        )
        self._positions = positions

    def ListAuditEvents(
        self, request: reporting_pb2.ListAuditEventsRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.ListAuditEventsResponse:
        """A page of reporting's audit log."""
        if self._audit is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "this server keeps no audit log")
            raise AssertionError("unreachable: abort raises")
        return list_audit_events(
            self._audit, request, context, reporting_pb2.ListAuditEventsResponse
        )

    def GetConversionReport(
        self, request: reporting_pb2.GetConversionReportRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.GetConversionReportResponse:
        check = FieldChecks()
        models = [check.name(request.model, "model")]
        size = _report_page_size(request.page_size, check)
        scope = _report_scope(request)
        offset, pinned = _report_page(request.page_token, scope, check)
        query = _report_query(request, _query(context, request, models, check), check)
        check.abort_if_invalid(context, "invalid GetConversionReportRequest")
        if pinned is not None and query.as_of is None:
            query = replace(query, as_of=AsOf(attribution_position=pinned))
        report = self._answer("conversion_report", context, query, offset, size)
        response = reporting_pb2.GetConversionReportResponse(
            rows=[_row(row) for row in report.rows],
            total_conversions=report.total_conversions,
            total_value=to_money_pb(report.total_value),
            exceeds_conversions=report.exceeds_conversions,
            total_value_saturated=report.total_value_saturated,
            conversion_name=report.conversion_name,
            freshness=_freshness(report.freshness),
            dimensions=[_GROUP_BY_PB[d] for d in report.dimensions],
            interval=_INTERVALS_PB[report.interval],
            time_zone=report.time_zone,
            conversion_names=report.conversion_names,
            total_rows=report.total_rows,
            next_page_token=(
                _next_token(
                    Page((), _report_position(report.next_offset, pinned, report.freshness)),
                    scope,
                )
                if report.next_offset
                else ""
            ),
            unconsented_conversions=report.unconsented_conversions,
        )
        if report.previous_total is not None:
            response.previous_total.CopyFrom(_comparison(report.previous_total))
        if report.compare_start is not None and report.compare_end is not None:
            response.compare_start_time.CopyFrom(to_timestamp(report.compare_start))
            response.compare_end_time.CopyFrom(to_timestamp(report.compare_end))
        return response

    def GetPropertySettings(
        self, request: reporting_pb2.GetPropertySettingsRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.GetPropertySettingsResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        check.abort_if_invalid(context, "invalid GetPropertySettingsRequest")
        settings = self._timed(
            "get_property_settings", context, lambda: self._app.property_settings(property_id)
        )
        return reporting_pb2.GetPropertySettingsResponse(settings=_settings_pb(settings))

    def SetPropertySettings(
        self, request: reporting_pb2.SetPropertySettingsRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.SetPropertySettingsResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        zone = request.settings.time_zone or "UTC"
        if len(zone) > MAX_TIME_ZONE_LENGTH:
            check.add("settings.time_zone", f"at most {MAX_TIME_ZONE_LENGTH} characters")
        check.abort_if_invalid(context, "invalid SetPropertySettingsRequest")
        settings = self._timed(
            "set_property_settings",
            context,
            lambda: self._app.set_property_settings(property_id, PropertySettings(zone)),
        )
        return reporting_pb2.SetPropertySettingsResponse(settings=_settings_pb(settings))

    def CompareModels(
        self, request: reporting_pb2.CompareModelsRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.CompareModelsResponse:
        check = FieldChecks()
        models = [
            check.name(model, f"models[{index}]") for index, model in enumerate(request.models)
        ]
        if not models:
            check.add("models", "is required")
        elif len(models) > MAX_COMPARED_MODELS:
            check.add("models", f"at most {MAX_COMPARED_MODELS} models can be compared")
        elif len(set(models)) != len(models):
            check.add("models", "each model at most once")
        query = _report_query(request, _query(context, request, models, check), check)
        check.abort_if_invalid(context, "invalid CompareModelsRequest")
        comparison = self._answer("compare_models", context, query, models)
        response = reporting_pb2.CompareModelsResponse(
            models=comparison.models,
            models_exceeding_conversions=comparison.exceeding_models,
            conversion_name=comparison.conversion_name,
            freshness=_freshness(comparison.freshness),
            rows=[_comparison_row(comparison.models, row) for row in comparison.rows],
            interval=_INTERVALS_PB[comparison.interval],
            time_zone=comparison.time_zone,
            dimensions=[_GROUP_BY_PB[d] for d in comparison.dimensions],
            conversion_names=comparison.conversion_names,
        )
        if comparison.compare_start is not None and comparison.compare_end is not None:
            response.compare_start_time.CopyFrom(to_timestamp(comparison.compare_start))
            response.compare_end_time.CopyFrom(to_timestamp(comparison.compare_end))
        return response

    def ListProperties(
        self, request: reporting_pb2.ListPropertiesRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.ListPropertiesResponse:
        check = FieldChecks()
        size = _page_size(request.page_size, check)
        after = _after(request.page_token, "properties", check)
        check.abort_if_invalid(context, "invalid ListPropertiesRequest")
        page = self._timed(
            "list_properties", context, lambda: self._app.list_properties(size, after)
        )
        return reporting_pb2.ListPropertiesResponse(
            property_ids=page.items, next_page_token=_next_token(page, "properties")
        )

    def ListConversionNames(
        self, request: reporting_pb2.ListConversionNamesRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.ListConversionNamesResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        size = _page_size(request.page_size, check)
        scope = f"conversion_names/{property_id}"
        after = _after(request.page_token, scope, check)
        check.abort_if_invalid(context, "invalid ListConversionNamesRequest")
        page = self._timed(
            "list_conversion_names",
            context,
            lambda: self._app.list_conversion_names(property_id, size, after),
        )
        return reporting_pb2.ListConversionNamesResponse(
            conversion_names=page.items, next_page_token=_next_token(page, scope)
        )

    def ListDimensions(
        self, request: reporting_pb2.ListDimensionsRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.ListDimensionsResponse:
        return reporting_pb2.ListDimensionsResponse(
            dimensions=[
                reporting_pb2.Dimension(
                    name=dimension.value,
                    group_by=_GROUP_BY_PB[dimension],
                    description=DIMENSION_DESCRIPTIONS[dimension],
                )
                for dimension in GroupBy
            ]
        )

    def ListReportModels(
        self, request: reporting_pb2.ListReportModelsRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.ListReportModelsResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        conversion_name = check.name(request.conversion_name, "conversion_name", required=False)
        as_of = _as_of(request, check)
        check.abort_if_invalid(context, "invalid ListReportModelsRequest")
        models = self._timed(
            "list_report_models",
            context,
            lambda: self._app.list_report_models(property_id, conversion_name, as_of),
        )
        return reporting_pb2.ListReportModelsResponse(
            models=models, configured_models=self._app.configured_models(property_id, as_of)
        )

    def GetCostReport(
        self, request: reporting_pb2.GetCostReportRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.GetCostReportResponse:
        self._require("cost_report", context)
        query, scope = _metrics_query(context, request, "cost")
        report = self._answer("cost_report", context, query)
        currency = report.currency_code
        return reporting_pb2.GetCostReportResponse(
            rows=[_cost_row(row, currency) for row in report.rows],
            totals=_cost_row(report.totals, currency),
            conversion_name=report.conversion_name,
            model=report.model,
            currency_code=currency,
            freshness=_freshness(report.freshness),
            next_page_token=_next_token(Page((), report.next_after), scope),
        )

    def GetConversionRateReport(
        self, request: reporting_pb2.GetConversionRateReportRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.GetConversionRateReportResponse:
        self._require("rate_report", context)
        query, scope = _metrics_query(context, request, "rates")
        report = self._answer("rate_report", context, query)
        return reporting_pb2.GetConversionRateReportResponse(
            rows=[_rate_row(row) for row in report.rows],
            totals=_rate_row(report.totals),
            conversion_name=report.conversion_name,
            model=report.model,
            freshness=_freshness(report.freshness),
            next_page_token=_next_token(Page((), report.next_after), scope),
        )

    def GetPathReport(
        self, request: reporting_pb2.GetPathReportRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.GetPathReportResponse:
        self._require("path_report", context)
        check = FieldChecks()
        query = _path_query(request, check)
        size = _page_size(request.page_size, check)
        scope = "\x1f".join(
            (
                "paths",
                query.property_id,
                query.start.isoformat() if query.start else "",
                query.end.isoformat() if query.end else "",
                query.conversion_name,
                str(request.collapse_repeats),
                _as_of_key(query.as_of),
            )
        )
        after = _after(request.page_token, scope, check)
        offset = int(after) if after.isdigit() else 0
        if after and not after.isdigit():
            check.add("page_token", "is not a next_page_token of this listing")
        check.abort_if_invalid(context, "invalid GetPathReportRequest")
        query = replace(
            query, collapse_repeats=request.collapse_repeats, page_size=size, offset=offset
        )
        report = self._answer("path_report", context, query)
        currency = report.totals.currency_code
        return reporting_pb2.GetPathReportResponse(
            rows=[
                reporting_pb2.PathRow(
                    path=row.text,
                    steps=[
                        reporting_pb2.PathStep(channel=channel, touchpoints=n)
                        for channel, n in row.steps
                    ],
                    conversions=row.conversions,
                    value=_money_pb(currency, row.value_micros),
                    conversion_share=row.conversion_share,
                    value_share=row.value_share,
                    touchpoints=row.touchpoints,
                )
                for row in report.rows
            ],
            summary=_path_summary(report.totals),
            collapse_repeats=report.collapse_repeats,
            next_page_token=_next_token(Page((), str(report.next_offset or "")), scope),
        )

    def GetPathDistribution(
        self, request: reporting_pb2.GetPathDistributionRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.GetPathDistributionResponse:
        self._require("path_distribution", context)
        check = FieldChecks()
        query = _path_query(request, check)
        kind = check.choice(
            request.kind, "kind", _DISTRIBUTION_KIND, reporting_pb2.PathDistributionKind.DESCRIPTOR
        )
        check.abort_if_invalid(context, "invalid GetPathDistributionRequest")
        found = self._answer("path_distribution", context, query, kind)
        currency = found.totals.currency_code
        return reporting_pb2.GetPathDistributionResponse(
            kind=request.kind,
            buckets=[
                reporting_pb2.PathBucket(
                    label=row.bucket.label,
                    low=row.bucket.low,
                    high=row.bucket.high,
                    conversions=row.conversions,
                    # No conversion in the range, no currency: the empty buckets have no value.
                    value=_money_pb(currency, row.value_micros) if currency else None,
                    conversion_share=row.conversion_share,
                    value_share=row.value_share,
                )
                for row in found.rows
            ],
            summary=_path_summary(found.totals),
            without_touchpoints=found.without_touchpoints,
        )

    def GetAssistedConversions(
        self, request: reporting_pb2.GetAssistedConversionsRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.GetAssistedConversionsResponse:
        self._require("assisted_conversions", context)
        check = FieldChecks()
        query = _path_query(request, check)
        check.abort_if_invalid(context, "invalid GetAssistedConversionsRequest")
        found = self._answer("assisted_conversions", context, query)
        currency = found.totals.currency_code
        rows = []
        for row in found.rows:
            message = reporting_pb2.AssistedConversionsRow(
                channel=row.channel,
                assisted_conversions=row.assisted_conversions,
                assisted_value=_money_pb(currency, row.assisted_value_micros),
                last_touch_conversions=row.last_touch_conversions,
                last_touch_value=_money_pb(currency, row.last_touch_value_micros),
            )
            if row.ratio is not None:
                message.assisted_per_last_touch = row.ratio
            rows.append(message)
        return reporting_pb2.GetAssistedConversionsResponse(
            rows=rows, summary=_path_summary(found.totals)
        )

    def GetOutcomeReport(
        self, request: reporting_pb2.GetOutcomeReportRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.GetOutcomeReportResponse:
        self._require("outcome_report", context)
        check = FieldChecks()
        query = _outcome_query(request, check)
        check.abort_if_invalid(context, "invalid GetOutcomeReportRequest")
        report = self._answer("outcome_report", context, query)
        return _outcome_response(report)

    def GetFunnelReport(
        self, request: reporting_pb2.GetFunnelReportRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.GetFunnelReportResponse:
        self._require("funnel", context)
        check = FieldChecks()
        query = _funnel_query(request, check)
        after = _after(request.page_token, _unpaged_scope("funnel", request), check)
        check.abort_if_invalid(context, "invalid GetFunnelReportRequest")
        report = self._answer("funnel", context, replace(query, after=after))
        return reporting_pb2.GetFunnelReportResponse(
            steps=[_funnel_step(f) for f in report.steps],
            channels=[
                reporting_pb2.FunnelChannel(
                    channel=c.channel, steps=[_funnel_step(f) for f in c.steps]
                )
                for c in report.channels
            ],
            within=to_duration(report.within.total_seconds()),
            freshness=_freshness(report.freshness),
            next_page_token=_next_token(
                Page((), report.next_after), _unpaged_scope("funnel", request)
            ),
        )

    def GetCohortReport(
        self, request: reporting_pb2.GetCohortReportRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.GetCohortReportResponse:
        self._require("cohorts", context)
        check = FieldChecks()
        query = _cohort_query(request, check)
        scope = _unpaged_scope("cohorts", request)
        after = _after(request.page_token, scope, check)
        check.abort_if_invalid(context, "invalid GetCohortReportRequest")
        report = self._answer("cohorts", context, replace(query, after=after))
        currency = report.currency_code
        return reporting_pb2.GetCohortReportResponse(
            rows=[
                reporting_pb2.CohortRow(
                    period_start=to_timestamp(row.start),
                    period=row.period,
                    channel=row.channel,
                    persons=row.persons,
                    periods=[
                        reporting_pb2.CohortPeriod(
                            index=p.index,
                            conversions=p.conversions,
                            converted_persons=p.converted_persons,
                            conversion_rate=p.rate,
                            value=_money_pb(currency, p.value_micros) if currency else None,
                        )
                        for p in row.periods
                    ],
                )
                for row in report.rows
            ],
            interval=_COHORT_INTERVALS_PB[report.interval],
            time_zone=report.time_zone,
            conversion_names=report.conversion_names,
            freshness=_freshness(report.freshness),
            next_page_token=_next_token(Page((), report.next_after), scope),
        )

    def _require(self, kind: str, context: grpc.ServicerContext) -> Callable[..., Any]:
        """The method that answers the report kind; UNIMPLEMENTED when this server has none."""
        found = self._kinds[kind]
        if found.answer is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, found.unavailable)
            raise AssertionError("unreachable: abort raises")
        return found.answer

    def _answer(self, kind: str, context: grpc.ServicerContext, *query: Any) -> Any:
        """The report kind's answer to the query, timed, its errors as status codes."""
        answer = self._require(kind, context)
        return self._timed(kind, context, lambda: answer(*query))

    def _timed(self, name: str, context: grpc.ServicerContext, ask: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return _answer(context, ask)
        finally:
            if self._latency is not None:
                self._latency.record(time.perf_counter() - started, {"query": name})

    def GetSyncStatus(
        self, request: reporting_pb2.GetSyncStatusRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.GetSyncStatusResponse:
        return reporting_pb2.GetSyncStatusResponse(
            upstreams=[
                common_pb2.UpstreamPosition(upstream=name, position=position)
                for name, position in self._positions().items()
            ]
        )

    def RebuildViews(
        self, request: reporting_pb2.RebuildViewsRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.RebuildViewsResponse:
        rebuilds = self._require_rebuilds(context)
        generation, started = rebuilds.request()
        return reporting_pb2.RebuildViewsResponse(generation=generation, started=started)

    def GetRebuildStatus(
        self, request: reporting_pb2.GetRebuildStatusRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.GetRebuildStatusResponse:
        status = self._require_rebuilds(context).status()
        response = reporting_pb2.GetRebuildStatusResponse(
            live_generation=status.live or 0,
            building_generation=status.building or 0,
            progress=[
                reporting_pb2.RebuildProgress(
                    upstream=p.upstream,
                    position=p.position,
                    live_position=p.live_position,
                    head=p.head or 0,
                )
                for p in status.progress
            ],
        )
        if status.live_since is not None:
            response.live_since.CopyFrom(to_timestamp(status.live_since))
        return response

    def _require_rebuilds(self, context: grpc.ServicerContext) -> Rebuilder:
        if self._rebuilds is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "this server does not rebuild views")
        assert self._rebuilds is not None
        return self._rebuilds


MAX_FUNNEL_STEPS = 20
MAX_STEP_VALUE_LENGTH = 2048
MAX_WITHIN = timedelta(days=366)
MAX_COHORT_PERIODS = 52
DEFAULT_COHORT_PERIODS = 8
MAX_COHORT_NAMES = 20
_STEP_KINDS = {
    reporting_pb2.FUNNEL_STEP_KIND_PAGE: StepKind.PAGE,
    reporting_pb2.FUNNEL_STEP_KIND_EVENT: StepKind.EVENT,
    reporting_pb2.FUNNEL_STEP_KIND_CONVERSION: StepKind.CONVERSION,
}
_STEP_KINDS_PB = {kind: number for number, kind in _STEP_KINDS.items()}
_STEP_MATCHES = {
    reporting_pb2.FUNNEL_STEP_MATCH_UNSPECIFIED: None,
    reporting_pb2.FUNNEL_STEP_MATCH_EXACT: MatchMode.EXACT,
    reporting_pb2.FUNNEL_STEP_MATCH_PREFIX: MatchMode.PREFIX,
}
_STEP_MATCHES_PB = {
    MatchMode.EXACT: reporting_pb2.FUNNEL_STEP_MATCH_EXACT,
    MatchMode.PREFIX: reporting_pb2.FUNNEL_STEP_MATCH_PREFIX,
}
_COHORT_INTERVALS = {
    reporting_pb2.COHORT_INTERVAL_UNSPECIFIED: CohortInterval.WEEK,
    reporting_pb2.COHORT_INTERVAL_WEEK: CohortInterval.WEEK,
    reporting_pb2.COHORT_INTERVAL_MONTH: CohortInterval.MONTH,
}
_COHORT_INTERVALS_PB = {
    CohortInterval.WEEK: reporting_pb2.COHORT_INTERVAL_WEEK,
    CohortInterval.MONTH: reporting_pb2.COHORT_INTERVAL_MONTH,
}


def _unpaged_scope(
    kind: str, request: reporting_pb2.GetFunnelReportRequest | reporting_pb2.GetCohortReportRequest
) -> str:
    """What a report's page tokens are bound to: a digest of the request without paging."""
    unpaged = type(request).FromString(request.SerializeToString())
    unpaged.ClearField("page_size")
    unpaged.ClearField("page_token")
    digest = hashlib.sha256(unpaged.SerializeToString(deterministic=True)).hexdigest()
    return f"{kind}/{digest[:32]}"


def _time_range(
    request: reporting_pb2.GetFunnelReportRequest | reporting_pb2.GetCohortReportRequest,
    check: FieldChecks,
) -> tuple[datetime | None, datetime | None]:
    start = check.optional_timestamp(request, "start_time")
    end = check.optional_timestamp(request, "end_time")
    if start is not None and end is not None and end <= start:
        check.add("end_time", "must be after start_time")
    return start, end


def _funnel_query(request: reporting_pb2.GetFunnelReportRequest, check: FieldChecks) -> FunnelQuery:
    property_id = check.property_id(request.property_id)
    if not request.steps:
        check.add("steps", "is required: 1 to 20 steps")
    elif len(request.steps) > MAX_FUNNEL_STEPS:
        check.add("steps", f"at most {MAX_FUNNEL_STEPS} steps")
    steps = []
    for n, step in enumerate(request.steps):
        field = f"steps[{n}]"
        kind = check.choice(
            step.kind, f"{field}.kind", _STEP_KINDS, reporting_pb2.FunnelStepKind.DESCRIPTOR
        )
        match = check.choice(
            step.match, f"{field}.match", _STEP_MATCHES, reporting_pb2.FunnelStepMatch.DESCRIPTOR
        )
        value = step.value
        if not value or len(value) > MAX_STEP_VALUE_LENGTH or "\x00" in value:
            check.add(
                f"{field}.value", f"must be 1 to {MAX_STEP_VALUE_LENGTH} characters, without NUL"
            )
        if match is None:
            match = MatchMode.PREFIX if kind is StepKind.PAGE else MatchMode.EXACT
        steps.append(FunnelStep(kind, value, match))
    within = (
        check.duration(request.within, "within", minimum=timedelta(seconds=1), maximum=MAX_WITHIN)
        if request.HasField("within")
        else DEFAULT_WITHIN
    )
    start, end = _time_range(request, check)
    return FunnelQuery(
        property_id=property_id,
        steps=tuple(steps),
        within=within,
        start=start,
        end=end,
        page_size=_page_size(request.page_size, check),
        as_of=_as_of(request, check),
    )


def _cohort_query(request: reporting_pb2.GetCohortReportRequest, check: FieldChecks) -> CohortQuery:
    property_id = check.property_id(request.property_id)
    interval = check.choice(
        request.interval, "interval", _COHORT_INTERVALS, reporting_pb2.CohortInterval.DESCRIPTOR
    )
    if len(request.conversion_names) > MAX_COHORT_NAMES:
        check.add("conversion_names", f"at most {MAX_COHORT_NAMES} names")
    names = tuple(
        dict.fromkeys(
            check.name(name, f"conversion_names[{n}]")
            for n, name in enumerate(request.conversion_names)
        )
    )
    periods = (
        check.integer(request.periods, "periods", minimum=1, maximum=MAX_COHORT_PERIODS)
        if request.periods
        else DEFAULT_COHORT_PERIODS
    )
    start, end = _time_range(request, check)
    return CohortQuery(
        property_id=property_id,
        interval=interval,
        start=start,
        end=end,
        conversion_names=names,
        periods=periods,
        page_size=_page_size(request.page_size, check),
        as_of=_as_of(request, check),
    )


def _funnel_step(figures: FunnelStepFigures) -> reporting_pb2.FunnelStepFigures:
    step = figures.step
    previous = figures.persons + figures.dropped
    return reporting_pb2.FunnelStepFigures(
        step=reporting_pb2.FunnelStep(
            kind=_STEP_KINDS_PB[step.kind], value=step.value, match=_STEP_MATCHES_PB[step.match]
        ),
        persons=figures.persons,
        conversion_from_previous=figures.from_previous,
        conversion_from_first=figures.from_first,
        dropped=figures.dropped,
        drop_off=figures.dropped / previous if previous else 0.0,
    )


def _freshness(freshness: Freshness) -> reporting_pb2.ReportFreshness:
    message = reporting_pb2.ReportFreshness(
        upstream_positions=[
            common_pb2.UpstreamPosition(upstream=name, position=position)
            for name, position in freshness.positions
        ]
    )
    if freshness.newest_conversion_at is not None:
        message.newest_conversion_time.CopyFrom(to_timestamp(freshness.newest_conversion_at))
    if freshness.as_of_time is not None:
        message.as_of_time.CopyFrom(to_timestamp(freshness.as_of_time))
    return message


def _page_size(requested: int, check: FieldChecks) -> int:
    """The page size to use: the default for 0, at most MAX_PAGE_SIZE."""
    if requested < 0:
        check.add("page_size", f"must not be negative, not {requested:,}")
    return min(requested, MAX_PAGE_SIZE) if requested > 0 else DEFAULT_PAGE_SIZE


def _next_token(page: Page, scope: str) -> str:
    """An opaque token for the page after `page` of the listing `scope`; empty at the end."""
    if not page.next_after:
        return ""
    return base64.urlsafe_b64encode(f"{scope}\n{page.next_after}".encode()).decode()


def _after(token: str, scope: str, check: FieldChecks) -> str:
    """The key a page token continues after ("" for no token); a problem unless the token
    was given by the same listing."""
    if not token:
        return ""
    try:
        found_scope, _, after = base64.urlsafe_b64decode(token.encode()).decode().partition("\n")
    except (binascii.Error, UnicodeError, ValueError):
        found_scope, after = "", ""
    if found_scope != scope or not after:
        check.add("page_token", "is not a next_page_token of this listing")
        return ""
    return after


def _row(row: ReportRow) -> reporting_pb2.ReportRow:
    message = reporting_pb2.ReportRow(
        group=row.group,
        conversions=row.conversions,
        value=to_money_pb(row.value),
        share=row.share,
        value_saturated=row.value_saturated,
        dimension_values=row.dimension_values,
        period=row.period,
    )
    if row.period_start is not None:
        message.period_start.CopyFrom(to_timestamp(row.period_start))
    if row.previous is not None:
        message.previous.CopyFrom(_comparison(row.previous))
    return message


def _comparison_row(models: Sequence[str], row: ComparisonRow) -> reporting_pb2.ComparisonRow:
    message = reporting_pb2.ComparisonRow(
        group=row.group, period=row.period, dimension_values=row.dimension_values
    )
    if row.period_start is not None:
        message.period_start.CopyFrom(to_timestamp(row.period_start))
    for model, figure in zip(models, row.figures, strict=True):
        figures = message.figures.add(
            model=model,
            conversions=figure.conversions,
            value=to_money_pb(figure.value),
            share=figure.share,
            value_saturated=figure.value_saturated,
        )
        if figure.previous is not None:
            figures.previous.CopyFrom(_comparison(figure.previous))
    return message


def _comparison(figures: PreviousFigures) -> reporting_pb2.PeriodComparison:
    message = reporting_pb2.PeriodComparison(
        conversions=figures.conversions,
        value=to_money_pb(figures.value),
        conversions_change=figures.conversions_change,
        value_change=to_money_pb(figures.value_change),
        value_saturated=figures.value_saturated,
    )
    if figures.conversions_change_ratio is not None:
        message.conversions_change_ratio = figures.conversions_change_ratio
    if figures.value_change_ratio is not None:
        message.value_change_ratio = figures.value_change_ratio
    return message


def _settings_pb(settings: PropertySettings) -> reporting_pb2.PropertySettings:
    return reporting_pb2.PropertySettings(time_zone=settings.time_zone)


def _report_page_size(requested: int, check: FieldChecks) -> int:
    if requested < 0:
        check.add("page_size", f"must not be negative, not {requested:,}")
    return min(requested, MAX_REPORT_PAGE_SIZE) if requested > 0 else DEFAULT_REPORT_PAGE_SIZE


def _report_scope(request: reporting_pb2.GetConversionReportRequest) -> str:
    """What a report's page tokens are bound to: a digest of the request without paging."""
    unpaged = reporting_pb2.GetConversionReportRequest()
    unpaged.CopyFrom(request)
    unpaged.ClearField("page_size")
    unpaged.ClearField("page_token")
    digest = hashlib.sha256(unpaged.SerializeToString(deterministic=True)).hexdigest()
    return f"report/{digest[:32]}"


def _report_page(token: str, scope: str, check: FieldChecks) -> tuple[int, int | None]:
    """The row a report page starts at (0 without a token) and the position of attribution's
    log its first page was answered at (None without a token).

    A report's later pages are answered as of its first page's position, so its rows neither
    repeat nor go missing between pages while new credits arrive."""
    after = _after(token, scope, check)
    if not after:
        return 0, None
    offset, _, position = after.partition("@")
    if not offset.isdigit() or not (position.isdigit() or position == ""):
        check.add("page_token", "is not a next_page_token of this report")
        return 0, None
    return int(offset), int(position) if position else None


def _report_position(offset: int, pinned: int | None, freshness: Freshness) -> str:
    """What a report's next page token continues after: the next row, and the position of
    attribution's log the report's pages are answered at."""
    if pinned is None:
        pinned = dict(freshness.positions).get(ATTRIBUTION)
    return f"{offset}@{'' if pinned is None else pinned}"


def _report_query(
    request: reporting_pb2.GetConversionReportRequest | reporting_pb2.CompareModelsRequest,
    query: ReportQuery,
    check: FieldChecks,
) -> ReportQuery:
    """The query with the request's dimensions, filters, interval and comparison period (the
    fields GetConversionReportRequest and CompareModelsRequest share)."""
    dimensions = tuple(
        check.choice(number, f"dimensions[{n}]", _DIMENSIONS, reporting_pb2.GroupBy.DESCRIPTOR)
        for n, number in enumerate(request.dimensions)
    )
    if len(dimensions) > MAX_DIMENSIONS:
        check.add("dimensions", f"at most {MAX_DIMENSIONS} dimensions")
    elif len(set(dimensions)) != len(dimensions):
        check.add("dimensions", "each dimension at most once")
    if dimensions and request.group_by != reporting_pb2.GROUP_BY_UNSPECIFIED:
        check.add("group_by", "set group_by or dimensions, not both")
    return replace(_sliced_query(request, query, check), dimensions=dimensions)


def _sliced_query(
    request: reporting_pb2.GetConversionReportRequest | reporting_pb2.CompareModelsRequest,
    query: ReportQuery,
    check: FieldChecks,
) -> ReportQuery:
    """The query with the request's filters, interval and comparison period."""
    filters: list[DimensionFilter] = []
    if len(request.filters) > MAX_FILTERS:
        check.add("filters", f"at most {MAX_FILTERS} filters")
    for n, found in enumerate(request.filters):
        field = f"filters[{n}]"
        dimension = check.choice(
            found.dimension, f"{field}.dimension", _DIMENSIONS, reporting_pb2.GroupBy.DESCRIPTOR
        )
        if any(f.dimension is dimension for f in filters):
            check.add(f"{field}.dimension", "one filter per dimension")
        if not found.values:
            check.add(f"{field}.values", "is required")
        elif len(found.values) > MAX_FILTER_VALUES:
            check.add(f"{field}.values", f"at most {MAX_FILTER_VALUES} values")
        for k, value in enumerate(found.values):
            if not value or len(value) > MAX_FILTER_VALUE_LENGTH or "\x00" in value:
                check.add(
                    f"{field}.values[{k}]",
                    f"must be 1 to {MAX_FILTER_VALUE_LENGTH} characters, without NUL",
                )
        filters.append(DimensionFilter(dimension, tuple(found.values)))
    interval = check.choice(
        request.interval, "interval", _INTERVALS, reporting_pb2.ReportInterval.DESCRIPTOR
    )
    compare_start, compare_end = _compare_period(request, query, interval, check)
    return replace(
        query,
        filters=tuple(filters),
        interval=interval,
        compare_start=compare_start,
        compare_end=compare_end,
    )


def _compare_period(
    request: reporting_pb2.GetConversionReportRequest | reporting_pb2.CompareModelsRequest,
    query: ReportQuery,
    interval: Interval,
    check: FieldChecks,
) -> tuple[datetime | None, datetime | None]:
    if not request.HasField("compare_to"):
        return None, None
    compare = request.compare_to
    start = (
        check.timestamp(compare.start_time, "compare_to.start_time")
        if compare.HasField("start_time")
        else None
    )
    end = (
        check.timestamp(compare.end_time, "compare_to.end_time")
        if compare.HasField("end_time")
        else None
    )
    if compare.previous_period:
        if start is not None or end is not None:
            check.add("compare_to", "set previous_period or start_time and end_time, not both")
        if query.start is None or query.end is None:
            check.add("compare_to.previous_period", "needs the report's start_time and end_time")
            return None, None
        return previous_period(query.start, query.end)
    if start is None or end is None:
        check.add("compare_to", "set previous_period, or start_time and end_time")
        return None, None
    if end <= start:
        check.add("compare_to.end_time", "must be after compare_to.start_time")
    if interval is not Interval.NONE and query.start is None:
        check.add("start_time", "is required to compare periods by interval")
    return start, end


def _query(
    context: grpc.ServicerContext,
    request: reporting_pb2.GetConversionReportRequest | reporting_pb2.CompareModelsRequest,
    models: list[str],
    check: FieldChecks,
) -> ReportQuery:
    """The plain query of a request, its models read into `models` already; its problems go
    to `check`."""
    property_id = check.property_id(request.property_id)
    group_by = check.choice(
        request.group_by, "group_by", _GROUP_BY, reporting_pb2.GroupBy.DESCRIPTOR
    )
    start = check.optional_timestamp(request, "start_time")
    end = check.optional_timestamp(request, "end_time")
    if start is not None and end is not None and end <= start:
        check.add("end_time", "must be after start_time")
    conversion_name = check.name(request.conversion_name, "conversion_name", required=False)
    return ReportQuery(
        property_id=property_id,
        model=models[0] if models else "",
        group_by=group_by,
        start=start,
        end=end,
        conversion_name=conversion_name,
        as_of=_as_of(request, check),
    )


LARGEST_POSITION = 2**63 - 1
"""Positions are stored as signed 64-bit integers: a larger one asks for the live views."""


def _as_of(request: Message, check: FieldChecks) -> AsOf | None:
    """The request's `as_of` moment (None when not set); its problems go to `check`."""
    if not request.HasField("as_of"):
        return None
    as_of = request.as_of  # type: ignore[attr-defined]
    kind = as_of.WhichOneof("moment")
    if kind == "time":
        return AsOf(time=check.timestamp(as_of.time, "as_of.time"))
    if kind == "attribution_position":
        return AsOf(attribution_position=min(int(as_of.attribution_position), LARGEST_POSITION))
    check.add("as_of", "set time or attribution_position")
    return None


def _metrics_query(
    context: grpc.ServicerContext,
    request: reporting_pb2.GetCostReportRequest | reporting_pb2.GetConversionRateReportRequest,
    kind: str,
) -> tuple[MetricsQuery, str]:
    """The plain query of a cost or rate request and the scope of its page tokens; aborts
    with every invalid field."""
    check = FieldChecks()
    property_id = check.property_id(request.property_id)
    model = check.name(request.model or DEFAULT_METRICS_MODEL, "model")
    group_by = check.choice(
        request.group_by, "group_by", _METRIC_GROUP_BY, reporting_pb2.GroupBy.DESCRIPTOR
    )
    start = check.optional_timestamp(request, "start_time")
    end = check.optional_timestamp(request, "end_time")
    if start is not None and end is not None and end <= start:
        check.add("end_time", "must be after start_time")
    conversion_name = check.name(request.conversion_name, "conversion_name", required=False)
    size = _page_size(request.page_size, check)
    as_of = _as_of(request, check)
    scope = "\x1f".join(
        (
            kind,
            property_id,
            model,
            group_by.value,
            start.isoformat() if start else "",
            end.isoformat() if end else "",
            conversion_name,
            _as_of_key(as_of),
        )
    )
    after = _after(request.page_token, scope, check)
    check.abort_if_invalid(context, f"invalid {type(request).__name__}")
    query = MetricsQuery(
        property_id=property_id,
        model=model,
        group_by=group_by,
        start=start,
        end=end,
        conversion_name=conversion_name,
        page_size=size,
        after=after,
        as_of=as_of,
    )
    return query, scope


def _as_of_key(as_of: AsOf | None) -> str:
    """The as-of moment in a page token's scope."""
    if as_of is None:
        return ""
    if as_of.time is not None:
        return as_of.time.isoformat()
    return f"position:{as_of.attribution_position}"


def _path_query(
    request: reporting_pb2.GetPathReportRequest
    | reporting_pb2.GetPathDistributionRequest
    | reporting_pb2.GetAssistedConversionsRequest,
    check: FieldChecks,
) -> PathQuery:
    """The plain query of a path request's shared fields, their problems added to `check`."""
    property_id = check.property_id(request.property_id)
    start = check.optional_timestamp(request, "start_time")
    end = check.optional_timestamp(request, "end_time")
    if start is not None and end is not None and end <= start:
        check.add("end_time", "must be after start_time")
    conversion_name = check.name(request.conversion_name, "conversion_name", required=False)
    return PathQuery(
        property_id=property_id,
        start=start,
        end=end,
        conversion_name=conversion_name,
        as_of=_as_of(request, check),
    )


MAX_OUTCOME_STAGES = 50


def _outcome_query(
    request: reporting_pb2.GetOutcomeReportRequest, check: FieldChecks
) -> OutcomeQuery:
    """The plain query of an outcome request, its problems added to `check`."""
    property_id = check.property_id(request.property_id)
    start = check.optional_timestamp(request, "start_time")
    end = check.optional_timestamp(request, "end_time")
    if start is not None and end is not None and end <= start:
        check.add("end_time", "must be after start_time")
    group_by = check.choice(
        request.group_by, "group_by", _GROUP_BY, reporting_pb2.GroupBy.DESCRIPTOR
    )
    stages = [check.name(stage, f"stages[{i}]") for i, stage in enumerate(request.stages)]
    if len(stages) > MAX_OUTCOME_STAGES:
        check.add("stages", f"at most {MAX_OUTCOME_STAGES} stages")
    if len(set(stages)) != len(stages):
        check.add("stages", "names a stage more than once")
    return OutcomeQuery(
        property_id=property_id,
        model=check.name(request.model or DEFAULT_METRICS_MODEL, "model"),
        group_by=group_by,
        start=start,
        end=end,
        conversion_name=check.name(request.conversion_name, "conversion_name", required=False),
        stages=tuple(stages),
        as_of=_as_of(request, check),
    )


def _outcome_response(report: OutcomeReport) -> reporting_pb2.GetOutcomeReportResponse:
    currency = report.currency_code
    return reporting_pb2.GetOutcomeReportResponse(
        stages=[
            reporting_pb2.OutcomeStageRow(
                stage=stage.stage,
                conversions=stage.conversions,
                current_conversions=stage.current_conversions,
                value=_money_pb(currency, stage.value_micros),
                conversion_share=stage.conversion_share,
                groups=[
                    reporting_pb2.OutcomeGroupRow(
                        group=group.group,
                        conversions=group.conversions,
                        value=_money_pb(currency, group.value_micros),
                        share=group.share,
                    )
                    for group in stage.groups
                ],
            )
            for stage in report.stages
        ],
        conversion_name=report.conversion_name,
        model=report.model,
        group_by=_GROUP_BY_PB[report.group_by],
        currency_code=currency,
        total_conversions=report.total_conversions,
        freshness=_freshness(report.freshness),
    )


def _path_summary(totals: PathTotals) -> reporting_pb2.PathReportSummary:
    currency = totals.currency_code
    return reporting_pb2.PathReportSummary(
        conversion_name=totals.conversion_name,
        total_conversions=totals.conversions,
        total_value=_money_pb(currency, totals.value_micros) if currency else None,
        unconsented_conversions=totals.unconsented_conversions,
        freshness=_freshness(totals.freshness),
    )


def _money_pb(currency: str, micros: int) -> common_pb2.Money:
    return to_money_pb(Money.from_micros(currency, micros))


def _cost_row(row: CostRow, currency: str) -> reporting_pb2.CostRow:
    message = reporting_pb2.CostRow(
        group=row.group,
        cost=_money_pb(currency, row.cost_micros),
        conversions=row.conversions,
        value=_money_pb(currency, row.value_micros),
    )
    if row.cost_per_conversion_micros is not None:
        message.cost_per_conversion.CopyFrom(_money_pb(currency, row.cost_per_conversion_micros))
    if row.roas is not None:
        message.roas = row.roas
    if row.roi is not None:
        message.roi = row.roi
    return message


def _rate_row(row: RateRow) -> reporting_pb2.ConversionRateRow:
    message = reporting_pb2.ConversionRateRow(
        group=row.group, visitors=row.visitors, sessions=row.sessions, conversions=row.conversions
    )
    if row.per_session is not None:
        message.conversions_per_session = row.per_session
    if row.per_visitor is not None:
        message.conversions_per_visitor = row.per_visitor
    return message


def _answer(context: grpc.ServicerContext, ask: Callable[[], T]) -> T:
    """Runs a query, turning domain errors into statuses with field details."""
    try:
        return ask()
    except NotFoundError as error:
        context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        raise
    except ModelWithoutCreditsError as error:
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        raise
    except ConversionNameRequiredError as error:
        abort_invalid(context, str(error), [FieldProblem("conversion_name", str(error))])
        raise
    except MissingPropertyError as error:
        abort_invalid(context, str(error), [FieldProblem("property_id", str(error))])
        raise
    except InvalidTimeRangeError as error:
        abort_invalid(context, str(error), [FieldProblem("end_time", str(error))])
        raise
    except InvalidComparisonError as error:
        abort_invalid(context, str(error), [FieldProblem("compare_to", str(error))])
        raise
    except InvalidTimeZoneError as error:
        abort_invalid(context, str(error), [FieldProblem("settings.time_zone", str(error))])
        raise
    except MixedCurrencyError as error:
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        raise
