"""Rate-limited logging: one concise line per kind of trouble and interval, not one per request."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable

SUMMARY_CHARS = 200


class LogThrottle:
    """Admits one line per key and interval, and counts the lines it held back."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._held_back: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def admit(self, key: Hashable) -> int | None:
        """None when a line for `key` went out less than `interval` ago (this one is held
        back); otherwise how many lines for `key` were held back since the last one."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._held_back[key] = self._held_back.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._held_back.pop(key, 0)

    def held_back_note(self, count: int) -> str:
        """The note to add to a line after `count` similar ones were held back."""
        return f" ({count} similar held back in the last {self.interval:.0f}s)" if count else ""


def summary(error: BaseException) -> str:
    """An exception in one short line: its type and the first line of its message."""
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else ""
    text = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return text[:SUMMARY_CHARS]


class ConciseLogFilter(logging.Filter):
    """Lets through one line per logger, level and interval for warnings and errors, each
    with the exception summarised in the line instead of a traceback.

    For loggers that write a traceback per failed request (grpcio's, for bytes that do not
    parse), which would flood the log under bad traffic.
    """

    def __init__(self, interval: float) -> None:
        super().__init__()
        self._throttle = LogThrottle(interval)

    def filter(self, record: logging.LogRecord) -> bool:
        """Holds the record back, or rewrites it into one line."""
        if record.levelno < logging.WARNING:
            return True
        held_back = self._throttle.admit((record.name, record.levelno))
        if held_back is None:
            return False
        message = record.getMessage().strip().splitlines()
        line = message[0][:SUMMARY_CHARS] if message else ""
        if record.exc_info and record.exc_info[1] is not None:
            line = f"{line} [{summary(record.exc_info[1])}]"
        record.msg = line + self._throttle.held_back_note(held_back)
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


def limit_logs(logger_names: tuple[str, ...], interval: float) -> None:
    """Puts a ConciseLogFilter on each named logger, once per process."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ConciseLogFilter) for f in logger.filters):
            logger.addFilter(ConciseLogFilter(interval))
