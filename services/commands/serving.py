"""`convtrack serve` and `convtrack up`: run one service, or all four in one process."""

from __future__ import annotations

import argparse
import logging

from common.leadership import AnotherReplicaError
from common.server import (
    serve_until,
    stop_requested_by_signals,
    tell_supervisor_ready,
    tune_garbage_collector,
)
from common.settings import SettingsError, env_int, process_env
from services import launcher
from services.commands.local import local_access

logger = logging.getLogger("convtrack")


def serve(args: argparse.Namespace) -> int:
    """Runs the one service named in `args`, configured from the environment, until SIGTERM;
    ingest with `INGEST_WORKERS` > 1 as that many processes on one port."""
    stop = stop_requested_by_signals()
    tune_garbage_collector()
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
    """Runs the four services in this process until SIGTERM or Ctrl-C, as a local deployment
    (`services.commands.local`): API keys on unless `CONVTRACK_AUTH` says otherwise, with a
    local admin key in the data directory that `convtrack` commands run here send."""
    stop = stop_requested_by_signals()
    tune_garbage_collector()
    try:
        access = local_access(process_env())
        running, addresses = launcher.start_all(access.env)
    except (AnotherReplicaError, SettingsError) as error:
        logger.error("refusing to start: %s", error)
        return 1
    logger.info("convtrack up: %s", addresses)
    print(
        f"convtrack up: ingest {addresses.ingest}, identity {addresses.identity}, "
        f"attribution {addresses.attribution}, reporting {addresses.reporting}",
        flush=True,
    )
    if access.admin_key_file is not None:
        state = "minted" if access.minted else "kept"
        print(
            f"API keys are on; the local admin key ({state}) is in {access.admin_key_file} "
            "(mode 0600). convtrack commands with the same data directory (CONVTRACK_DATA_DIR, "
            "default ./data) send it to loopback addresses by themselves; create narrower "
            "keys with `convtrack keys create`.",
            flush=True,
        )
    else:
        print("API keys are off (CONVTRACK_AUTH=off): every local caller may do everything.")
    serve_until(stop, running)
    return 0
