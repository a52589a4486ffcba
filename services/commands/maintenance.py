"""`convtrack migrate` and `convtrack rebuild-reports`: bring the schemas to their newest
revisions, rebuild the report views while serving."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from common.settings import SettingsError, process_env
from services import launcher
from services.reporting import server as reporting_server

if TYPE_CHECKING:
    from rich.progress import TaskID

    from convtrack.reporting.v1.reporting_pb2_grpc import ReportingServiceStub

CALL_TIMEOUT = 30.0
POLL_SECONDS = 0.5


def migrate(args: argparse.Namespace) -> int:
    """Creates every service's schema and tables once, and upgrades reporting's tables and
    views to their newest Alembic revisions."""
    notes = launcher.migrate(process_env())
    print(
        "Schemas and tables are in place for ingest, identity, attribution and reporting "
        "(reporting's settings and views at their newest revisions)."
    )
    for note in notes:
        print(note)
    return 0


def rebuild_reports(args: argparse.Namespace) -> int:
    """Rebuilds the report views while the reporting service serves from the old ones, and
    shows its progress until the new generation is live (or, with --offline, replaces them
    at once by empty views that the service replays the logs into)."""
    env = process_env()
    if args.offline:
        settings = reporting_server.ReportingSettings.from_env(env)
        generation = reporting_server.rebuild_reports(settings)
        print(
            f"Generation {generation} of the report views is live and empty; reporting "
            "replays the logs into it from position 0."
        )
        return 0
    import grpc

    from common.channels import operator_tls
    from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
    from services.commands.credentials import client_channel, sent_api_key

    address = args.addr or env.get("REPORTING_ADDR", "127.0.0.1:50054")
    try:
        channel = client_channel(
            address, sent_api_key(args.api_key, env, address), operator_tls(args.tls_dir, env)
        )
    except SettingsError as error:
        print(f"convtrack rebuild-reports: {error}", file=sys.stderr)
        return 2
    stub = reporting_pb2_grpc.ReportingServiceStub(channel)
    try:
        started = stub.RebuildViews(reporting_pb2.RebuildViewsRequest(), timeout=CALL_TIMEOUT)
        verb = "Rebuilding" if started.started else "Already rebuilding"
        print(f"{verb} the report views into generation {started.generation}.")
        if args.no_wait:
            return 0
        return _follow(stub, started.generation)
    except grpc.RpcError as error:
        print(f"convtrack rebuild-reports: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    finally:
        channel.close()


def _follow(stub: ReportingServiceStub, generation: int) -> int:
    """Shows the rebuild's progress per log until its generation is live."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from convtrack.reporting.v1 import reporting_pb2

    request = reporting_pb2.GetRebuildStatusRequest()
    with Progress(
        TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), transient=True
    ) as progress:
        tasks: dict[str, TaskID] = {}
        while True:
            status = stub.GetRebuildStatus(request, timeout=CALL_TIMEOUT)
            if status.live_generation == generation:
                break
            if status.building_generation != generation:
                print(
                    f"convtrack rebuild-reports: generation {generation} is no longer being "
                    f"built (live: {status.live_generation})",
                    file=sys.stderr,
                )
                return 1
            for p in status.progress:
                total = max(p.head, p.live_position, p.position, 1)
                if p.upstream not in tasks:
                    tasks[p.upstream] = progress.add_task(p.upstream, total=total)
                progress.update(tasks[p.upstream], completed=p.position, total=total)
            time.sleep(POLL_SECONDS)
    print(
        f"Generation {generation} of the report views is live; the one it replaced is "
        "dropped after the grace period (REPORTING_REBUILD_GRACE_SECONDS)."
    )
    return 0
