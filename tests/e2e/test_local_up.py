"""`convtrack up` as a newcomer runs it: API keys on, a local admin key minted into the data
directory (0600) and kept across restarts, and `convtrack sample send` then `convtrack report`
from the same directory work with no flags."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from services import launcher
from services.cli import main
from services.launcher import free_loopback_port

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0
PROPERTY = "demo-shop"


def _ports() -> dict[str, str]:
    """Free loopback ports for every service's main and internal port (never 5005x here)."""
    env: dict[str, str] = {}
    for name in launcher.SERVICES:
        prefix = name.upper()
        env[f"{prefix}_LISTEN"] = env[f"{prefix}_ADDR"] = f"127.0.0.1:{free_loopback_port()}"
        if name != "reporting":
            internal = f"127.0.0.1:{free_loopback_port()}"
            env[f"{prefix}_INTERNAL_LISTEN"] = env[f"{prefix}_INTERNAL_ADDR"] = internal
    return env


def _clean_env(ports: dict[str, str]) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CONVTRACK_", "INGEST_", "IDENTITY_", "ATTRIBUTION_", "REPORTING_"))
    }
    return {**inherited, **ports, "PYTHONPATH": str(REPO_ROOT)}


@contextmanager
def convtrack_up(cwd: Path, env: dict[str, str]) -> Iterator[list[str]]:
    """`convtrack up` in `cwd`; yields its stdout lines up to the key's, stops it with SIGINT."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from services.cli import main; sys.exit(main(['up']))"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout],  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not any("local admin key" in line for line in seen):
            assert process.poll() is None, process.communicate()[1][-3000:]
            try:
                seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"convtrack up said nothing about its key: {seen}")
        yield seen
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_up_mints_a_local_admin_key_that_commands_run_there_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ports = _ports()
    env = _clean_env(ports)
    key_file = tmp_path / "data" / "admin.key"
    with convtrack_up(tmp_path, env) as said:
        assert any(f"{Path('data') / 'admin.key'}" in line and "minted" in line for line in said)
        assert key_file.stat().st_mode & 0o777 == 0o600
        key = key_file.read_text().strip()
        assert key.startswith("ctk_")
        assert (tmp_path / "data" / "tls" / "ca.crt").is_file()

        # Another terminal in the same directory: no flags, no variables but the addresses.
        for name in [k for k in os.environ if k.startswith("CONVTRACK_")]:
            monkeypatch.delenv(name)
        for name, value in ports.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        assert main(["sample", "send", "--visitors", "80"]) == 0
        addresses = launcher.Addresses(
            **{name: ports[f"{name.upper()}_ADDR"] for name in launcher.SERVICES}
        )
        launcher.wait_for_sync(addresses, timeout=120, api_key=key)
        capsys.readouterr()
        report = ["report", "conversions", "--property", PROPERTY, "--conversion", "purchase"]
        assert main([*report, "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["rows"]

        # Authentication is on: a wrong key is refused, and so is no key at all.
        assert main([*report, "--api-key", "ctk_0123456789abcdef_wrong"]) == 1
        assert "UNAUTHENTICATED" in capsys.readouterr().err
        monkeypatch.chdir(tmp_path / "data")  # no ./data/admin.key from here
        assert main(report) == 1
        assert "UNAUTHENTICATED" in capsys.readouterr().err

    # Started again, it keeps the key that still works.
    with convtrack_up(tmp_path, env) as said:
        assert any("(kept)" in line for line in said), said
        assert key_file.read_text().strip() == key
