"""Telling the user what an offline command left out of its input."""

from __future__ import annotations

import sys

from common.input_problems import ProblemTally


def print_problems(command: str, problems: ProblemTally) -> None:
    """Prints on stderr what an offline command left out of its input, one reason a line."""
    for sentence in problems.summary():
        print(f"{command}: {sentence}", file=sys.stderr)
