"""Output of the cost and conversion rate reports: a table of typed columns written as an
aligned table (rich), CSV, JSON or Parquet (pyarrow), amounts always as exact decimals."""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import IO, Any

from services.commands.report_output import TABLE_FILE_WIDTH, VALUE_PRECISION, VALUE_SCALE


class Kind(Enum):
    """How a column's values are typed and shown."""

    TEXT = "text"
    MONEY = "money"
    NUMBER = "number"
    COUNT = "count"
    RATIO = "ratio"


@dataclass(frozen=True, slots=True)
class Column:
    """A column: its record name, its label in tables, its kind."""

    name: str
    label: str
    kind: Kind


@dataclass(frozen=True, slots=True)
class MetricTable:
    """Rows (records by column name; None for a value that does not exist), totals, and the
    scope (what the report counts, its freshness) for JSON, Parquet and the table caption."""

    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]
    totals: dict[str, Any]
    scope: dict[str, Any]
    caption: str


def _cell(value: Any, kind: Kind) -> str:
    if value is None:
        return "—"
    if kind is Kind.MONEY:
        return f"{Decimal(value):,.2f}"
    if kind is Kind.NUMBER:
        return f"{value:,.2f}"
    if kind is Kind.COUNT:
        return f"{value:,}"
    if kind is Kind.RATIO:
        return f"{value:,.3f}"
    return str(value)


def render_table(table: MetricTable, width: int = TABLE_FILE_WIDTH) -> str:
    """The table as plain text, at most `width` columns wide."""
    from rich.console import Console

    buffer = io.StringIO()
    print_table(table, Console(file=buffer, width=width, color_system=None, highlight=False))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def print_table(table: MetricTable, console: Any) -> None:
    """Prints an aligned table with a totals row, then its caption."""
    from rich import box
    from rich.table import Table

    shown = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, show_footer=True)
    for column in table.columns:
        shown.add_column(
            column.label,
            footer=_cell(table.totals.get(column.name), column.kind),
            justify="left" if column.kind is Kind.TEXT else "right",
            overflow="fold",
        )
    for row in table.rows:
        shown.add_row(*(_cell(row.get(c.name), c.kind) for c in table.columns))
    console.print(shown)
    console.print()
    console.print(table.caption, highlight=False)


def _plain(value: Any, kind: Kind) -> Any:
    if value is None:
        return None
    if kind is Kind.MONEY:
        return f"{Decimal(value):.{VALUE_SCALE}f}"
    return value


def records(table: MetricTable) -> list[dict[str, Any]]:
    """One record per row: amounts as exact decimal strings, other values as they are."""
    return [{c.name: _plain(row.get(c.name), c.kind) for c in table.columns} for row in table.rows]


def write_json(table: MetricTable, out: IO[str]) -> None:
    """The report as one JSON object: scope, `rows` and `totals`."""
    totals = {c.name: _plain(table.totals.get(c.name), c.kind) for c in table.columns}
    json.dump({**table.scope, "rows": records(table), "totals": totals}, out, indent=2)
    out.write("\n")


def write_csv(table: MetricTable, out: IO[str]) -> None:
    """The records as CSV with a header row (an empty cell for a value that does not exist)."""
    writer = csv.DictWriter(out, fieldnames=[c.name for c in table.columns], lineterminator="\n")
    writer.writeheader()
    for record in records(table):
        writer.writerow({k: ("" if v is None else v) for k, v in record.items()})


def write_parquet(table: MetricTable, path: Path) -> None:
    """The records as Parquet: amounts as decimal128(38, 9), the scope as JSON in the schema
    metadata (key `convtrack`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {
        Kind.TEXT: pa.string(),
        Kind.MONEY: pa.decimal128(VALUE_PRECISION, VALUE_SCALE),
        Kind.NUMBER: pa.float64(),
        Kind.COUNT: pa.int64(),
        Kind.RATIO: pa.float64(),
    }
    schema = pa.schema(
        [pa.field(c.name, types[c.kind]) for c in table.columns],
        metadata={"convtrack": json.dumps(table.scope)},
    )
    rows = [
        {
            c.name: (None if v is None else Decimal(v) if c.kind is Kind.MONEY else v)
            for c in table.columns
            for v in [r[c.name]]
        }
        for r in records(table)
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def write(table: MetricTable, output_format: str, output: Path | None) -> None:
    """Writes the table in `output_format` to `output` or standard output."""
    if output_format == "parquet":
        if output is None:
            raise ValueError("parquet needs --output FILE")
        write_parquet(table, output)
    elif output is None and output_format == "table":
        from rich.console import Console

        print_table(table, Console(highlight=False))
    elif output is None:
        WRITERS[output_format](table, sys.stdout)
    else:
        with output.open("w", encoding="utf-8", newline="") as out:
            if output_format == "table":
                out.write(render_table(table) + "\n")
            else:
                WRITERS[output_format](table, out)


WRITERS = {"csv": write_csv, "json": write_json}
