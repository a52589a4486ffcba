"""`convtrack`: run the services, the demo, reports and maintenance from the command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import grpc

from common.input_problems import ProblemTally
from common.money import Money
from common.server import serve_until, stop_requested_by_signals
from common.settings import process_env
from common.telemetry import configure_logging
from common.wire import from_money_pb, to_timestamp
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services import launcher, sample_data
from services.attribution import offline
from services.identity import offline as identity_offline
from services.identity.probabilistic import ProbabilisticLinker
from services.identity.resolution import ResolutionError
from services.reporting import server as reporting_server

logger = logging.getLogger("convtrack")

GROUP_BY = {
    "channel": reporting_pb2.GROUP_BY_CHANNEL,
    "source": reporting_pb2.GROUP_BY_SOURCE,
    "medium": reporting_pb2.GROUP_BY_MEDIUM,
    "campaign": reporting_pb2.GROUP_BY_CAMPAIGN,
}
CALL_TIMEOUT = 30.0


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def compare_models(
    address: str,
    *,
    property_id: str,
    models: Sequence[str],
    group_by: str = "channel",
    start: datetime | None = None,
    end: datetime | None = None,
    conversion_name: str = "",
) -> reporting_pb2.CompareModelsResponse:
    """Conversions and value per group under each model, from the reporting service."""
    request = reporting_pb2.CompareModelsRequest(
        property_id=property_id,
        models=models,
        group_by=GROUP_BY[group_by],
        conversion_name=conversion_name,
    )
    if start:
        request.start_time.CopyFrom(to_timestamp(start))
    if end:
        request.end_time.CopyFrom(to_timestamp(end))
    with grpc.insecure_channel(address) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        return stub.CompareModels(request, timeout=CALL_TIMEOUT)


def _money(money: Money) -> str:
    return f"{money.to_decimal():,.2f} {money.currency_code}".rstrip()


def format_comparison(
    comparison: reporting_pb2.CompareModelsResponse, group_by: str = "channel"
) -> str:
    """A model comparison as a text table: conversions, value and share per model."""
    models = list(comparison.models)
    header = [group_by] + [f"{m} {col}" for m in models for col in ("conv", "value", "share")]
    table = [header]
    conversions = [0.0] * len(models)
    micros = [0] * len(models)
    currencies = [""] * len(models)
    for row in comparison.rows:
        line = [row.group]
        for i, figure in enumerate(row.figures):
            value = from_money_pb(figure.value)
            line += [f"{figure.conversions:,.2f}", _money(value), f"{figure.share:.1%}"]
            conversions[i] += figure.conversions
            micros[i] += value.to_micros()
            currencies[i] = value.currency_code or currencies[i]
        table.append(line)
    footer = ["total"]
    for total, amount, currency in zip(conversions, micros, currencies, strict=True):
        footer += [
            f"{total:,.2f}",
            _money(Money.from_micros(currency, amount)) if currency else "0.00",
            "100.0%" if comparison.rows else "0.0%",
        ]
    table.append(footer)
    notes = [
        f"{model}: credits add up to more than one per conversion by design (participation); "
        "its total counts distinct conversions"
        for model in comparison.models_exceeding_conversions
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for n, cells_text in enumerate(table):
        cells = [cells_text[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(cells_text[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
        if n == 0 or n == len(table) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines + notes)


def run_demo(visitors: int, data_dir: Path | None) -> int:
    """Starts the four services on SQLite, sends the sample over gRPC and prints reports."""
    keep = data_dir is not None
    directory = data_dir or Path(tempfile.mkdtemp(prefix="convtrack-demo-"))
    env = {**process_env(), "CONVTRACK_DATA_DIR": str(directory)}
    env.pop("CONVTRACK_DATABASE_URL", None)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    config = sample_data.SampleConfig(end=today, visitors=visitors)
    events = sample_data.generate_sample(config)
    summary = sample_data.summarise(events)
    print(
        f"Sample: {summary.touchpoints} touchpoints, {summary.page_views} page views, "
        f"{summary.identifies} identify calls and {summary.conversions} conversions from "
        f"{visitors} visitors ({', '.join(summary.currencies)})."
    )
    print(f"Starting ingest, identity, attribution and reporting on SQLite in {directory} ...")
    running, addresses = launcher.start_all(env, any_port=True)
    try:
        started = time.monotonic()
        accepted = duplicates = rejected = 0
        with grpc.insecure_channel(addresses.ingest) as channel:
            ingest = ingest_pb2_grpc.IngestServiceStub(channel)
            for batch in sample_data.batches(events, 500):
                response = ingest.TrackEvents(
                    ingest_pb2.TrackEventsRequest(
                        events=batch, sent_at=to_timestamp(datetime.now(UTC))
                    ),
                    timeout=CALL_TIMEOUT,
                )
                accepted += response.accepted_count
                duplicates += response.duplicate_count
                rejected += response.rejected_count
        sent = time.monotonic() - started
        print(
            f"Sent {len(events)} events over gRPC in {sent:.1f}s: {accepted} accepted, "
            f"{duplicates} duplicates, {rejected} rejected."
        )
        launcher.wait_for_sync(addresses, timeout=300)
        print(
            "Identity, attribution and reporting caught up after "
            f"{time.monotonic() - started:.1f}s."
        )
        comparison = compare_models(
            addresses.reporting,
            property_id=config.property_id,
            models=["last_click", "linear"],
            conversion_name="purchase",
        )
        print("\nPurchases by channel, last click vs linear (value in the reporting currency):\n")
        print(format_comparison(comparison))
    finally:
        launcher.stop_all(running)
        print("\nServices stopped." + (f" Data kept in {directory}." if keep else ""))
    return 0


def run_attribution_file(args: argparse.Namespace) -> int:
    """`convtrack attribution run-file`: credits a path table and prints the result."""
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


def run_resolve_file(args: argparse.Namespace) -> int:
    """`convtrack identity resolve-file`: resolves observations and prints the mapping."""
    command = "convtrack identity resolve-file"
    linker = ProbabilisticLinker() if args.mode == "probabilistic" else None
    problems = ProblemTally("line", strict=args.strict)
    try:
        with args.observations.open("rb") as lines:
            for mapping in identity_offline.resolve_file(
                lines,
                args.mode,
                default_region=args.default_region,
                probabilistic_linker=linker.links if linker is not None else None,
                problems=problems,
            ):
                print(json.dumps(mapping))
    except (OSError, ValueError, ResolutionError) as error:
        print_problems(command, problems)
        print(f"{command}: {error}", file=sys.stderr)
        return 1
    print_problems(command, problems)
    return 0


def print_problems(command: str, problems: ProblemTally) -> None:
    """Prints on stderr what an offline command left out of its input, one reason a line."""
    for sentence in problems.summary():
        print(f"{command}: {sentence}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line entry point."""
    parser = argparse.ArgumentParser(prog="convtrack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "up", help="run the four services until Ctrl-C (data in CONVTRACK_DATA_DIR)"
    )
    serve = commands.add_parser("serve", help="run one service, configured from the environment")
    serve.add_argument("service", choices=launcher.SERVICES)
    demo = commands.add_parser("demo", help="run the services on a sample and print reports")
    demo.add_argument("--visitors", type=int, default=3000)
    demo.add_argument("--data-dir", type=Path, default=None, help="keep the data here")
    report = commands.add_parser("report", help="print a conversion report from reporting")
    report.add_argument("--property", required=True, dest="property_id")
    report.add_argument("--models", default="last_click,linear", help="comma-separated")
    report.add_argument("--group-by", choices=sorted(GROUP_BY), default="channel")
    report.add_argument("--since", type=_parse_time, default=None, help="ISO 8601, inclusive")
    report.add_argument("--until", type=_parse_time, default=None, help="ISO 8601, exclusive")
    report.add_argument("--conversion", default="", help="only this conversion name")
    report.add_argument("--addr", default=None, help="reporting address (REPORTING_ADDR)")
    commands.add_parser("rebuild-reports", help="drop the report views; they replay from zero")
    commands.add_parser(
        "migrate",
        help="create every service's schema and tables once (then start replicas with "
        "CONVTRACK_CREATE_TABLES=n)",
    )
    attribution = commands.add_parser("attribution", help="offline attribution tools")
    attribution_commands = attribution.add_subparsers(dest="attribution_command", required=True)
    run_file = attribution_commands.add_parser(
        "run-file",
        help="credit a path table CSV (columns path, total_conversions, "
        "total_conversion_value, total_null) under each model",
    )
    run_file.add_argument("journeys", type=Path)
    run_file.add_argument(
        "--models",
        default="first,last,linear,time_decay,position,markov,shapley",
        help="comma-separated: first, last, last_non_direct, linear, position, w_shaped, "
        "j_shaped, inverse_j, time_decay, participation, markov, shapley",
    )
    run_file.add_argument("--order", type=int, default=1, help="Markov chain order")
    run_file.add_argument(
        "--step-days", type=float, default=1.0, help="days between path steps (time decay)"
    )
    run_file.add_argument("--format", choices=["table", "json"], default="table")
    run_file.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first unusable row (default: skip it, go on and print on stderr "
        "how many rows were skipped per reason)",
    )
    identity = commands.add_parser("identity", help="offline identity resolution tools")
    identity_commands = identity.add_subparsers(dest="identity_command", required=True)
    resolve = identity_commands.add_parser(
        "resolve-file",
        help="resolve a JSON-lines observations file; print one "
        '{"identifier", "person"} line per identifier',
    )
    resolve.add_argument("observations", type=Path)
    resolve.add_argument(
        "--mode", choices=["naive", "deterministic", "probabilistic"], default="deterministic"
    )
    resolve.add_argument(
        "--default-region", default="GB", help="region for raw phone numbers (ISO 3166)"
    )
    resolve.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first unusable value or line (default: drop it, go on and print "
        "on stderr how many were dropped per reason)",
    )
    args = parser.parse_args(argv)
    configure_logging("WARNING" if args.command in ("demo", "report") else None)
    env = process_env()

    if args.command == "serve":
        stop = stop_requested_by_signals()
        serve_until(stop, [launcher.start_one(args.service, env)])
        return 0
    if args.command == "up":
        stop = stop_requested_by_signals()
        running, addresses = launcher.start_all(env)
        logger.info("convtrack up: %s", addresses)
        serve_until(stop, running)
        return 0
    if args.command == "demo":
        return run_demo(args.visitors, args.data_dir)
    if args.command == "report":
        address = args.addr or env.get("REPORTING_ADDR", "127.0.0.1:50054")
        try:
            comparison = compare_models(
                address,
                property_id=args.property_id,
                models=[m.strip() for m in args.models.split(",") if m.strip()],
                group_by=args.group_by,
                start=args.since,
                end=args.until,
                conversion_name=args.conversion,
            )
        except grpc.RpcError as error:
            print(f"convtrack report: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
        print(format_comparison(comparison, args.group_by))
        return 0
    if args.command == "attribution":
        return run_attribution_file(args)
    if args.command == "identity":
        return run_resolve_file(args)
    if args.command == "migrate":
        launcher.migrate(env)
        print("Schemas and tables are in place for ingest, identity, attribution and reporting.")
        return 0
    if args.command == "rebuild-reports":
        reporting_server.rebuild_reports(reporting_server.ReportingSettings.from_env(env))
        print("Report views dropped; reporting replays attribution's log from position 0.")
        return 0
    return 2
