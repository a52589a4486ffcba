"""Attribution benchmarks: rule-based batch crediting, data-driven fits, run-file on 1M rows."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import datadriven_bench, rules_bench
from bench.table import Row
from services.attribution.offline import run_file


def write_path_file(path: Path, n_rows: int, seed: int = 1) -> None:
    """A per-journey path table CSV of `n_rows` journeys (1-8 touches over 10 channels)."""
    rng = np.random.default_rng(seed)
    channels = np.array([f"channel_{i}" for i in range(10)])
    lengths = rng.integers(1, 9, n_rows)
    steps = channels[rng.integers(0, 10, int(lengths.sum()))]
    converted = rng.random(n_rows) < 0.04
    values = np.where(converted, rng.integers(20, 300, n_rows), 0)
    ends = np.cumsum(lengths)
    with path.open("w") as out:
        out.write("path,total_conversions,total_conversion_value,total_null\n")
        start = 0
        for end, conv, value in zip(ends, converted, values, strict=True):
            out.write(f"{' > '.join(steps[start:end])},{int(conv)},{value},{int(not conv)}\n")
            start = end


def run(quick: bool) -> list[Row]:
    """The attribution rows of the benchmark table."""
    n_conversions = 100_000 if quick else 1_000_000
    rows = [
        Row(
            f"rule crediting {name}",
            "-",
            f"{n_conversions:,} conv",
            seconds,
            f"{rate:,.0f} conv/s",
            "batch, best of 3",
        )
        for name, seconds, rate in rules_bench.run(n_conversions)
    ]
    sizes = (100_000,) if quick else (100_000, 1_000_000)
    for n_journeys in sizes:
        rows += [
            Row(
                name,
                "-",
                f"{n_journeys:,} journeys",
                None if math.isnan(seconds) else seconds,
                "-",
                note,
            )
            for name, seconds, note in datadriven_bench.run(
                n_journeys, per_channel=n_journeys == sizes[-1]
            )
        ]
    n_rows = 100_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journeys.csv"
        write_path_file(path, n_rows)
        started = time.perf_counter()
        results = run_file(
            path, ["first", "last", "linear", "time_decay", "position", "markov", "shapley"]
        )
        seconds = time.perf_counter() - started
    rows.append(
        Row(
            "attribution run-file (7 models)",
            "-",
            f"{n_rows:,} rows",
            seconds,
            f"{n_rows / seconds:,.0f} rows/s",
            f"read CSV + {len(results)} models, same code as the service",
        )
    )
    return rows
