"""Splink (v5, DuckDB backend) as an optional reference for the probabilistic identity mode.

Splink is not a project dependency (like the GPL ChannelAttribution reference of
`bench.datadriven_bench`): install it into the venv by hand (`pip install splink`) and the
identity rows gain one for it; without it, nothing happens.

Same data, same per-identifier profiles, same use of the links as our own matcher:

- one record per identifier, from `services.identity.probabilistic.build_profiles` (networks
  and device builds as the profiles carry them: pseudonyms pass through, and a build without
  a browser version is left out, as ours counts it as the browser family only);
- comparisons close to ours, with Splink's own levels: array intersections for the
  multi-valued web signals, exact / Jaro-Winkler levels for names, exact levels for the CRM
  fields. Ours has one "ip_device" comparison (an IP and device build seen together, for two
  cookies with one's activity ending before the other's begins or not; an IP with
  overlapping spans; a network or an IP at other times; the build; the family); Splink has
  no array level for "the same IP and build in one observation" or for activity spans, so
  here IP (IP, network) and user agent (build, family) stay two comparisons, which counts a
  household's shared IP and a common build as independent evidence;
- prediction blocking on the same keys as our `DEFAULT_BLOCKING_RULES`, with blocks of more
  than `max_block_size` identifiers dropped, as our `block` does (Splink has no block-size
  cap, so the capped keys are computed here and Splink explodes and joins them);
- u by random sampling, m by EM on one rule per blocking key (each session trains every
  comparison its rule does not mention: Splink cannot limit a session to some comparisons as
  our `BlockingRule.trains` does, nor learn how matches split among the levels a block
  forces), the match prior from Splink's deterministic-rule estimate with an assumed recall
  (ours counts the groups of identifiers seen together as known matches and adds the
  expected ones, with no recall to assume); pairs at match probability >= 0.99 are links;
- links go through our guarded resolver exactly as `bench.identity_bench` applies ours (it
  does the applying: this module only hands it a linker), and are scored with its metrics.

`python -m bench.identity_splink --persons 1000` prints the naive, deterministic and Splink
rows, and Splink's training + prediction seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench import identity_bench
from services.identity.observations import ObservationRecord
from services.identity.probabilistic import (
    IdentifierProfile,
    LinkerConfig,
    build_profiles,
    postcode_district,
)
from services.identity.probabilistic.blocking import DEFAULT_BLOCKING_RULES
from services.identity.probabilistic.strings import _NICKNAME_GROUPS

THRESHOLD = 0.99
"""Link threshold on Splink's match probability: our `LinkerConfig.min_probability`."""

DETERMINISTIC_RULES_RECALL = 0.1
"""Assumed recall of the deterministic rules (phone; names + date of birth) among all true
pairs, for Splink's estimate of the match prior. Most true pairs here are cookies of one person
that share no CRM field, so these rules can only ever find a small share of them. It is a free
knob, and a lucky one: measured against the truth (which nothing here uses) their recall is
about 0.09 at 1,000 and 5,000 persons, so Splink's prior lands within 10% of the true share of
matching pairs, while our matcher estimates its own prior, unsupervised, from the identifiers
seen together (see `services.identity.probabilistic.linker._random_pair_match_prior`)."""

EM_CONVERGENCE = 1e-4
EM_MAX_ITERATIONS = 25
"""Splink's defaults. Our linker's 1e-5 and 200 iterations took 26 s instead of 6 s at 1,000
persons, for the same metrics."""


