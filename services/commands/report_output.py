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
class Change:
    """A row's (or the total's) figures in the compared period and the change from them;
    a relative change is None where the compared figure is 0."""

    conversions: float
    value: Money
    conversions_change: float
    value_change: Money
    conversions_change_ratio: float | None
    value_change_ratio: float | None
    value_saturated: bool = False


@dataclass(frozen=True, slots=True)
class ReportGroup:
    """One row of a report: a group and its figures under each model, in model order; its
    value per dimension, its period (first local date) and its comparison, where asked."""

    group: str
    figures: tuple[Figures, ...]
    dimension_values: tuple[str, ...] = ()
    period: str = ""
    previous: Change | None = None


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
    dimensions: tuple[str, ...] = ()
    interval: str = ""
    time_zone: str = ""
    filters: tuple[str, ...] = ()
    compared_period: str = ""
    previous_total: Change | None = None
    conversion_names: tuple[str, ...] = ()
    as_of: str = ""

    @property
    def dimension_columns(self) -> tuple[str, ...]:
        """The dimensions rows are grouped by (the one `group_by` names when not given)."""
        return self.dimensions or (self.group_by,)

    @property
    def compared(self) -> bool:
        """Whether rows carry a comparison with another period."""
        return bool(self.compared_period)


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
    names = ", ".join(report.conversion_names) or report.conversion_name or "(none)"
    extra = ""
    if report.interval:
        weeks = " (Monday to Sunday)" if report.interval == "week" else ""
        extra += f"; by {report.interval}{weeks} in {report.time_zone or 'UTC'}"
    if report.filters:
        extra += f"; filters: {' and '.join(report.filters)}"
    if report.as_of:
        extra += f"; as of {report.as_of}"
    if report.compared_period:
        extra += (
            f"; compared with {report.compared_period} (Δ: the change, and relative to "
            "then; new: nothing then)"
        )
    return (
        f"Conversion name{'s' if len(report.conversion_names) > 1 else ''}: {names}; "
        f"model{'s' if len(report.models) > 1 else ''}: {', '.join(report.models)}; "
        f"grouped by {', '.join(report.dimension_columns)}{extra}; "
        f"newest conversion counted: {newest}; log positions: {positions or 'none'}"
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


def _cells(figures: Figures | None, share: bool = True) -> list[str]:
    """A model's cells: conversions, share (unless left out) and value."""
    if figures is None:
        return ["—", "—", "—"] if share else ["—", "—"]
    cells = [f"{figures.conversions:,.2f}", f"{figures.share:.1%}"]
    return [*cells[: 2 if share else 1], _amount(figures.value, figures.value_saturated)]


def _column_labels(report: Report, model: str) -> list[str]:
    value_label = f"value ({report.currency})" if report.currency else "value"
    if report.kind == "conversions" and report.compared:
        return ["conv.", value_label]  # the share is in CSV, JSON and Parquet
    if report.kind == "conversions":
        return ["conversions", "conv. share", value_label]
    return [f"{model}\nconv.", "\nconv. share", f"\n{value_label}"]


def _ratio_text(ratio: float | None, change: float) -> str:
    if ratio is not None:
        return f" ({ratio:+.0%})"
    return " (new)" if change > 0 else ""


def _change_cells(change: Change | None) -> list[str]:
    if change is None:
        return ["—", "—", "—", "—"]
    value_change = change.value_change.to_decimal()
    return [
        f"{change.conversions:,.2f}",
        f"{change.conversions_change:+,.2f}"
        + _ratio_text(change.conversions_change_ratio, change.conversions_change),
        _amount(change.value, change.value_saturated),
        f"{value_change:+,.2f}" + _ratio_text(change.value_change_ratio, float(value_change)),
    ]


def _table(report: Report, models: range) -> Table:
    """The table of the report's groups and totals under the models at indices `models`."""
    from rich import box
    from rich.table import Table

    keys = ["period"] if report.interval else []
    keys += list(report.dimension_columns)
    extra = ["prev. conv.", "conv. Δ", "prev. value", "value Δ"]

    def key_cells(group: ReportGroup) -> list[str]:
        values = list(group.dimension_values) or [group.group]
        return [group.period, *values] if report.interval else values

    groups = [
        [
            *key_cells(group),
            *(cell for i in models for cell in _cells(group.figures[i], not report.compared)),
            *(_change_cells(group.previous) if report.compared else []),
        ]
        for group in report.groups
    ]
    total = [
        "total",
        *[""] * (len(keys) - 1),
        *(cell for i in models for cell in _cells(report.totals[i], not report.compared)),
        *(_change_cells(report.previous_total) if report.compared else []),
    ]
    labels = [label for i in models for label in _column_labels(report, report.models[i])]
    labels += extra if report.compared else []
    # Wide tables (periods, dimensions, comparisons) pad only to the right of each column.
    padding = (0, 1, 0, 0) if report.compared or report.interval else (0, 1)
    table = Table(
        box=box.SIMPLE, show_edge=False, pad_edge=False, show_footer=True, padding=padding
    )
    for n, key in enumerate(keys):
        table.add_column(key, footer=total[n], overflow="fold")
    for n, label in enumerate(labels, start=len(keys)):
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
        record: dict[str, Any] = {"group": group.group}
        record.update(_key_record(report, group))
        record["currency"] = report.currency
        for model, figures in zip(report.models, group.figures, strict=True):
            prefix = _prefix(report, model)
            record[f"{prefix}conversions"] = figures.conversions
            record[f"{prefix}conversion_share"] = figures.share
            record[f"{prefix}value"] = value_text(figures.value)
            record[f"{prefix}value_saturated"] = figures.value_saturated
        if report.compared:
            record.update(_change_record(group.previous))
        rows.append(record)
    return rows


def _key_record(report: Report, group: ReportGroup) -> dict[str, Any]:
    """The row's period (with an interval) and its value per dimension (with several)."""
    record: dict[str, Any] = {}
    if report.interval:
        record["period"] = group.period
    if len(report.dimension_columns) > 1:
        record.update(zip(report.dimension_columns, group.dimension_values, strict=True))
    return record


CHANGE_COLUMNS = (
    "previous_conversions",
    "conversions_change",
    "conversions_change_ratio",
    "previous_value",
    "value_change",
    "value_change_ratio",
)
"""The columns of a comparison: figures then, and the change (ratios empty when the figure
then is 0)."""


def _change_record(change: Change | None) -> dict[str, Any]:
    if change is None:
        return dict.fromkeys(CHANGE_COLUMNS)
    return {
        "previous_conversions": change.conversions,
        "conversions_change": change.conversions_change,
        "conversions_change_ratio": change.conversions_change_ratio,
        "previous_value": value_text(change.value),
        "value_change": value_text(change.value_change),
        "value_change_ratio": change.value_change_ratio,
    }


def _totals_record(report: Report) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for model, total in zip(report.models, report.totals, strict=True):
        if total is not None:
            prefix = _prefix(report, model)
            record[f"{prefix}conversions"] = total.conversions
            record[f"{prefix}value"] = value_text(total.value)
            record[f"{prefix}value_saturated"] = total.value_saturated
    if report.compared:
        record.update(_change_record(report.previous_total))
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
        "dimensions": list(report.dimension_columns),
        "interval": report.interval or None,
        "time_zone": report.time_zone or None,
        "filters": list(report.filters),
        "compared_period": report.compared_period or None,
        "as_of": report.as_of or None,
        "conversion_names": list(report.conversion_names),
    }


