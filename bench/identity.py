"""Identity-resolution rows of the benchmark table: quality and speed per resolution mode."""

from __future__ import annotations

from bench import identity_bench
from bench.table import Row
from services.identity.probabilistic import ProbabilisticLinker


def run(quick: bool) -> list[Row]:
    """Pairwise precision/recall/F1, over-merged clusters and observations/s per mode."""
    persons = 1000 if quick else 5000
    linker = ProbabilisticLinker()
    rows = []
    for mode, precision, recall, f1, over_merged, rate in identity_bench.run(
        persons, seed=1, linker=linker.links
    ):
        rows.append(
            Row(
                f"identity {mode}",
                "-",
                f"{persons:,} persons",
                None,
                f"{rate:,.0f} obs/s",
                f"precision {precision:.4f}, recall {recall:.4f}, F1 {f1:.4f}, "
                f"over-merged clusters {over_merged}",
            )
        )
    return rows