def available() -> bool:
    """True when `splink` (and the pandas and duckdb it brings) import."""
    try:
        with _quiet():
            importlib.import_module("splink")
            importlib.import_module("pandas")
    except Exception:
        return False
    return True


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Splink logs every SQL step at INFO; keep its logger to errors while it runs."""
    logger = logging.getLogger("splink")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


# --- the input table --------------------------------------------------------------------------


def _hours(profile: IdentifierProfile, min_events: int) -> list[float] | None:
    """Smoothed, L2-normalised hour histogram, as our `encode_profiles` builds it; None when
    sparse."""
    raw = np.asarray(profile.hour_histogram, dtype=np.float64)
    if raw.sum() < min_events:
        return None
    smoothed = 0.5 * raw + 0.25 * (np.roll(raw, 1) + np.roll(raw, -1))
    norm = float(np.linalg.norm(smoothed))
    return (smoothed / norm).tolist() if norm > 0 else None


Keys = list[list[str] | None]


def _block_keys(profiles: Sequence[IdentifierProfile], max_block_size: int) -> dict[str, Keys]:
    """Per rule of our `DEFAULT_BLOCKING_RULES`: each profile's keys, less those whose block
    holds more than `max_block_size` profiles (the blocks our `block` skips)."""
    out: dict[str, Keys] = {}
    for rule in DEFAULT_BLOCKING_RULES:
        keys = [sorted(set(rule.keys(p))) for p in profiles]
        sizes = Counter(k for ks in keys for k in ks)
        out[rule.name] = [[k for k in ks if sizes[k] <= max_block_size] or None for ks in keys]
    return out


def _first_name_groups(name: str) -> list[str] | None:
    """The canonical names a normalised first name is a nickname of (itself if none)."""
    return sorted(_NICKNAME_GROUPS.get(name, frozenset({name}))) if name else None


def _or_none(values: Sequence[str] | set[str]) -> list[str] | None:
    return sorted(values) if values else None


def profile_table(profiles: Sequence[IdentifierProfile], config: LinkerConfig) -> Any:
    """One row per identifier: the signals of its profile as Splink comparison columns, plus
    `block_<rule>` key lists and one scalar `em_<rule>` key per list for EM training."""
    pandas: Any = importlib.import_module("pandas")
    blocks = _block_keys(profiles, config.max_block_size)
    columns: dict[str, list[Any]] = {
        "unique_id": [p.identifier for p in profiles],
        "ips": [_or_none({s.ip for s in p.ip_spans}) for p in profiles],
        "networks": [_or_none({s.network for s in p.ip_spans} - {""}) for p in profiles],
        "ua_devices": [_or_none({f"{f}|{d}" for f, d in p.ua_signatures if d}) for p in profiles],
        "ua_families": [_or_none({f for f, _ in p.ua_signatures}) for p in profiles],
        "cities": [_or_none(p.cities) for p in profiles],
        "hours": [_hours(p, config.min_pattern_events) for p in profiles],
        "first_name": [p.first_name or None for p in profiles],
        "first_name_groups": [_first_name_groups(p.first_name) for p in profiles],
        "last_name": [p.last_name or None for p in profiles],
        "postcode": [p.postcode or None for p in profiles],
        "district": [postcode_district(p.postcode) or None for p in profiles],
        "phone": [p.phone_sha256 or None for p in profiles],
        "dob": [p.date_of_birth or None for p in profiles],
    }
    for name, keys in blocks.items():
        columns[f"block_{name}"] = keys
        columns[f"em_{name}"] = [ks[0] if ks else None for ks in keys]
    return pandas.DataFrame(columns)


# --- the Splink model -------------------------------------------------------------------------


def settings(config: LinkerConfig) -> Any:
    """The Splink settings: comparisons and prediction blocking rules (see the module doc)."""
    splink: Any = importlib.import_module("splink")
    cl: Any = importlib.import_module("splink.comparison_library")
    cll: Any = importlib.import_module("splink.comparison_level_library")
    min_u = config.tf_min_u

    def exact_tf(column: str) -> Any:
        return cll.ExactMatchLevel(column, term_frequency_adjustments=True).configure(
            tf_minimum_u_value=min_u
        )

    def custom(name: str, levels: list[Any]) -> Any:
        return cl.CustomComparison(levels, output_column_name=name)

    threshold = config.name_similarity_threshold
    comparisons = [
        custom(
            "ip",
            [
                cll.NullLevel("ips"),
                cll.ArrayIntersectLevel("ips", 1),
                cll.ArrayIntersectLevel("networks", 1),
                cll.ElseLevel(),
            ],
        ),
        custom(
            "user_agent",
            [
                cll.NullLevel("ua_families"),
                cll.ArrayIntersectLevel("ua_devices", 1),
                cll.ArrayIntersectLevel("ua_families", 1),
                cll.ElseLevel(),
            ],
        ),
        custom(
            "geo_city",
            [cll.NullLevel("cities"), cll.ArrayIntersectLevel("cities", 1), cll.ElseLevel()],
        ),
        custom(
            "hour_pattern",
            [
                cll.NullLevel("hours"),
                cll.CosineSimilarityLevel("hours", config.hour_similarity_threshold),
                cll.ElseLevel(),
            ],
        ),
        custom(
            "first_name",
            [
                cll.NullLevel("first_name"),
                exact_tf("first_name"),
                cll.Or(
                    cll.JaroWinklerLevel("first_name", threshold),
                    cll.ArrayIntersectLevel("first_name_groups", 1),
                ),
                cll.ElseLevel(),
            ],
        ),
        custom(
            "last_name",
            [
                cll.NullLevel("last_name"),
                exact_tf("last_name"),
                cll.JaroWinklerLevel("last_name", threshold),
                cll.ElseLevel(),
            ],
        ),
        custom(
            "postcode",
            [
                cll.NullLevel("postcode"),
                exact_tf("postcode"),
                cll.ExactMatchLevel("district"),
                cll.ElseLevel(),
            ],
        ),
        custom("phone", [cll.NullLevel("phone"), exact_tf("phone"), cll.ElseLevel()]),
        custom(
            "date_of_birth", [cll.NullLevel("dob"), cll.ExactMatchLevel("dob"), cll.ElseLevel()]
        ),
    ]
    blocking = [
        splink.block_on(f"block_{r.name}", arrays_to_explode=[f"block_{r.name}"])
        for r in DEFAULT_BLOCKING_RULES
    ]
    return splink.SettingsCreator(
        link_type="dedupe_only",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
        em_convergence=EM_CONVERGENCE,
        max_iterations=EM_MAX_ITERATIONS,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


EM_RULE_COLUMNS: dict[str, tuple[str, ...]] = {
    "network_ua_family": ("networks", "ua_families", "cities"),
    "ip": ("ips", "cities"),
    "surname_soundex_district": ("last_name", "district"),
    "phone": ("phone",),
    "dob_first_initial": ("dob", "first_name"),
}
"""One EM session per blocking rule of ours, in our order, with the input columns of the
comparisons the rule conditions on (`BlockingRule.conditions_on`): Splink leaves a comparison
out of a session whose blocking rule mentions one of its columns, so each rule names them.
The sessions still train the comparisons our rules leave out (`BlockingRule.trains`): the
IP and network sessions train names and postcodes on pairs that are mostly households.

