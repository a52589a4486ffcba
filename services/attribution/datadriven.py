"""Data-driven attribution: exact Markov-chain removal effects and Shapley values on path tables.

Inputs are path tables: distinct channel paths, each with its conversions, conversion value and
null (non-converting) journeys, as the common attribution tools exchange them.

Markov chain removal effect (Anderl et al. 2016), computed exactly:

* States are ``(start)``, the channel states, ``(conversion)`` and ``(null)``. For order ``k`` a
  channel state is the tuple of the last ``k`` channels of the path (the first ``k - 1`` steps of
  a path use the shorter prefix tuples), the standard higher-order construction.
* A path of ``c`` conversions and ``u`` nulls stands for ``c + u`` journeys: every transition
  along it counts ``c + u``; its last state moves to ``(conversion)`` with weight ``c`` and to
  ``(null)`` with weight ``u``. Paths without conversion therefore count only through ``nulls``;
  a table without nulls models every journey as converting (``conversion_probability`` is 1),
  which still yields removal effects, as in ChannelAttribution without ``var_null``.
* Repeated consecutive channels are collapsed by default (``a > a > b`` is ``a > b``), as
  ChannelAttribution does: a self-loop changes the expected number of visits but not whether a
  journey reaches a state, so it cannot change any removal effect at order 1.
  ``collapse_repeats=False`` keeps them.
* The conversion probability from ``(start)`` solves ``(I - Q) x = r`` (``Q`` transient-to-
  transient probabilities, ``r`` transient-to-conversion) with a sparse LU factorisation, not by
  simulation, so every run gives the same answer. Removing channel ``c`` sends every transition
  into a state containing ``c`` to ``(null)``, i.e. those states drop out of the system.
  With transitions fitted on the same data the modelled probability equals the observed
  conversion rate (total conversions / total journeys): the data's state-visit counts solve the
  same flow equations.
* Removal effect ``RE_c = 1 - P(conv | c removed) / P(conv)``; conversion credit =
  ``RE_c / sum(RE)`` x total conversions.
* Value credit comes from value removal effects, as in ChannelAttribution with a value column:
  a conversion reached from state ``s`` is worth ``m_s``, the mean value of the observed
  conversions whose paths end in ``s``. The expected conversion value per journey solves the
  same system with ``r * m`` on the right (one LU factorisation serves both), and
  ``VRE_c = 1 - E[value | c removed] / E[value]``; value credit = ``VRE_c / sum(VRE)`` x total
  value. With fitted transitions the modelled value per journey equals the observed one. At
  order 1 the value of a conversion depends on its last channel only (the Markov property);
  higher orders remember more of the path. Value on rows without conversions is ignored by
  the chain; when no conversion carries value, value credit follows the conversion shares.

Shapley value:

* The coalition value ``v(S)`` is the total conversions (value, for value credit) of the paths
  whose channel set is a subset of ``S``: what the journeys observed with only those channels
  achieved. Credits are Shapley values and sum to ``v(all)``, the total conversions.
  The alternative "conversion-rate" variant, ``v(S)`` = conversions / journeys of the paths within
  ``S``, needs null journeys and does not sum to the conversions without rescaling; it is not
  implemented here.
* Exact with up to ``max_exact_channels`` channels: ``v`` for all ``2^n`` coalitions by a subset-sum
  (zeta) transform over bitmasks, ``O(2^n n)`` time and ``16 * 2^n`` bytes. Beyond that, a seeded
  permutation-sampling estimate (``exact=False``): in a random channel order each path's
  conversions go to its channel that comes last, which is its marginal contribution; each sample
  conserves the total exactly.
* For this ``v`` the Shapley value also has a closed form (each path's conversions split equally
  among its distinct channels, the unanimity-game decomposition); the tests use it as a check.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from common.input_problems import InputProblem, ProblemTally

if TYPE_CHECKING:
    import scipy.sparse as sp

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CodeArray = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]

PATH_SEPARATOR = ">"
PATH_COLUMN = "path"
CONVERSIONS_COLUMN = "total_conversions"
VALUE_COLUMN = "total_conversion_value"
NULL_COLUMN = "total_null"
PATH_FILE_COLUMNS = frozenset({PATH_COLUMN, CONVERSIONS_COLUMN, VALUE_COLUMN, NULL_COLUMN})

_KEY_LIMIT = 2**62

FAST_READ_BYTES = 1 << 20
"""Path table files of at least this size are read with pyarrow when they are clean
(`services.attribution.fast_csv`); importing it costs about what reading 10,000 rows
one by one does, so smaller files are read row by row."""


class InvalidPathDataError(ValueError):
    """Path data that cannot form a path table (empty path, negative count, bad file)."""


def _readonly(array: npt.NDArray[np.generic]) -> None:
    array.setflags(write=False)


@dataclass(frozen=True, eq=False)
class PathTable:
    """Distinct channel paths with their conversions, conversion value and null journeys.

    Path ``i`` is ``channels[codes[offsets[i]:offsets[i + 1]]]`` (CSR layout); every path has at
    least one step. Arrays are read-only.
    """

    channels: tuple[str, ...]
    offsets: IntArray
    codes: CodeArray
    conversions: FloatArray
    values: FloatArray
    nulls: FloatArray

    def __post_init__(self) -> None:
        n_paths = len(self.offsets) - 1
        if n_paths < 0 or self.offsets[0] != 0 or self.offsets[-1] != len(self.codes):
            raise InvalidPathDataError("offsets must start at 0 and end at len(codes)")
        if np.any(np.diff(self.offsets) < 1):
            raise InvalidPathDataError("every path needs at least one channel")
        if len(self.codes) and (self.codes.min() < 0 or self.codes.max() >= len(self.channels)):
            raise InvalidPathDataError("channel codes outside the vocabulary")
        for name in ("conversions", "values", "nulls"):
            column: FloatArray = getattr(self, name)
            if column.shape != (n_paths,):
                raise InvalidPathDataError(f"{name} must have one entry per path")
            if not np.all(np.isfinite(column)) or np.any(column < 0):
                raise InvalidPathDataError(f"{name} must be finite and non-negative")
        for array in (self.offsets, self.codes, self.conversions, self.values, self.nulls):
            _readonly(array)

    @property
    def n_paths(self) -> int:
        """The number of distinct paths."""
        return len(self.offsets) - 1

    @property
    def lengths(self) -> IntArray:
        """The number of steps of each path."""
        return np.diff(self.offsets)

    @property
    def total_conversions(self) -> float:
        """All conversions in the table."""
        return float(self.conversions.sum())

    @property
    def total_value(self) -> float:
        """All conversion value in the table."""
        return float(self.values.sum())

    @property
    def total_journeys(self) -> float:
        """Conversions plus nulls: the journeys the table stands for."""
        return float(self.conversions.sum() + self.nulls.sum())

    def path(self, index: int) -> tuple[str, ...]:
        """The channels of path ``index``."""
        start, stop = int(self.offsets[index]), int(self.offsets[index + 1])
        return tuple(self.channels[c] for c in self.codes[start:stop].tolist())

    @classmethod
    def from_codes(
        cls,
        channels: Sequence[str],
        offsets: npt.ArrayLike,
        codes: npt.ArrayLike,
        conversions: npt.ArrayLike,
        values: npt.ArrayLike | None = None,
        nulls: npt.ArrayLike | None = None,
    ) -> PathTable:
        """A table from coded paths (one row per path or journey), duplicates aggregated.

        Vectorised: the constructor for large journey sets already held as arrays.
        """
        off = np.asarray(offsets, dtype=np.int64)
        cod = np.asarray(codes, dtype=np.int32)
        n_paths = len(off) - 1
        conv = _column(conversions, n_paths, "conversions")
        val = _column(values, n_paths, "values")
        nul = _column(nulls, n_paths, "nulls")
        names = list(channels)
        if len(set(names)) != len(names):
            raise InvalidPathDataError("channel names must be distinct")
        order = sorted(range(len(names)), key=names.__getitem__)
        if order != list(range(len(names))):
            remap = np.empty(len(names), dtype=np.int32)
            remap[np.asarray(order, dtype=np.int64)] = np.arange(len(names), dtype=np.int32)
            cod = remap[cod]
        vocabulary = tuple(names[i] for i in order)
        if n_paths < 0 or off[0] != 0 or off[-1] != len(cod) or np.any(np.diff(off) < 1):
            raise InvalidPathDataError("offsets must be increasing from 0 to len(codes)")
        if len(cod) and (cod.min() < 0 or cod.max() >= len(vocabulary)):
            raise InvalidPathDataError("channel codes outside the vocabulary")
        off, cod, sums = _aggregate(off, cod, len(vocabulary), np.stack([conv, val, nul]))
        return cls(vocabulary, off, cod, sums[0], sums[1], sums[2])

    @classmethod
    def from_paths(
        cls,
        paths: Iterable[Sequence[str]],
        conversions: Iterable[float],
        values: Iterable[float] | None = None,
        nulls: Iterable[float] | None = None,
    ) -> PathTable:
        """A table from channel paths (one per path or per journey), duplicates aggregated.

        ``values`` and ``nulls`` default to 0. A path must have at least one channel: callers
        credit a journey without touchpoints to an explicit channel such as ``"(none)"``.
        """
        index: dict[tuple[str, ...], int] = {}
        ids = [index.setdefault(tuple(p), len(index)) for p in paths]
        n_rows = len(ids)
        conv = _column(np.fromiter(conversions, dtype=np.float64), n_rows, "conversions")
        val = _column(None if values is None else np.fromiter(values, np.float64), n_rows, "values")
        nul = _column(None if nulls is None else np.fromiter(nulls, np.float64), n_rows, "nulls")
        for position, row in enumerate(index):
            if not row or any(not channel for channel in row):
                raise InvalidPathDataError(
                    f"path {position} ({' > '.join(row)!r}) has an empty channel or no channel"
                )
        inverse = np.asarray(ids, dtype=np.int64)
        unique = list(index)
        return _table_from_unique(unique, inverse, conv, val, nul)


def _column(data: npt.ArrayLike | None, n_rows: int, name: str) -> FloatArray:
    if data is None:
        return np.zeros(n_rows, dtype=np.float64)
    array = np.asarray(data, dtype=np.float64)
    if array.shape != (n_rows,):
        raise InvalidPathDataError(f"{name}: expected {n_rows} entries, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InvalidPathDataError(f"{name} must be finite")
    negative = np.flatnonzero(array < 0)
    if len(negative):
        raise InvalidPathDataError(f"{name} must be non-negative (row {int(negative[0])})")
    return array


def _table_from_unique(
    unique: Sequence[tuple[str, ...]],
    inverse: IntArray,
    conversions: FloatArray,
    values: FloatArray,
    nulls: FloatArray,
) -> PathTable:
    """Aggregate rows that map (by ``inverse``) onto distinct channel tuples."""
    vocabulary = tuple(sorted({channel for row in unique for channel in row}))
    code_of = {channel: code for code, channel in enumerate(vocabulary)}
    lengths = np.fromiter((len(row) for row in unique), dtype=np.int64, count=len(unique))
    offsets = np.zeros(len(unique) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    codes = np.fromiter(
        (code_of[channel] for row in unique for channel in row),
        dtype=np.int32,
        count=int(offsets[-1]),
    )
    n = len(unique)
    sums = np.stack(
        [
            np.bincount(inverse, weights=column, minlength=n)
            for column in (conversions, values, nulls)
        ]
    )
    return PathTable(vocabulary, offsets, codes, sums[0], sums[1], sums[2])


def _aggregate(
    offsets: IntArray, codes: CodeArray, n_channels: int, columns: FloatArray
) -> tuple[IntArray, CodeArray, FloatArray]:
    """Merge identical coded paths, summing ``columns`` (shape ``(k, n_paths)``).

    Paths are grouped by length, so each group is a dense matrix; the distinct paths come out
    ordered by length, then by codes.
    """
    lengths = np.diff(offsets)
    new_codes: list[CodeArray] = []
    new_lengths: list[IntArray] = []
    new_sums: list[FloatArray] = []
    base = max(n_channels, 1)
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        matrix = codes[offsets[rows][:, None] + np.arange(length)]
        if base**length < _KEY_LIMIT:
            weights = base ** np.arange(length - 1, -1, -1, dtype=np.int64)
            keys = matrix.astype(np.int64) @ weights
            _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
            distinct = matrix[first]
        else:
            distinct, inverse = np.unique(matrix, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        n_distinct = len(distinct)
        new_codes.append(distinct.reshape(-1).astype(np.int32))
        new_lengths.append(np.full(n_distinct, length, dtype=np.int64))
        new_sums.append(
            np.stack([np.bincount(inverse, weights=c[rows], minlength=n_distinct) for c in columns])
        )
    if not new_codes:
        return (
            np.zeros(1, dtype=np.int64),
            np.zeros(0, dtype=np.int32),
            np.zeros((len(columns), 0), dtype=np.float64),
        )
    all_lengths = np.concatenate(new_lengths)
    new_offsets = np.zeros(len(all_lengths) + 1, dtype=np.int64)
    np.cumsum(all_lengths, out=new_offsets[1:])
    return new_offsets, np.concatenate(new_codes), np.concatenate(new_sums, axis=1)


def read_path_csv(path: Path, problems: ProblemTally | None = None) -> PathTable:
    """Read a path table file: columns ``path`` (``"a > b > c"``), ``total_conversions``,
    optional ``total_conversion_value`` and ``total_null`` (absent columns and empty cells are 0).

    One row per distinct path or per journey; duplicate paths are summed. Header names are
    case-insensitive; the delimiter (``,``, ``;`` or tab) is taken from the header line. Channel
    names are stripped of surrounding spaces. A row with another number of fields than the
    header, an empty path or channel, text that is not UTF-8, or a bad, negative or
    non-finite number is reported to ``problems`` with its line and left out, and other
    columns are noted there as ignored. Without ``problems``, the first such row raises
    ``InvalidPathDataError`` naming its line. A header without ``path`` and
    ``total_conversions``, or a file none of whose rows is usable, always raises.

    A file of ``FAST_READ_BYTES`` or more is first read with pyarrow
    (`services.attribution.fast_csv`), which gives the same table when there is nothing to
    report and otherwise leaves the file to the row-by-row reader below.
    """
    if problems is None:
        problems = ProblemTally(
            "row", strict=True, error=lambda message: InvalidPathDataError(f"{path}: {message}")
        )
    if path.stat().st_size >= FAST_READ_BYTES:
        from services.attribution.fast_csv import read_clean_path_table

        clean = read_clean_path_table(path)
        if clean is not None:
            for name in clean[0]:
                if name not in PATH_FILE_COLUMNS:
                    problems.ignore_field(name)
            return clean[1]
    header, rows, lines, found = _read_rows(path)
    for name in header:
        if name not in PATH_FILE_COLUMNS:
            problems.ignore_field(name)
    path_column = header.index(PATH_COLUMN)
    raw_index: dict[str, int] = {}
    raw_ids = np.fromiter(
        (raw_index.setdefault(row[path_column], len(raw_index)) for row in rows),
        dtype=np.int64,
        count=len(rows),
    )
    raw_steps = [tuple(step.strip() for step in text.split(PATH_SEPARATOR)) for text in raw_index]
    raw_reasons = [
        _path_problem(text, steps) for text, steps in zip(raw_index, raw_steps, strict=True)
    ]
    bad_raw = np.fromiter(map(bool, raw_reasons), dtype=bool, count=len(raw_reasons))
    for index in np.flatnonzero(bad_raw[raw_ids]).tolist():
        reason, line = raw_reasons[int(raw_ids[index])], lines[index]
        detail = f"{reason} in {rows[index][path_column]!r}"
        found.setdefault(line, InputProblem(line, reason, detail=detail))
    numbers = []
    for name in (CONVERSIONS_COLUMN, VALUE_COLUMN, NULL_COLUMN):
        if name in header:
            column = header.index(name)
            numbers.append(_parse_numbers([row[column] for row in rows], name, lines, found))
        else:
            numbers.append(np.zeros(len(rows), dtype=np.float64))
    del rows
    for line in sorted(found):
        problems.add(found[line])
    usable = np.ones(len(lines), dtype=bool)
    if found:
        usable = np.fromiter((line not in found for line in lines), dtype=bool, count=len(lines))
    if found and not usable.any():
        raise InvalidPathDataError(f"{path}: no usable row ({len(found):,} skipped)")
    used = np.zeros(len(raw_index), dtype=bool)
    used[raw_ids[usable]] = True
    tuple_index: dict[tuple[str, ...], int] = {}
    raw_to_tuple = np.full(len(raw_index), -1, dtype=np.int64)
    for raw_id in np.flatnonzero(used).tolist():
        raw_to_tuple[raw_id] = tuple_index.setdefault(raw_steps[raw_id], len(tuple_index))
    return _table_from_unique(
        list(tuple_index), raw_to_tuple[raw_ids[usable]], *(column[usable] for column in numbers)
    )


def _read_rows(
    path: Path,
) -> tuple[list[str], list[list[str]], list[int], dict[int, InputProblem]]:
    """The header (lower case), the rows with as many fields as it and the line each starts
    on, and the other non-blank rows as problems keyed by line."""
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        header_line = handle.readline()
        delimiter = max((",", ";", "\t"), key=header_line.count)
        handle.seek(0)
        reader = csv.reader(handle, delimiter=delimiter)
        header = [name.strip().lower() for name in next(reader, [])]
        if PATH_COLUMN not in header or CONVERSIONS_COLUMN not in header:
            raise InvalidPathDataError(
                f"{path}: line 1: need columns {PATH_COLUMN!r} and {CONVERSIONS_COLUMN!r},"
                f" got {header}"
            )
        rows: list[list[str]] = []
        lines: list[int] = []
        found: dict[int, InputProblem] = {}
        previous = reader.line_num
        for row in reader:
            if len(row) == len(header):
                rows.append(row)
                lines.append(previous + 1)
            elif row:
                found[previous + 1] = InputProblem(
                    previous + 1,
                    "wrong number of fields",
                    detail=f"wrong number of fields: {len(row)}, the header has {len(header)}",
                )
            previous = reader.line_num
    return header, rows, lines, found


def _path_problem(text: str, steps: tuple[str, ...]) -> str:
    """Why a path cell cannot be used, or "" when it can."""
    if not all(steps):
        return "empty path or channel"
    if not text.isascii() and any("\udc80" <= char <= "\udcff" for char in text):
        return "not UTF-8 text"  # undecodable bytes, as the surrogate escapes read them
    return ""


def _parse_numbers(
    cells: Sequence[str], name: str, lines: Sequence[int], found: dict[int, InputProblem]
) -> FloatArray:
    """The column as floats (empty cells are 0); each row's first bad cell goes into ``found``."""
    try:
        array = np.array(cells, dtype=np.float64)
    except ValueError:
        array = np.empty(len(cells), dtype=np.float64)
        for row, cell in enumerate(cells):
            try:
                array[row] = float(cell) if cell.strip() else 0.0
            except ValueError:
                array[row] = np.nan
                found.setdefault(
                    lines[row],
                    InputProblem(
                        lines[row],
                        f"{name} is not a number",
                        detail=f"{name} is not a number: {cell!r}",
                    ),
                )
    for row in np.flatnonzero(~np.isfinite(array) | (array < 0)).tolist():
        reason = f"{name} must be a non-negative number"
        found.setdefault(
            lines[row], InputProblem(lines[row], reason, detail=f"{reason}, got {cells[row]!r}")
        )
    return array


