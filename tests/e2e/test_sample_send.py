"""`convtrack sample send` against the running services: the sample is accepted once, shows
up in reports, and a second run of the same day is all duplicates."""

from __future__ import annotations

import csv
import io
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.server import RunningService
from services import launcher, sample_data
from services.cli import main
from services.commands.sample import send_sample
from tests.e2e.system import System

VISITORS = 60
SAMPLE_PROPERTY = "sample-shop"


def sent_counts(output: str) -> dict[str, int]:
    """The counts of the summary line `Sent N events: A accepted, D duplicate, R rejected`."""
    match = re.search(
        r"Sent ([\d,]+) events: ([\d,]+) accepted, ([\d,]+) duplicate, ([\d,]+) rejected; "
        r"([\d,]+) daily spend rows",
        output,
    )
    assert match, output
    sent, accepted, duplicate, rejected, spend = (int(g.replace(",", "")) for g in match.groups())
    return {
        "sent": sent,
        "accepted": accepted,
        "duplicate": duplicate,
        "rejected": rejected,
        "spend": spend,
    }


def test_sample_send_is_accepted_reported_and_idempotent(
    system: System, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["sample", "send", "--ingest", system.addresses.ingest]
    arguments += ["--property", SAMPLE_PROPERTY, "--visitors", str(VISITORS), "--batch-size", "50"]
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    expected = sample_data.sample_events(
        sample_data.SampleConfig(property_id=SAMPLE_PROPERTY, visitors=VISITORS, end=today)
    )

    assert main(arguments) == 0
    first = capsys.readouterr()
    counts = sent_counts(first.out)
    assert counts["sent"] == len(expected)
    assert counts["rejected"] == 0
    assert counts["accepted"] + counts["duplicate"] == len(expected)
    assert counts["accepted"] > 0
    assert counts["spend"] > 0
    assert f"{len(expected):,}/{len(expected):,} events" in first.err  # progress per batch
    assert f"--property {SAMPLE_PROPERTY}" in first.out

    system.sync()
    assert (
        main(
            [
                "report",
                "conversions",
                "--property",
                SAMPLE_PROPERTY,
                "--conversion",
                "purchase",
                "--addr",
                system.addresses.reporting,
                "--format",
                "csv",
            ]
        )
        == 0
    )
    report = capsys.readouterr().out
    assert len(report.strip().splitlines()) >= 2, report  # a header and at least one channel
    # The CRM's deals came too: stages as hand-checked in tests/unit/test_sample_data.py.
    outcomes_report = [
        "report",
        "outcomes",
        "--property",
        SAMPLE_PROPERTY,
        "--conversion",
        sample_data.DEAL_CONVERSION,
        "--addr",
        system.addresses.reporting,
        "--format",
        "csv",
    ]
    assert main(outcomes_report) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    reached = {r["stage"]: float(r["conversions"]) for r in rows if r["group"] == "(all)"}
    assert reached == {"lead": 7, "qualified": 6, "won": 4, "lost": 2}

    assert main(arguments) == 0
    again = sent_counts(capsys.readouterr().out)
    assert again["accepted"] == 0
    assert again["duplicate"] == len(expected)


def test_sample_send_retries_until_an_ingest_that_is_not_up_yet_starts(tmp_path: Path) -> None:
    address = f"127.0.0.1:{launcher.free_loopback_port()}"
    started: list[RunningService] = []

    def start_ingest_later() -> None:
        time.sleep(1.5)
        env = {"CONVTRACK_DATA_DIR": str(tmp_path)}
        started.append(launcher.start_one("ingest", env, {"listen": address}))

    starter = threading.Thread(target=start_ingest_later)
    starter.start()
    config = sample_data.SampleConfig(
        property_id=SAMPLE_PROPERTY, visitors=5, end=datetime.now(UTC)
    )
    try:
        tally = send_sample(address, config)
    finally:
        starter.join()
        launcher.stop_all(started)
    assert tally.sent > 0
    assert tally.accepted + tally.duplicate == tally.sent
    assert tally.spend_rows > 0
