"""Services collect the young generation less often than Python does by default."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from common.server import YOUNG_GENERATION_THRESHOLD, tune_garbage_collector


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_a_service_process_raises_only_the_young_generations_threshold(
    thresholds: tuple[int, int, int],
) -> None:
    gc.set_threshold(700, 10, 10)
    tune_garbage_collector()
    assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, 10, 10)
    assert YOUNG_GENERATION_THRESHOLD > 700
