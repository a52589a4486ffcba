"""Attribution's gRPC edge: protobuf messages to plain values and back, errors to status codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import grpc

from common.grpc_errors import FieldProblem, abort_invalid
from common.money import Money
from common.wire import to_money_pb, to_timestamp
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.common.v1 import common_pb2
from services.attribution.application import AttributionApplication, UnknownConversionError
from services.attribution.domainmodel import Conversion

MAX_WAIT_SECONDS = 30.0
DEFAULT_PAGE = 500


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
        journey=[
            attribution_pb2.JourneyTouchpoint(
                touchpoint_id=t["touchpoint_id"],
                occurred_at=to_timestamp(t["occurred_at"]),
                channel=t["channel"],
                source=t["source"],
                medium=t["medium"],
                campaign=t["campaign"],
            )
            for t in event.journey
        ],
        models=[
            attribution_pb2.ModelCredits(
                model=model,
                credits=[
                    attribution_pb2.Credit(
                        touchpoint_id=c["touchpoint_id"],
                        channel=c["channel"],
                        source=c["source"],
                        medium=c["medium"],
                        campaign=c["campaign"],
                        fraction=c["fraction"],
                        value=to_money_pb(Money.from_micros(reporting_code, c["value_micros"])),
                    )
                    for c in credits
                ],
            )
            for model, credits in event.credits.items()
        ],
    )


def log_entry(position: int, event: Any) -> attribution_pb2.LogEntry:
    """The LogEntry message of an attribution event; internal bookkeeping has no event set."""
    entry = attribution_pb2.LogEntry(position=position, recorded_at=to_timestamp(event.timestamp))
    if isinstance(event, Conversion.Attributed):
        entry.conversion_attributed.CopyFrom(conversion_attributed(event))
    return entry


class AttributionServicer(attribution_pb2_grpc.AttributionServiceServicer):
    """Translates AttributionService calls to the attribution application."""

    def __init__(
        self, app: AttributionApplication, positions: Callable[[], dict[str, int]]
    ) -> None:
        self._app = app
        self._positions = positions

    def GetAttribution(
        self, request: attribution_pb2.GetAttributionRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.GetAttributionResponse:
        try:
            conversion_id = UUID(request.conversion_id)
        except ValueError:
            abort_invalid(
                context,
                "invalid GetAttribution request",
                [FieldProblem("conversion_id", "must be a UUID (the record_id ingest returned)")],
            )
            raise
        try:
            latest = self._app.latest_attribution(conversion_id)
        except UnknownConversionError as error:
            context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        return attribution_pb2.GetAttributionResponse(attribution=conversion_attributed(latest))

    def ListEvents(
        self, request: attribution_pb2.ListEventsRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.ListEventsResponse:
        wait = min(request.max_wait.ToTimedelta().total_seconds(), MAX_WAIT_SECONDS)
        records = self._app.read_log(request.after, request.limit or DEFAULT_PAGE, max(wait, 0))
        return attribution_pb2.ListEventsResponse(
            entries=[log_entry(r.position, r.event) for r in records]
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
