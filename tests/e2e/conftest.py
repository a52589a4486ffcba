"""The whole system, started in-process on each storage backend, for the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Storage
from tests.e2e.system import System


@pytest.fixture
def system(storage: Storage) -> Iterator[System]:
    """The four services on the test's storage, stopped afterwards."""
    started = System(storage)
    try:
        yield started
    finally:
        started.close()
