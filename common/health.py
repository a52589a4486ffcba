"""Readiness and liveness from facts: the store answers, consumers caught up and keep up."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from common.settings import env_int

logger = logging.getLogger(__name__)

LIVENESS = "liveness"
DEFAULT_MAX_READY_LAG = 10_000
STORE_CHECK_INTERVAL_SECONDS = 2.0
# A store check that has not succeeded for this long counts as a failure, even while the
# check itself still waits (a connection that hangs rather than fails).
STORE_STALE_AFTER_SECONDS = 10.0
EVALUATE_INTERVAL_SECONDS = 0.5


def max_ready_lag(env: Mapping[str, str], service: str) -> int:
    """`<SERVICE>_MAX_READY_LAG` (default 10000): the lag, in upstream entries, past which a
    consumer reports NOT_SERVING on its readiness name."""
    return env_int(env, f"{service.upper()}_MAX_READY_LAG", DEFAULT_MAX_READY_LAG)


class ConsumerProgress(Protocol):
    """What readiness needs to know about a log follower."""

    @property
    def upstream_name(self) -> str:
        """The followed log's name."""
        ...

    @property
    def caught_up_once(self) -> bool:
        """Whether it reached its upstream's head at least once since it started."""
        ...

    @property
    def lag(self) -> int | None:
        """Upstream entries not processed yet, as last seen; None before the first read."""
        ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether the service is ready, and if not, why (for the log)."""

    ready: bool
    reason: str = ""


class Readiness:
    """A server's readiness, fed by facts rather than set by hand.

    Ready when the store answered `check_store` within the last few seconds (checked in a
    background thread, never on the health-check path), every consumer in `consumers` caught
    up once since start, and every consumer's lag is at most `max_lag`. `start` runs the
    checks and calls `on_change` with each new answer (the first answer too).
    """

    def __init__(
        self,
        check_store: Callable[[], object],
        consumers: Sequence[ConsumerProgress] = (),
        *,
        max_lag: int = DEFAULT_MAX_READY_LAG,
        store_check_interval: float = STORE_CHECK_INTERVAL_SECONDS,
        store_stale_after: float = STORE_STALE_AFTER_SECONDS,
        evaluate_interval: float = EVALUATE_INTERVAL_SECONDS,
    ) -> None:
        self._check_store = check_store
        self._consumers = list(consumers)
        self._max_lag = max_lag
        self._store_check_interval = store_check_interval
        self._store_stale_after = store_stale_after
        self._evaluate_interval = evaluate_interval
        self._store_answered_at: float | None = None
        self._store_problem = "store not checked yet"
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def verdict(self) -> Verdict:
        """The answer from the facts known now."""
        answered_at = self._store_answered_at
        if answered_at is None or self._store_problem:
            return Verdict(False, self._store_problem or "store not checked yet")
        if time.monotonic() - answered_at > self._store_stale_after:
            return Verdict(False, f"store has not answered for {self._store_stale_after:.0f}s")
        for consumer in self._consumers:
            if not consumer.caught_up_once:
                return Verdict(False, f"{consumer.upstream_name} not caught up since start")
            lag = consumer.lag
            if lag is not None and lag > self._max_lag:
                return Verdict(False, f"{consumer.upstream_name} lag {lag} exceeds {self._max_lag}")
        return Verdict(True)

    def check_store_now(self) -> None:
        """Runs the store check once and records its answer."""
        try:
            self._check_store()
        except Exception as error:  # any failure means "not answering"
            self._store_problem = f"store unreachable: {one_line(error)}"
            return
        self._store_answered_at = time.monotonic()
        self._store_problem = ""

    def start(self, on_change: Callable[[bool], None]) -> None:
        """Checks once now, then in the background, reporting each change to `on_change`."""
        self.check_store_now()
        first = self._report(None, on_change)
        self._threads = [
            threading.Thread(target=self._check_store_loop, name="readiness-store", daemon=True),
            threading.Thread(
                target=self._evaluate_loop, args=(first, on_change), name="readiness", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stops the checks (a store check in progress is not waited for)."""
        self._stopping.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(self._evaluate_interval * 4)

    def _check_store_loop(self) -> None:
        while not self._stopping.wait(self._store_check_interval):
            self.check_store_now()

    def _evaluate_loop(self, last: Verdict, on_change: Callable[[bool], None]) -> None:
        while not self._stopping.wait(self._evaluate_interval):
            last = self._report(last, on_change)

    def _report(self, last: Verdict | None, on_change: Callable[[bool], None]) -> Verdict:
        """Evaluates the facts; logs and reports the answer when it changed."""
        verdict = self.verdict()
        if last is None or verdict.ready != last.ready:
            if verdict.ready:
                logger.info("ready")
            else:
                logger.info("not ready: %s", verdict.reason)
            on_change(verdict.ready)
        return verdict


def one_line(error: BaseException) -> str:
    """A short, single-line description of an error (a gRPC error's code and details)."""
    code, details = getattr(error, "code", None), getattr(error, "details", None)
    if callable(code) and callable(details):
        status = code()
        text = f"{getattr(status, 'name', status)}: {details() or ''}"
    else:
        text = str(error) or type(error).__name__
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
