"""Reporting's gRPC edge: protobuf messages to plain values and back, errors to status codes."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from common.grpc_errors import FieldProblem, abort_invalid
from common.wire import from_timestamp, to_money_pb
from convtrack.common.v1 import common_pb2
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting.application import (
    InvalidTimeRangeError,
    MissingPropertyError,
    MixedCurrencyError,
    ReportingApplication,
    UnknownModelError,
)
from services.reporting.domainmodel import GroupBy, ReportQuery

_GROUP_BY = {
    reporting_pb2.GROUP_BY_UNSPECIFIED: GroupBy.CHANNEL,
    reporting_pb2.GROUP_BY_CHANNEL: GroupBy.CHANNEL,
    reporting_pb2.GROUP_BY_SOURCE: GroupBy.SOURCE,
    reporting_pb2.GROUP_BY_MEDIUM: GroupBy.MEDIUM,
    reporting_pb2.GROUP_BY_CAMPAIGN: GroupBy.CAMPAIGN,
}


class ReportingServicer(reporting_pb2_grpc.ReportingServiceServicer):
    """Translates ReportingService calls to the reporting application."""

    def __init__(self, app: ReportingApplication, positions: Callable[[], dict[str, int]]) -> None:
        self._app = app
        self._positions = positions

    def GetConversionReport(
        self, request: reporting_pb2.GetConversionReportRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.GetConversionReportResponse:
        problems = []
        property_id = request.property_id.strip()
        model = request.model.strip()
        if not property_id:
            problems.append(FieldProblem("property_id", "is required"))
        if not model:
            problems.append(FieldProblem("model", "is required"))
        if request.group_by not in _GROUP_BY:
            problems.append(FieldProblem("group_by", f"unknown value {request.group_by}"))
        start = from_timestamp(request.start_time) if request.HasField("start_time") else None
        end = from_timestamp(request.end_time) if request.HasField("end_time") else None
        if start is not None and end is not None and end <= start:
            problems.append(FieldProblem("end_time", "must be after start_time"))
        if problems:
            abort_invalid(context, "invalid GetConversionReport request", problems)
        query = ReportQuery(
            property_id=property_id,
            model=model,
            group_by=_GROUP_BY[request.group_by],
            start=start,
            end=end,
            conversion_name=request.conversion_name,
        )
        try:
            report = self._app.conversion_report(query)
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
        return reporting_pb2.GetConversionReportResponse(
            rows=[
                reporting_pb2.ReportRow(
                    group=row.group,
                    conversions=row.conversions,
                    value=to_money_pb(row.value),
                    share=row.share,
                )
                for row in report.rows
            ],
            total_conversions=report.total_conversions,
            total_value=to_money_pb(report.total_value),
        )

    def GetSyncStatus(
        self, request: reporting_pb2.GetSyncStatusRequest, context: grpc.ServicerContext
    ) -> reporting_pb2.GetSyncStatusResponse:
        return reporting_pb2.GetSyncStatusResponse(
            upstreams=[
                common_pb2.UpstreamPosition(upstream=name, position=position)
                for name, position in self._positions().items()
            ]
        )
