"""A pure function's answers remembered by input, bounded: ingest's hot-path value caches."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

DEFAULT_MEMO_SIZE = 65_536
A = TypeVar("A", bound=Hashable)
R = TypeVar("R")


class BoundedMemo(Generic[A, R]):
    """A pure function's answers by input, at most `size` of them: when full it is emptied
    (the values that repeat come back at once; no bookkeeping per hit as an LRU would need).

    Values repeat across a batch's events and across batches (a visitor's email, a landing
    page, a query parameter's name), and some functions cost far more than a lookup
    (email-validator takes ~0.1 ms). An input the function refuses with a ValueError is
    remembered with its error, which is raised again (without the first traceback) for each
    call with that input. The function must depend on its input only: nothing here is ever
    invalidated but by size.
    """

    __slots__ = ("_answers", "_function", "_size")

    def __init__(self, function: Callable[[A], R], size: int = DEFAULT_MEMO_SIZE) -> None:
        if size < 1:
            raise ValueError("a memo holds at least one answer")
        self._function = function
        self._size = size
        self._answers: dict[A, R | ValueError] = {}

    def __call__(self, value: A) -> R:
        """The function's answer for `value`, computed on the first call with it."""
        try:
            found = self._answers[value]
        except KeyError:
            try:
                found = self._function(value)
            except ValueError as error:
                found = error
            if len(self._answers) >= self._size:
                self._answers.clear()
            self._answers[value] = found
        if isinstance(found, ValueError):
            raise found.with_traceback(None)
        return found

    def clear(self) -> None:
        """Forgets every remembered answer (and so the inputs they were remembered by)."""
        self._answers.clear()

    def __len__(self) -> int:
        """How many answers are remembered now."""
        return len(self._answers)
