"""`convtrack demo` as a user runs it: its header and its table count the same conversions, its
tour names each section, its charts are written and its data removed unless kept."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from services.commands.demo import SECTIONS, run_demo

CHARTS = ["cost.png", "funnel.png", "models.png", "path-length.png", "trend.png"]


def _section(output: str, number: int) -> str:
    """The text of the tour's section `number` (up to the next heading)."""
    parts = re.split(r"^── \d+\. ", output, flags=re.MULTILINE)
    return parts[number]


def _unwrapped(output: str) -> str:
    """The output with its sentences unwrapped (every run of white space one space)."""
    return re.sub(r"\s+", " ", output)


def test_the_demo_header_counts_the_purchases_its_table_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_demo(400, tmp_path / "data") == 0
    output = capsys.readouterr().out
    sentences = _unwrapped(output)

    opening = output[: output.index("── 1. ")]
    assert all(len(line) <= 100 for line in opening.splitlines()), opening
    header = re.search(r"\((\d+) purchase(?: \+ (\d+) resent orders)?", sentences)
    assert header is not None, output
    sent_purchases = int(header[1])
    duplicates = int(re.search(r"accepted, (\d+) duplicates", sentences)[1])  # type: ignore[index]
    total = re.search(r"^total\s+([\d,.]+)", output, re.MULTILINE)
    assert total is not None, output

    assert "Conversion name: purchase;" in output
    assert float(total[1].replace(",", "")) == sent_purchases
    assert duplicates == int(header[2] or 0)
    headings = re.findall(r"^── (\d+)\. ([^:]+): .* ──$", output, re.MULTILINE)
    assert headings == [
        *((str(n), title) for n, title in enumerate(SECTIONS, start=1)),
        (str(len(SECTIONS) + 1), "Charts"),
    ]
    assert [line for line in output.splitlines() if len(line) > 100] == []
    # The period comparison compares with the 14 days before and shows the change.
    period = _section(output, 2)
    assert "prev. conv." in period and "compared with" in period, period
    # The cross-device journey: a person of two devices joined by a login, its touchpoints
    # from a desktop and a phone, credited under both models.
    journey = _section(output, 5)
    assert journey.count("anonymous id") >= 2 and "user id (a login)" in journey, journey
    assert "desktop" in journey and "mobile" in journey
    assert "last_click credit" in journey and "linear credit" in journey
    # The CRM's deals: hand-checked stage counts (tests/unit/test_sample_data.py), the
    # retracted one left out.
    outcomes = _section(output, 6)
    stages = dict(re.findall(r"^(\w+)\s+\(all\)\s+([\d.]+)", outcomes, re.MULTILINE))
    assert stages == {"lead": "7.00", "qualified": "6.00", "won": "4.00", "lost": "2.00"}
    assert "Conversion name: deal" in outcomes
    funnel = _section(output, 7)
    assert re.search(r"^all\s+page:/products/\*", funnel, re.MULTILINE), funnel
    assert re.search(r"^all\s+conversion:purchase\s+\d+", funnel, re.MULTILINE), funnel
    charts = sorted(p.name for p in (tmp_path / "data" / "charts").iterdir())
    assert charts == CHARTS
    key_file = tmp_path / "data" / "admin.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert f"Data, with the demo's admin key, kept in {tmp_path / 'data'}" in sentences


def test_the_demo_runs_with_api_keys_and_removes_its_data_unless_kept(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in ("CONVTRACK_AUTH", "CONVTRACK_TLS_DIR", "CONVTRACK_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    charts = tmp_path / "charts"
    assert run_demo(200, None, charts) == 0
    output = capsys.readouterr().out

    sentences = _unwrapped(output)
    assert "API keys are on" in sentences
    data = re.search(r"Removed the demo's data \((\S+)\)", sentences)
    assert data is not None, output
    assert not Path(data[1]).exists()
    assert list((tmp_path / "tmp").iterdir()) == []
    assert sorted(p.name for p in charts.iterdir()) == CHARTS
    assert f"Written to {charts.resolve()}" in sentences
    # Nothing to warn about: no vault secret file to keep (the data goes), no lasting failure.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
