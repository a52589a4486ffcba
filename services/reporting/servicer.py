"""Reporting's gRPC edge: protobuf messages to plain values and back, errors to status codes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import grpc
from opentelemetry.metrics import Meter

from common.grpc_errors import FieldProblem, abort_invalid
from common.requests import FieldChecks
from common.wire import to_money_pb
from convtrack.common.v1 import common_pb2
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting.application import (
    InvalidTimeRangeError,
    MissingPropertyError,
    MixedCurrencyError,
    ReportingApplication,
    UnknownModelError,
)
from services.reporting.domainmodel import GroupBy, ReportQuery, ReportRow

T = TypeVar("T")
MAX_COMPARED_MODELS = 20

_GROUP_BY = {
    reporting_pb2.GROUP_BY_UNSPECIFIED: GroupBy.CHANNEL,
    reporting_pb2.GROUP_BY_CHANNEL: GroupBy.CHANNEL,
    reporting_pb2.GROUP_BY_SOURCE: GroupBy.SOURCE,
    reporting_pb2.GROUP_BY_MEDIUM: GroupBy.MEDIUM,
    reporting_pb2.GROUP_BY_CAMPAIGN: GroupBy.CAMPAIGN,
}


class ReportingServicer(reporting_pb2_grpc.ReportingServiceServicer):
    """Translates ReportingService calls to the reporting application."""

    def __init__(
        self,
        app: ReportingApplication,
        positions: Callable[[], dict[str, int]],
        meter: Meter | None = None,
    ) -> None:
        self._app = app
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

    def GetConversionReport(
        self, request: reporting_pb2.GetConversionReportRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.GetConversionReportResponse:
        check = FieldChecks()
        models = [check.name(request.model, "model")]
        query = _query(context, request, models, check)
        report = self._timed(
            "conversion_report", context, lambda: self._app.conversion_report(query)
        )
        return reporting_pb2.GetConversionReportResponse(
            rows=[_row(row) for row in report.rows],
            total_conversions=report.total_conversions,
            total_value=to_money_pb(report.total_value),
            exceeds_conversions=report.exceeds_conversions,
            total_value_saturated=report.total_value_saturated,
        )

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
        query = _query(context, request, models, check)
        comparison = self._timed(
            "compare_models", context, lambda: self._app.compare_models(query, models)
        )
        return reporting_pb2.CompareModelsResponse(
            models=comparison.models,
            models_exceeding_conversions=comparison.exceeding_models,
            rows=[
                reporting_pb2.ComparisonRow(
                    group=row.group,
                    figures=[
                        reporting_pb2.ModelFigures(
                            model=model,
                            conversions=figure.conversions,
                            value=to_money_pb(figure.value),
                            share=figure.share,
                            value_saturated=figure.value_saturated,
                        )
                        for model, figure in zip(comparison.models, row.figures, strict=True)
                    ],
                )
                for row in comparison.rows
            ],
        )

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


def _row(row: ReportRow) -> reporting_pb2.ReportRow:
    return reporting_pb2.ReportRow(
        group=row.group,
        conversions=row.conversions,
        value=to_money_pb(row.value),
        share=row.share,
        value_saturated=row.value_saturated,
    )


def _query(
    context: grpc.ServicerContext,
    request: reporting_pb2.GetConversionReportRequest | reporting_pb2.CompareModelsRequest,
    models: list[str],
    check: FieldChecks,
) -> ReportQuery:
    """The plain query of a request, its models read into `models` already; aborts with every
    invalid field."""
    property_id = check.property_id(request.property_id)
    group_by = check.choice(
        request.group_by, "group_by", _GROUP_BY, reporting_pb2.GroupBy.DESCRIPTOR
    )
    start = check.optional_timestamp(request, "start_time")
    end = check.optional_timestamp(request, "end_time")
    if start is not None and end is not None and end <= start:
        check.add("end_time", "must be after start_time")
    conversion_name = check.name(request.conversion_name, "conversion_name", required=False)
    check.abort_if_invalid(context, f"invalid {type(request).__name__}")
    return ReportQuery(
        property_id=property_id,
        model=models[0],
        group_by=group_by,
        start=start,
        end=end,
        conversion_name=conversion_name,
    )


def _answer(context: grpc.ServicerContext, ask: Callable[[], T]) -> T:
    """Runs a query, turning domain errors into statuses with field details."""
    try:
        return ask()
    except UnknownModelError as error:
        abort_invalid(context, str(error), [FieldProblem("model", str(error))])
        raise
    except MissingPropertyError as error:
        abort_invalid(context, str(error), [FieldProblem("property_id", str(error))])
        raise
    except InvalidTimeRangeError as error:
        abort_invalid(context, str(error), [FieldProblem("end_time", str(error))])
        raise
    except MixedCurrencyError as error:
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        raise
