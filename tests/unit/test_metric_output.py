"""Cost and rate report output: labelled aligned table with totals, and CSV, JSON and Parquet
that read back to the same records."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

from services.commands.metric_output import (
    Column,
    Kind,
    MetricTable,
    records,
    render_table,
    write_csv,
    write_json,
    write_parquet,
)

TABLE = MetricTable(
    columns=(
        Column("group", "channel", Kind.TEXT),
        Column("cost", "cost (USD)", Kind.MONEY),
        Column("conversions", "conversions", Kind.NUMBER),
        Column("roas", "ROAS", Kind.RATIO),
    ),
    rows=(
        {"group": "paid_search", "cost": "50", "conversions": 1.0, "roas": 1.0},
        {"group": "direct", "cost": "0", "conversions": 1.0, "roas": None},
    ),
    totals={"group": "total", "cost": "50", "conversions": 2.0, "roas": 1.6},
    scope={"kind": "cost", "model": "last_click"},
    caption="Conversion name: purchase; model: last_click",
)


def test_the_table_labels_every_column_and_shows_totals_and_its_caption() -> None:
    text = render_table(TABLE)
    assert "cost (USD)" in text and "ROAS" in text
    assert "total" in text and "1.600" in text and "—" in text
    assert text.splitlines()[-1] == "Conversion name: purchase; model: last_click"


def test_csv_json_and_parquet_read_back_to_the_records(tmp_path: Path) -> None:
    expected = records(TABLE)
    assert expected[0]["cost"] == "50.000000000"
    out = io.StringIO()
    write_csv(TABLE, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["cost"] for r in rows] == ["50.000000000", "0.000000000"]
    assert rows[1]["roas"] == ""
    out = io.StringIO()
    write_json(TABLE, out)
    document = json.loads(out.getvalue())
    assert document["rows"] == expected and document["totals"]["roas"] == 1.6
    path = tmp_path / "cost.parquet"
    write_parquet(TABLE, path)
    read = pq.read_table(path).to_pylist()
    assert [r["cost"] for r in read] == [Decimal("50"), Decimal("0")]
    assert read[1]["roas"] is None
    assert json.loads(pq.read_schema(path).metadata[b"convtrack"]) == TABLE.scope
