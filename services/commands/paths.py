"""`convtrack report paths`: top conversion paths, path length and time lag distributions and
assisted conversions from the reporting service, as metric tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from common.settings import TlsSettings
from common.wire import from_money_pb, to_timestamp
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.commands.credentials import client_channel
from services.commands.metric_output import Column, Kind, MetricTable

VIEWS = ("top", "length", "lag", "assisted")
"""What `report paths --view` shows: top paths, path lengths, time lags, assisted conversions."""
CALL_TIMEOUT = 30.0

_DISTRIBUTIONS = {
    "length": reporting_pb2.PATH_DISTRIBUTION_KIND_PATH_LENGTH,
    "lag": reporting_pb2.PATH_DISTRIBUTION_KIND_TIME_LAG,
}
ASSIST_RULE = (
    "A conversion's last-touch channel is its path's last non-direct channel (direct when "
    "every touchpoint is); every other channel of its path assisted it, once per conversion. "
    "Both count the conversion's whole value."
)


def fetch_path_table(
    address: str,
    view: str,
    *,
    property_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
    conversion_name: str = "",
    collapse_repeats: bool = False,
    limit: int | None = None,
    tls: TlsSettings | None = None,
    api_key: str | None = None,
    as_of: reporting_pb2.AsOf | None = None,
) -> MetricTable:
    """One path view from the reporting service (every page of top paths, or `limit` rows),
    as of `as_of` when given."""
    with client_channel(address, api_key, tls) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        fields: dict[str, Any] = {
            "property_id": property_id,
            "conversion_name": conversion_name,
        }
        if start:
            fields["start_time"] = to_timestamp(start)
        if end:
            fields["end_time"] = to_timestamp(end)
        if as_of is not None:
            fields["as_of"] = as_of
        if view == "top":
            return _top_paths(stub, fields, collapse_repeats, limit)
        if view == "assisted":
            response = stub.GetAssistedConversions(
                reporting_pb2.GetAssistedConversionsRequest(**fields), timeout=CALL_TIMEOUT
            )
            return _assisted_table(response)
        distribution = stub.GetPathDistribution(
            reporting_pb2.GetPathDistributionRequest(**fields, kind=_DISTRIBUTIONS[view]),
            timeout=CALL_TIMEOUT,
        )
        return _distribution_table(view, distribution)


def _top_paths(
    stub: reporting_pb2_grpc.ReportingServiceStub,
    fields: dict[str, Any],
    collapse_repeats: bool,
    limit: int | None,
) -> MetricTable:
    rows: list[dict[str, Any]] = []
    token = ""
    while True:
        response = stub.GetPathReport(
            reporting_pb2.GetPathReportRequest(
                **fields,
                collapse_repeats=collapse_repeats,
                page_token=token,
                page_size=min(limit, 1000) if limit else 0,
            ),
            timeout=CALL_TIMEOUT,
        )
        rows += [
            {
                "path": r.path,
                "touchpoints": r.touchpoints,
                "conversions": r.conversions,
                "conversion_share": r.conversion_share,
                "value": _money_text(r.value),
                "value_share": r.value_share,
            }
            for r in response.rows
        ]
        token = response.next_page_token
        if not token or (limit is not None and len(rows) >= limit):
            break
    rows = rows[:limit] if limit is not None else rows
    summary = response.summary
    unit = _unit(summary)
    columns = (
        Column("path", "path (×n: n in a row)", Kind.TEXT),
        Column("touchpoints", "touchpoints" if not collapse_repeats else "steps", Kind.COUNT),
        Column("conversions", "conversions", Kind.COUNT),
        Column("conversion_share", "share of conv.", Kind.RATIO),
        Column("value", f"value{unit}", Kind.MONEY),
        Column("value_share", "share of value", Kind.RATIO),
    )
    totals = _totals(summary, path="total", conversion_share=1.0, value_share=1.0)
    scope = _scope("paths", "top", summary, collapse_repeats=collapse_repeats)
    caption = _caption(summary, "Top conversion paths, most conversions first")
    if collapse_repeats:
        caption += "; consecutive touchpoints of one channel collapsed into one step"
    return MetricTable(columns, tuple(rows), totals, scope, caption)


def _distribution_table(
    view: str, response: reporting_pb2.GetPathDistributionResponse
) -> MetricTable:
    summary = response.summary
    unit = _unit(summary)
    label = "touchpoints" if view == "length" else "days to conversion"
    columns = (
        Column("bucket", label, Kind.TEXT),
        Column("conversions", "conversions", Kind.COUNT),
        Column("conversion_share", "share of conv.", Kind.RATIO),
        Column("value", f"value{unit}", Kind.MONEY),
        Column("value_share", "share of value", Kind.RATIO),
    )
    rows = tuple(
        {
            "bucket": b.label,
            "conversions": b.conversions,
            "conversion_share": b.conversion_share,
            "value": _money_text(b.value),
            "value_share": b.value_share,
        }
        for b in response.buckets
    )
    counted = sum(b.conversions for b in response.buckets)
    totals = {
        "bucket": "total",
        "conversions": counted,
        "conversion_share": 1.0 if counted else 0.0,
        "value": str(sum((from_money_pb(b.value).to_decimal() for b in response.buckets), 0)),
        "value_share": 1.0 if counted else 0.0,
    }
    if view == "length":
        caption = _caption(summary, "Path length: touchpoints from first touch to conversion")
    else:
        caption = _caption(
            summary, "Time lag: whole days from the first touchpoint to the conversion"
        )
        caption += f"; {response.without_touchpoints:,} conversions without touchpoints have no lag"
    scope = _scope("paths", view, summary, without_touchpoints=response.without_touchpoints)
    return MetricTable(columns, rows, totals, scope, caption)


def _assisted_table(response: reporting_pb2.GetAssistedConversionsResponse) -> MetricTable:
    summary = response.summary
    unit = _unit(summary)
    columns = (
        Column("channel", "channel", Kind.TEXT),
        Column("assisted_conversions", "assisted conv.", Kind.COUNT),
        Column("assisted_value", f"assisted value{unit}", Kind.MONEY),
        Column("last_touch_conversions", "last-touch conv.", Kind.COUNT),
        Column("last_touch_value", f"last-touch value{unit}", Kind.MONEY),
        Column("assisted_per_last_touch", "assisted/last", Kind.RATIO),
    )
    rows = tuple(
        {
            "channel": r.channel,
            "assisted_conversions": r.assisted_conversions,
            "assisted_value": _money_text(r.assisted_value),
            "last_touch_conversions": r.last_touch_conversions,
            "last_touch_value": _money_text(r.last_touch_value),
            "assisted_per_last_touch": (
                r.assisted_per_last_touch if r.HasField("assisted_per_last_touch") else None
            ),
        }
        for r in response.rows
    )
    totals = {
        "channel": "conversions",
        "last_touch_conversions": summary.total_conversions,
        "last_touch_value": _money_text(summary.total_value),
    }
    caption = _caption(summary, "Assisted versus last-touch conversions per channel")
    caption += "\n" + ASSIST_RULE
    return MetricTable(columns, rows, totals, _scope("paths", "assisted", summary), caption)


def _money_text(money: Any) -> str:
    return str(from_money_pb(money).to_decimal())


def _unit(summary: reporting_pb2.PathReportSummary) -> str:
    code = summary.total_value.currency_code
    return f" ({code})" if code else ""


def _totals(summary: reporting_pb2.PathReportSummary, **fields: Any) -> dict[str, Any]:
    return {
        "conversions": summary.total_conversions,
        "value": _money_text(summary.total_value),
        **fields,
    }


def _scope(
    kind: str, view: str, summary: reporting_pb2.PathReportSummary, **more: Any
) -> dict[str, Any]:
    freshness = summary.freshness
    newest = (
        freshness.newest_conversion_time.ToJsonString()
        if freshness.HasField("newest_conversion_time")
        else None
    )
    return {
        "kind": kind,
        "view": view,
        "conversion_name": summary.conversion_name,
        "currency": summary.total_value.currency_code,
        "unconsented_conversions": summary.unconsented_conversions,
        "newest_conversion_time": newest,
        "upstream_positions": {u.upstream: u.position for u in freshness.upstream_positions},
        **more,
    }


def _caption(summary: reporting_pb2.PathReportSummary, title: str) -> str:
    freshness = summary.freshness
    newest = (
        freshness.newest_conversion_time.ToJsonString()
        if freshness.HasField("newest_conversion_time")
        else "none"
    )
    positions = ", ".join(f"{u.upstream} {u.position}" for u in freshness.upstream_positions)
    caption = (
        f"{title}. Conversion name: {summary.conversion_name}; "
        f"{summary.total_conversions:,} conversions with a path; newest conversion counted: "
        f"{newest}; log positions: {positions or 'none'}"
    )
    if freshness.HasField("as_of_time"):
        caption += f"; as of attribution's log as recorded at {freshness.as_of_time.ToJsonString()}"
    if summary.unconsented_conversions:
        caption += (
            f"\n{summary.unconsented_conversions:,} conversions without analytics consent have "
            "no path and are not counted"
        )
    return caption
