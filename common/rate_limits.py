"""Rate limits per API key: a token bucket per key id, refused with RESOURCE_EXHAUSTED and the
exact wait (google.rpc.RetryInfo) until the bucket holds enough tokens. The limits are the
deployment's: each of N live replicas allows 1/N of them (common/replicas.py counts them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from common.authentication import is_exempt
from common.callers import current_caller
from common.grpc_errors import abort_resource_exhausted
from common.interceptors import Behaviour, wrap_handler
from common.settings import SettingsError, env_str

# Per second and per key, by service: ingest counts events, reporting queries, identity and
# attribution calls.
DEFAULT_RATES: dict[str, float] = {
    "ingest": 1000.0,
    "identity": 50.0,
    "attribution": 50.0,
    "reporting": 20.0,
}
UNITS: dict[str, str] = {
    "ingest": "events",
    "identity": "calls",
    "attribution": "calls",
    "reporting": "queries",
}
BURST_SECONDS = 2.0

# What one request costs, by RPC name; RPCs not listed cost one.
Cost = Callable[[Any], int]


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """How many units (`unit`: events, queries or calls) each key may spend per second
    (`rate`; 0 turns limits off) and at once (`burst`), and whether the local all-powerful
    caller (authentication off) is limited too."""

    rate: float = 0.0
    burst: float = 0.0
    unit: str = "calls"
    limit_local: bool = False

    @property
    def enabled(self) -> bool:
        """Whether any call is limited."""
        return self.rate > 0


def _env_float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env_str(env, key)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{key} must be a number, not {raw!r}") from None
    if value < 0 or value != value or value == float("inf"):
        raise SettingsError(f"{key} must be a finite number of at least 0, not {raw!r}")
    return value


def rate_limit_settings(env: Mapping[str, str], service: str) -> RateLimitSettings:
    """`<SERVICE>_RATE_LIMIT` (units per second per key; 0: no limit), `<SERVICE>_RATE_BURST`
    (default two seconds' worth, at least one) and `CONVTRACK_RATE_LIMIT_LOCAL` (limit the
    local caller too when authentication is off; default no)."""
    prefix = service.upper()
    rate = _env_float(env, f"{prefix}_RATE_LIMIT", DEFAULT_RATES[service])
    burst = _env_float(env, f"{prefix}_RATE_BURST", max(1.0, rate * BURST_SECONDS))
    if rate > 0 and burst < 1:
        raise SettingsError(f"{prefix}_RATE_BURST must be at least 1")
    local = env_str(env, "CONVTRACK_RATE_LIMIT_LOCAL", "n").lower() in ("y", "yes", "1", "true")
    return RateLimitSettings(rate=rate, burst=burst, unit=UNITS[service], limit_local=local)


class TokenBucket:
    """Holds up to `burst` tokens, refilled at `rate` per second (on a monotonic clock)."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._at = now

    def resize(self, rate: float, burst: float, now: float) -> None:
        """Refills at `rate` and holds up to `burst` from `now` on (what it holds is kept, up
        to the new burst)."""
        self._tokens = min(burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        self._rate = rate
        self._burst = burst

    def take(self, cost: float, now: float) -> float:
        """Takes `cost` tokens and returns 0, or takes none and returns the seconds until the
        bucket holds enough. A cost above the burst passes once the bucket is full and leaves
        it in debt, so a large batch is slowed, never refused for good."""
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        needed = min(cost, self._burst)
        if self._tokens >= needed:
            self._tokens -= cost
            return 0.0
        return (needed - self._tokens) / self._rate


class RateLimiter:
    """One token bucket per caller name (key id), made on the caller's first call.

    The settings are the deployment's: with `replicas` (the live replicas of the service,
    counted elsewhere) above one, each replica's buckets get that share of the rate and the
    burst, so that together they allow the configured figures (for callers whose calls are
    spread over the replicas, as a load balancer does)."""

    def __init__(
        self,
        settings: RateLimitSettings,
        clock: Callable[[], float] = time.monotonic,
        replicas: Callable[[], int] = lambda: 1,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._replicas = replicas
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()
        self._share = 1

    @property
    def share(self) -> int:
        """How many replicas the settings were last divided among."""
        return self._share

    def wait_for(self, caller: str, cost: float) -> float:
        """Spends `cost` units of `caller`'s bucket and returns 0, or returns the seconds to
        wait before the call would pass (spending nothing)."""
        with self._lock:
            now = self._clock()
            share = max(1, self._replicas())
            rate, burst = self.settings.rate / share, self.settings.burst / share
            if share != self._share:
                self._share = share
                for existing in self._buckets.values():
                    existing.resize(rate, burst, now)
            bucket = self._buckets.get(caller)
            if bucket is None:
                bucket = self._buckets[caller] = TokenBucket(rate, burst, now)
            return bucket.take(cost, now)


class RateLimitInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Refuses a key's call with RESOURCE_EXHAUSTED and a RetryInfo once the key spent its
    rate. Peer services (internal RPCs) are never limited; the local caller only when
    configured. `costs` prices requests by RPC name (e.g. events in a batch)."""

    def __init__(self, limiter: RateLimiter, costs: Mapping[str, Cost]) -> None:
        self._limiter = limiter
        self._costs = costs

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """The handler of the method, behind its caller's bucket."""
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or is_exempt(method):
            return handler
        rpc = method.rpartition("/")[2]
        cost = self._costs.get(rpc, lambda _: 1)
        settings = self._limiter.settings

        def check(request: Any, context: grpc.ServicerContext) -> None:
            caller = current_caller()
            if caller.key_id is None and not (caller.local and settings.limit_local):
                return
            wait = self._limiter.wait_for(caller.name, max(1, cost(request)))
            if wait > 0:
                share = self._limiter.share
                replicas = f" shared by {share} replicas" if share > 1 else ""
                abort_resource_exhausted(
                    context,
                    f"this key's rate limit is {settings.rate:g} {settings.unit} per second "
                    f"(bursts of {settings.burst:g}){replicas}; retry after the delay in the "
                    "RetryInfo detail",
                    wait,
                )

        def limited(behaviour: Behaviour, request_streaming: bool, _: bool) -> Behaviour:
            if request_streaming:
                return behaviour

            def run(request: Any, context: grpc.ServicerContext) -> Any:
                check(request, context)
                return behaviour(request, context)

            return run

        return wrap_handler(handler, limited)


def rate_limit_interceptors(
    settings: RateLimitSettings,
    costs: Mapping[str, Cost],
    replicas: Callable[[], int] = lambda: 1,
) -> list[grpc.ServerInterceptor[Any, Any]]:
    """The rate limit interceptor for `access_interceptors(below=...)`, dividing the settings
    among `replicas` (the live replicas of the service); none when limits are off."""
    if not settings.enabled:
        return []
    return [RateLimitInterceptor(RateLimiter(settings, replicas=replicas), costs)]