@dataclass(frozen=True)
class MarkovFit:
    """A fitted Markov removal-effect model; credits are keyed by channel.

    ``expected_value`` is the modelled conversion value per journey (the chain's expected
    value from ``(start)``), ``observed_value_per_journey`` the data's (value on rows with
    conversions over all journeys); value credit follows ``value_removal_effects``.
    """

    order: int
    collapse_repeats: bool
    channels: tuple[str, ...]
    n_states: int
    conversion_probability: float
    observed_conversion_rate: float
    removal_effects: dict[str, float]
    conversion_credit: dict[str, float]
    value_credit: dict[str, float]
    expected_value: float
    observed_value_per_journey: float
    value_removal_effects: dict[str, float]


def _collapse_repeats(offsets: IntArray, codes: CodeArray) -> tuple[IntArray, CodeArray]:
    keep = np.ones(len(codes), dtype=np.bool_)
    keep[1:] = codes[1:] != codes[:-1]
    keep[offsets[:-1]] = True
    kept_before = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum(keep, out=kept_before[1:])
    return kept_before[offsets], codes[keep]


def _step_states(
    offsets: IntArray, codes: CodeArray, order: int, n_channels: int
) -> tuple[IntArray, BoolArray]:
    """The state id (from 0) of every step and which channels each state contains."""
    if order == 1:
        return codes.astype(np.int64), np.eye(n_channels, dtype=np.bool_)
    base = n_channels + 1
    if base**order >= _KEY_LIMIT:
        raise ValueError(f"order {order} too high for {n_channels} channels")
    n_steps = len(codes)
    path_start = np.repeat(offsets[:-1], np.diff(offsets))
    position = np.arange(n_steps, dtype=np.int64)
    keys = np.zeros(n_steps, dtype=np.int64)
    for lag in range(order):
        source = position - lag
        valid = source >= path_start
        digit = np.where(valid, codes[np.maximum(source, 0)].astype(np.int64) + 1, 0)
        keys += digit * base**lag
    unique_keys, state = np.unique(keys, return_inverse=True)
    contains = np.zeros((len(unique_keys), n_channels), dtype=np.bool_)
    for lag in range(order):
        digit = (unique_keys // base**lag) % base
        present = np.flatnonzero(digit > 0)
        contains[present, digit[present] - 1] = True
    return state.reshape(-1).astype(np.int64), contains


def fit_markov(table: PathTable, order: int = 1, collapse_repeats: bool = True) -> MarkovFit:
    """Fit an order-``order`` Markov chain and credit channels by exact removal effects."""
    if order < 1:
        raise ValueError("order must be at least 1")
    channels = table.channels
    n = len(channels)
    offsets, codes = table.offsets, table.codes
    if collapse_repeats:
        offsets, codes = _collapse_repeats(offsets, codes)
    conversions, nulls = table.conversions, table.nulls
    weight = conversions + nulls
    total_weight = float(weight.sum())
    total_conversions = float(conversions.sum())
    converting_values = np.where(conversions > 0, table.values, 0.0)
    total_value = table.total_value
    value_per_journey = float(converting_values.sum()) / total_weight if total_weight > 0 else 0.0
    if total_weight <= 0 or total_conversions <= 0:
        zero = dict.fromkeys(channels, 0.0)
        return MarkovFit(
            order=order,
            collapse_repeats=collapse_repeats,
            channels=channels,
            n_states=0,
            conversion_probability=0.0,
            observed_conversion_rate=total_conversions / total_weight if total_weight > 0 else 0.0,
            removal_effects=zero,
            conversion_credit=dict(zero),
            value_credit=dict(zero),
            expected_value=0.0,
            observed_value_per_journey=value_per_journey,
            value_removal_effects=dict(zero),
        )

    import scipy.sparse as sp  # loaded on first use: the other models do without scipy

    step_state, contains = _step_states(offsets, codes, order, n)
    n_channel_states = len(contains)
    start, conv, null = 0, n_channel_states + 1, n_channel_states + 2
    n_transient = n_channel_states + 1
    size = n_channel_states + 3
    step_state = step_state + 1
    firsts, lasts = offsets[:-1], offsets[1:] - 1
    inner = np.ones(len(codes), dtype=np.bool_)
    inner[lasts] = False
    step_weight = np.repeat(weight, np.diff(offsets))
    n_paths = table.n_paths
    sources = np.concatenate(
        [np.full(n_paths, start), step_state[inner], step_state[lasts], step_state[lasts]]
    )
    targets = np.concatenate(
        [
            step_state[firsts],
            step_state[np.flatnonzero(inner) + 1],
            np.full(n_paths, conv),
            np.full(n_paths, null),
        ]
    )
    weights = np.concatenate([weight, step_weight[inner], conversions, nulls])
    counts = sp.csr_matrix((weights, (sources, targets)), shape=(size, size))
    outflow = np.asarray(counts.sum(axis=1)).reshape(-1)[:n_transient]
    scale = np.divide(1.0, outflow, out=np.zeros_like(outflow), where=outflow > 0)
    probabilities = sp.diags(scale) @ counts[:n_transient]
    q = probabilities[:, :n_transient]
    r = probabilities[:, conv].toarray().reshape(-1)
    value_ending = np.bincount(step_state[lasts], weights=converting_values, minlength=size)
    # Column 0: conversion per step; column 1: expected conversion value per step.
    absorbing = np.column_stack([r, scale * value_ending[:n_transient]])
    system = (sp.identity(n_transient, format="csr") - q).tocsc()

    base = _absorption(system, absorbing)
    effects: dict[str, float] = {}
    value_effects: dict[str, float] = {}
    transient_contains = np.vstack([np.zeros((1, n), dtype=np.bool_), contains])
    for c, name in enumerate(channels):
        kept = np.flatnonzero(~transient_contains[:, c])
        if len(kept) == n_transient:
            effects[name] = value_effects[name] = 0.0
            continue
        without = _absorption(system[kept][:, kept].tocsc(), absorbing[kept])
        effects[name], value_effects[name] = (
            float(min(max(1.0 - w / b, 0.0), 1.0)) if b > 0 else 0.0
            for w, b in zip(without.tolist(), base.tolist(), strict=True)
        )
    shares = shares_of(effects)
    value_shares = shares_of(value_effects) if sum(value_effects.values()) > 0 else shares
    return MarkovFit(
        order=order,
        collapse_repeats=collapse_repeats,
        channels=channels,
        n_states=size,
        conversion_probability=float(base[0]),
        observed_conversion_rate=total_conversions / total_weight,
        removal_effects=effects,
        conversion_credit={k: s * total_conversions for k, s in shares.items()},
        value_credit={k: s * total_value for k, s in value_shares.items()},
        expected_value=float(base[1]),
        observed_value_per_journey=value_per_journey,
        value_removal_effects=value_effects,
    )


def shares_of(amounts: Mapping[str, float]) -> dict[str, float]:
    """Each amount (a removal effect, a credit) as a share of their sum; all zero when the sum
    is not positive."""
    total = sum(amounts.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in amounts.items()}


def _absorption(system: sp.csc_matrix, absorbing: FloatArray) -> FloatArray:
    """Row ``(start)`` of the solution of ``system @ x = absorbing``: for each column of
    ``absorbing`` (what one step from each state absorbs), the total absorbed from ``(start)``."""
    if system.shape[0] <= 64:
        solution: FloatArray = np.linalg.solve(system.toarray(), absorbing)
    else:
        from scipy.sparse.linalg import splu  # loaded on first use, as in fit_markov

        solution = splu(system).solve(absorbing)
    start: FloatArray = solution[0]
    return start


@dataclass(frozen=True)
class ShapleyFit:
    """Shapley-value credits; ``exact`` is False for a permutation-sampling estimate."""

    channels: tuple[str, ...]
    exact: bool
    samples: int
    total_conversions: float
    total_value: float
    conversion_credit: dict[str, float]
    value_credit: dict[str, float]


def _channel_sets(table: PathTable) -> tuple[IntArray, CodeArray, FloatArray]:
    """Distinct channel sets (CSR offsets and member codes) with summed conversions and value."""
    n = len(table.channels)
    columns = np.stack([table.conversions, table.values])
    if n <= 62:
        masks = np.bitwise_or.reduceat(
            np.left_shift(np.int64(1), table.codes.astype(np.int64)), table.offsets[:-1]
        )
        unique_masks, inverse = np.unique(masks, return_inverse=True)
        sums = np.stack(
            [np.bincount(inverse, weights=c, minlength=len(unique_masks)) for c in columns]
        ).astype(np.float64)
        members = (unique_masks[:, None] >> np.arange(n, dtype=np.int64)) & 1
        row, code = np.nonzero(members)
        offsets = np.zeros(len(unique_masks) + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=len(unique_masks)), out=offsets[1:])
        return offsets, code.astype(np.int32), sums
    path_of_step = np.repeat(np.arange(table.n_paths, dtype=np.int64), table.lengths)
    pairs = np.unique(path_of_step * n + table.codes)
    row = pairs // n
    offsets = np.zeros(table.n_paths + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=table.n_paths), out=offsets[1:])
    return offsets, (pairs % n).astype(np.int32), columns


