"""`convtrack attribution run-file`: a path table credited with the service's model code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.attribution.models import JourneyTouch, credit, named_model
from services.attribution.offline import run_file
from services.cli import main

TABLE = """path,total_conversions,total_conversion_value,total_null
email > paid_search,3,300,7
paid_search,1,50,9
email,0,0,10
direct > email > paid_search,2,120,2
"""


@pytest.fixture
def journeys(tmp_path: Path) -> Path:
    path = tmp_path / "journeys.csv"
    path.write_text(TABLE)
    return path


def credits_of(path: Path, model: str) -> dict[str, tuple[float, float]]:
    (result,) = run_file(path, [model])
    return {c.channel: (round(c.conversions, 9), round(c.value, 9)) for c in result.channels}


def test_first_and_last_touch_credit_whole_paths(journeys: Path) -> None:
    assert credits_of(journeys, "first") == {
        "email": (3.0, 300.0),
        "direct": (2.0, 120.0),
        "paid_search": (1.0, 50.0),
    }
    assert credits_of(journeys, "last") == {
        "paid_search": (6.0, 470.0),
        "direct": (0.0, 0.0),
        "email": (0.0, 0.0),
    }


def test_linear_splits_each_path_evenly(journeys: Path) -> None:
    assert credits_of(journeys, "linear") == {
        "paid_search": (round(1.5 + 1 + 2 / 3, 9), 150 + 50 + 40.0),
        "email": (round(1.5 + 2 / 3, 9), 150 + 40.0),
        "direct": (round(2 / 3, 9), 40.0),
    }


def test_the_file_uses_the_same_weights_as_the_service_for_every_rule(journeys: Path) -> None:
    at = datetime(2026, 1, 10, tzinfo=UTC)
    path = ["direct", "email", "paid_search"]
    journey = [
        JourneyTouch(f"t{i}", at - timedelta(days=len(path) - i), channel, "", "", "")
        for i, channel in enumerate(path)
    ]
    for model in ("time_decay", "position_based", "w_shaped", "j_shaped", "inverse_j"):
        service = credit(named_model(model), journey, at, 1_000_000)
        assert service is not None
        one_path = journeys.parent / "one.csv"
        one_path.write_text("path,total_conversions\ndirect > email > paid_search,1\n")
        offline = credits_of(one_path, model)
        for c in service:
            assert offline[c.channel][0] == pytest.approx(c.fraction)


def test_the_markov_model_reproduces_the_observed_conversion_rate(journeys: Path) -> None:
    (result,) = run_file(journeys, ["markov"])
    assert "modelled conversion rate 17.6471% (observed 17.6471%)" in result.note
    assert sum(c.conversions for c in result.channels) == pytest.approx(6.0)


def test_markov_value_credit_follows_value_removal_effects(tmp_path: Path) -> None:
    # Both paths convert once; a's converts for 100, b's for 10. Conversions split a/b
    # equally, but a's value removal effect is 10/11 against b's 1/11 (E[value] 55, 5 without
    # a, 50 without b), so a earns 50 of the 110 and b 5; c, on both, keeps half.
    path = tmp_path / "valued.csv"
    path.write_text("path,total_conversions,total_conversion_value\nc > a,1,100\nc > b,1,10\n")

    assert credits_of(path, "markov") == {
        "c": (1.0, 55.0),
        "a": (0.5, 50.0),
        "b": (0.5, 5.0),
    }
    (result,) = run_file(path, ["markov"])
    assert "modelled value per journey 55.00 (observed 55.00)" in result.note


def test_the_command_prints_json(journeys: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "attribution",
                "run-file",
                str(journeys),
                "--models",
                "last,shapley",
                "--format",
                "json",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"last_click", "shapley"}
    assert printed["last_click"]["channels"]["paid_search"] == {"conversions": 6.0, "value": 470.0}


def test_the_command_reports_a_bad_file_plainly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("path,total_conversions\n,3\n")
    assert main(["attribution", "run-file", str(bad)]) == 1
    assert "skipped 1 row: empty path or channel (line 2)" in capsys.readouterr().err
    assert main(["attribution", "run-file", str(bad), "--strict"]) == 1
    assert "line 2: empty path or channel in ''" in capsys.readouterr().err


GOOD_ROWS = [
    "email > paid_search,3,300,7",
    "paid_search,1,50,9",
    "direct > email > paid_search,2,120,2",
]
BAD_ROWS = [
    "email,-1,0,10",  # negative conversions
    "display,1,nan,3",  # NaN value
    "display,1,10,inf",  # infinite nulls
    "social,two,0,1",  # not a number
    "email > > social,1,10,0",  # empty channel
    "social,1,10",  # too few fields
    "social,1,10,0,4",  # too many fields
    ",1,0,0",  # empty path
]


def run_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes, *args: str
) -> tuple[int, str, str]:
    path = tmp_path / "rows.csv"
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    code = main(["attribution", "run-file", str(path), "--format", "json", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_bad_rows_are_skipped_counted_per_reason_and_the_rest_is_credited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = "path,total_conversions,total_conversion_value,total_null\n"
    mixed = header + "\n".join([GOOD_ROWS[0], *BAD_ROWS[:4], GOOD_ROWS[1], *BAD_ROWS[4:]])
    mixed += "\n" + GOOD_ROWS[2] + "\n"
    code, out, err = run_cli(tmp_path, capsys, mixed, "--models", "last,linear,markov")
    assert code == 0
    code, clean_out, clean_err = run_cli(
        tmp_path, capsys, header + "\n".join(GOOD_ROWS) + "\n", "--models", "last,linear,markov"
    )

    assert code == 0 and clean_err == ""
    assert json.loads(out) == json.loads(clean_out)
    prefix = "convtrack attribution run-file: "
    assert err.splitlines() == [
        prefix + "skipped 1 row: total_conversions must be a non-negative number (line 3)",
        prefix + "skipped 1 row: total_conversion_value must be a non-negative number (line 4)",
        prefix + "skipped 1 row: total_null must be a non-negative number (line 5)",
        prefix + "skipped 1 row: total_conversions is not a number (line 6)",
        prefix + "skipped 2 rows: empty path or channel (first on line 8)",
        prefix + "skipped 2 rows: wrong number of fields (first on line 9)",
    ]


def test_strict_stops_at_the_first_bad_row_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = (
        "path,total_conversions,total_conversion_value,total_null\n"
        "email,1,10,0\n"
        "email,1,10,-3\n"  # line 3: the first bad row
        "email,x,10,0\n"
    )
    code, out, err = run_cli(tmp_path, capsys, content, "--strict")

    assert code == 1 and out == ""
    assert err.strip().endswith("line 3: total_null must be a non-negative number, got '-3'")


def test_rows_that_are_not_utf8_are_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = b"path,total_conversions\nemail,1\nd\xe9j\xe0 vu,1\nemail > search,1\n"
    code, out, err = run_cli(tmp_path, capsys, content, "--models", "first")

    assert code == 0
    assert json.loads(out)["first_click"]["channels"] == {
        "email": {"conversions": 2.0, "value": 0.0},
        "search": {"conversions": 0.0, "value": 0.0},
    }
    assert "skipped 1 row: not UTF-8 text (line 3)" in err


def test_unknown_columns_are_named_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = "path,total_conversions,total_conversions_value\nemail,1,30\n"
    code, _, err = run_cli(tmp_path, capsys, content, "--models", "first")

    assert code == 0
    assert "ignored columns it does not use: total_conversions_value" in err


def test_a_file_with_no_usable_row_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = "path,total_conversions\nemail,-1\n,1\n"
    code, out, err = run_cli(tmp_path, capsys, content)

    assert code == 1 and out == ""
    assert "skipped 1 row: total_conversions must be a non-negative number (line 2)" in err
    assert "skipped 1 row: empty path or channel (line 3)" in err
    assert "no usable row (2 skipped)" in err
