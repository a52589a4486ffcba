"""Rebuilding the report views while serving: a new generation follows the logs from 0 in
the background and replaces the live one once it has caught up with it."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.metrics import Meter
from opentelemetry.trace import Tracer

from common.follower import Follower, PageSink, UpstreamEntry, UpstreamLog
from common.leadership import Leadership, SoleLeadership
from common.shards import shard_tracking_name
from services.reporting.generations import (
    BUILDING,
    LIVE,
    RETIRED,
    GenerationEngine,
    GenerationError,
    ReportViews,
)

log = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 0.5
DROP_GRACE_SECONDS = 30.0
"""How long a replaced generation is kept: queries that read the pointer just before the
swap (here or in another replica) finish on it."""


@dataclass(frozen=True)
class Feed:
    """A log that reporting follows, the projection it feeds (made for a generation) and
    the lock that projection processes under (shared by every generation's followers)."""

    log: UpstreamLog[Any]
    sink: Callable[[GenerationEngine], PageSink[Any]]
    lock: threading.Lock


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a rebuild has followed one log."""

    upstream: str
    position: int
    live_position: int
    head: int | None


@dataclass(frozen=True, slots=True)
class RebuildStatus:
    """The generations of the views, and a running rebuild's progress."""

    live: int | None
    building: int | None
    progress: tuple[Progress, ...]
    live_since: datetime | None


class _Retirable:
    """A rebuild's sink that stops writing once its generation went live: from then on the
    live followers own it (they take the same lock, so no page of ours is half done)."""

    def __init__(self, sink: PageSink[Any]) -> None:
        self._sink = sink
        self.retired = False

    def position(self, upstream: str) -> int:
        return self._sink.position(upstream)

    def process_page(
        self, upstream: str, entries: Sequence[UpstreamEntry[Any]], after: int | None = None
    ) -> None:
        if not self.retired:
            self._sink.process_page(upstream, entries, after)


class Rebuilder:
    """Runs the rebuilds of the report views in the background, in the replica that leads
    "rebuild": it follows every log into a BUILDING generation (unsharded, from position 0),
    swaps the pointer once that generation's position in every log is at least the live
    generation's (the furthest of its shards', so no report goes back in time), and drops
    replaced generations after DROP_GRACE_SECONDS.

    Its followers take the live followers' locks, and the swap takes them all: no live page
    is in flight when queries move to the new generation, and the live followers then read
    their positions from it (a shard without a position of its own starts at the rebuild's).
    """

    def __init__(
        self,
        views: ReportViews,
        feeds: Sequence[Feed],
        *,
        shards: int = 1,
        leadership: Leadership | None = None,
        tracer: Tracer | None = None,
        meter: Meter | None = None,
        drop_grace: float = DROP_GRACE_SECONDS,
    ) -> None:
        self._views = views
        self._feeds = list(feeds)
        self._shards = shards
        self._leadership = leadership or SoleLeadership()
        self._tracer = tracer
        self._meter = meter
        self._grace = timedelta(seconds=drop_grace)
        self._live = [feed.sink(views.of(None)) for feed in self._feeds]
        self._generation: int | None = None
        self._builders: list[Follower[Any]] = []
        self._sinks: list[_Retirable] = []
        self._request_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rebuild-views", daemon=True)

    def start(self) -> None:
        """Starts watching for rebuilds in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stops the rebuild's followers (it resumes where they stopped after a restart)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(10.0)
        self._stop_builders()

    def request(self) -> tuple[int, bool]:
        """Starts a rebuild: a new, empty generation to follow the logs into. Returns its
        number, and False when one was being built already (that one is returned)."""
        with self._request_lock:
            building = self._views.building()
            if building is not None:
                return building, False
            try:
                return self._views.create(BUILDING), True
            except GenerationError:
                building = self._views.building()
                if building is None:
                    raise
                return building, False

    def status(self) -> RebuildStatus:
        """The live and building generations and, for a rebuild, its progress per log."""
        generations = self._views.generations()
        live = next((g for g in generations if g.status == LIVE), None)
        building = next((g.number for g in generations if g.status == BUILDING), None)
        progress: list[Progress] = []
        if building is not None:
            for feed in self._feeds:
                name = feed.log.name
                try:
                    head = feed.log.head()
                except Exception:  # progress is information: an unreachable log has no head
                    head = None
                progress.append(
                    Progress(
                        upstream=name,
                        position=feed.sink(self._views.of(building)).position(name),
                        live_position=self._live_position(
                            self._live[self._feeds.index(feed)], name
                        ),
                        head=head,
                    )
                )
        return RebuildStatus(
            live=live.number if live else None,
            building=building,
            progress=tuple(progress),
            live_since=live.swapped_at if live else None,
        )

    def _live_position(self, sink: PageSink[Any], upstream: str) -> int:
        """The live generation's furthest position in `upstream`, over its shards."""
        names = [upstream] + [
            shard_tracking_name(upstream, shard, self._shards) for shard in range(self._shards)
        ]
        return max(sink.position(name) for name in names)

    def _caught_up(self) -> bool:
        return all(
            builder.position(feed.log.name) >= self._live_position(live, feed.log.name)
            for feed, builder, live in zip(self._feeds, self._sinks, self._live, strict=True)
        )

    def _run(self) -> None:
        while not self._stopping.wait(CHECK_INTERVAL_SECONDS):
            try:
                self._step()
            except Exception as error:  # a rebuild must never stop the service
                log.warning("rebuilding the report views: %s", error)

    def _step(self) -> None:
        if self._leadership.term is None:
            self._stop_builders()
            return
        generations = self._views.generations()
        building = next((g.number for g in generations if g.status == BUILDING), None)
        if building != self._generation:
            self._stop_builders()
            if building is not None:
                self._start_builders(building)
        elif building is not None and self._caught_up():
            self._views.analyze(building)
            self._swap(building)
        now = datetime.now(UTC)
        for generation in generations:
            swapped = generation.swapped_at
            grace_over = swapped is not None and now - swapped >= self._grace
            if generation.status == RETIRED and grace_over:
                self._views.drop(generation.number)

    def _start_builders(self, generation: int) -> None:
        log.info("rebuilding the report views into generation %d", generation)
        self._generation = generation
        self._sinks = [_Retirable(feed.sink(self._views.of(generation))) for feed in self._feeds]
        self._builders = [
            Follower(feed.log, sink, lock=feed.lock, tracer=self._tracer, meter=self._meter)
            for feed, sink in zip(self._feeds, self._sinks, strict=True)
        ]
        for builder in self._builders:
            builder.start()

    def _stop_builders(self) -> None:
        for builder in self._builders:
            builder.request_stop()
        for builder in self._builders:
            builder.stop()
        self._builders, self._sinks, self._generation = [], [], None

    def _swap(self, generation: int) -> None:
        """Under every feed's lock: checks again, swaps the pointer, retires our sinks."""
        with contextlib.ExitStack() as locks:
            for feed in self._feeds:
                locks.enter_context(feed.lock)
            if not self._caught_up():
                return
            self._views.swap(generation)
            for sink in self._sinks:
                sink.retired = True
        self._stop_builders()
