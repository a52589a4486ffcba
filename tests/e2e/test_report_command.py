"""`convtrack report KIND` against the real services: tables that fit the terminal, and CSV,
JSON and Parquet that read back to the same numbers."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from convtrack.ingest.v1 import ingest_pb2
from services.cli import main
from services.commands.report_output import print_table
from services.commands.reports import fetch_report
from tests.e2e.system import PROPERTY, System, cross_device_journey, event

PLAIN_FLOATS = ("conversions", "conversion_share")


def display_buyers() -> list[ingest_pb2.Event]:
    """Three buyers reached by a display ad, each buying for 19.99 USD."""
    events = []
    for n in range(3):
        who = ingest_pb2.Identity(anonymous_id=f"display-buyer-{n}")
        events += [
            event(
                f"d{n}-display",
                20,
                identity=who,
                touchpoint=ingest_pb2.Touchpoint(
                    landing_url="https://shop.example.com/?utm_source=dsp&utm_medium=display"
                ),
            ),
            event(
                f"d{n}-buy",
                19,
                identity=who,
                conversion=ingest_pb2.Conversion(
                    name="purchase",
                    value={"currency_code": "USD", "units": 19, "nanos": 990_000_000},
                ),
            ),
        ]
    return events


@pytest.fixture
def reporting(system: System) -> str:
    """The reporting address, once the journeys are attributed and reported."""
    system.track(*cross_device_journey(), *display_buyers())
    system.sync()
    return system.addresses.reporting


def run_report(*args: str) -> int:
    return main(["report", *args])


def typed(record: dict[str, str]) -> dict[str, Any]:
    """A CSV record with the types JSON gives it."""
    values: dict[str, Any] = {}
    for key, text in record.items():
        if key.endswith(PLAIN_FLOATS):
            values[key] = float(text)
        elif key.endswith("value_saturated"):
            values[key] = {"true": True, "false": False}[text]
        else:
            values[key] = text
    return values


@pytest.mark.parametrize("kind", ["conversions", "compare"])
@pytest.mark.parametrize("width", [80, 120])
def test_the_table_fits_the_width_labels_its_columns_and_shows_totals(
    reporting: str, kind: str, width: int
) -> None:
    models = ["last_click"] if kind == "conversions" else ["last_click", "linear", "first_click"]
    report = fetch_report(reporting, kind, property_id=PROPERTY, models=models)
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)

    print_table(report, console)
    text = console.export_text()

    assert max(len(line) for line in text.splitlines()) <= width, text
    flat = " ".join(text.split())
    for label in ("channel", "conv.", "conv. share", "value (USD)"):
        assert label in flat, text
    for model in models:
        assert model in flat
    assert "Conversion name: purchase;" in flat
    assert "newest conversion counted: 20" in flat
    total = next(line for line in text.splitlines() if line.startswith("total"))
    assert total.split()[1] == "4.00"  # four purchases
    assert "100.0%" in total


@pytest.mark.parametrize("kind", ["conversions", "compare"])
def test_csv_and_parquet_read_back_equal_the_json(
    reporting: str, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--property", PROPERTY, "--addr", reporting, "--conversion", "purchase"]
    if kind == "compare":
        common += ["--models", "last_click,linear"]
    for output_format in ("json", "csv", "parquet"):
        written = tmp_path / f"report.{output_format}"
        assert run_report(kind, *common, "--format", output_format, "--output", str(written)) == 0
    document = json.loads((tmp_path / "report.json").read_text())
    rows = document["rows"]

    with (tmp_path / "report.csv").open(newline="") as csv_file:
        from_csv = [typed(record) for record in csv.DictReader(csv_file)]
    from_parquet = pq.read_table(tmp_path / "report.parquet").to_pylist()

    # Display, and the cross-device journey's email (last click) and paid search (linear).
    assert [r["group"] for r in rows] == (
        ["display", "email"] if kind == "conversions" else ["display", "email", "paid_search"]
    )
    assert from_csv == rows
    value_columns = [key for key in rows[0] if key.endswith("value")]
    assert value_columns
    for parquet_row, json_row in zip(from_parquet, rows, strict=True):
        for key in value_columns:
            assert isinstance(parquet_row[key], Decimal)
            assert parquet_row[key] == Decimal(json_row[key])
        assert {k: v for k, v in parquet_row.items() if k not in value_columns} == {
            k: v for k, v in json_row.items() if k not in value_columns
        }
    assert document["conversion_name"] == "purchase"
    prefix = "" if kind == "conversions" else "last_click_"
    display = next(r for r in rows if r["group"] == "display")
    assert display[f"{prefix}value"] == "59.970000000"
    assert document["totals"][f"{prefix}conversions"] == 4.0

    # The table written to a file is plain text with the same totals.
    assert run_report(kind, *common, "--output", str(tmp_path / "report.txt")) == 0
    table = (tmp_path / "report.txt").read_text()
    assert "\x1b[" not in table
    assert "59.97" in table
    assert capsys.readouterr().out == ""
