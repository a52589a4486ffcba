"""`convtrack report KIND`: conversion reports and model comparisons from the reporting
service, as a table, CSV, JSON or Parquet."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from common.channels import operator_tls
from common.settings import SettingsError, TlsSettings, process_env
from common.wire import from_money_pb, to_timestamp
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.commands.credentials import client_channel, sent_api_key
from services.commands.report_output import (
    TABLE_FILE_WIDTH,
    Change,
    Figures,
    Report,
    ReportGroup,
    add_up,
    render_table,
)
from services.commands.report_output import write as write_report

if TYPE_CHECKING:
    from services.commands.metric_output import Column, MetricTable

GROUP_BY: dict[str, Any] = {
    name.removeprefix("GROUP_BY_").lower(): number
    for name, number in reporting_pb2.GroupBy.items()
    if number != reporting_pb2.GROUP_BY_UNSPECIFIED
}
"""Every dimension reports group and filter by, by its name (channel, device_type, ...)."""
INTERVALS = {
    "none": reporting_pb2.REPORT_INTERVAL_UNSPECIFIED,
    "day": reporting_pb2.REPORT_INTERVAL_DAY,
    "week": reporting_pb2.REPORT_INTERVAL_WEEK,
    "month": reporting_pb2.REPORT_INTERVAL_MONTH,
}
PERSON_KINDS = ("funnel", "cohorts")
"""The kinds that count persons (services.commands.people): no model, no grouping."""
METRIC_KINDS = ("cost", "rates")
"""The kinds written as metric tables (services.commands.metric_output)."""
METRIC_GROUP_BY = ("channel", "source", "medium", "campaign")
"""The dimensions cost and rate reports group by (those spend and sessions are kept by)."""
CALL_TIMEOUT = 30.0


class UsageError(Exception):
    """The arguments ask for something the command cannot do; its message is one line."""


@dataclass(frozen=True, slots=True)
class Ask:
    """What a report command asks the reporting service: the arguments, checked, and where
    and how to call."""

    args: argparse.Namespace
    kind: str
    models: list[str]
    address: str
    tls: TlsSettings | None
    api_key: str | None
    as_of: reporting_pb2.AsOf | None
    filters: dict[str, list[str]]

    @property
    def scope(self) -> dict[str, Any]:
        """The keyword arguments every kind's fetch takes: property, time range and access."""
        return {
            "property_id": self.args.property_id,
            "start": self.args.since,
            "end": self.args.until,
            "api_key": self.api_key,
            "tls": self.tls,
        }


@dataclass(frozen=True, slots=True)
class ReportKind:
    """How `convtrack report KIND` answers: `fetch` builds the request(s) and calls the
    reporting service (raising UsageError for arguments it cannot use), `write` renders the
    answer in the asked format. `default_models` is "" for kinds without a model."""

    fetch: Callable[[Ask], Any]
    write: Callable[[Any, str, Path | None], None]
    default_models: str = ""


