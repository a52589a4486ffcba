"""`convtrack demo` as a user runs it: its header and its table count the same conversions."""

from __future__ import annotations

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
