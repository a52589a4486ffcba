"""`convtrack chart KIND --output FILE.png`: charts of reports from the reporting service,
drawn with matplotlib (imported only here, only when charting)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc

from common.channels import operator_tls
from common.settings import SettingsError, TlsSettings, process_env
from common.wire import from_money_pb, to_timestamp
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.commands.credentials import client_channel, sent_api_key

CHARTS = ("models", "trend", "path-length", "cost", "funnel")
"""The chart kinds (services.cli.CHARTS names the same)."""
DEFAULT_CHART_MODELS = "last_click,first_click,linear"
DPI = 100
CALL_TIMEOUT = 30.0
MIN_PIXELS, MAX_PIXELS = 200, 6000
FUNNEL_CHANNELS = 4
"""A funnel chart shows all persons and this many channels with the most entering persons."""


@dataclass(frozen=True, slots=True)
class Series:
    """One named series of values, one per category."""

    name: str
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ChartData:
    """What a chart shows: categories along x, one or more series, and its words."""

    title: str
    x_label: str
    y_label: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    lines: bool = False


def chart(args: argparse.Namespace) -> int:
    """Draws the chart the arguments ask for into `args.output`; 2 for bad arguments, 1
    when the reporting service refuses or cannot be reached."""
    models = [m.strip() for m in (args.models or "").split(",") if m.strip()]
    problem = _problem(args, models)
    if problem:
        print(f"convtrack chart: {problem}", file=sys.stderr)
        return 2
    address = args.addr or process_env().get("REPORTING_ADDR", "127.0.0.1:50054")
    try:
        tls = operator_tls(args.tls_dir, process_env())
        api_key = sent_api_key(args.api_key, process_env(), address)
    except SettingsError as error:
        print(f"convtrack chart: {error}", file=sys.stderr)
        return 2
    if args.kind == "funnel":
        return _funnel_chart(args, address, tls, api_key)
    try:
        data = fetch_chart_data(
            address,
            args.kind,
            property_id=args.property_id,
            conversion_name=args.conversion,
            models=models,
            since=args.since,
            until=args.until,
            days=args.days,
            tls=tls,
            api_key=api_key,
        )
    except grpc.RpcError as error:
        print(f"convtrack chart: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    draw(data, args.output, args.width, args.height)
    print(f"wrote {args.output} ({args.width}×{args.height} px): {data.title}")
    return 0


def _problem(args: argparse.Namespace, models: list[str]) -> str:
    if args.output.suffix.lower() != ".png":
        return f"--output must name a .png file, not {str(args.output)!r}"
    for name, pixels in (("--width", args.width), ("--height", args.height)):
        if not MIN_PIXELS <= pixels <= MAX_PIXELS:
            return f"{name} must be {MIN_PIXELS} to {MAX_PIXELS} pixels, not {pixels}"
    if args.kind in ("trend", "cost") and len(models) > 1:
        return f"chart `{args.kind}` takes one model, got {len(models)}"
    if args.kind == "path-length" and models:
        return "chart `path-length` takes no model"
    if args.kind == "funnel" and (models or not args.step):
        return "chart `funnel` takes --step KIND:VALUE (once per step) and no model"
    if args.kind != "funnel" and (args.step or args.within):
        return f"chart `{args.kind}` takes no --step or --within"
    if args.days < 1 or args.days > 366:
        return f"--days must be 1 to 366, not {args.days}"
    return ""


def fetch_chart_data(
    address: str,
    kind: str,
    *,
    property_id: str,
    conversion_name: str = "",
    models: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    days: int = 28,
    tls: TlsSettings | None = None,
    api_key: str | None = None,
) -> ChartData:
    """The data of a chart of `kind`, from the reporting service."""
    with client_channel(address, api_key, tls) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        scope: dict[str, Any] = {"property_id": property_id, "conversion_name": conversion_name}
        if kind == "trend":
            return _trend(stub, scope, (models or ["last_click"])[0], since, until, days)
        if since:
            scope["start_time"] = to_timestamp(since)
        if until:
            scope["end_time"] = to_timestamp(until)
        if kind == "models":
            return _models(stub, scope, models or DEFAULT_CHART_MODELS.split(","))
        if kind == "path-length":
            return _path_length(stub, scope)
        return _cost(stub, scope, (models or ["last_click"])[0])


def _funnel_chart(
    args: argparse.Namespace, address: str, tls: TlsSettings | None, api_key: str | None
) -> int:
    from services.commands import people

    try:
        steps = [people.parse_step(text) for text in args.step]
        within = people.parse_duration(args.within) if args.within else None
    except people.StepError as error:
        print(f"convtrack chart: {error}", file=sys.stderr)
        return 2
    try:
        response = people.fetch_funnel(
            address,
            property_id=args.property_id,
            steps=steps,
            within=within,
            start=args.since,
            end=args.until,
            tls=tls,
            api_key=api_key,
        )
    except grpc.RpcError as error:
        print(f"convtrack chart: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    data = funnel_chart_data(response)
    draw(data, args.output, args.width, args.height)
    print(f"wrote {args.output} ({args.width}×{args.height} px): {data.title}")
    return 0


def funnel_chart_data(response: reporting_pb2.GetFunnelReportResponse) -> ChartData:
    """Persons per step: all of them, and the channels with the most entering persons."""
    from services.commands.people import step_label

    largest = sorted(response.channels, key=lambda c: (-c.steps[0].persons, c.channel))
    days = response.within.ToTimedelta() / timedelta(days=1)
    return ChartData(
        title=f"Funnel: persons reaching each step within {days:g} days of the first",
        x_label="step",
        y_label="persons",
        categories=tuple(step_label(f.step) for f in response.steps),
        series=(
            Series("all persons", tuple(float(f.persons) for f in response.steps)),
            *(
                Series(f"first touch {c.channel}", tuple(float(f.persons) for f in c.steps))
                for c in largest[:FUNNEL_CHANNELS]
            ),
        ),
    )


def _models(
    stub: reporting_pb2_grpc.ReportingServiceStub, scope: dict[str, Any], models: Sequence[str]
) -> ChartData:
    response = stub.CompareModels(
        reporting_pb2.CompareModelsRequest(**scope, models=models), timeout=CALL_TIMEOUT
    )
    channels = tuple(row.group for row in response.rows)
    return ChartData(
        title=f"{response.conversion_name} conversions by channel under "
        f"{len(response.models)} attribution models",
        x_label="channel",
        y_label="conversions credited",
        categories=channels,
        series=tuple(
            Series(model, tuple(row.figures[i].conversions for row in response.rows))
            for i, model in enumerate(response.models)
        ),
    )


def _trend(
    stub: reporting_pb2_grpc.ReportingServiceStub,
    scope: dict[str, Any],
    model: str,
    since: datetime | None,
    until: datetime | None,
    days: int,
) -> ChartData:
    """Conversions per UTC day of the period, and of the period of equal length before it."""
    end = until or (datetime.now(UTC) + timedelta(days=1))
    end = end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = (since or end - timedelta(days=days)).astimezone(UTC)
    start = start.replace(hour=0, minute=0, second=0, microsecond=0)
    count = max(1, (end - start).days)
    current: list[float] = []
    previous: list[float] = []
    name = ""
    for day in range(count):
        for offset, values in ((0, current), (count, previous)):
            day_start = start + timedelta(days=day - offset)
            response = stub.GetConversionReport(
                reporting_pb2.GetConversionReportRequest(
                    **scope,
                    model=model,
                    start_time=to_timestamp(day_start),
                    end_time=to_timestamp(day_start + timedelta(days=1)),
                ),
                timeout=CALL_TIMEOUT,
            )
            values.append(response.total_conversions)
            name = response.conversion_name
    last = start + timedelta(days=count - 1)
    return ChartData(
        title=f"{name} conversions per day, {start:%Y-%m-%d} to {last:%Y-%m-%d}, "
        f"against the previous {count} days",
        x_label="day (UTC)",
        y_label=f"conversions per day ({model})",
        categories=tuple(f"{start + timedelta(days=d):%m-%d}" for d in range(count)),
        series=(
            Series(f"{start:%Y-%m-%d} to {last:%Y-%m-%d}", tuple(current)),
            Series(
                f"previous {count} days (from {start - timedelta(days=count):%Y-%m-%d})",
                tuple(previous),
            ),
        ),
        lines=True,
    )


def _path_length(stub: reporting_pb2_grpc.ReportingServiceStub, scope: dict[str, Any]) -> ChartData:
    response = stub.GetPathDistribution(
        reporting_pb2.GetPathDistributionRequest(
            **scope, kind=reporting_pb2.PATH_DISTRIBUTION_KIND_PATH_LENGTH
        ),
        timeout=CALL_TIMEOUT,
    )
    return ChartData(
        title=f"{response.summary.conversion_name} conversions by path length",
        x_label="touchpoints in the path",
        y_label="conversions",
        categories=tuple(b.label for b in response.buckets),
        series=(Series("conversions", tuple(float(b.conversions) for b in response.buckets)),),
    )


def _cost(
    stub: reporting_pb2_grpc.ReportingServiceStub, scope: dict[str, Any], model: str
) -> ChartData:
    rows: list[reporting_pb2.CostRow] = []
    token = ""
    while True:
        response = stub.GetCostReport(
            reporting_pb2.GetCostReportRequest(**scope, model=model, page_token=token),
            timeout=CALL_TIMEOUT,
        )
        rows += response.rows
        token = response.next_page_token
        if not token:
            break
    currency = response.currency_code or "reporting currency"
    return ChartData(
        title=f"Cost versus {response.conversion_name} value per channel ({model})",
        x_label="channel",
        y_label=f"amount ({currency})",
        categories=tuple(r.group for r in rows),
        series=(
            Series("cost", tuple(float(from_money_pb(r.cost).to_decimal()) for r in rows)),
            Series(
                "value credited", tuple(float(from_money_pb(r.value).to_decimal()) for r in rows)
            ),
        ),
    )


def draw(data: ChartData, output: Path, width: int, height: int) -> None:
    """Writes `data` as a PNG of `width` × `height` pixels: grouped bars, or lines."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(data.categories)))
    if data.lines:
        for series in data.series:
            axes.plot(positions, series.values, marker="o", label=series.name)
    else:
        count = max(1, len(data.series))
        width_each = 0.8 / count
        for index, series in enumerate(data.series):
            shifted = [p - 0.4 + width_each * (index + 0.5) for p in positions]
            axes.bar(shifted, series.values, width=width_each, label=series.name)
    axes.set_xticks(positions, data.categories, rotation=30 if len(positions) > 6 else 0)
    axes.set_title(data.title)
    axes.set_xlabel(data.x_label)
    axes.set_ylabel(data.y_label)
    axes.grid(axis="y", alpha=0.3)
    if all(float(v).is_integer() for series in data.series for v in series.values):
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if len(data.series) > 1:
        axes.legend()
    if not data.categories:
        axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes)
    figure.tight_layout()
    figure.savefig(output, dpi=DPI, format="png")