def fit_shapley(
    table: PathTable, max_exact_channels: int = 12, samples: int = 2000, seed: int = 0
) -> ShapleyFit:
    """Credit channels by Shapley values of the observed-journeys coalition game.

    Exact when the table has at most ``max_exact_channels`` channels, otherwise estimated from
    ``samples`` random channel orders drawn with ``seed`` (``exact=False``).
    """
    channels = table.channels
    n = len(channels)
    offsets, members, sums = _channel_sets(table)
    if n <= max_exact_channels:
        credit = _exact_shapley(offsets, members, sums, n)
        used = 0
    else:
        if samples < 1:
            raise ValueError("samples must be at least 1")
        credit = _sampled_shapley(offsets, members, sums, n, samples, seed)
        used = samples
    return ShapleyFit(
        channels=channels,
        exact=used == 0,
        samples=used,
        total_conversions=table.total_conversions,
        total_value=table.total_value,
        conversion_credit=dict(zip(channels, credit[0].tolist(), strict=True)),
        value_credit=dict(zip(channels, credit[1].tolist(), strict=True)),
    )


def _exact_shapley(offsets: IntArray, members: CodeArray, sums: FloatArray, n: int) -> FloatArray:
    """Shapley values of ``v(S) = sum of sums over sets within S`` for both rows of ``sums``."""
    if n == 0:
        return np.zeros((2, 0), dtype=np.float64)
    masks = np.bitwise_or.reduceat(
        np.left_shift(np.int64(1), members.astype(np.int64)), offsets[:-1]
    )
    size = 1 << n
    value = np.zeros((size, 2), dtype=np.float64)
    np.add.at(value, masks, sums.T)
    for bit in range(n):
        view = value.reshape(-1, 2, 1 << bit, 2)
        view[:, 1] += view[:, 0]
    popcount = np.zeros(size, dtype=np.int64)
    coalitions = np.arange(size, dtype=np.int64)
    for bit in range(n):
        popcount += (coalitions >> bit) & 1
    factor = np.array(
        [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)]
    )
    credit = np.empty((2, n), dtype=np.float64)
    for bit in range(n):
        view = value.reshape(-1, 2, 1 << bit, 2)
        without = view[:, 0].reshape(-1, 2)
        gain = view[:, 1].reshape(-1, 2) - without
        size_without = popcount.reshape(-1, 2, 1 << bit)[:, 0].reshape(-1)
        credit[:, bit] = factor[size_without] @ gain
    return credit


