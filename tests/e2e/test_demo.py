"""`convtrack demo` as a user runs it: its header and its table count the same conversions."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from services.commands.demo import run_demo


def test_the_demo_header_counts_the_purchases_its_table_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_demo(400, tmp_path / "data") == 0
    output = capsys.readouterr().out

    header = re.search(r"\((\d+) purchase(?: \+ (\d+) resent orders)?", output)
    assert header is not None, output
    sent_purchases = int(header[1])
    duplicates = int(re.search(r"accepted, (\d+) duplicates", output)[1])  # type: ignore[index]
    total = re.search(r"^total\s+([\d,.]+)", output, re.MULTILINE)
    assert total is not None, output

    assert "Conversion name: purchase;" in output
    assert float(total[1].replace(",", "")) == sent_purchases
    assert duplicates == int(header[2] or 0)
    assert "Top purchase conversion paths" in output
    charts = sorted(p.name for p in (tmp_path / "data" / "charts").iterdir())
    assert charts == ["cost.png", "models.png", "path-length.png", "trend.png"]
    key_file = tmp_path / "data" / "admin.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert f"Data, with the demo's admin key, kept in {tmp_path / 'data'}" in output


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

    assert "API keys are on" in output
    data = re.search(r"Removed the demo's data \((.+)\)", output)
    assert data is not None, output
    assert not Path(data[1]).exists()
    assert list((tmp_path / "tmp").iterdir()) == []
    assert sorted(p.name for p in charts.iterdir()) == [
        "cost.png",
        "models.png",
        "path-length.png",
        "trend.png",
    ]
    # Nothing to warn about: no vault secret file to keep (the data goes), no lasting failure.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
