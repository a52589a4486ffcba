"""`convtrack identity resolve-file`: resolve an observations file offline, without the services."""

from __future__ import annotations

import argparse
import json
import sys

from common.input_problems import ProblemTally
from services.commands.problems import print_problems
from services.identity import offline
from services.identity.resolution import ResolutionError


def resolve_file(args: argparse.Namespace) -> int:
    """Resolves the observations and prints one identifier → person line each; 1 on bad input."""
    command = "convtrack identity resolve-file"
    problems = ProblemTally("line", strict=args.strict)
    linker = probabilistic_linker() if args.mode == "probabilistic" else None
    try:
        with args.observations.open("rb") as lines:
            for mapping in offline.resolve_file(
                lines,
                args.mode,
                default_region=args.default_region,
                probabilistic_linker=linker,
                problems=problems,
            ):
                print(json.dumps(mapping))
    except (OSError, ValueError, ResolutionError) as error:
        print_problems(command, problems)
        print(f"{command}: {error}", file=sys.stderr)
        return 1
    print_problems(command, problems)
    return 0


def probabilistic_linker() -> offline.ProbabilisticLinker:
    """The default probabilistic linker, imported only here: it needs numpy, other modes not."""
    from services.identity.probabilistic import ProbabilisticLinker

    return ProbabilisticLinker().links
