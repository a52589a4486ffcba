"""A vectorised reader of clean path table files (pyarrow's CSV parser and compute kernels).

`read_path_csv` reads a large file with `read_clean_path_table` first: it builds the same
`PathTable` (same channels, path order, codes and sums, bit for bit) as the row-by-row reader,
but only for a file in which that reader finds nothing to report. Whenever the file holds
anything the row-by-row reader would report, or whose reading could differ in any detail
(a header that is not one plain line, a row of another length, an empty path or channel,
text that is not UTF-8, a number not written as plain digits, NUL bytes, a field longer than
the `csv` module's limit), it returns None and the row-by-row reader reads the file, with its
line numbers and messages. pyarrow is imported here only, when a large file is read.

Why the result is the same:

* pyarrow's parser and `csv.reader` (default dialect, not strict) split rows and fields alike
  for the inputs accepted here: double quotes as in RFC 4180 (``""`` inside quotes, newlines
  inside quotes), text after a closing quote appended, a quote inside an unquoted field kept,
  CR, LF or CRLF line ends, blank lines skipped. Inputs where they differ (a whitespace-only
  line, an unterminated quote) make pyarrow fail or give a row of another length, so they go
  to the row-by-row reader.
* Distinct cell texts are found by dictionary encoding, which numbers them in order of first
  appearance, as the row-by-row reader's dict does; a path is split on ``>`` by the same rule
  as `str.split`; channel names are stripped with Python's `str.strip` on the few distinct
  pieces, not with a kernel whose idea of white space could differ.
* Numbers are accepted only as unsigned decimals (``12``, ``3.50``, ``.5``, ``1e6``) or empty
  (0); pyarrow parses those correctly rounded, as Python's `float` does, so they are the same
  doubles.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from services.attribution.datadriven import (
    _KEY_LIMIT,
    CONVERSIONS_COLUMN,
    NULL_COLUMN,
    PATH_COLUMN,
    PATH_SEPARATOR,
    VALUE_COLUMN,
    CodeArray,
    FloatArray,
    IntArray,
    PathTable,
)

if TYPE_CHECKING:
    import pyarrow as pa

UTF8_BOM = b"\xef\xbb\xbf"

PLAIN_NUMBER = r"^(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)?$"
"""An empty cell or an unsigned decimal number: the only number syntax read here."""


def read_clean_path_table(path: Path) -> tuple[list[str], PathTable] | None:
    """The header (lower case) and the table of a path table file with nothing to report, or
    None when the row-by-row reader must read it (see the module docstring)."""
    data = path.read_bytes()
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    if b"\x00" in data:
        return None
    header_end = min((i for i in (data.find(b"\r"), data.find(b"\n")) if i >= 0), default=-1)
    if header_end < 0:
        return None
    header_line = data[:header_end]
    body_start = header_end + (2 if data[header_end : header_end + 2] == b"\r\n" else 1)
    body = data[body_start:]
    if b'"' in header_line or body.startswith(UTF8_BOM) or not body.strip(b"\r\n"):
        return None
    try:
        header_text = header_line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    delimiter = max((",", ";", "\t"), key=header_text.count)
    header = [name.strip().lower() for name in next(csv.reader([header_text], delimiter=delimiter))]
    if PATH_COLUMN not in header or CONVERSIONS_COLUMN not in header:
        return None
    columns = _parse(body, delimiter, len(header))
    if columns is None:
        return None
    numbers = []
    for name in (CONVERSIONS_COLUMN, VALUE_COLUMN, NULL_COLUMN):
        if name in header:
            number_column = _numbers(columns[header.index(name)])
            if number_column is None:
                return None
            numbers.append(number_column)
        else:
            numbers.append(np.zeros(len(columns[0]), dtype=np.float64))
    table = _paths(columns[header.index(PATH_COLUMN)], *numbers)
    if table is None:
        return None
    return header, table


def _parse(body: bytes, delimiter: str, n_fields: int) -> list[pa.StringArray] | None:
    """Every column as strings, or None when pyarrow refuses the text or a row's length."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    try:
        table = pcsv.read_csv(
            pa.py_buffer(body),
            read_options=pcsv.ReadOptions(autogenerate_column_names=True, use_threads=False),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(n_fields)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None
    if table.num_columns != n_fields or table.num_rows == 0:
        return None
    columns = [table.column(i).combine_chunks() for i in range(n_fields)]
    limit = csv.field_size_limit()
    for column in columns:
        if column.null_count or pc.max(pc.binary_length(column)).as_py() > limit:
            return None
    return columns


def _numbers(column: pa.StringArray) -> FloatArray | None:
    """A number column as doubles (empty cells 0), or None unless every cell is plain."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pc.all(pc.match_substring_regex(column, PLAIN_NUMBER)).as_py():
        return None
    try:
        array = pc.cast(pc.if_else(pc.equal(column, ""), "0", column), pa.float64())
    except (pa.ArrowException, ValueError):
        return None
    values: FloatArray = np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)
    if not np.all(np.isfinite(values)):
        return None
    return values


def _paths(
    column: pa.StringArray, conversions: FloatArray, values: FloatArray, nulls: FloatArray
) -> PathTable | None:
    """The table: distinct channel paths in order of first appearance, summed."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(column)
    raw_ids = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    pieces = pc.split_pattern(encoded.dictionary, PATH_SEPARATOR)
    raw_offsets = np.asarray(pieces.offsets.to_numpy(), dtype=np.int64)
    raw_offsets = raw_offsets - raw_offsets[0]
    piece_codes = pc.dictionary_encode(pieces.flatten())
    names = [piece.strip() for piece in piece_codes.dictionary.to_pylist()]
    if not all(names):
        return None
    vocabulary = tuple(sorted(set(names)))
    code_of = {channel: code for code, channel in enumerate(vocabulary)}
    piece_to_code = np.array([code_of[name] for name in names], dtype=np.int32)
    raw_codes: CodeArray = piece_to_code[
        np.asarray(piece_codes.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    ]
    labels = _same_path_labels(raw_offsets, raw_codes, len(vocabulary))
    first_raw = np.unique(labels, return_index=True)[1]
    order = np.argsort(first_raw, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    representatives = first_raw[order]
    raw_lengths = np.diff(raw_offsets)
    lengths = raw_lengths[representatives]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    starts = np.repeat(raw_offsets[representatives] - offsets[:-1], lengths)
    codes = raw_codes[starts + np.arange(int(offsets[-1]), dtype=np.int64)].astype(np.int32)
    inverse = rank[labels][raw_ids]
    n = len(lengths)
    sums = np.stack(
        [
            np.bincount(inverse, weights=column_, minlength=n)
            for column_ in (conversions, values, nulls)
        ]
    )
    return PathTable(vocabulary, offsets, codes, sums[0], sums[1], sums[2])


def _same_path_labels(offsets: IntArray, codes: CodeArray, n_channels: int) -> IntArray:
    """A label per coded path, equal exactly for equal paths (grouped by length)."""
    lengths = np.diff(offsets)
    labels = np.empty(len(lengths), dtype=np.int64)
    base = max(n_channels, 1)
    next_label = 0
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        matrix = codes[offsets[rows][:, None] + np.arange(length)]
        if base**length < _KEY_LIMIT:
            weights = base ** np.arange(length - 1, -1, -1, dtype=np.int64)
            _, inverse = np.unique(matrix.astype(np.int64) @ weights, return_inverse=True)
        else:
            _, inverse = np.unique(matrix, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        labels[rows] = next_label + inverse
        next_label += int(inverse.max()) + 1
    return labels
