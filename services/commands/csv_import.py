"""What `convtrack spend import` and `outcomes import` share: reading a CSV file's rows by
column, sending them in batches, and the command's errors, tally and exit status."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TextIO, TypeVar

import grpc

from common.channels import operator_tls
from common.settings import SettingsError, TlsSettings, process_env
from services.commands.credentials import sent_api_key

T = TypeVar("T")


class CsvHeaderError(Exception):
    """The file's header lacks columns the import needs."""


@dataclass
class Tally:
    """What happened to a file's rows: the rejected ones, with their line numbers."""

    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def reject(self, line: int, problem: str) -> None:
        """Counts line `line` as rejected for `problem`."""
        self.rejected += 1
        self.errors.append(f"{line}: {problem}")


class ImportTally(Protocol):
    """A tally the import command prints: its rejected lines and one summary line."""

    rejected: int
    errors: list[str]

    def summary(self) -> str:
        """The verdict counts, as one line."""
        ...


def records(
    reader: Iterator[list[str]],
    columns: Mapping[int, str],
    line: Callable[[], int],
    skip: Callable[[Sequence[str]], bool] | None = None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Each non-blank row after the header, unless `skip` says so, as (line number, our
    column → stripped cell); `line` tells the reader's current line number."""
    for record in reader:
        if not any(cell.strip() for cell in record) or (skip is not None and skip(record)):
            continue
        yield line(), {ours: record[i].strip() for i, ours in columns.items() if i < len(record)}


def send_batches(
    rows: Iterable[tuple[int, T]], size: int, send: Callable[[Sequence[tuple[int, T]]], None]
) -> None:
    """Sends the (line number, item) rows in batches of at most `size`."""
    batch: list[tuple[int, T]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            send(batch)
            batch = []
    if batch:
        send(batch)


def run_import(
    command: str,
    args: argparse.Namespace,
    send: Callable[[str, TextIO, str | None, TlsSettings | None], ImportTally],
) -> int:
    """Runs `convtrack COMMAND FILE`: `send(address, text, api_key, tls)` sends the file to
    ingest; prints each rejected line and the summary. 2 for bad settings or a bad header,
    1 when the file cannot be read or sent or a row was rejected."""
    env = process_env()
    address = args.addr or env.get("INGEST_ADDR", "127.0.0.1:50051")
    try:
        tls = operator_tls(args.tls_dir, env)
        api_key = sent_api_key(args.api_key, env, address)
    except SettingsError as error:
        print(f"convtrack {command}: {error}", file=sys.stderr)
        return 2
    try:
        with args.file.open(encoding="utf-8-sig", newline="") as text:
            tally = send(address, text, api_key, tls)
    except CsvHeaderError as error:
        print(f"convtrack {command}: {args.file}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"convtrack {command}: {error}", file=sys.stderr)
        return 1
    except grpc.RpcError as error:
        print(f"convtrack {command}: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    for line in tally.errors:
        print(f"{args.file}:{line}", file=sys.stderr)
    print(tally.summary())
    return 1 if tally.rejected else 0
