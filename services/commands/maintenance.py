"""`convtrack migrate` and `convtrack rebuild-reports`: create the tables, replay the reports."""

from __future__ import annotations

import argparse

from common.settings import process_env
from services import launcher
from services.reporting import server as reporting_server


def migrate(args: argparse.Namespace) -> int:
    """Creates every service's schema and tables once."""
    notes = launcher.migrate(process_env())
    print("Schemas and tables are in place for ingest, identity, attribution and reporting.")
    for note in notes:
        print(note)
    return 0


def rebuild_reports(args: argparse.Namespace) -> int:
    """Drops the report views; the reporting service then replays attribution's log from 0."""
    reporting_server.rebuild_reports(reporting_server.ReportingSettings.from_env(process_env()))
    print("Report views dropped; reporting replays attribution's log from position 0.")
    return 0
