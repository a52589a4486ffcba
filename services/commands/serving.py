"""`convtrack serve` and `convtrack up`: run one service, or all four in one process."""

from __future__ import annotations

import argparse
import logging

from common.leadership import AnotherReplicaError
from common.server import serve_until, stop_requested_by_signals, tell_supervisor_ready
from common.settings import SettingsError, env_int, process_env
from services import launcher

logger = logging.getLogger("convtrack")


def serve(args: argparse.Namespace) -> int:
    """Runs the one service named in `args`, configured from the environment, until SIGTERM;
    ingest with `INGEST_WORKERS` > 1 as that many processes on one port."""
    stop = stop_requested_by_signals()
    env = process_env()
    try:
        if (
            args.service == "ingest"
            and env_int(env, "INGEST_WORKERS", 1) > 1
            and not env.get("INGEST_WORKER_INDEX")
        ):
            from services.ingest.workers import serve_workers

            return serve_workers(env, stop)
        service = launcher.start_one(args.service, env)
    except (AnotherReplicaError, SettingsError) as error:
        logger.error("refusing to start: %s", error)
        return 1
    tell_supervisor_ready(env)
    serve_until(stop, [service])
    return 0


def up(args: argparse.Namespace) -> int:
    """Runs the four services in this process until SIGTERM or Ctrl-C."""
    stop = stop_requested_by_signals()
    try:
        running, addresses = launcher.start_all(process_env())
    except (AnotherReplicaError, SettingsError) as error:
        logger.error("refusing to start: %s", error)
        return 1
    logger.info("convtrack up: %s", addresses)
    serve_until(stop, running)
    return 0
