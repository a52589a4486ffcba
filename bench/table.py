"""Benchmark results and their plain-text table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

COLUMNS = ("benchmark", "backend", "size", "seconds", "rate", "note")
_RIGHT_ALIGNED = {"size", "seconds", "rate"}


@dataclass(frozen=True)
class Row:
    """One measured line of the table."""

    benchmark: str
    backend: str
    size: str
    seconds: float | None
    rate: str
    note: str = ""

    def cells(self) -> tuple[str, ...]:
        """The row's cells as text, in column order."""
        seconds = "-" if self.seconds is None else f"{self.seconds:.2f}"
        return (self.benchmark, self.backend, self.size, seconds, self.rate, self.note)


def per_second(count: int, seconds: float, unit: str) -> str:
    """`count` over `seconds` as a rate, e.g. '4,120 events/s'."""
    if seconds <= 0:
        return "-"
    return f"{count / seconds:,.0f} {unit}/s"


def format_table(rows: Sequence[Row]) -> str:
    """The rows as an aligned plain-text table with a header and a rule."""
    lines = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]

    def render(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if name in _RIGHT_ALIGNED else cell.ljust(width)
            for name, cell, width in zip(COLUMNS, cells, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(COLUMNS), rule, *(render(cells) for cells in lines[1:])])
