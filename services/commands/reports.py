"""`convtrack report`: compare attribution models from the reporting service, as a table."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import grpc

from common.money import Money
from common.settings import process_env
from common.wire import from_money_pb, to_timestamp
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc

GROUP_BY = {
    "channel": reporting_pb2.GROUP_BY_CHANNEL,
    "source": reporting_pb2.GROUP_BY_SOURCE,
    "medium": reporting_pb2.GROUP_BY_MEDIUM,
    "campaign": reporting_pb2.GROUP_BY_CAMPAIGN,
}
CALL_TIMEOUT = 30.0


def report(args: argparse.Namespace) -> int:
    """Prints the model comparison the arguments ask for; 1 when the call fails."""
    address = args.addr or process_env().get("REPORTING_ADDR", "127.0.0.1:50054")
    try:
        comparison = compare_models(
            address,
            property_id=args.property_id,
            models=[m.strip() for m in args.models.split(",") if m.strip()],
            group_by=args.group_by,
            start=args.since,
            end=args.until,
            conversion_name=args.conversion,
        )
    except grpc.RpcError as error:
        print(f"convtrack report: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    print(format_comparison(comparison, args.group_by))
    return 0


def compare_models(
    address: str,
    *,
    property_id: str,
    models: Sequence[str],
    group_by: str = "channel",
    start: datetime | None = None,
    end: datetime | None = None,
    conversion_name: str = "",
) -> reporting_pb2.CompareModelsResponse:
    """Conversions and value per group under each model, from the reporting service."""
    request = reporting_pb2.CompareModelsRequest(
        property_id=property_id,
        models=models,
        group_by=GROUP_BY[group_by],
        conversion_name=conversion_name,
    )
    if start:
        request.start_time.CopyFrom(to_timestamp(start))
    if end:
        request.end_time.CopyFrom(to_timestamp(end))
    with grpc.insecure_channel(address) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        return stub.CompareModels(request, timeout=CALL_TIMEOUT)


def _money(money: Money) -> str:
    return f"{money.to_decimal():,.2f} {money.currency_code}".rstrip()


def describe_scope(comparison: reporting_pb2.CompareModelsResponse) -> str:
    """What a comparison counts and how recent its data is, as one line."""
    freshness = comparison.freshness
    newest = (
        freshness.newest_conversion_time.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds")
        if freshness.HasField("newest_conversion_time")
        else "none"
    )
    positions = ", ".join(f"{u.upstream} {u.position}" for u in freshness.upstream_positions)
    return (
        f"Conversion name: {comparison.conversion_name or '(none)'}; newest conversion counted: "
        f"{newest}; log positions: {positions or 'none'}"
    )


def format_comparison(
    comparison: reporting_pb2.CompareModelsResponse, group_by: str = "channel"
) -> str:
    """A model comparison as a text table: conversions, value and share per model, under a
    line naming the conversion name counted and the data's freshness."""
    models = list(comparison.models)
    header = [group_by] + [f"{m} {col}" for m in models for col in ("conv", "value", "share")]
    table = [header]
    conversions = [0.0] * len(models)
    micros = [0] * len(models)
    currencies = [""] * len(models)
    for row in comparison.rows:
        line = [row.group]
        for i, figure in enumerate(row.figures):
            value = from_money_pb(figure.value)
            line += [f"{figure.conversions:,.2f}", _money(value), f"{figure.share:.1%}"]
            conversions[i] += figure.conversions
            micros[i] += value.to_micros()
            currencies[i] = value.currency_code or currencies[i]
        table.append(line)
    footer = ["total"]
    for total, amount, currency in zip(conversions, micros, currencies, strict=True):
        footer += [
            f"{total:,.2f}",
            _money(Money.from_micros(currency, amount)) if currency else "0.00",
            "100.0%" if comparison.rows else "0.0%",
        ]
    table.append(footer)
    notes = [
        f"{model}: credits add up to more than one per conversion by design (participation); "
        "its total counts distinct conversions"
        for model in comparison.models_exceeding_conversions
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [describe_scope(comparison), ""]
    for n, cells_text in enumerate(table):
        cells = [cells_text[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(cells_text[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
        if n == 0 or n == len(table) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines + notes)
