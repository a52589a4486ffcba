"""Unusable values and lines of the files offline commands read: counted per reason, or fatal."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

MAX_NAMED_FIELDS = 10


class InputProblemError(ValueError):
    """A line of an input file cannot be used (strict mode); the message names line and reason."""


class UnusableValueError(ValueError):
    """A value that cannot be used. `reason` leaves the value out, so that a summary can count
    every value dropped for the same cause together; `detail`, when given, may name it."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class InputProblem:
    """Why one value (`field` set) or one whole line (`field` empty) of a file was not used.

    `reason` names no value (the summary counts by field and reason); `detail`, when given,
    is the full message with the value, shown when a strict run stops at this problem.
    """

    line: int
    reason: str
    field: str = ""
    detail: str = ""

    def __str__(self) -> str:
        message = self.detail or (f"{self.field}: {self.reason}" if self.field else self.reason)
        return f"line {self.line}: {message}"


class ProblemTally:
    """What a reader left out of a file: values dropped and lines skipped, per reason.

    With `strict`, the first problem raises `error` (by default `InputProblemError`) with the
    problem's line and reason instead of being counted. `unit` names a line in the summary
    ("line", "row"); `field_word` names a field ("field", "column").
    """

    def __init__(
        self,
        unit: str = "line",
        *,
        strict: bool = False,
        error: Callable[[str], Exception] = InputProblemError,
        field_word: str = "field",
    ) -> None:
        self.unit = unit
        self.strict = strict
        self.field_word = field_word
        self._error = error
        self._counts: Counter[tuple[str, str]] = Counter()
        self._first_lines: dict[tuple[str, str], int] = {}
        self._ignored_fields: dict[str, None] = {}

    def add(self, problem: InputProblem) -> None:
        """Counts the problem, or raises it in strict mode."""
        if self.strict:
            raise self._error(str(problem))
        key = (problem.field, problem.reason)
        self._counts[key] += 1
        self._first_lines.setdefault(key, problem.line)

    def ignore_field(self, name: str) -> None:
        """Notes a field the reader does not know and therefore did not use (never fatal)."""
        self._ignored_fields.setdefault(name, None)

    @property
    def dropped_values(self) -> int:
        """How many single values were left out of lines that were otherwise used."""
        return sum(n for (field, _), n in self._counts.items() if field)

    @property
    def skipped_lines(self) -> int:
        """How many whole lines were left out."""
        return sum(n for (field, _), n in self._counts.items() if not field)

    def summary(self) -> list[str]:
        """One sentence per (field, reason), in the order first met, then the ignored fields.

        For example "dropped 3 phone values: not a possible number in region US (first on
        line 2)" or "skipped 1 line: not valid JSON (line 7)".
        """
        sentences = []
        for (field, reason), count in self._counts.items():
            if field:
                what = f"dropped {_count(count, f'{field} value')}"
            else:
                what = f"skipped {_count(count, self.unit)}"
            line = self._first_lines[(field, reason)]
            where = f"line {line}" if count == 1 else f"first on line {line}"
            sentences.append(f"{what}: {reason} ({where})")
        if self._ignored_fields:
            names = list(self._ignored_fields)
            more = len(names) - MAX_NAMED_FIELDS
            listed = ", ".join(names[:MAX_NAMED_FIELDS]) + (f" and {more} more" if more > 0 else "")
            sentences.append(f"ignored {self.field_word}s it does not use: {listed}")
        return sentences


def _count(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


__all__ = [
    "InputProblem",
    "InputProblemError",
    "ProblemTally",
    "UnusableValueError",
]
