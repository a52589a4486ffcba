"""The token bucket behind per-key rate limits, and its settings."""

from __future__ import annotations

import pytest

from common.rate_limits import RateLimiter, RateLimitSettings, TokenBucket, rate_limit_settings
from common.settings import SettingsError


def test_a_bucket_passes_its_burst_then_says_exactly_how_long_to_wait() -> None:
    bucket = TokenBucket(rate=10.0, burst=5.0, now=0.0)
    assert [bucket.take(1, 0.0) for _ in range(5)] == [0.0] * 5
    assert bucket.take(1, 0.0) == pytest.approx(0.1)
    assert bucket.take(3, 0.05) == pytest.approx(0.25)
    assert bucket.take(3, 0.3) == 0.0


def test_a_batch_larger_than_the_burst_passes_when_full_and_leaves_debt() -> None:
    bucket = TokenBucket(rate=10.0, burst=5.0, now=0.0)
    assert bucket.take(20, 0.0) == 0.0
    # 15 tokens in debt: one token comes back after 1.6 s.
    assert bucket.take(1, 0.0) == pytest.approx(1.6)
    assert bucket.take(1, 1.6) == 0.0


def test_each_caller_has_its_own_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimitSettings(rate=1.0, burst=2.0), clock=lambda: now[0])
    assert limiter.wait_for("flooder", 2) == 0.0
    assert limiter.wait_for("flooder", 1) == pytest.approx(1.0)
    assert limiter.wait_for("quiet", 2) == 0.0


def test_settings_have_per_service_defaults_and_refuse_nonsense() -> None:
    ingest = rate_limit_settings({}, "ingest")
    assert (ingest.rate, ingest.burst, ingest.unit, ingest.limit_local) == (
        1000.0,
        2000.0,
        "events",
        False,
    )
    assert rate_limit_settings({}, "reporting").unit == "queries"
    off = rate_limit_settings({"IDENTITY_RATE_LIMIT": "0"}, "identity")
    assert not off.enabled
    local = rate_limit_settings({"CONVTRACK_RATE_LIMIT_LOCAL": "yes"}, "attribution")
    assert local.limit_local
    with pytest.raises(SettingsError, match="REPORTING_RATE_LIMIT"):
        rate_limit_settings({"REPORTING_RATE_LIMIT": "fast"}, "reporting")
    with pytest.raises(SettingsError, match="INGEST_RATE_BURST"):
        rate_limit_settings({"INGEST_RATE_BURST": "-1"}, "ingest")


def test_the_limits_are_shared_among_the_live_replicas() -> None:
    now, replicas = [0.0], [2]
    limiter = RateLimiter(
        RateLimitSettings(rate=10.0, burst=10.0), clock=lambda: now[0], replicas=lambda: replicas[0]
    )
    # Two replicas: this one allows half the burst, refilled at half the rate.
    assert limiter.wait_for("key", 5) == 0.0
    assert limiter.wait_for("key", 1) == pytest.approx(0.2)
    assert limiter.share == 2
    # Refilled at 5 per second for 2 s, then the other replica stopped: this one allows
    # the whole figures from then on.
    replicas[0] = 1
    now[0] = 2.0
    assert limiter.wait_for("key", 10) == 0.0
    assert limiter.wait_for("key", 1) == pytest.approx(0.1)
    assert limiter.share == 1
