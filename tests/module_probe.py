"""Which modules a fresh Python process imports while it runs some code (start-up tests).

`python -X importtime` does not list modules imported through `importlib.import_module`, which
the CLI and launcher use to import a command or service on demand, so the probe reads
`sys.modules` at the end of the run instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MARKER = "probe: modules imported: "

# Slow to import, and needed only by the commands that run or talk to services.
HEAVY_PACKAGES = (
    "grpc",
    "sqlalchemy",
    "psycopg",
    "eventsourcing",
    "opentelemetry",
    "google.protobuf",
    "convtrack",
    "scipy",
    "numpy",
    "matplotlib",
    "PIL",
)
SERVICE_PACKAGES = tuple(
    f"services.{name}" for name in ("ingest", "identity", "attribution", "reporting")
)


def probe_command(code: str) -> list[str]:
    """A command that runs `code` in a fresh interpreter (in the repository), then prints on
    stderr, even when `code` raises SystemExit, every module the process imported."""
    program = (
        "import json, sys\n"
        "try:\n"
        f"{textwrap.indent(code, '    ')}\n"
        "finally:\n"
        f"    print({MARKER!r} + json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    return [sys.executable, "-c", program]


def run_probe(
    code: str, env: Mapping[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Runs `code` under the probe; the finished process and the modules it imported."""
    done = subprocess.run(
        probe_command(code),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    return done, imported_modules(done.stderr)


def imported_modules(stderr: str) -> set[str]:
    """The modules a probed process imported, from its stderr."""
    for line in reversed(stderr.splitlines()):
        if line.startswith(MARKER):
            return set(json.loads(line.removeprefix(MARKER)))
    raise AssertionError(f"the probed process printed no module list:\n{stderr[-3000:]}")


def within(modules: Iterable[str], packages: Iterable[str]) -> list[str]:
    """The modules that are one of `packages` or inside one of them, sorted."""
    prefixes = tuple(packages)
    inside = tuple(p + "." for p in prefixes)
    return sorted(m for m in modules if m in prefixes or m.startswith(inside))
