"""Ingest's bounded memo answers as its function does, computes each input once while it is
remembered, stays within its size, and remembers refusals (ValueError) but no other error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.memo import BoundedMemo


class _Counted:
    """A pure function that counts its calls per input."""

    def __init__(self) -> None:
        self.calls: dict[int, int] = {}

    def __call__(self, value: int) -> int:
        self.calls[value] = self.calls.get(value, 0) + 1
        if value < 0:
            raise ValueError(f"{value} is negative")
        return value * 2


def test_each_input_is_computed_once_while_remembered() -> None:
    function = _Counted()
    memo = BoundedMemo(function, size=10)

    answers = [memo(v) for v in (1, 2, 1, 1, 2, 3)]

    assert answers == [2, 4, 2, 2, 4, 6]
    assert function.calls == {1: 1, 2: 1, 3: 1}
    assert len(memo) == 3


def test_a_full_memo_is_emptied_before_it_remembers_more() -> None:
    function = _Counted()
    memo = BoundedMemo(function, size=2)
    memo(1)
    memo(2)

    memo(3)  # over the size: what was remembered goes, 3 stays
    assert len(memo) == 1
    memo(1)

    assert function.calls == {1: 2, 2: 1, 3: 1}
    assert len(memo) == 2


def test_a_refused_input_raises_its_error_again_without_calling_again() -> None:
    function = _Counted()
    memo = BoundedMemo(function)

    for _ in range(3):
        with pytest.raises(ValueError, match="-1 is negative") as raised:
            memo(-1)
        # The function's frames are not kept alive by the remembered error.
        assert "_Counted" not in [
            entry.frame.code.raw.co_qualname.partition(".")[0] for entry in raised.traceback
        ]

    assert function.calls == {-1: 1}


def test_other_errors_are_not_remembered() -> None:
    calls = []

    def flaky(value: str) -> str:
        calls.append(value)
        if len(calls) == 1:
            raise RuntimeError("the first call fails")
        return value.upper()

    memo = BoundedMemo(flaky)

    with pytest.raises(RuntimeError):
        memo("a")
    assert memo("a") == "A"
    assert calls == ["a", "a"]


def test_a_memo_holds_at_least_one_answer() -> None:
    with pytest.raises(ValueError, match="at least one"):
        BoundedMemo(str, size=0)


@given(
    inputs=st.lists(st.integers(min_value=-5, max_value=20), max_size=60),
    size=st.integers(min_value=1, max_value=8),
)
def test_a_memo_answers_as_its_function_and_stays_within_its_size(
    inputs: list[int], size: int
) -> None:
    memo = BoundedMemo(_Counted(), size=size)
    fresh = _Counted()

    for value in inputs:
        try:
            expected: int | str = fresh(value)
        except ValueError as error:
            expected = str(error)
        try:
            answer: int | str = memo(value)
        except ValueError as error:
            answer = str(error)
        assert answer == expected
        assert len(memo) <= size


def test_a_cleared_memo_remembers_nothing_and_computes_again() -> None:
    function = _Counted()
    memo = BoundedMemo(function, size=10)
    memo(1)
    memo.clear()

    assert len(memo) == 0
    assert memo(1) == 2
    assert function.calls == {1: 2}
