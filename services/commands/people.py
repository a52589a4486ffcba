"""`convtrack report funnel` and `convtrack report cohorts`: funnels and cohorts of persons
from the reporting service, as metric tables."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration

from common.settings import TlsSettings
from common.wire import from_money_pb, to_timestamp
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.commands.credentials import client_channel
from services.commands.metric_output import Column, Kind, MetricTable

CALL_TIMEOUT = 30.0
STEP_KINDS = {
    "page": reporting_pb2.FUNNEL_STEP_KIND_PAGE,
    "event": reporting_pb2.FUNNEL_STEP_KIND_EVENT,
    "conversion": reporting_pb2.FUNNEL_STEP_KIND_CONVERSION,
}
STEP_HELP = (
    "KIND:VALUE, in order: page:/pricing (page views and landing pages whose path starts "
    "with /pricing; page:=/pricing for that path only), event:NAME (identify, page_view, "
    "touchpoint or a conversion name), conversion:NAME; a trailing * matches names by prefix"
)
COHORT_INTERVALS = {
    "week": reporting_pb2.COHORT_INTERVAL_WEEK,
    "month": reporting_pb2.COHORT_INTERVAL_MONTH,
}
_DURATION = re.compile(r"^(\d+)([dhms])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


class StepError(ValueError):
    """A step or duration the command cannot read; its message is one line."""


def parse_step(text: str) -> reporting_pb2.FunnelStep:
    """A `--step KIND:VALUE` option as a funnel step."""
    kind, sep, value = text.partition(":")
    if not sep or kind.strip() not in STEP_KINDS or not value.strip():
        raise StepError(f"--step {text!r}: say {STEP_HELP}")
    value = value.strip()
    match = reporting_pb2.FUNNEL_STEP_MATCH_UNSPECIFIED
    if value.startswith("=") and len(value) > 1:
        value, match = value[1:], reporting_pb2.FUNNEL_STEP_MATCH_EXACT
    elif value.endswith("*") and len(value) > 1:
        value, match = value[:-1], reporting_pb2.FUNNEL_STEP_MATCH_PREFIX
    return reporting_pb2.FunnelStep(kind=STEP_KINDS[kind.strip()], value=value, match=match)


def parse_duration(text: str) -> timedelta:
    """A duration like 7d, 12h, 30m or 90s."""
    found = _DURATION.match(text.strip())
    if found is None or int(found.group(1)) == 0:
        raise StepError(
            f"--within {text!r}: say a whole number of days, hours, minutes or "
            "seconds, e.g. 7d, 12h, 30m"
        )
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def step_label(step: reporting_pb2.FunnelStep) -> str:
    """A step for people: "page:/pricing*", "conversion:purchase"."""
    kind = reporting_pb2.FunnelStepKind.Name(step.kind).removeprefix("FUNNEL_STEP_KIND_").lower()
    prefix = step.match == reporting_pb2.FUNNEL_STEP_MATCH_PREFIX
    return f"{kind}:{step.value}{'*' if prefix else ''}"


def fetch_funnel(
    address: str,
    *,
    property_id: str,
    steps: Sequence[reporting_pb2.FunnelStep],
    within: timedelta | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    tls: TlsSettings | None = None,
    api_key: str | None = None,
    as_of: reporting_pb2.AsOf | None = None,
) -> reporting_pb2.GetFunnelReportResponse:
    """A funnel with every page of its channels (as it stood at `as_of` when given)."""
    request = reporting_pb2.GetFunnelReportRequest(property_id=property_id, steps=steps)
    if as_of is not None:
        request.as_of.CopyFrom(as_of)
    if within is not None:
        duration = Duration()
        duration.FromTimedelta(within)
        request.within.CopyFrom(duration)
    _set_range(request, start, end)
    with client_channel(address, api_key, tls) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        response = stub.GetFunnelReport(request, timeout=CALL_TIMEOUT)
        channels = list(response.channels)
        while response.next_page_token:
            request.page_token = response.next_page_token
            response = stub.GetFunnelReport(request, timeout=CALL_TIMEOUT)
            channels += response.channels
    del response.channels[:]
    response.channels.extend(channels)
    return response


def funnel_table(response: reporting_pb2.GetFunnelReportResponse) -> MetricTable:
    """One row per step over all persons ("all"), then per first-touch channel and step."""
    columns = (
        Column("channel", "first-touch channel", Kind.TEXT),
        Column("step", "step", Kind.TEXT),
        Column("persons", "persons", Kind.COUNT),
        Column("conversion_from_previous", "of previous", Kind.RATIO),
        Column("conversion_from_first", "of first", Kind.RATIO),
        Column("dropped", "dropped", Kind.COUNT),
        Column("drop_off", "drop-off", Kind.RATIO),
    )
    rows = [_step_row("all", f) for f in response.steps]
    for channel in response.channels:
        rows += [_step_row(channel.channel, f) for f in channel.steps]
    first, last = response.steps[0], response.steps[-1]
    totals = {
        "channel": "all",
        "step": "first → last",
        "persons": last.persons,
        "conversion_from_first": last.conversion_from_first,
        "dropped": first.persons - last.persons,
    }
    within = response.within.ToTimedelta()
    scope = {
        "kind": "funnel",
        "steps": [step_label(f.step) for f in response.steps],
        "within_seconds": int(within.total_seconds()),
        **_freshness(response.freshness),
    }
    caption = (
        f"Funnel of persons (visitors joined by identity) within {_span(within)} of entering "
        f"at the first step: {' > '.join(scope['steps'])}. Of previous/of first: the part of "
        "the previous/first step's persons who reached the step; drop-off: the part of the "
        "previous step's who did not. First-touch channel: the person's earliest touchpoint "
        f"((none) without touchpoints). {_fresh_text(response.freshness)}"
    )
    return MetricTable(columns, tuple(rows), totals, scope, caption)


def fetch_cohorts(
    address: str,
    *,
    property_id: str,
    interval: str = "week",
    conversion_names: Sequence[str] = (),
    periods: int = 0,
    start: datetime | None = None,
    end: datetime | None = None,
    tls: TlsSettings | None = None,
    api_key: str | None = None,
    as_of: reporting_pb2.AsOf | None = None,
) -> reporting_pb2.GetCohortReportResponse:
    """Cohorts, every page of them (as they stood at `as_of` when given)."""
    request = reporting_pb2.GetCohortReportRequest(
        property_id=property_id,
        interval=COHORT_INTERVALS[interval],
        conversion_names=conversion_names,
        periods=periods,
    )
    if as_of is not None:
        request.as_of.CopyFrom(as_of)
    _set_range(request, start, end)
    with client_channel(address, api_key, tls) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        response = stub.GetCohortReport(request, timeout=CALL_TIMEOUT)
        rows = list(response.rows)
        while response.next_page_token:
            request.page_token = response.next_page_token
            response = stub.GetCohortReport(request, timeout=CALL_TIMEOUT)
            rows += response.rows
    del response.rows[:]
    response.rows.extend(rows)
    return response


def cohort_table(response: reporting_pb2.GetCohortReportResponse) -> MetricTable:
    """One row per cohort and period since its first touch, figures cumulative."""
    unit = reporting_pb2.CohortInterval.Name(response.interval).removeprefix("COHORT_INTERVAL_")
    unit = unit.lower()
    currency = next(
        (p.value.currency_code for r in response.rows for p in r.periods if p.value.currency_code),
        "",
    )
    columns = (
        Column("cohort", f"first-touch {unit}", Kind.TEXT),
        Column("channel", "first-touch channel", Kind.TEXT),
        Column("persons", "persons", Kind.COUNT),
        Column("period", f"{unit}s since", Kind.COUNT),
        Column("conversions", "conversions", Kind.COUNT),
        Column("converted_persons", "converted", Kind.COUNT),
        Column("conversion_rate", "conv. rate", Kind.RATIO),
        Column("value", f"value ({currency})" if currency else "value", Kind.MONEY),
    )
    rows: list[dict[str, Any]] = []
    for row in response.rows:
        for period in row.periods:
            rows.append(
                {
                    "cohort": row.period,
                    "channel": row.channel,
                    "persons": row.persons,
                    "period": period.index,
                    "conversions": period.conversions,
                    "converted_persons": period.converted_persons,
                    "conversion_rate": period.conversion_rate,
                    "value": str(from_money_pb(period.value).to_decimal())
                    if period.value.currency_code
                    else "0",
                }
            )
    names = list(response.conversion_names)
    scope = {
        "kind": "cohorts",
        "interval": unit,
        "time_zone": response.time_zone,
        "conversion_names": names,
        "currency": currency,
        **_freshness(response.freshness),
    }
    caption = (
        f"Cohorts of persons by first-touch {unit} ({response.time_zone}) and channel; "
        f"{', '.join(names) if names else 'every'} conversion counted from the cohort's "
        f"{unit} to the end of each {unit} since, cumulative; conv. rate: converted persons "
        f"of the cohort. {_fresh_text(response.freshness)}"
    )
    totals = {"cohort": "persons", "persons": sum(r.persons for r in response.rows)}
    return MetricTable(columns, tuple(rows), totals, scope, caption)


def _step_row(channel: str, figures: reporting_pb2.FunnelStepFigures) -> dict[str, Any]:
    return {
        "channel": channel,
        "step": step_label(figures.step),
        "persons": figures.persons,
        "conversion_from_previous": figures.conversion_from_previous,
        "conversion_from_first": figures.conversion_from_first,
        "dropped": figures.dropped,
        "drop_off": figures.drop_off,
    }


def _set_range(request: Any, start: datetime | None, end: datetime | None) -> None:
    if start:
        request.start_time.CopyFrom(to_timestamp(start))
    if end:
        request.end_time.CopyFrom(to_timestamp(end))


def _span(within: timedelta) -> str:
    if within % timedelta(days=1) == timedelta(0):
        return f"{within.days} days"
    if within % timedelta(hours=1) == timedelta(0):
        return f"{within // timedelta(hours=1)} hours"
    return f"{int(within.total_seconds())} seconds"


def _freshness(freshness: reporting_pb2.ReportFreshness) -> dict[str, Any]:
    return {
        "newest_conversion_time": freshness.newest_conversion_time.ToJsonString()
        if freshness.HasField("newest_conversion_time")
        else None,
        "upstream_positions": {u.upstream: u.position for u in freshness.upstream_positions},
    }


def _fresh_text(freshness: reporting_pb2.ReportFreshness) -> str:
    found = _freshness(freshness)
    positions = ", ".join(f"{name} {at}" for name, at in found["upstream_positions"].items())
    return f"Newest conversion: {found['newest_conversion_time'] or 'none'}; logs: {positions}."
