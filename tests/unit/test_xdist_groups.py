"""`make test` runs under `--dist loadgroup` so that the tests of a module marked with
`xdist_group` share one worker (and the module's shared system); this checks that the marks
still take effect with the installed pytest and pytest-xdist."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("grouping_check")


def test_a_grouped_test_is_scheduled_by_its_group(request: pytest.FixtureRequest) -> None:
    if not request.config.getoption("loadgroup", default=False):
        pytest.skip("runs only under --dist loadgroup")
    assert request.node.nodeid.endswith("@grouping_check")