def write_json(report: Report, out: IO[str]) -> None:
    """The report as one JSON object: its scope and freshness, `rows` (the records) and
    `totals`."""
    document = {**_scope(report), "rows": records(report), "totals": _totals_record(report)}
    json.dump(document, out, indent=2)
    out.write("\n")


def columns(report: Report) -> list[str]:
    """The column names of the report's records, in order."""
    names = ["group"]
    if report.interval:
        names.append("period")
    if len(report.dimension_columns) > 1:
        names += report.dimension_columns
    names.append("currency")
    for model in report.models:
        prefix = _prefix(report, model)
        names += [
            f"{prefix}{name}"
            for name in ("conversions", "conversion_share", "value", "value_saturated")
        ]
    if report.compared:
        names += CHANGE_COLUMNS
    return names


def write_csv(report: Report, out: IO[str]) -> None:
    """The records as CSV with a header row (booleans as true/false, floats exact)."""
    writer = csv.DictWriter(out, fieldnames=columns(report), lineterminator="\n")
    writer.writeheader()
    for record in records(report):
        writer.writerow(
            {
                k: (str(v).lower() if isinstance(v, bool) else "" if v is None else v)
                for k, v in record.items()
            }
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
    decimal = pa.decimal128(VALUE_PRECISION, VALUE_SCALE)
    change_types = {
        "previous_conversions": pa.float64(),
        "conversions_change": pa.float64(),
        "conversions_change_ratio": pa.float64(),
        "previous_value": decimal,
        "value_change": decimal,
        "value_change_ratio": pa.float64(),
    }
    fields = []
    for name in columns(report):
        model_type = next(
            (kind for figure, kind in types.items() if name.endswith(figure)), pa.string()
        )
        fields.append(pa.field(name, change_types.get(name, model_type)))
    schema = pa.schema(fields, metadata={"convtrack": json.dumps(_scope(report))})
    rows = [
        {
            k: (Decimal(v) if pa.types.is_decimal(schema.field(k).type) and v is not None else v)
            for k, v in record.items()
        }
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