Splink's EM has no prior on m (ours has a Dirichlet one): on these blocks some sessions drive
an m probability below 1e-300 and Splink raises, leaving the model half-changed (the session
has already dropped the comparisons it cannot train and replaced the match prior). Such a
session is undone, skipped and recorded in `SplinkLinker.em_sessions`."""


def _em_rule(name: str) -> str:
    key = f"em_{name}"
    mentions = " and ".join(f"l.{c} is not null" for c in EM_RULE_COLUMNS[name])
    return f"l.{key} = r.{key} and {mentions}"


@dataclass
class SplinkLinker:
    """A linker for `identity_bench.run`: Splink trained and predicting on the records.

    After a call: `seconds` is Splink's time (training and prediction), `links` the pairs it
    predicted before the seen-together filter, `model` the trained Splink model (settings
    with m, u and the match prior, as `save_model_to_json` gives it), `em_sessions` the
    outcome of each EM session.
    """

    config: LinkerConfig = field(default_factory=LinkerConfig)
    seed: int = 0
    u_max_pairs: float = 1e6
    seconds: float = 0.0
    links: int = 0
    model: dict[str, Any] = field(default_factory=dict)
    em_sessions: dict[str, str] = field(default_factory=dict)

    def __call__(self, records: Sequence[ObservationRecord]) -> list[tuple[str, str, float]]:
        """(identifier a, identifier b, Splink match weight) at match probability >= 0.99.

        Pairs of identifiers seen together in one observation are left out, as our linker
        leaves them out: they are the deterministic resolver's to join or to refuse. Splink's
        match weight includes the prior (log2 prior odds), ours does not; the resolver only
        orders links by it and drops those below 0, and at p >= 0.99 it is above 6.6.
        """
        splink: Any = importlib.import_module("splink")
        profiles, together = build_profiles(records)
        frame = profile_table(profiles, self.config)
        with _quiet():
            db_api = splink.DuckDBAPI()
            con = db_api.duckdb_con
            con.register("profiles_frame", frame)
            # Fixed-size array for DuckDB's array_cosine_similarity.
            con.execute(
                "create table profiles as select * replace (hours::double[24] as hours) "
                "from profiles_frame"
            )
            con.unregister("profiles_frame")
            table = db_api.register("profiles")
            started = time.perf_counter()
            linker = splink.Linker(table, settings(self.config), log_level=None)
            training = linker.training
            training.estimate_probability_two_random_records_match(
                [splink.block_on("phone"), splink.block_on("first_name", "last_name", "dob")],
                recall=DETERMINISTIC_RULES_RECALL,
            )
            training.estimate_u_using_random_sampling(max_pairs=self.u_max_pairs, seed=self.seed)
            self.em_sessions = {}
            model = linker._settings_obj  # a failed session leaves its changes behind
            for name in EM_RULE_COLUMNS:
                before = model.core_model_settings.copy()
                try:
                    training.estimate_parameters_using_expectation_maximisation(_em_rule(name))
                except ValueError as error:
                    model.core_model_settings = before
                    self.em_sessions[name] = f"skipped: {str(error).split(' Values')[0]}"
                else:
                    self.em_sessions[name] = "trained"
            if "trained" not in self.em_sessions.values():
                raise RuntimeError(f"no Splink EM session trained: {self.em_sessions}")
            predicted = linker.inference.predict(threshold_match_probability=THRESHOLD)
            pairs = predicted.as_pandas_dataframe()
            self.seconds = time.perf_counter() - started
            self.model = linker.misc.save_model_to_json()
        self.links = len(pairs)
        out = []
        for a, b, weight in zip(
            pairs["unique_id_l"], pairs["unique_id_r"], pairs["match_weight"], strict=True
        ):
            x, y = (str(a), str(b)) if str(a) < str(b) else (str(b), str(a))
            if (x, y) not in together:
                out.append((x, y, float(weight)))
        out.sort()
        return out


@dataclass(frozen=True)
class SplinkRun:
    """The rows of `identity_bench.run` with Splink as the probabilistic mode, the trained
    linker (time, model, EM sessions) and how many of its links were handed to the resolver."""

    rows: list[identity_bench.Row]
    linker: SplinkLinker
    applied_links: int

    @property
    def match_prior(self) -> float:
        """Splink's probability that two random identifiers match."""
        return float(self.linker.model["probability_two_random_records_match"])


