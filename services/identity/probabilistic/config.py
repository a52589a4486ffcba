"""The probabilistic linker's settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LinkerConfig:
    """Knobs of the probabilistic linker; defaults suit web and CRM identity data.

    - `max_block_size`: blocks with more profiles are skipped (see `blocking.block`); 50 keeps a
      household, a small office or a surname within a postcode district, and drops carrier
      NAT IPs, public Wi-Fi and very common surname/district combinations.
    - `ip_overlap_slack_seconds`: two spans on one IP overlap if they come within this of each
      other (a day: home IPs are reassigned over days, NAT IPs within minutes).
    - `hour_similarity_threshold`, `min_pattern_events`: cosine of smoothed 24-bin hour
      histograms for the "similar" level; fewer timestamped events than this is null.
    - `name_similarity_threshold`, `place_similarity_threshold`: Jaro-Winkler similarity at
      which two different names are "fuzzy" and two different cities "similar".
    - `tf_min_u`: floor of term-frequency u, so a value seen on only two profiles cannot
      outweigh everything else (log2(1 / 1e-6) is about 20 bits).
    - `u_random_pairs`: random profile pairs sampled to estimate u.
    - `m_prior_strength`: pseudo-pairs of the Dirichlet prior on m (see `ProbabilisticLinker.fit`).
    - `min_probability`: default link threshold on the match probability. The prior is the
      chance that two random profiles match, so on n profiles a link needs roughly
      log2(n) + 7 bits of evidence: a shared rare home IP with the same browser build, city
      and hours, or name + postcode + date of birth or phone.
    - `household_min_people`, `household_min_probability`: a pair whose only evidence is
      device and network signals, on an IP that this many identified people use (a
      household's or an office's), needs this match probability instead (see `household`).
      Two: with one (tried), an identified person's own replaced cookies at home need
      0.999 too, and the service, which has no person-level fields, linked nothing on
      400 persons of the tuning generator. A pair whose dates of birth are two people's
      (no identity number agreeing) needs this probability too.
    """

    max_block_size: int = 50
    ip_overlap_slack_seconds: float = 86_400.0
    hour_similarity_threshold: float = 0.8
    min_pattern_events: int = 4
    name_similarity_threshold: float = 0.9
    place_similarity_threshold: float = 0.9
    tf_min_u: float = 1e-6
    u_random_pairs: int = 200_000
    initial_match_prior: float = 0.1
    m_prior_strength: float = 20.0
    em_tol: float = 1e-5
    em_max_iterations: int = 200
    min_probability: float = 0.99
    household_min_people: int = 2
    household_min_probability: float = 0.999
    chunk_pairs: int = 200_000
    seed: int = 0
