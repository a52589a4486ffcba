"""The vectorised path table reader gives the row-by-row reader's table, bit for bit, or none."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from common.input_problems import ProblemTally
from services.attribution import datadriven
from services.attribution.datadriven import PathTable, read_path_csv
from services.attribution.fast_csv import read_clean_path_table

CHANNELS = [
    "email",
    "paid_search",
    "café",
    "検索 広告",
    "émail ✉",
    'say "hi"',
    "a, b",
    "multi\nline",
    "tab\there",
    "direct",
]
PADDING = ["", " ", "  ", "\t", "\u00a0", "\u2003", " \u3000"]
"""Spaces around a channel name: ASCII, no-break, em and ideographic spaces (`str.strip`
removes them all)."""

NUMBERS = [
    "",
    "0",
    "7",
    "007",
    "3.50",
    ".5",
    "5.",
    "1e6",
    "2.5E-3",
    "1E+05",
    "123456789012345678901234567890",
    "9007199254740993",
    "0.1000000000000000055511151231257827021181583404541015625",
    "1e300",
    "4.9e-324",
    "2.2250738585072011e-308",
]


def slow_read(path: Path, monkeypatch: pytest.MonkeyPatch) -> PathTable:
    """The row-by-row reader, whatever the file's size."""
    with monkeypatch.context() as patch:
        patch.setattr(datadriven, "FAST_READ_BYTES", 1 << 62)
        return read_path_csv(path)


def assert_same_table(fast: PathTable, slow: PathTable) -> None:
    assert fast.channels == slow.channels
    for name in ("offsets", "codes", "conversions", "values", "nulls"):
        ours, theirs = getattr(fast, name), getattr(slow, name)
        assert ours.dtype == theirs.dtype, name
        assert ours.tobytes() == theirs.tobytes(), name


def quoted(cell: str, delimiter: str, rng: random.Random) -> str:
    if any(char in cell for char in (delimiter, '"', "\n", "\r")) or rng.random() < 0.2:
        return '"' + cell.replace('"', '""') + '"'
    return cell


def random_number(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(NUMBERS)
    mantissa = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 20)))
    point = rng.randint(0, len(mantissa))
    text = mantissa[:point] + "." + mantissa[point:] if rng.random() < 0.7 else mantissa
    if text == ".":
        text = "0"
    if rng.random() < 0.3:
        text += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randint(0, 280))
    return text


def write_tricky_table(
    path: Path,
    seed: int,
    *,
    rows: int = 3000,
    delimiter: str = ",",
    newline: str = "\n",
    bom: bool = False,
    extra_column: bool = False,
) -> None:
    rng = random.Random(seed)
    header = ["Path ", "total_conversions", "TOTAL_CONVERSION_VALUE", "total_null"]
    if extra_column:
        header.insert(2, "campaign")
    lines = [delimiter.join(header)]
    for _ in range(rows):
        steps = [rng.choice(CHANNELS) for _ in range(rng.randint(1, 6))]
        separator = rng.choice([">", " > ", " >", ">  "])
        text = separator.join(rng.choice(PADDING) + s + rng.choice(PADDING) for s in steps)
        cells = [text, random_number(rng), random_number(rng), random_number(rng)]
        if extra_column:
            cells.insert(2, rng.choice(["", "spring, sale", "x"]))
        lines.append(delimiter.join(quoted(cell, delimiter, rng) for cell in cells))
        if rng.random() < 0.01:
            lines.append("")  # blank lines are skipped by both readers
    content = newline.join(lines) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + content.encode("utf-8"))


@pytest.mark.parametrize(
    ("seed", "options"),
    [
        (1, {}),
        (2, {"delimiter": ";", "newline": "\r\n"}),
        (3, {"delimiter": "\t", "bom": True}),
        (4, {"newline": "\r", "extra_column": True}),
    ],
)
def test_the_fast_reader_builds_the_row_by_row_readers_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, options: dict[str, object]
) -> None:
    path = tmp_path / "paths.csv"
    write_tricky_table(path, seed, **options)  # type: ignore[arg-type]
    clean = read_clean_path_table(path)
    assert clean is not None
    header, fast = clean
    slow = slow_read(path, monkeypatch)
    assert_same_table(fast, slow)
    assert header[0] == "path"
    assert {"café", "検索 広告", 'say "hi"', "a, b", "multi\nline"} <= set(slow.channels)


def test_a_large_file_is_read_fast_with_the_same_credits_and_notes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "paths.csv"
    write_tricky_table(path, 5, rows=30_000, extra_column=True)
    assert path.stat().st_size >= datadriven.FAST_READ_BYTES
    problems = ProblemTally("row", field_word="column")
    fast = read_path_csv(path, problems)
    slow_problems = ProblemTally("row", field_word="column")
    with monkeypatch.context() as patch:
        patch.setattr(datadriven, "FAST_READ_BYTES", 1 << 62)
        slow = read_path_csv(path, slow_problems)
    assert_same_table(fast, slow)
    assert (
        problems.summary()
        == slow_problems.summary()
        == ["ignored columns it does not use: campaign"]
    )


@pytest.mark.parametrize(
    "row",
    [
        "a > b,-1,0,0",  # negative
        "a > b,nan,0,0",
        "a > b,inf,0,0",
        "a > b,1e400,0,0",  # not finite as a double
        "a > b,+1,0,0",
        "a > b, 1,0,0",  # Python's float takes it; left to the row-by-row reader
        "a > b,1_000,0,0",
        'a > b,"1,000",0,0',
        "a > > b,1,0,0",  # empty channel
        " ,1,0,0",  # empty path
        "a > b,1,0",  # too few fields
        "a > b,1,0,0,0",  # too many
        "   ",  # white space only
        '"a > b,1,0,0',  # unterminated quote
    ],
)
def test_anything_to_report_is_left_to_the_row_by_row_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row: str
) -> None:
    path = tmp_path / "paths.csv"
    body = "path,total_conversions,total_conversion_value,total_null\n" + "x > y,1,2,3\n" * 100
    path.write_text(body + row + "\n" + "y,1,2,3\n")
    assert read_clean_path_table(path) is None


@pytest.mark.parametrize(
    "content",
    [
        b"path,total_conversions\nx,1\n\xff > y,1\n",  # not UTF-8
        b"path,total_conversions\nx,1\ny\x00,1\n",  # NUL byte
        b'"path",total_conversions\nx,1\n',  # quoted header
        b"path,total_conversions\n",  # no rows
        b"path,total_conversions",  # only a header
        b"path,conversions\nx,1\n",  # not a path table
    ],
)
def test_unusual_files_are_left_to_the_row_by_row_reader(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "paths.csv"
    path.write_bytes(content)
    assert read_clean_path_table(path) is None


def test_a_large_file_with_a_bad_row_reports_it_as_before(tmp_path: Path) -> None:
    path = tmp_path / "paths.csv"
    rows = "".join(f"search > email > c{n % 50},{n % 7},{n}.25,{n % 11}\n" for n in range(60_000))
    header = "path,total_conversions,total_conversion_value,total_null\n"
    path.write_text(header + rows + "x,-2,0,0\n")
    assert path.stat().st_size >= datadriven.FAST_READ_BYTES
    problems = ProblemTally("row", field_word="column")
    table = read_path_csv(path, problems)
    assert problems.summary() == [
        "skipped 1 row: total_conversions must be a non-negative number (line 60002)"
    ]
    assert table.n_paths == 50
    assert table.total_conversions == float(sum(n % 7 for n in range(60_000)))
    assert np.all(table.lengths == 3)
