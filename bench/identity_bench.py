"""Identity resolution quality and speed on the seeded synthetic data: naive vs guarded modes.

`run()` returns rows (mode, pairwise precision, recall, F1, over-merged clusters, observations
per second); `python -m bench.identity_bench` prints them as a table.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from bench.identity_synth import SynthData, generate
from services.identity.observations import ObservationRecord
from services.identity.offline_resolvers import NaiveResolver, Resolver
from services.identity.resolution import DEFAULT_KINDS, IdentityRules, kind_of

Linker = Callable[[Sequence[ObservationRecord]], Iterable[tuple[str, str, float]]]
Row = tuple[str, float, float, float, int, float, str]


@dataclass(frozen=True)
class Metrics:
    """Pairwise quality of resolved clusters against the truth (owned identifiers only)."""

    precision: float
    recall: float
    f1: float
    over_merged: int


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise_metrics(clusters: Mapping[str, str], truth: Mapping[str, str]) -> Metrics:
    """Precision, recall and F1 over identifier pairs, and the over-merged cluster count.

    Only identifiers in `truth` count; one missing from `clusters` is a cluster of its own.
    Computed from the contingency table of (cluster, true person) counts, not from pairs.
    A cluster is over-merged when it holds identifiers of more than one true person.
    """
    cells: Counter[tuple[str, str]] = Counter()
    for identifier, person in truth.items():
        cluster = clusters.get(identifier)
        cells[(cluster if cluster is not None else f"\x00{identifier}", person)] += 1
    cluster_sizes: Counter[str] = Counter()
    person_sizes: Counter[str] = Counter()
    persons_in_cluster: Counter[str] = Counter()
    together = 0
    for (cluster, person), count in cells.items():
        cluster_sizes[cluster] += count
        person_sizes[person] += count
        persons_in_cluster[cluster] += 1
        together += _pairs(count)
    predicted = sum(_pairs(n) for n in cluster_sizes.values())
    actual = sum(_pairs(n) for n in person_sizes.values())
    precision = together / predicted if predicted else 1.0
    recall = together / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    over_merged = sum(1 for n in persons_in_cluster.values() if n > 1)
    return Metrics(precision, recall, f1, over_merged)


@dataclass(frozen=True)
class OverMerges:
    """Why clusters are over-merged: per trap (the reasons of the unowned identifiers a
    cluster holds), and how many are "indistinguishable by identifiers": all but at most one
    of the persons in the cluster show nothing but cookies, seen only with their own cookies
    and unowned identifiers, so only weak signals could tell the persons apart."""

    total: int
    by_trap: dict[str, int]
    indistinguishable: int

    def describe(self) -> str:
        """A one-line summary for the benchmark table."""
        if not self.total:
            return "no over-merged clusters"
        traps = ", ".join(f"{trap}: {n}" for trap, n in sorted(self.by_trap.items()))
        return f"by trap ({traps}); indistinguishable by identifiers: {self.indistinguishable}"


STRONG_KINDS = frozenset({"user", "email", "phone", "crm"})


def over_merges(clusters: Mapping[str, str], data: SynthData) -> OverMerges:
    """The over-merged clusters of a resolution, by trap and by whether identifiers alone
    could have kept them apart."""
    members: dict[str, list[str]] = {}
    for identifier, cluster in clusters.items():
        members.setdefault(cluster, []).append(identifier)
    seen_with: dict[str, set[str]] = {}
    for obs in data.observations:
        for identifier in obs.identifiers:
            seen_with.setdefault(identifier, set()).update(obs.identifiers)
    by_trap: Counter[str] = Counter()
    total = indistinguishable = 0
    for identifiers in members.values():
        owners: Counter[str] = Counter(data.truth[i] for i in identifiers if i in data.truth)
        if len(owners) < 2:
            continue
        total += 1
        traps = sorted({data.unowned[i] for i in identifiers if i in data.unowned})
        by_trap[" + ".join(traps) or "no trap"] += 1
        parts = [[i for i in identifiers if data.truth.get(i) == person] for person in owners]
        distinguishable = [
            part for part in parts if not _only_joined_through_unowned(part, seen_with, data)
        ]
        if len(distinguishable) <= 1:
            indistinguishable += 1
    return OverMerges(total, dict(by_trap), indistinguishable)


def _only_joined_through_unowned(
    part: list[str], seen_with: Mapping[str, set[str]], data: SynthData
) -> bool:
    """Whether a person's part of a cluster has no strong identifier and is seen only with
    its own identifiers or unowned ones."""
    inside = set(part)
    if any(kind_of(i) in STRONG_KINDS for i in part):
        return False
    return all(
        other in inside or other in data.unowned
        for identifier in part
        for other in seen_with.get(identifier, ())
    )


def _row(mode: str, clusters: Mapping[str, str], data: SynthData, n: int, s: float) -> Row:
    m = pairwise_metrics(clusters, data.truth)
    rate = n / s if s > 0 else float("inf")
    return (
        mode,
        m.precision,
        m.recall,
        m.f1,
        m.over_merged,
        rate,
        over_merges(clusters, data).describe(),
    )


STRICT_RULES = IdentityRules(
    kinds={
        **DEFAULT_KINDS,
        "email": replace(DEFAULT_KINDS["email"], keeps_devices_apart=True),
    }
)
"""The default rules but emails keep devices apart: only a login joins a cookie to a person."""


def run(
    n_persons: int = 5000, seed: int = 1, linker: Linker | None = None, strict: bool = True
) -> list[Row]:
    """Rows (mode, precision, recall, F1, over-merged clusters, observations/s, why the
    clusters are over-merged) per mode.

    The probabilistic modes run only with a `linker(records) -> (a, b, weight)`; their rate
    includes the linker's time. With `strict`, the guarded modes run again under
    `STRICT_RULES` (rows marked "strict").
    """
    data = generate(n_persons, seed)
    observations = data.observations
    rows: list[Row] = []

    started = time.perf_counter()
    naive = NaiveResolver()
    for obs in observations:
        naive.observe(obs)
    clusters = naive.clusters()
    rows.append(_row("naive", clusters, data, len(observations), time.perf_counter() - started))

    started = time.perf_counter()
    proposed = list(linker(observations)) if linker is not None else []
    linking = time.perf_counter() - started
    for suffix, rules in [("", IdentityRules())] + ([(" strict", STRICT_RULES)] if strict else []):
        started = time.perf_counter()
        resolver = Resolver(rules, keep_log=False)
        for obs in observations:
            resolver.observe(obs)
        clusters = resolver.clusters()
        elapsed = time.perf_counter() - started
        rows.append(_row(f"deterministic{suffix}", clusters, data, len(observations), elapsed))
        if linker is None:
            continue
        started = time.perf_counter()
        for a, b, weight in proposed:
            if resolver.person_of(a) is not None and resolver.person_of(b) is not None:
                resolver.add_probabilistic_link(a, b, weight)
        clusters = resolver.clusters(include_probabilistic=True)
        elapsed += linking + time.perf_counter() - started
        rows.append(_row(f"probabilistic{suffix}", clusters, data, len(observations), elapsed))
    return rows


def format_rows(rows: Sequence[Row]) -> str:
    """The rows as a plain-text table."""
    lines = [
        f"{'mode':<20} {'precision':>9} {'recall':>7} {'F1':>7} {'over-merged':>11} {'obs/s':>10}"
    ]
    for mode, precision, recall, f1, over, rate, why in rows:
        lines.append(
            f"{mode:<20} {precision:>9.4f} {recall:>7.4f} {f1:>7.4f} {over:>11,} {rate:>10,.0f}"
            f"  {why}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Prints the table for the given size and seed."""
    parser = argparse.ArgumentParser(prog="python -m bench.identity_bench", description=__doc__)
    parser.add_argument("--persons", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(format_rows(run(args.persons, args.seed)))


if __name__ == "__main__":
    main()
