"""`convtrack serve` and `convtrack up`: run one service, or all four in one process."""

from __future__ import annotations

import argparse
import logging

from common.leadership import AnotherReplicaError
from common.server import serve_until, stop_requested_by_signals
from common.settings import SettingsError, process_env
from services import launcher

logger = logging.getLogger("convtrack")


def serve(args: argparse.Namespace) -> int:
    """Runs the one service named in `args`, configured from the environment, until SIGTERM."""
    stop = stop_requested_by_signals()
    try:
        service = launcher.start_one(args.service, process_env())
    except (AnotherReplicaError, SettingsError) as error:
        logger.error("refusing to start: %s", error)
        return 1
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
