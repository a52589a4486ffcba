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
class Figures:
    """A group's (or the total's) conversions, value and share of conversions under one
    model; with a comparison, its figures in the compared period and the change."""

    conversions: float
    value: Money
    share: float
    value_saturated: bool = False
    previous: Change | None = None


@dataclass(frozen=True, slots=True)
class ReportGroup:
    """One row of a report: a group and its figures under each model, in model order (each
    with its comparison, where asked); its value per dimension and its period (first local
    date)."""

    group: str
    figures: tuple[Figures, ...]
    dimension_values: tuple[str, ...] = ()
    period: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    """A conversion report or model comparison, as plain values, ready to be written.

    `totals` has one entry per model (with its comparison, where asked); None where the
    rows' figures do not add up to a total (a model whose credits exceed one per
    conversion, in a comparison).
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
    no rows); the value saturates at Money's largest amount, as the service's do. When the
    rows carry a comparison, so does the total: the figures then summed, and the change."""
    nanos = sum(f.value.to_nanos() for f in figures)
    conversions = sum(f.conversions for f in figures)
    value, saturated = _summed(currency, nanos)
    earlier = [f.previous for f in figures if f.previous is not None]
    previous = None
    if earlier:
        earlier_nanos = sum(c.value.to_nanos() for c in earlier)
        earlier_value, earlier_saturated = _summed(currency, earlier_nanos)
        earlier_conversions = sum(c.conversions for c in earlier)
        previous = Change(
            conversions=earlier_conversions,
            value=earlier_value,
            conversions_change=conversions - earlier_conversions,
            value_change=_summed(currency, nanos - earlier_nanos)[0],
            conversions_change_ratio=(
                (conversions - earlier_conversions) / earlier_conversions
                if earlier_conversions
                else None
            ),
            value_change_ratio=((nanos - earlier_nanos) / earlier_nanos if earlier_nanos else None),
            value_saturated=earlier_saturated or any(c.value_saturated for c in earlier),
        )
    return Figures(
        conversions=conversions,
        value=value,
        share=1.0 if figures else 0.0,
        value_saturated=saturated or any(f.value_saturated for f in figures),
        previous=previous,
    )


def _summed(currency: str, nanos: int) -> tuple[Money, bool]:
    """A sum of nanos as Money, and whether it saturated at Money's largest amount (either
    sign)."""
    try:
        return (Money.from_nanos(currency, nanos) if currency else Money.zero("")), False
    except MoneyError:
        largest = Money(currency, 2**63 - 1, 999_999_999)
        return (largest if nanos > 0 else Money(currency, -(2**63) + 1, -999_999_999)), True


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


def _cells(figures: Figures | None, compared: bool) -> list[str]:
    """A model's cells: conversions, share and value; with a comparison conversions, value
    (the share is in CSV, JSON and Parquet), then the figures then and the change."""
    if figures is None:
        return ["—"] * (6 if compared else 3)
    conversions = f"{figures.conversions:,.2f}"
    value = _amount(figures.value, figures.value_saturated)
    if compared:
        return [conversions, value, *_change_cells(figures.previous)]
    return [conversions, f"{figures.share:.1%}", value]


CHANGE_LABELS = ["prev. conv.", "conv. Δ", "prev. value", "value Δ"]
"""The labels of a comparison's columns, after each model's conversions and value."""


def _column_labels(report: Report, model: str, narrow: bool) -> list[str]:
    """A model's column labels; narrow ones break at every space, and leave the model out
    (the table's title names it)."""
    if narrow:
        return [label.replace(" ", "\n") for label in _column_labels(report, "", False)]
    value_label = f"value ({report.currency})" if report.currency else "value"
    labels = (
        ["conv.", value_label, *CHANGE_LABELS]
        if report.compared
        else ["conv.", "conv. share", value_label]
    )
    if report.kind == "conversions":
        return labels if report.compared else ["conversions", *labels[1:]]
    if not model:
        return labels
    return [f"{model}\n{labels[0]}", *(f"\n{label}" for label in labels[1:])]


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


