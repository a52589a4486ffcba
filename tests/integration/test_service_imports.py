"""`python -m services.<name>` imports its own service and none of the other three."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.module_probe import (
    REPO_ROOT,
    SERVICE_PACKAGES,
    imported_modules,
    probe_command,
    run_probe,
    within,
)

SERVICES = ("ingest", "identity", "attribution", "reporting")
OWN_SETTINGS = ("CONVTRACK_", "INGEST_", "IDENTITY_", "ATTRIBUTION_", "REPORTING_")
SERVING_TIMEOUT = 120.0


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port held but not listening: peers pointed at it are refused at once."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


def other_services(name: str) -> list[str]:
    return [p for p in SERVICE_PACKAGES if p != f"services.{name}"]


@pytest.mark.parametrize("name", SERVICES)
def test_importing_a_service_entry_point_imports_no_other_service(name: str) -> None:
    done, modules = run_probe(f"import services.{name}.__main__, services.{name}.server")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"services.{name}.server" in modules
    assert within(modules, other_services(name)) == []


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_run_with_python_m_serves_without_importing_other_services(
    name: str, tmp_path: Path, closed_port: int
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
    peer = f"127.0.0.1:{closed_port}"
    env.update(
        {
            "CONVTRACK_DATA_DIR": str(tmp_path),
            "CONVTRACK_LOG_LEVEL": "INFO",
            f"{name.upper()}_LISTEN": "127.0.0.1:0",
            "INGEST_ADDR": peer,
            "IDENTITY_ADDR": peer,
            "ATTRIBUTION_ADDR": peer,
        }
    )
    process = subprocess.Popen(
        probe_command(  # what `python -m services.<name>` does
            f"import runpy\nrunpy.run_module({f'services.{name}'!r}, "
            "run_name='__main__', alter_sys=True)"
        ),
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    serving = threading.Event()

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "msg=serving " in line:
                serving.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert serving.wait(SERVING_TIMEOUT), "".join(lines)[-3000:]
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(60) == 0, "".join(lines)[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        reader.join(10)
    modules = imported_modules("".join(lines))
    assert f"services.{name}.server" in modules
    assert within(modules, other_services(name)) == []
