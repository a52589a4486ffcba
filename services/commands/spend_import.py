"""`convtrack spend import FILE.csv`: ad spend from a CSV file (our columns, a Google Ads or a
Meta Ads Manager export) sent to ingest's RecordSpend in batches, with per-line errors."""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from common.settings import TlsSettings
from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.commands.credentials import client_channel
from services.commands.csv_import import CsvHeaderError, Tally, records, run_import, send_batches

BATCH_ROWS = 500
CALL_TIMEOUT = 60.0
NANOS = Decimal(1_000_000_000)
MONTHS = {
    m: n
    for n, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}


@dataclass(frozen=True, slots=True)
class CsvFormat:
    """How a CSV dialect names our columns (lower-case header → our name), and the source and
    medium of its rows when it has no such columns."""

    name: str
    columns: Mapping[str, str]
    source: str = ""
    medium: str = ""
    cost_currency_pattern: str = ""


GENERIC = CsvFormat(
    "generic",
    {
        name: name
        for name in (
            "property",
            "date",
            "channel",
            "source",
            "medium",
            "campaign",
            "cost",
            "currency",
        )
    },
)
GOOGLE_ADS = CsvFormat(
    "google-ads",
    {
        "day": "date",
        "date": "date",
        "campaign": "campaign",
        "cost": "cost",
        "currency code": "currency",
        "currency": "currency",
    },
    source="google",
    medium="cpc",
)
META = CsvFormat(
    "meta",
    {
        "reporting starts": "date",
        "day": "date",
        "reporting ends": "ends",
        "campaign name": "campaign",
        "amount spent": "cost",
        "currency": "currency",
    },
    source="facebook",
    medium="paid_social",
    cost_currency_pattern=r"amount spent \(([a-z]{3})\)",
)
CSV_FORMATS = {f.name: f for f in (GENERIC, GOOGLE_ADS, META)}


class CsvFormatError(CsvHeaderError):
    """The file's header does not have the columns its format needs."""


@dataclass
class SpendTally(Tally):
    """What happened to the rows of a spend file."""

    recorded: int = 0
    corrected: int = 0
    unchanged: int = 0

    @property
    def rows(self) -> int:
        """Every data row read."""
        return self.recorded + self.corrected + self.unchanged + self.rejected

    def summary(self) -> str:
        """The verdict counts, as one line."""
        return (
            f"{self.rows:,} rows: {self.recorded:,} recorded, {self.corrected:,} corrected, "
            f"{self.unchanged:,} unchanged, {self.rejected:,} rejected"
        )


def spend_import(args: argparse.Namespace) -> int:
    """Sends the file's spend rows and prints the verdict counts and each rejected line; 1
    when the file cannot be read or sent or a row was rejected, 2 for a bad header."""

    def send(address: str, text: TextIO, api_key: str | None, tls: TlsSettings | None) -> Any:
        return send_spend(
            address,
            text,
            format_name=args.csv_format,
            property_id=args.property_id or "",
            progress=sys.stderr,
            api_key=api_key,
            tls=tls,
        )

    return run_import("spend import", args, send)


def send_spend(
    address: str,
    text: TextIO,
    *,
    format_name: str = "auto",
    property_id: str = "",
    progress: TextIO | None = None,
    batch_rows: int = BATCH_ROWS,
    api_key: str | None = None,
    tls: TlsSettings | None = None,
) -> SpendTally:
    """Reads the CSV, sends its rows in batches (with `api_key`, over TLS as `tls` when
    given) and tallies the verdicts; errors name the file's line numbers."""
    tally = SpendTally()
    with client_channel(address, api_key, tls) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        send_batches(
            read_rows(text, format_name, property_id, tally),
            batch_rows,
            lambda batch: _send(stub, batch, tally, progress),
        )
    return tally


def _send(
    stub: ingest_pb2_grpc.IngestServiceStub,
    batch: Sequence[tuple[int, ingest_pb2.SpendRow]],
    tally: SpendTally,
    progress: TextIO | None,
) -> None:
    response = stub.RecordSpend(
        ingest_pb2.RecordSpendRequest(rows=[row for _, row in batch]), timeout=CALL_TIMEOUT
    )
    tally.recorded += response.recorded_count
    tally.corrected += response.corrected_count
    tally.unchanged += response.unchanged_count
    tally.rejected += response.rejected_count
    for verdict in response.verdicts:
        if verdict.outcome == ingest_pb2.SPEND_OUTCOME_REJECTED:
            line = batch[verdict.index][0]
            for violation in verdict.violations:
                column = violation.field.partition(".")[2] or violation.field
                tally.errors.append(f"{line}: {column}: {violation.description}")
    if progress is not None:
        print(f"spend import: {tally.rows:,} rows sent (line {batch[-1][0]:,})", file=progress)