def report(args: argparse.Namespace) -> int:
    """Writes the report the arguments ask for; 2 for a report or option not available, 1
    when the call to the reporting service fails."""
    try:
        kind, models = _kind_and_models(args)
        as_of = parse_as_of(args.as_of) if args.as_of is not None else None
        filters = _filters(args.filter or [])
        if kind in PERSON_KINDS:
            _check_person_options(kind, args)
        _check_dimensions(kind, args)
        if args.output_format == "parquet" and args.output is None:
            raise UsageError("--format parquet needs --output FILE")
        address = args.addr or process_env().get("REPORTING_ADDR", "127.0.0.1:50054")
        tls = operator_tls(args.tls_dir, process_env())
        api_key = sent_api_key(args.api_key, process_env(), address)
        ask = Ask(args, kind, models, address, tls, api_key, as_of, filters)
        answer = KINDS[kind].fetch(ask)
    except (UsageError, SettingsError) as error:
        print(f"convtrack report: {error}", file=sys.stderr)
        return 2
    except grpc.RpcError as error:
        print(f"convtrack report: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    KINDS[kind].write(answer, args.output_format, args.output)
    return 0


def _kind_and_models(args: argparse.Namespace) -> tuple[str, list[str]]:
    models = [m.strip() for m in (args.models or "").split(",") if m.strip()]
    kind = args.kind
    if kind is None:
        kind = "compare" if len(models) > 1 else "conversions"
        print(
            f"convtrack report: no KIND given, reporting `{kind}` "
            f"(say `convtrack report {kind}`; KINDs: {', '.join(KINDS)})",
            file=sys.stderr,
        )
    if kind not in KINDS:
        raise UsageError(f"unknown report KIND `{kind}` (choose from {', '.join(KINDS)})")
    if kind == "paths" and models:
        raise UsageError("report `paths` takes no model: paths are the journeys themselves")
    if kind in PERSON_KINDS and models:
        raise UsageError(f"report `{kind}` takes no model: it counts persons, not credits")
    models = models or KINDS[kind].default_models.split(",")
    if kind in ("conversions", "outcomes", *METRIC_KINDS) and len(models) > 1:
        raise UsageError(
            f"report `{kind}` takes one model, got {len(models)}: "
            "use `convtrack report compare` to compare models"
        )
    return kind, models


def parse_as_of(text: str) -> reporting_pb2.AsOf:
    """`--as-of`: "position:N" (a position of attribution's log) or an ISO 8601 time (UTC
    when it names no offset)."""
    kind, sep, rest = text.strip().partition(":")
    if sep and kind == "position":
        if not rest.strip().isdigit():
            raise UsageError(f"--as-of {text!r}: say position:N with a whole number N")
        return reporting_pb2.AsOf(attribution_position=int(rest.strip()))
    try:
        moment = parse_time(text)
    except ValueError as error:
        raise UsageError(
            f"--as-of {text!r}: say an ISO 8601 time (2026-03-01T00:00:00Z) or position:N"
        ) from error
    return reporting_pb2.AsOf(time=to_timestamp(moment))


def as_of_text(freshness: reporting_pb2.ReportFreshness, asked: reporting_pb2.AsOf | None) -> str:
    """How an answer as of a past moment describes it ("" for a live answer)."""
    if asked is None:
        return ""
    if freshness.HasField("as_of_time"):
        recorded = freshness.as_of_time.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds")
        return f"{_asked_text(asked)} (attribution's log as recorded at {recorded})"
    return f"{_asked_text(asked)} (live: nothing changed since)"


def _asked_text(asked: reporting_pb2.AsOf) -> str:
    if asked.WhichOneof("moment") == "attribution_position":
        return f"attribution position {asked.attribution_position}"
    return asked.time.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds")


def _filters(texts: Sequence[str]) -> dict[str, list[str]]:
    """`--filter DIMENSION=VALUE[,VALUE...]` options as values per dimension."""
    found: dict[str, list[str]] = {}
    for text in texts:
        name, sep, values = text.partition("=")
        name = name.strip()
        if not sep or name not in GROUP_BY or not values.strip():
            raise UsageError(
                f"--filter {text!r}: say DIMENSION=VALUE[,VALUE...] with a DIMENSION of "
                f"{', '.join(GROUP_BY)}"
            )
        found.setdefault(name, []).extend(v.strip() for v in values.split(",") if v.strip())
    return found


def _check_person_options(kind: str, args: argparse.Namespace) -> None:
    """Funnels need steps; cohorts take a week or month interval; neither groups or filters."""
    if args.filter or args.compare or args.group_by != "channel":
        raise UsageError(
            f"report `{kind}` takes no --group-by, --filter or --compare: it is broken down by "
            "first-touch channel"
        )
    if kind == "funnel":
        if not args.step:
            raise UsageError("report `funnel` needs --step KIND:VALUE, once per step, in order")
        if args.interval:
            raise UsageError("report `funnel` takes no --interval (see --within)")
    elif args.interval not in (None, "week", "month"):
        raise UsageError("report `cohorts` takes --interval week or month")


def _check_dimensions(kind: str, args: argparse.Namespace) -> None:
    names = [n.strip() for n in args.group_by.split(",")]
    unknown = [n for n in names if n not in GROUP_BY]
    if unknown:
        raise UsageError(
            f"--group-by {', '.join(unknown)}: not a dimension (choose from {', '.join(GROUP_BY)})"
        )
    if kind == "outcomes" and (len(names) > 1 or args.interval or args.filter or args.compare):
        raise UsageError(
            "report `outcomes` takes one --group-by dimension and no --interval, --filter or "
            "--compare"
        )
    if kind in METRIC_KINDS and (
        len(names) > 1
        or names[0] not in METRIC_GROUP_BY
        or args.interval
        or args.filter
        or args.compare
    ):
        raise UsageError(
            f"report `{kind}` takes one --group-by of {', '.join(METRIC_GROUP_BY)} and no "
            "--interval, --filter or --compare: use `convtrack report conversions` for those"
        )


def fetch_report(
    address: str,
    kind: str,
    *,
    property_id: str,
    models: Sequence[str],
    group_by: str = "channel",
    start: datetime | None = None,
    end: datetime | None = None,
    conversion_name: str = "",
    interval: str = "none",
    filters: dict[str, list[str]] | None = None,
    compare: str = "",
    api_key: str | None = None,
    tls: TlsSettings | None = None,
    as_of: reporting_pb2.AsOf | None = None,
) -> Report:
    """A `conversions` report (one model; every page of rows) or a `compare` report from the
    reporting service, as of `as_of` when given. `group_by` may name several dimensions,
    comma separated; `compare` is "previous" or "START/END" (ISO 8601)."""
    filter_texts = tuple(f"{name}={','.join(values)}" for name, values in (filters or {}).items())
    dimensions = _dimension_names(group_by)
    if kind == "compare":
        comparison = compare_models(
            address,
            property_id=property_id,
            models=models,
            group_by=group_by,
            start=start,
            end=end,
            conversion_name=conversion_name,
            interval=interval,
            filters=filters,
            compare=compare,
            api_key=api_key,
            tls=tls,
            as_of=as_of,
        )
        return replace(
            from_comparison_pb(comparison, dimensions[0], filter_texts),
            as_of=as_of_text(comparison.freshness, as_of),
        )
    request = reporting_pb2.GetConversionReportRequest(
        property_id=property_id,
        model=models[0],
        dimensions=[GROUP_BY[name] for name in dimensions],
        conversion_name=conversion_name,
        interval=INTERVALS[interval],
        filters=_filters_pb(filters),
    )
    _set_time_range(request, start, end)
    if as_of is not None:
        request.as_of.CopyFrom(as_of)
    _set_compare(request, compare)
    with client_channel(address, api_key, tls) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        response = stub.GetConversionReport(request, timeout=CALL_TIMEOUT)
        rows = list(response.rows)
        while response.next_page_token:
            request.page_token = response.next_page_token
            response = stub.GetConversionReport(request, timeout=CALL_TIMEOUT)
            rows += response.rows
    del response.rows[:]
    response.rows.extend(rows)
    return replace(
        from_report_pb(response, models[0], dimensions[0], filter_texts),
        as_of=as_of_text(response.freshness, as_of),
    )


def _dimension_names(group_by: str) -> list[str]:
    """`--group-by`'s dimensions, comma separated, in column order."""
    return [name.strip() for name in group_by.split(",")]


def _set_compare(
    request: reporting_pb2.GetConversionReportRequest | reporting_pb2.CompareModelsRequest,
    compare: str,
) -> None:
    """Sets the request's compared period from `--compare`: "previous" or "START/END"."""
    if compare == "previous":
        request.compare_to.previous_period = True
    elif compare:
        first, _, last = compare.partition("/")
        request.compare_to.start_time.CopyFrom(to_timestamp(parse_time(first)))
        request.compare_to.end_time.CopyFrom(to_timestamp(parse_time(last)))


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; UTC when it names no offset."""
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def compare_models(
    address: str,
    *,
    property_id: str,
    models: Sequence[str],
    group_by: str = "channel",
    start: datetime | None = None,
    end: datetime | None = None,
    conversion_name: str = "",
    interval: str = "none",
    filters: dict[str, list[str]] | None = None,
    compare: str = "",
    api_key: str | None = None,
    tls: TlsSettings | None = None,
    as_of: reporting_pb2.AsOf | None = None,
) -> reporting_pb2.CompareModelsResponse:
    """Conversions and value per group (of the dimensions `group_by` names, comma
    separated; and per day, week or month with an `interval`) under each model, only
    credits matching the `filters`, with each model's figures in the `compare` period
    ("previous" or "START/END") when given, from the reporting service."""
    request = reporting_pb2.CompareModelsRequest(
        property_id=property_id,
        models=models,
        dimensions=[GROUP_BY[name] for name in _dimension_names(group_by)],
        conversion_name=conversion_name,
        as_of=as_of,
        interval=INTERVALS[interval],
        filters=_filters_pb(filters),
    )
    _set_time_range(request, start, end)
    _set_compare(request, compare)
    with client_channel(address, api_key, tls) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        return stub.CompareModels(request, timeout=CALL_TIMEOUT)


def _filters_pb(filters: dict[str, list[str]] | None) -> list[reporting_pb2.DimensionFilter]:
    return [
        reporting_pb2.DimensionFilter(dimension=GROUP_BY[name], values=values)
        for name, values in (filters or {}).items()
    ]


def _set_time_range(
    request: reporting_pb2.GetConversionReportRequest | reporting_pb2.CompareModelsRequest,
    start: datetime | None,
    end: datetime | None,
) -> None:
    if start:
        request.start_time.CopyFrom(to_timestamp(start))
    if end:
        request.end_time.CopyFrom(to_timestamp(end))


def _freshness(
    freshness: reporting_pb2.ReportFreshness,
) -> tuple[datetime | None, tuple[tuple[str, int], ...]]:
    newest = (
        freshness.newest_conversion_time.ToDatetime(tzinfo=UTC)
        if freshness.HasField("newest_conversion_time")
        else None
    )
    return newest, tuple((u.upstream, u.position) for u in freshness.upstream_positions)


def _figures(
    message: reporting_pb2.ReportRow | reporting_pb2.ModelFigures,
) -> Figures:
    return Figures(
        conversions=message.conversions,
        value=from_money_pb(message.value),
        share=message.share,
        value_saturated=message.value_saturated,
        previous=_change(message.previous) if message.HasField("previous") else None,
    )


def _change(message: reporting_pb2.PeriodComparison) -> Change:
    return Change(
        conversions=message.conversions,
        value=from_money_pb(message.value),
        conversions_change=message.conversions_change,
        value_change=from_money_pb(message.value_change),
        conversions_change_ratio=(
            message.conversions_change_ratio
            if message.HasField("conversions_change_ratio")
            else None
        ),
        value_change_ratio=(
            message.value_change_ratio if message.HasField("value_change_ratio") else None
        ),
        value_saturated=message.value_saturated,
    )


def from_report_pb(
    response: reporting_pb2.GetConversionReportResponse,
    model: str,
    group_by: str,
    filters: tuple[str, ...] = (),
) -> Report:
    """A conversion report under one model as plain values, with the service's totals."""
    newest, positions = _freshness(response.freshness)
    currency = response.total_value.currency_code or next(
        (r.value.currency_code for r in response.rows if r.value.currency_code), ""
    )
    total = Figures(
        conversions=response.total_conversions,
        value=from_money_pb(response.total_value),
        share=1.0 if response.rows else 0.0,
        value_saturated=response.total_value_saturated,
        previous=(
            _change(response.previous_total) if response.HasField("previous_total") else None
        ),
    )
    return Report(
        kind="conversions",
        group_by=group_by,
        conversion_name=response.conversion_name,
        models=(model,),
        currency=currency,
        groups=tuple(
            ReportGroup(
                r.group,
                (_figures(r),),
                dimension_values=tuple(r.dimension_values),
                period=r.period,
            )
            for r in response.rows
        ),
        totals=(total,),
        models_exceeding_conversions=(model,) if response.exceeds_conversions else (),
        newest_conversion_time=newest,
        upstream_positions=positions,
        dimensions=tuple(_dimension_name(d) for d in response.dimensions),
        interval=_interval_name(response.interval),
        time_zone=response.time_zone,
        filters=filters,
        compared_period=_compared_period(response),
        conversion_names=tuple(response.conversion_names),
        unconsented_conversions=response.unconsented_conversions,
    )


def _interval_name(interval: int) -> str:
    """ "day", "week" or "month"; "" when not split by time."""
    if interval == reporting_pb2.REPORT_INTERVAL_UNSPECIFIED:
        return ""
    return reporting_pb2.ReportInterval.Name(interval).removeprefix("REPORT_INTERVAL_").lower()


def _dimension_name(dimension: int) -> str:
    return reporting_pb2.GroupBy.Name(dimension).removeprefix("GROUP_BY_").lower()


def _compared_period(
    response: reporting_pb2.GetConversionReportResponse | reporting_pb2.CompareModelsResponse,
) -> str:
    """The compared period as the caption gives it ("" without a comparison)."""
    if not response.HasField("compare_start_time"):
        return ""
    return f"{_time_text(response.compare_start_time)} to {_time_text(response.compare_end_time)}"


def _time_text(stamp: Timestamp) -> str:
    return stamp.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds")


def from_comparison_pb(
    comparison: reporting_pb2.CompareModelsResponse,
    group_by: str,
    filters: tuple[str, ...] = (),
) -> Report:
    """A model comparison as plain values, each model's total (and, with a comparison, its
    total then) added up from its rows (none for a model whose credits exceed one per
    conversion)."""
    newest, positions = _freshness(comparison.freshness)
    groups = tuple(
        ReportGroup(
            row.group,
            tuple(_figures(f) for f in row.figures),
            dimension_values=tuple(row.dimension_values),
            period=row.period,
        )
        for row in comparison.rows
    )
    currency = next((f.value.currency_code for row in comparison.rows for f in row.figures), "")
    exceeding = tuple(comparison.models_exceeding_conversions)
    totals = tuple(
        None if model in exceeding else add_up([g.figures[i] for g in groups], currency)
        for i, model in enumerate(comparison.models)
    )
    return Report(
        kind="compare",
        group_by=group_by,
        conversion_name=comparison.conversion_name,
        models=tuple(comparison.models),
        currency=currency,
        groups=groups,
        totals=totals,
        models_exceeding_conversions=exceeding,
        newest_conversion_time=newest,
        upstream_positions=positions,
        dimensions=tuple(_dimension_name(d) for d in comparison.dimensions),
        interval=_interval_name(comparison.interval),
        time_zone=comparison.time_zone,
        filters=filters,
        compared_period=_compared_period(comparison),
        conversion_names=tuple(comparison.conversion_names),
    )


def format_comparison(
    comparison: reporting_pb2.CompareModelsResponse,
    group_by: str = "channel",
    width: int = TABLE_FILE_WIDTH,
) -> str:
    """A model comparison as a plain-text table with totals, and a caption naming the
    conversion name counted and the data's freshness, `width` columns wide at most."""
    return render_table(from_comparison_pb(comparison, group_by), width)


def _fetch_conversions(ask: Ask) -> Report:
    args = ask.args
    return fetch_report(
        ask.address,
        ask.kind,
        **ask.scope,
        models=ask.models,
        group_by=args.group_by,
        conversion_name=args.conversion,
        interval=args.interval or "none",
        filters=ask.filters,
        compare=args.compare or "",
        as_of=ask.as_of,
    )


def _fetch_metrics(ask: Ask) -> MetricTable:
    args = ask.args
    return fetch_metric_table(
        ask.address,
        ask.kind,
        **ask.scope,
        model=ask.models[0],
        group_by=args.group_by,
        conversion_name=args.conversion,
        as_of=ask.as_of,
    )


def _fetch_outcomes(ask: Ask) -> MetricTable:
    from services.commands.outcomes import fetch_outcome_table

    args = ask.args
    return fetch_outcome_table(
        ask.address,
        **ask.scope,
        model=ask.models[0],
        group_by=args.group_by,
        conversion_name=args.conversion,
        as_of=ask.as_of,
    )


def _fetch_funnel(ask: Ask) -> MetricTable:
    from services.commands import people

    args = ask.args
    try:
        steps = [people.parse_step(text) for text in args.step]
        within = people.parse_duration(args.within) if args.within else None
    except people.StepError as error:
        raise UsageError(str(error)) from error
    return people.funnel_table(
        people.fetch_funnel(
            ask.address,
            **ask.scope,
            steps=steps,
            within=within,
            as_of=ask.as_of,
        )
    )


def _fetch_cohorts(ask: Ask) -> MetricTable:
    from services.commands import people

    args = ask.args
    return people.cohort_table(
        people.fetch_cohorts(
            ask.address,
            **ask.scope,
            interval=args.interval or "week",
            conversion_names=[n.strip() for n in args.conversion.split(",") if n.strip()],
            periods=args.periods or 0,
            as_of=ask.as_of,
        )
    )


def _fetch_paths(ask: Ask) -> MetricTable:
    from services.commands.paths import fetch_path_table

    args = ask.args
    return fetch_path_table(
        ask.address,
        args.view or "top",
        **ask.scope,
        conversion_name=args.conversion,
        collapse_repeats=args.collapse_repeats,
        limit=args.limit,
        as_of=ask.as_of,
    )


def _write_table(table: MetricTable, output_format: str, output: Path | None) -> None:
    from services.commands.metric_output import write

    write(table, output_format, output)


KINDS: dict[str, ReportKind] = {
    "conversions": ReportKind(_fetch_conversions, write_report, "last_click"),
    "compare": ReportKind(_fetch_conversions, write_report, "last_click,linear"),
    "cost": ReportKind(_fetch_metrics, _write_table, "last_click"),
    "rates": ReportKind(_fetch_metrics, _write_table, "last_click"),
    "paths": ReportKind(_fetch_paths, _write_table),
    "outcomes": ReportKind(_fetch_outcomes, _write_table, "last_click"),
    "funnel": ReportKind(_fetch_funnel, _write_table),
    "cohorts": ReportKind(_fetch_cohorts, _write_table),
}
"""The report kinds the reporting service answers, in the order `--help` lists them."""


def fetch_metric_table(
    address: str,
    kind: str,
    *,
    property_id: str,
    model: str = "last_click",
    group_by: str = "channel",
    start: datetime | None = None,
    end: datetime | None = None,
    conversion_name: str = "",
    api_key: str | None = None,
    tls: TlsSettings | None = None,
    as_of: reporting_pb2.AsOf | None = None,
) -> MetricTable:
    """A `cost` or `rates` report from the reporting service, every page of it (as of
    `as_of` when given)."""
    from services.commands.metric_output import MetricTable

    rows: list[dict[str, Any]] = []
    token = ""
    with client_channel(address, api_key, tls) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        while True:
            request_type: Any = (
                reporting_pb2.GetCostReportRequest
                if kind == "cost"
                else reporting_pb2.GetConversionRateReportRequest
            )
            request = request_type(
                property_id=property_id,
                model=model,
                group_by=GROUP_BY[group_by],
                conversion_name=conversion_name,
                page_token=token,
                as_of=as_of,
            )
            if start:
                request.start_time.CopyFrom(to_timestamp(start))
            if end:
                request.end_time.CopyFrom(to_timestamp(end))
            if kind == "cost":
                response: Any = stub.GetCostReport(request, timeout=CALL_TIMEOUT)
                rows += [_cost_record(r) for r in response.rows]
            else:
                response = stub.GetConversionRateReport(request, timeout=CALL_TIMEOUT)
                rows += [_rate_record(r) for r in response.rows]
            token = response.next_page_token
            if not token:
                break
    newest, positions = _freshness(response.freshness)
    currency = getattr(response, "currency_code", "")
    scope = {
        "kind": kind,
        "conversion_name": response.conversion_name,
        "model": response.model,
        "group_by": group_by,
        "currency": currency,
        "newest_conversion_time": newest.isoformat() if newest else None,
        "upstream_positions": dict(positions),
        "as_of": as_of_text(response.freshness, as_of) or None,
    }
    caption = (
        f"Conversion name: {response.conversion_name or '(none)'}; model: {response.model}; "
        f"grouped by {group_by}; newest conversion counted: "
        f"{newest.isoformat(timespec='seconds') if newest else 'none'}; log positions: "
        + (", ".join(f"{name} {position}" for name, position in positions) or "none")
    )
    if as_of is not None:
        caption += f"; as of {as_of_text(response.freshness, as_of)}"
    if kind == "cost":
        totals = _cost_record(response.totals)
        caption += (
            "\nROAS = value / cost; ROI = (value - cost) / cost; a day's cost counts when the "
            "day starts in the time range; — where no cost is recorded"
        )
        return MetricTable(_cost_columns(group_by, currency), tuple(rows), totals, scope, caption)
    caption += (
        "\nA session ends after 30 minutes without an event, at midnight in the property's "
        "time zone or when a new campaign arrives; the total counts each visitor once"
    )
    return MetricTable(
        _rate_columns(group_by), tuple(rows), _rate_record(response.totals), scope, caption
    )


def _money_text(money: Any) -> str:
    return str(from_money_pb(money).to_decimal())


def _cost_record(row: reporting_pb2.CostRow) -> dict[str, Any]:
    return {
        "group": row.group,
        "cost": _money_text(row.cost),
        "conversions": row.conversions,
        "value": _money_text(row.value),
        # An unpaid channel's conversions cost nothing recorded: no cost per conversion.
        "cost_per_conversion": (
            _money_text(row.cost_per_conversion)
            if row.HasField("cost_per_conversion") and from_money_pb(row.cost).to_nanos()
            else None
        ),
        "roas": row.roas if row.HasField("roas") else None,
        "roi": row.roi if row.HasField("roi") else None,
    }


def _rate_record(row: reporting_pb2.ConversionRateRow) -> dict[str, Any]:
    return {
        "group": row.group,
        "visitors": row.visitors,
        "sessions": row.sessions,
        "conversions": row.conversions,
        "conversions_per_session": (
            row.conversions_per_session if row.HasField("conversions_per_session") else None
        ),
        "conversions_per_visitor": (
            row.conversions_per_visitor if row.HasField("conversions_per_visitor") else None
        ),
    }


def _cost_columns(group_by: str, currency: str) -> tuple[Column, ...]:
    from services.commands.metric_output import Column, Kind

    unit = f" ({currency})" if currency else ""
    return (
        Column("group", group_by, Kind.TEXT),
        Column("cost", f"cost{unit}", Kind.MONEY),
        Column("conversions", "conversions", Kind.NUMBER),
        Column("value", f"value{unit}", Kind.MONEY),
        Column("cost_per_conversion", f"cost/conv.{unit}", Kind.MONEY),
        Column("roas", "ROAS", Kind.RATIO),
        Column("roi", "ROI", Kind.RATIO),
    )


def _rate_columns(group_by: str) -> tuple[Column, ...]:
    from services.commands.metric_output import Column, Kind

    return (
        Column("group", group_by, Kind.TEXT),
        Column("visitors", "visitors", Kind.COUNT),
        Column("sessions", "sessions", Kind.COUNT),
        Column("conversions", "conversions", Kind.NUMBER),
        Column("conversions_per_session", "conv./session", Kind.RATIO),
        Column("conversions_per_visitor", "conv./visitor", Kind.RATIO),
    )
