"""Background jobs (refits, re-attribution of history) with their progress recorded as events."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol
from uuid import UUID, uuid4

from common.eventlog import UnitOfWork
from services.attribution.domainmodel import Job

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class JobCancelledError(Exception):
    """The service is stopping; the job ends where it is."""


class JobHost(Protocol):
    """What a job runner needs of its application."""

    lock: threading.Lock

    def unit_of_work(self) -> UnitOfWork:
        """A unit of work on the application's repository."""
        ...

    def save_unit(self, unit: UnitOfWork) -> None:
        """Saves a unit of work."""
        ...


class JobRunner:
    """Runs jobs in background threads; each job's start, progress and end are events."""

    def __init__(self, host: JobHost) -> None:
        self._host = host
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(
        self, description: str, work: Callable[[Progress], None], property_id: str = ""
    ) -> UUID:
        """Records a new job (of one property, or of every property when none is given) and
        runs `work(report_progress)` in the background."""
        job = Job(id=uuid4(), description=description, total=0, property_id=property_id)
        self._save(job)
        thread = threading.Thread(
            target=self._run, args=(job.id, work), name=f"job-{job.id}", daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return job.id

    def every(self, interval: timedelta, start_jobs: Callable[[], object]) -> None:
        """Calls `start_jobs` every `interval` in a background thread until stopped."""

        def loop() -> None:
            while not self._stopping.wait(interval.total_seconds()):
                try:
                    start_jobs()
                except Exception as error:  # the schedule survives a failed round
                    logger.warning("scheduled jobs failed to start: %s", error)

        thread = threading.Thread(target=loop, name="job-schedule", daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Asks running jobs to stop at their next progress report and waits for them."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout)

    def _run(self, job_id: UUID, work: Callable[[Progress], None]) -> None:
        def report(done: int, total: int) -> None:
            if self._stopping.is_set():
                raise JobCancelledError("the service stopped before the job finished")
            self._update(job_id, lambda job: job.progress(done=done, total=total))

        try:
            work(report)
            self._update(job_id, lambda job: job.complete())
        except Exception as error:  # a job's failure is recorded, not raised
            logger.warning("job %s failed: %s", job_id, error)
            message = str(error)
            self._update(job_id, lambda job: job.fail(error=message))

    def _update(self, job_id: UUID, change: Callable[[Job], None]) -> None:
        with self._host.lock:
            unit = self._host.unit_of_work()
            job = unit.get(Job, job_id)
            if job is not None:
                change(job)
                self._host.save_unit(unit)

    def _save(self, job: Job) -> None:
        with self._host.lock:
            unit = self._host.unit_of_work()
            unit.add(job)
            self._host.save_unit(unit)