def run(n_persons: int = 5000, seed: int = 1, config: LinkerConfig | None = None) -> SplinkRun:
    """`identity_bench.run` on the seeded synthetic data, with Splink as the linker."""
    linker = SplinkLinker(config or LinkerConfig(), seed=0)
    applied: list[tuple[str, str, float]] = []

    def links(records: Sequence[ObservationRecord]) -> list[tuple[str, str, float]]:
        applied.extend(linker(records))
        return applied

    rows = identity_bench.run(n_persons, seed, linker=links, strict=False)
    return SplinkRun(rows, linker, len(applied))


def main(argv: Sequence[str] | None = None) -> None:
    """Prints the rows, with Splink as the probabilistic mode, and what Splink did."""
    parser = argparse.ArgumentParser(prog="python -m bench.identity_splink", description=__doc__)
    parser.add_argument("--persons", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    result = run(args.persons, args.seed)
    print(identity_bench.format_rows(result.rows))
    linker = result.linker
    print(
        f"splink: {linker.seconds:.2f}s training + prediction, {linker.links:,} pairs at "
        f"p >= {THRESHOLD}, {result.applied_links:,} not seen together, "
        f"match prior {result.match_prior:.3g}"
    )
    for name, outcome in linker.em_sessions.items():
        print(f"  EM on {name}: {outcome}")


if __name__ == "__main__":
    main()