def detect_format(header: Sequence[str]) -> CsvFormat:
    """The format whose date column the header has (generic when none)."""
    names = {h.strip().lower() for h in header}
    if "reporting starts" in names or any(n.startswith("amount spent") for n in names):
        return META
    if "day" in names and "cost" in names:
        return GOOGLE_ADS
    return GENERIC


def read_rows(
    text: TextIO, format_name: str, property_id: str, tally: SpendTally
) -> Iterator[tuple[int, ingest_pb2.SpendRow]]:
    """Each data row as (line number, SpendRow). Lines before the header (a report's title
    and date range in Google Ads exports) and total rows are skipped; a row that cannot be
    read is counted as rejected with its line number."""
    reader = csv.reader(text)
    header: list[str] | None = None
    for record in reader:
        if _is_header(record):
            header = record
            break
    if header is None:
        raise CsvFormatError("no header row with a date column (date, Day or Reporting starts)")
    dialect = detect_format(header) if format_name == "auto" else CSV_FORMATS[format_name]
    columns, currency = _columns(header, dialect)
    missing = {"date", "cost"} - set(columns.values())
    if missing:
        raise CsvFormatError(
            f"the {dialect.name} format needs columns for {', '.join(sorted(missing))}; "
            f"the header has {', '.join(header)}"
        )
    for line, values in records(reader, columns, lambda: reader.line_num, _is_total):
        row, problem = _spend_row(values, dialect, property_id, currency)
        if problem:
            tally.reject(line, problem)
            continue
        yield line, row


def _is_total(record: Sequence[str]) -> bool:
    return record[0].strip().lower().startswith("total")


def _is_header(record: Sequence[str]) -> bool:
    names = {cell.strip().lower() for cell in record}
    return bool(names & {"date", "day", "reporting starts"})


def _columns(header: Sequence[str], dialect: CsvFormat) -> tuple[dict[int, str], str]:
    """Our name of each known column by index, and the currency a cost header names."""
    columns: dict[int, str] = {}
    currency = ""
    for index, name in enumerate(header):
        key = name.strip().lower()
        if dialect.cost_currency_pattern:
            found = re.fullmatch(dialect.cost_currency_pattern, key)
            if found:
                columns[index] = "cost"
                currency = found.group(1).upper()
                continue
        if key in dialect.columns:
            columns[index] = dialect.columns[key]
    return columns, currency


def _spend_row(
    values: Mapping[str, str], dialect: CsvFormat, property_id: str, currency: str
) -> tuple[ingest_pb2.SpendRow, str]:
    """The SpendRow of a CSV row, or a problem that stops it being sent."""
    row = ingest_pb2.SpendRow(
        property_id=property_id or values.get("property", ""),
        date=_iso_day(values.get("date", "")),
        channel=values.get("channel", ""),
        source=values.get("source", "") or dialect.source,
        medium=values.get("medium", "") or dialect.medium,
        campaign=values.get("campaign", ""),
    )
    if not row.property_id:
        return row, "property: is empty (give --property or a property column)"
    ends = values.get("ends", "")
    if ends and _iso_day(ends) != row.date:
        return row, "date: the row spans several days: export one row per day"
    amount_text = values.get("cost", "").replace(",", "").replace(" ", "")
    if amount_text in ("", "--"):
        amount_text = "0"
    try:
        amount = Decimal(amount_text)
    except InvalidOperation:
        return row, f"cost: {values.get('cost', '')!r} is not a number"
    if not amount.is_finite():
        return row, f"cost: {values.get('cost', '')!r} is not a number"
    code = (values.get("currency", "") or currency).strip().upper()
    if not code:
        return row, "currency: is empty (a currency column, or a cost header like 'Cost (USD)')"
    units = int(amount)
    nanos = int((amount - units) * NANOS)
    row.cost.CopyFrom(common_pb2.Money(currency_code=code, units=units, nanos=nanos))
    return row, ""


def _iso_day(text: str) -> str:
    """An ISO date from the forms exports use (2026-03-01, 2026/03/01, Mar 1, 2026); other
    text is passed on for ingest to reject."""
    text = text.strip()
    found = re.fullmatch(r"(\d{4})[/.-](\d{1,2})[/.-](\d{1,2})", text)
    if found:
        year, month, day = (int(g) for g in found.groups())
        return f"{year:04d}-{month:02d}-{day:02d}"
    found = re.fullmatch(r"([A-Za-z]{3})[a-z]* (\d{1,2}), (\d{4})", text)
    if found and found.group(1).lower() in MONTHS:
        month = MONTHS[found.group(1).lower()]
        return f"{int(found.group(3)):04d}-{month:02d}-{int(found.group(2)):02d}"
    return text