def _sampled_shapley(
    offsets: IntArray, members: CodeArray, sums: FloatArray, n: int, samples: int, seed: int
) -> FloatArray:
    """Permutation-sampling estimate: per random order, each set's total goes to its last member."""
    rng = np.random.default_rng(seed)
    n_sets = len(offsets) - 1
    credit = np.zeros((2, n), dtype=np.float64)
    if n_sets == 0 or n == 0:
        return credit
    starts = offsets[:-1]
    batch = max(1, min(samples, 4_000_000 // max(len(members), 1)))
    done = 0
    while done < samples:
        size = min(batch, samples - done)
        ranks = np.argsort(rng.random((size, n)), axis=1)
        keyed = ranks[:, members] * n + members
        last = np.maximum.reduceat(keyed, starts, axis=1) % n
        flat = last.reshape(-1)
        for row in range(2):
            credit[row] += np.bincount(flat, weights=np.tile(sums[row], size), minlength=n)
        done += size
    return credit / samples


def journey_weights(
    channel_weights: Mapping[str, float],
    journey_channels: Sequence[str],
    otherwise: Sequence[float] | None = None,
) -> list[float]:
    """Per-touch weights of one journey from fitted channel credits; they sum to 1.

    Each distinct channel's share is proportional to its fitted credit and split equally among
    its touches. When every channel of the journey has zero, negative or unknown credit the
    weights are ``otherwise`` if given, else linear (equal per touch). An empty journey has no
    weights.
    """
    if not journey_channels:
        return []
    touches: dict[str, int] = {}
    for channel in journey_channels:
        touches[channel] = touches.get(channel, 0) + 1
    fitted = {}
    for channel in touches:
        weight = float(channel_weights.get(channel, 0.0))
        fitted[channel] = weight if math.isfinite(weight) and weight > 0 else 0.0
    total = sum(fitted.values())
    if total <= 0:
        if otherwise is not None:
            return list(otherwise)
        return [1.0 / len(journey_channels)] * len(journey_channels)
    return [fitted[c] / total / touches[c] for c in journey_channels]
