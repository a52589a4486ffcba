"""`convtrack attribution run-file`: credit a path table offline, without the services."""

from __future__ import annotations

import argparse
import json
import sys

from common.input_problems import ProblemTally
from services.attribution import offline
from services.commands.problems import print_problems


def run_file(args: argparse.Namespace) -> int:
    """Credits the path table under each model and prints the result; 1 on unusable input."""
    command = "convtrack attribution run-file"
    problems = ProblemTally("row", strict=args.strict, field_word="column")
    try:
        results = offline.run_file(
            args.journeys,
            args.models.split(","),
            markov_order=args.order,
            step_days=args.step_days,
            problems=problems,
        )
    except (OSError, ValueError) as error:
        print_problems(command, problems)
        print(f"{command}: {error}", file=sys.stderr)
        return 1
    print_problems(command, problems)
    if args.format == "json":
        print(
            json.dumps(
                {
                    r.model: {
                        "note": r.note,
                        "channels": {
                            c.channel: {"conversions": c.conversions, "value": c.value}
                            for c in r.channels
                        },
                    }
                    for r in results
                },
                indent=2,
            )
        )
        return 0
    for result in results:
        print(f"\n{result.model}" + (f"  ({result.note})" if result.note else ""))
        width = max([len("channel"), *(len(c.channel) for c in result.channels)])
        print(f"  {'channel'.ljust(width)}  {'conversions':>14}  {'value':>16}")
        for c in result.channels:
            print(f"  {c.channel.ljust(width)}  {c.conversions:>14,.2f}  {c.value:>16,.2f}")
    return 0
