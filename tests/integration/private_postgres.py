"""A private PostgreSQL cluster for fault tests: made by initdb, stopped and restarted at will."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

INSTALLATIONS = "/usr/lib/postgresql"
START_TIMEOUT_SECONDS = 30
OS_USER = "postgres"


class PrivatePostgresUnavailableError(Exception):
    """This machine cannot run a private cluster (no binaries, or no user to run them as)."""


def newest_binaries() -> Path:
    """The bin directory of the newest PostgreSQL installed under /usr/lib/postgresql."""
    candidates = [
        path.parent
        for path in Path(INSTALLATIONS).glob("*/bin/pg_ctl")
        if (path.parent / "initdb").exists()
    ]
    if not candidates:
        raise PrivatePostgresUnavailableError(f"no initdb and pg_ctl under {INSTALLATIONS}/*/bin")
    return max(candidates, key=lambda bin_dir: _version_key(bin_dir.parent.name))


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivatePostgres:
    """A throwaway cluster on a free loopback port, in a temporary directory.

    initdb refuses to run as root, so as root every command runs as the `postgres` OS user
    (runuser), in a directory that user owns. fsync is off: the tests stop the server, not
    the machine, and the operating system keeps what the server wrote.
    """

    def __init__(self) -> None:
        self._bin = newest_binaries()
        self._as_user: list[str] = []
        self.directory = Path(tempfile.mkdtemp(prefix="convtrack-pg-"))
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            try:
                account = pwd.getpwnam(OS_USER)
            except KeyError:
                account = None
            if runuser is None or account is None:
                shutil.rmtree(self.directory, ignore_errors=True)
                raise PrivatePostgresUnavailableError(
                    f"running as root needs runuser and a {OS_USER!r} OS user for initdb"
                )
            os.chown(self.directory, account.pw_uid, account.pw_gid)
            self._as_user = [runuser, "-u", OS_USER, "--"]
        self.port = _free_port()
        self._data = self.directory / "data"
        self._run(
            "initdb", "-D", str(self._data), "-U", "postgres", "-A", "trust", "--no-sync",
            "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        self.start()

    @property
    def url(self) -> str:
        """The URL of the cluster's `postgres` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Starts the server and waits until it accepts connections."""
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.directory} -c fsync=off"
        )
        self._run(
            "pg_ctl", "-D", str(self._data), "-l", str(self.directory / "server.log"),
            "-w", "-t", str(START_TIMEOUT_SECONDS), "-o", options, "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stops the server at once, as a crash would (no shutdown checkpoint)."""
        self._run("pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        """Stops the server if it runs and deletes the cluster."""
        subprocess.run(
            [*self._as_user, str(self._bin / "pg_ctl"), "-D", str(self._data), "-m", "immediate",
             "stop"],
            capture_output=True,
            check=False,
        )  # fmt: skip
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, program: str, *arguments: str) -> None:
        command = [*self._as_user, str(self._bin / program), *arguments]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} failed ({result.returncode}): {result.stderr.strip()}\n"
                f"{result.stdout.strip()}"
            )
