"""Identity-resolution rows of the benchmark table: quality and speed per resolution mode."""

from __future__ import annotations

from bench import identity_bench, identity_splink
from bench.table import Row
from services.identity.probabilistic import ProbabilisticLinker

SPLINK_ROW = "identity probabilistic (splink reference)"


def run(quick: bool) -> list[Row]:
    """Pairwise precision/recall/F1, over-merged clusters and observations/s per mode.

    Where Splink imports (it is not a dependency), a row for it as the probabilistic linker
    follows ours; its seconds are Splink's training and prediction.
    """
    persons = 1000 if quick else 5000
    linker = ProbabilisticLinker()
    rows = [
        _row(f"identity {result[0]}", persons, result)
        for result in identity_bench.run(persons, seed=1, linker=linker.links)
    ]
    if identity_splink.available():
        rows.append(_splink_row(persons))
    return rows


def _row(name: str, persons: int, result: identity_bench.Row, seconds: float | None = None) -> Row:
    _, precision, recall, f1, over_merged, rate, why = result
    return Row(
        name,
        "-",
        f"{persons:,} persons",
        seconds,
        f"{rate:,.0f} obs/s",
        f"precision {precision:.4f}, recall {recall:.4f}, F1 {f1:.4f}, "
        f"over-merged clusters {over_merged} ({why})",
    )


def _splink_row(persons: int) -> Row:
    try:
        result = identity_splink.run(persons, seed=1)
    except Exception as error:
        return Row(SPLINK_ROW, "-", f"{persons:,} persons", None, "-", f"failed: {error}")
    return _row(SPLINK_ROW, persons, result.rows[-1], result.linker.seconds)