def _table(report: Report, models: range, narrow: bool = False) -> Table:
    """The table of the report's groups and totals under the models at indices `models`.
    A narrow table (of one model) breaks its figures' labels at every space, fixes each
    figure's column at its widest cell so that only the dimension columns wrap, and is
    titled with its model in a comparison."""
    from rich import box
    from rich.table import Table

    keys = ["period"] if report.interval else []
    keys += list(report.dimension_columns)

    def key_cells(group: ReportGroup) -> list[str]:
        values = list(group.dimension_values) or [group.group]
        return [group.period, *values] if report.interval else values

    groups = [
        [
            *key_cells(group),
            *(cell for i in models for cell in _cells(group.figures[i], report.compared)),
        ]
        for group in report.groups
    ]
    total = [
        "total",
        *[""] * (len(keys) - 1),
        *(cell for i in models for cell in _cells(report.totals[i], report.compared)),
    ]
    labels = [label for i in models for label in _column_labels(report, report.models[i], narrow)]
    # Wide tables (periods, dimensions, comparisons) pad only to the right of each column.
    padding = (0, 1, 0, 0) if report.compared or report.interval else (0, 1)
    title = report.models[models[0]] if narrow and report.kind != "conversions" else None
    table = Table(
        box=box.SIMPLE,
        show_edge=False,
        pad_edge=False,
        show_footer=True,
        padding=padding,
        title=title,
        title_justify="left",
    )
    for n, key in enumerate(keys):
        table.add_column(key, footer=total[n], overflow="fold", no_wrap=key == "period")
    for n, label in enumerate(labels, start=len(keys)):
        widest = max(len(cell) for cell in [*(row[n] for row in groups), total[n]])
        if narrow:
            widest = max(widest, *(len(line) for line in label.splitlines()))
        table.add_column(
            label,
            footer=total[n],
            justify="right",
            overflow="fold",
            min_width=widest,
            width=widest if narrow else None,
        )
    for row in groups:
        table.add_row(*row)
    return table


def _tables(report: Report, console: Console) -> list[Table]:
    """The fewest tables, each with as many models side by side as fits the console's width
    unwrapped; when one model does not fit either, one narrow table per model."""
    unbounded = console.options.update_width(UNBOUNDED_WIDTH)
    for per_table in range(len(report.models), 0, -1):
        tables = [
            _table(report, range(first, min(first + per_table, len(report.models))))
            for first in range(0, len(report.models), per_table)
        ]
        if all(console.measure(t, options=unbounded).maximum <= console.width for t in tables):
            return tables
    return [_table(report, range(n, n + 1), narrow=True) for n in range(len(report.models))]


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
    decimal string) and value_saturated (bool), and with a compared period the
    CHANGE_COLUMNS."""
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
                record.update(_change_record(prefix, figures.previous))
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
"""The columns of a compared period (after each model's figures, prefixed as they are):
figures then, and the change (ratios empty when the figure then is 0)."""


def _change_record(prefix: str, change: Change | None) -> dict[str, Any]:
    if change is None:
        return dict.fromkeys(f"{prefix}{name}" for name in CHANGE_COLUMNS)
    return {
        f"{prefix}previous_conversions": change.conversions,
        f"{prefix}conversions_change": change.conversions_change,
        f"{prefix}conversions_change_ratio": change.conversions_change_ratio,
        f"{prefix}previous_value": value_text(change.value),
        f"{prefix}value_change": value_text(change.value_change),
        f"{prefix}value_change_ratio": change.value_change_ratio,
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
                record.update(_change_record(prefix, total.previous))
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
        figures = ("conversions", "conversion_share", "value", "value_saturated")
        names += [f"{prefix}{name}" for name in figures]
        if report.compared:
            names += [f"{prefix}{name}" for name in CHANGE_COLUMNS]
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
        kind = next(
            (
                kind
                for figure, kind in [*change_types.items(), *types.items()]
                if name.endswith(figure)
            ),
            pa.string(),
        )
        fields.append(pa.field(name, kind))
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
