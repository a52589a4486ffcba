"""Start-up benchmarks: wall time of `convtrack` commands run as fresh processes.

Each command runs several times in a new interpreter (as the `convtrack` script runs it); a
row gives the median wall-clock seconds, measured from outside the process, and the median CPU
seconds (user + system), which a busy machine inflates far less. `--code-dir`
measures another checkout of convtrack with this virtualenv (for before/after figures).
`python -m bench.startup` prints the table; `python -m bench` includes its rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import datadriven_bench
from bench.attribution import write_path_file
from bench.table import Row, format_table

ROOT = Path(__file__).resolve().parent.parent
CONVTRACK = "import sys; from services.cli import main; sys.exit(main(sys.argv[1:]))"
QUICK_RUNS = 3
RUNS = 7
JOURNEYS = 1_000_000
QUICK_JOURNEYS = 100_000
SMALL_OBSERVATIONS = 200


@dataclass(frozen=True)
class Timing:
    """One process's wall-clock seconds and CPU seconds (user + system)."""

    wall: float
    cpu: float


def time_processes(command: Sequence[str], code_dir: Path, runs: int) -> list[Timing]:
    """`runs` runs of `command` one after another (cwd `code_dir`, output discarded).

    Wall time includes waiting for a core on a busy machine; CPU time does not.
    """
    timings = []
    for _ in range(runs):
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            command, cwd=code_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
        )
        wall = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
            cpu_after.ru_stime - cpu_before.ru_stime
        )
        timings.append(Timing(wall, cpu))
    return timings


def write_observations(path: Path, count: int) -> None:
    """A small JSON-lines observations file: devices sharing user ids, a few CRM records."""
    with path.open("w") as out:
        for n in range(count):
            observation = {"obs_id": str(n), "anonymous_id": f"device-{n}", "user_id": f"u{n // 3}"}
            if n % 10 == 0:
                observation["crm_id"] = f"crm-{n // 3}"
            out.write(json.dumps(observation) + "\n")


def write_journey_table(path: Path, n_journeys: int) -> int:
    """The data-driven benchmark's seeded journeys as a path table CSV (one row per distinct
    path, with its conversions, value and nulls); returns the number of rows."""
    table = datadriven_bench.generate(n_journeys)
    with path.open("w") as out:
        out.write("path,total_conversions,total_conversion_value,total_null\n")
        for i in range(table.n_paths):
            out.write(
                f"{' > '.join(table.path(i))},{int(table.conversions[i])},"
                f"{table.values[i]:.2f},{int(table.nulls[i])}\n"
            )
    return table.n_paths


def run(quick: bool, code_dir: Path = ROOT, runs: int | None = None) -> list[Row]:
    """The start-up rows: median wall seconds per command over `runs` fresh processes."""
    runs = runs or (QUICK_RUNS if quick else RUNS)
    journeys = QUICK_JOURNEYS if quick else JOURNEYS
    convtrack = [sys.executable, "-c", CONVTRACK]
    rows = []
    with tempfile.TemporaryDirectory(prefix="convtrack-startup-") as tmp:
        observations = Path(tmp) / "observations.jsonl"
        write_observations(observations, SMALL_OBSERVATIONS)
        small_paths = Path(tmp) / "paths-small.csv"
        write_path_file(small_paths, 100)
        journey_table = Path(tmp) / "journeys.csv"
        distinct_paths = write_journey_table(journey_table, journeys)
        cases = [
            ("python -c pass (interpreter alone)", "-", [sys.executable, "-c", "pass"]),
            ("convtrack --help", "-", [*convtrack, "--help"]),
            (
                "import a service's entry point and server",
                "ingest",
                [sys.executable, "-c", "import services.ingest.__main__, services.ingest.server"],
            ),
            (
                "convtrack identity resolve-file",
                f"{SMALL_OBSERVATIONS} obs",
                [*convtrack, "identity", "resolve-file", str(observations)],
            ),
            (
                "convtrack attribution run-file --models last",
                "100 rows",
                [*convtrack, "attribution", "run-file", str(small_paths), "--models", "last"],
            ),
            (
                "convtrack attribution run-file --models markov",
                "100 rows",
                [*convtrack, "attribution", "run-file", str(small_paths), "--models", "markov"],
            ),
            (
                f"convtrack attribution run-file --models markov ({distinct_paths:,} paths)",
                f"{journeys:,} journeys",
                [*convtrack, "attribution", "run-file", str(journey_table), "--models", "markov"],
            ),
        ]
        for name, size, command in cases:
            timings = time_processes(command, code_dir, runs)
            walls = [t.wall for t in timings]
            rows.append(
                Row(
                    name,
                    "-",
                    size,
                    statistics.median(walls),
                    f"cpu {statistics.median(t.cpu for t in timings):.2f} s",
                    f"median of {runs} processes (wall min {min(walls):.2f}, max {max(walls):.2f})",
                )
            )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """The command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_JOURNEYS:,} journeys, {QUICK_RUNS} runs each"
    )
    parser.add_argument("--runs", type=int, default=None, help="processes per command")
    parser.add_argument(
        "--code-dir", type=Path, default=ROOT, help="the convtrack checkout to measure"
    )
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    rows = run(args.quick, args.code_dir.resolve(), args.runs)
    load_after = os.getloadavg()
    print(f"code: {args.code_dir.resolve()}")
    print(
        "loadavg 1/5/15 min before: "
        + " ".join(f"{x:.2f}" for x in load_before)
        + ", after: "
        + " ".join(f"{x:.2f}" for x in load_after)
        + f" (nproc {len(os.sched_getaffinity(0))})"
    )
    print()
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
