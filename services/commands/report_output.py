"""Report output for people and tools: aligned tables (rich), CSV, JSON and Parquet (pyarrow).

Rich and pyarrow are imported inside the functions that use them, so importing this module
stays cheap. Money is never a float here: CSV and JSON carry a value as an exact decimal
string with nine decimal places ("120.500000000"), Parquet as an exact `decimal128(38, 9)`.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from common.money import Money, MoneyError, minor_units

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

VALUE_SCALE = 9
"""Decimal places of every value in CSV, JSON and Parquet (Money is exact to the nano)."""
VALUE_PRECISION = 38
TABLE_FILE_WIDTH = 120
"""The width of a table written to a file (a terminal's own width is used on screen)."""
UNBOUNDED_WIDTH = 10_000
"""A width no table reaches: measuring with it gives a table's natural width."""
FORMATS = ("table", "csv", "json", "parquet")


@dataclass(frozen=True, slots=True)
class Figures:
    """A group's (or the total's) conversions, value and share of conversions under one
    model."""

    conversions: float
    value: Money
    share: float
    value_saturated: bool = False


@dataclass(frozen=True, slots=True)
class ReportGroup:
    """One row of a report: a group and its figures under each model, in model order."""

    group: str
    figures: tuple[Figures, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """A conversion report or model comparison, as plain values, ready to be written.

    `totals` has one entry per model; None where the rows' figures do not add up to a total
    (a model whose credits exceed one per conversion, in a comparison).
    `unconsented_conversions` counts the conversions counted without analytics consent (None
    where the answer does not say)."""

    kind: str
    group_by: str
    conversion_name: str
    models: tuple[str, ...]
    currency: str
    groups: tuple[ReportGroup, ...]
    totals: tuple[Figures | None, ...]
    models_exceeding_conversions: tuple[str, ...]
    newest_conversion_time: datetime | None
    upstream_positions: tuple[tuple[str, int], ...]
    unconsented_conversions: int | None = None


def add_up(figures: Sequence[Figures], currency: str) -> Figures:
    """The total of a model's rows: conversions and exact value summed, share 100 % (0 for
    no rows); the value saturates at Money's largest amount, as the service's do."""
    nanos = sum(f.value.to_nanos() for f in figures)
    saturated = any(f.value_saturated for f in figures)
    try:
        value = Money.from_nanos(currency, nanos) if currency else Money.zero("")
    except MoneyError:
        value, saturated = Money(currency, 2**63 - 1, 999_999_999), True
    return Figures(
        conversions=sum(f.conversions for f in figures),
        value=value,
        share=1.0 if figures else 0.0,
        value_saturated=saturated,
    )


def describe_scope(report: Report) -> str:
    """What a report counts and how recent its data is, as one line."""
    newest = (
        report.newest_conversion_time.isoformat(timespec="seconds")
        if report.newest_conversion_time
        else "none"
    )
    positions = ", ".join(f"{name} {position}" for name, position in report.upstream_positions)
    return (
        f"Conversion name: {report.conversion_name or '(none)'}; "
        f"model{'s' if len(report.models) > 1 else ''}: {', '.join(report.models)}; "
        f"grouped by {report.group_by}; newest conversion counted: {newest}; "
        f"log positions: {positions or 'none'}"
    )


def _notes(report: Report) -> list[str]:
    unconsented = (
        [
            f"Counted without analytics consent: {report.unconsented_conversions} of the "
            "conversions (no identifier and no journey: each is credited to the channel of its "
            "own page)"
        ]
        if report.unconsented_conversions is not None
        else []
    )
    return unconsented + [
        f"{model}: credits add up to more than one per conversion by design (participation), "
        + (
            "so its shares add up to more than 100%; its total counts distinct conversions"
            if report.kind == "conversions"
            else "so its column has no total"
        )
        for model in report.models_exceeding_conversions
    ]


def _amount(money: Money, saturated: bool) -> str:
    places = minor_units(money.currency_code) if money.currency_code else 2
    text = f"{money.to_decimal():,.{places}f}"
    return f"≥{text}" if saturated else text


def _cells(figures: Figures | None) -> list[str]:
    if figures is None:
        return ["—", "—", "—"]
    return [
        f"{figures.conversions:,.2f}",
        f"{figures.share:.1%}",
        _amount(figures.value, figures.value_saturated),
    ]


def _column_labels(report: Report, model: str) -> list[str]:
    value_label = f"value ({report.currency})" if report.currency else "value"
    if report.kind == "conversions":
        return ["conversions", "conv. share", value_label]
    return [f"{model}\nconv.", "\nconv. share", f"\n{value_label}"]


def _table(report: Report, models: range) -> Table:
    """The table of the report's groups and totals under the models at indices `models`."""
    from rich import box
    from rich.table import Table

    groups = [
        [group.group, *(cell for i in models for cell in _cells(group.figures[i]))]
        for group in report.groups
    ]
    total = ["total", *(cell for i in models for cell in _cells(report.totals[i]))]
    labels = [label for i in models for label in _column_labels(report, report.models[i])]
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, show_footer=True)
    table.add_column(report.group_by, footer=total[0], overflow="fold")
    for n, label in enumerate(labels, start=1):
        widest = max(len(row[n]) for row in [*groups, total])
        table.add_column(label, footer=total[n], justify="right", overflow="fold", min_width=widest)
    for row in groups:
        table.add_row(*row)
    return table


def _tables(report: Report, console: Console) -> list[Table]:
    """The fewest tables, each with as many models side by side as fits the console's width
    unwrapped (one model per table at least)."""
    per_table = len(report.models)
    while True:
        tables = [
            _table(report, range(first, min(first + per_table, len(report.models))))
            for first in range(0, len(report.models), per_table)
        ]
        unbounded = console.options.update_width(UNBOUNDED_WIDTH)
        if per_table == 1 or all(
            console.measure(t, options=unbounded).maximum <= console.width for t in tables
        ):
            return tables
        per_table -= 1


def print_table(report: Report, console: Console) -> None:
    """Prints the report as aligned tables that fit the console's width: one labelled column
    per figure, a totals row, then a caption naming what it counts and how fresh it is."""
    for n, table in enumerate(_tables(report, console)):
        if n:
            console.print()
        console.print(table)
    console.print()
    console.print(describe_scope(report), highlight=False)
    for note in _notes(report):
        console.print(note, highlight=False)


def render_table(report: Report, width: int = TABLE_FILE_WIDTH) -> str:
    """The report's table as plain text (no colour), `width` columns wide at most."""
    from rich.console import Console

    buffer = io.StringIO()
    print_table(report, Console(file=buffer, width=width, color_system=None, highlight=False))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def value_text(money: Money) -> str:
    """A value as an exact decimal string with `VALUE_SCALE` places."""
    return f"{money.to_decimal():.{VALUE_SCALE}f}"


def _prefix(report: Report, model: str) -> str:
    return "" if report.kind == "conversions" else f"{model}_"


def records(report: Report) -> list[dict[str, Any]]:
    """One record per group, typed: group (str), currency (str), then per model (prefixed
    `<model>_` in a comparison) conversions (float), conversion_share (float), value (exact
    decimal string) and value_saturated (bool)."""
    rows = []
    for group in report.groups:
        record: dict[str, Any] = {"group": group.group, "currency": report.currency}
        for model, figures in zip(report.models, group.figures, strict=True):
            prefix = _prefix(report, model)
            record[f"{prefix}conversions"] = figures.conversions
            record[f"{prefix}conversion_share"] = figures.share
            record[f"{prefix}value"] = value_text(figures.value)
            record[f"{prefix}value_saturated"] = figures.value_saturated
        rows.append(record)
    return rows


def _totals_record(report: Report) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for model, total in zip(report.models, report.totals, strict=True):
        if total is not None:
            prefix = _prefix(report, model)
            record[f"{prefix}conversions"] = total.conversions
            record[f"{prefix}value"] = value_text(total.value)
            record[f"{prefix}value_saturated"] = total.value_saturated
    return record


def _scope(report: Report) -> dict[str, Any]:
    return {
        "kind": report.kind,
        "conversion_name": report.conversion_name,
        "models": list(report.models),
        "group_by": report.group_by,
        "currency": report.currency,
        "models_exceeding_conversions": list(report.models_exceeding_conversions),
        "newest_conversion_time": (
            report.newest_conversion_time.isoformat() if report.newest_conversion_time else None
        ),
        "upstream_positions": dict(report.upstream_positions),
        "unconsented_conversions": report.unconsented_conversions,
        "value_format": f"exact decimal string, {VALUE_SCALE} decimal places",
    }


def write_json(report: Report, out: IO[str]) -> None:
    """The report as one JSON object: its scope and freshness, `rows` (the records) and
    `totals`."""
    document = {**_scope(report), "rows": records(report), "totals": _totals_record(report)}
    json.dump(document, out, indent=2)
    out.write("\n")


def columns(report: Report) -> list[str]:
    """The column names of the report's records, in order."""
    names = ["group", "currency"]
    for model in report.models:
        prefix = _prefix(report, model)
        names += [
            f"{prefix}{name}"
            for name in ("conversions", "conversion_share", "value", "value_saturated")
        ]
    return names


def write_csv(report: Report, out: IO[str]) -> None:
    """The records as CSV with a header row (booleans as true/false, floats exact)."""
    writer = csv.DictWriter(out, fieldnames=columns(report), lineterminator="\n")
    writer.writeheader()
    for record in records(report):
        writer.writerow(
            {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in record.items()}
        )


def write_parquet(report: Report, path: Path) -> None:
    """The records as a Parquet file: values as decimal128(38, 9), the report's scope and
    freshness as JSON in the schema metadata (key `convtrack`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {
        "conversions": pa.float64(),
        "conversion_share": pa.float64(),
        "value": pa.decimal128(VALUE_PRECISION, VALUE_SCALE),
        "value_saturated": pa.bool_(),
    }
    fields = [pa.field("group", pa.string()), pa.field("currency", pa.string())]
    for model in report.models:
        prefix = _prefix(report, model)
        fields += [pa.field(f"{prefix}{name}", kind) for name, kind in types.items()]
    schema = pa.schema(fields, metadata={"convtrack": json.dumps(_scope(report))})
    rows = [
        {k: (Decimal(v) if k.endswith("value") else v) for k, v in record.items()}
        for record in records(report)
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def write(report: Report, output_format: str, output: Path | None) -> None:
    """Writes the report in `output_format` to `output`, or to standard output (a table in
    the terminal's width and colours; to a file, plain text `TABLE_FILE_WIDTH` wide)."""
    if output_format == "parquet":
        if output is None:
            raise ValueError("parquet needs --output FILE")
        write_parquet(report, output)
    elif output is None and output_format == "table":
        from rich.console import Console

        print_table(report, Console(highlight=False))
    elif output is None:
        TEXT_WRITERS[output_format](report, sys.stdout)
    else:
        with output.open("w", encoding="utf-8", newline="") as out:
            if output_format == "table":
                out.write(render_table(report) + "\n")
            else:
                TEXT_WRITERS[output_format](report, out)


TEXT_WRITERS = {"csv": write_csv, "json": write_json}
