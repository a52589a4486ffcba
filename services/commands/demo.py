"""`convtrack demo`: the four services on a generated sample, then a short tour: the model
comparison, the period comparison, cost and ROAS, top paths, one cross-device journey, the CRM
outcomes, a funnel, and charts."""

from __future__ import annotations

import argparse
import secrets
import shutil
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common.settings import TlsSettings, process_env
from common.wire import to_timestamp
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2
from services import launcher, sample_data
from services.commands.credentials import client_channel
from services.commands.local import local_access
from services.commands.metric_output import render_table as render_metric_table
from services.commands.outcomes import fetch_outcome_table
from services.commands.paths import fetch_path_table
from services.commands.report_output import render_table as render_report_table
from services.commands.reports import (
    CALL_TIMEOUT,
    compare_models,
    fetch_metric_table,
    fetch_report,
    format_comparison,
)

REPORTED_CONVERSION = "purchase"
"""The conversion name the demo's comparison counts (reports count one name at a time)."""
DEMO_CHARTS = ("models", "trend", "path-length", "cost")
"""The charts the demo draws, each from its default request."""
CHARTS_FOLDER = Path("convtrack-demo-charts")
"""Where the demo's charts go without --keep (or --charts): a folder in the current one."""


def describe_conversions(events: Sequence[ingest_pb2.Event]) -> str:
    """The conversion events per name, saying how many are resent orders (the same order id
    again, which ingest stores once), e.g. "170 purchase + 2 resent orders, 190 sign_up"."""
    sent: Counter[str] = Counter()
    orders: dict[str, set[str]] = {}
    resent: Counter[str] = Counter()
    for event in events:
        if event.WhichOneof("kind") != "conversion":
            continue
        name, order_id = event.conversion.name, event.conversion.order_id
        seen = orders.setdefault(name, set())
        if order_id and order_id in seen:
            resent[name] += 1
            continue
        seen.add(order_id)
        sent[name] += 1
    return ", ".join(
        f"{sent[name]} {name}" + (f" + {resent[name]} resent orders" if resent[name] else "")
        for name in sorted(sent)
    )


def write_demo_charts(
    address: str,
    property_id: str,
    folder: Path,
    tls: TlsSettings | None = None,
    api_key: str | None = None,
) -> list[Path]:
    """Draws one chart of each kind for the demo's purchases into `folder`: the tour's
    funnel, then the charts of `DEMO_CHARTS`."""
    from services.commands.charts import draw, fetch_chart_data

    folder.mkdir(parents=True, exist_ok=True)
    from services.commands.charts import funnel_chart_data
    from services.commands.people import fetch_funnel

    written = []
    funnel = fetch_funnel(
        address,
        property_id=property_id,
        steps=funnel_steps(),
        within=FUNNEL_WITHIN,
        tls=tls,
        api_key=api_key,
    )
    path = folder / "funnel.png"
    draw(funnel_chart_data(funnel), path, 1200, 700)
    written.append(path)
    for kind in DEMO_CHARTS:
        data = fetch_chart_data(
            address,
            kind,
            property_id=property_id,
            conversion_name=REPORTED_CONVERSION,
            tls=tls,
            api_key=api_key,
        )
        path = folder / f"{kind}.png"
        draw(data, path, 1200, 700)
        written.append(path)
    return written


def demo(args: argparse.Namespace) -> int:
    """Runs the demo with the arguments' sample size, kept data directory and chart folder."""
    return run_demo(args.visitors, args.keep, args.charts)


def run_demo(visitors: int, keep: Path | None, charts: Path | None = None) -> int:
    """Starts the four services on SQLite as a local deployment (API keys on, its admin key
    minted into the data directory), sends the sample over gRPC and prints reports.

    The data goes to a temporary directory that is removed at the end, unless `keep` names
    a directory to keep it in. Charts go to `charts`, else `<keep>/charts`, else
    `./convtrack-demo-charts`.
    """
    directory = keep or Path(tempfile.mkdtemp(prefix="convtrack-demo-"))
    chart_folder = charts or (keep / "charts" if keep else CHARTS_FOLDER)
    env = {**process_env(), "CONVTRACK_DATA_DIR": str(directory)}
    env.pop("CONVTRACK_DATABASE_URL", None)
    if keep is None and not env.get("INGEST_VAULT_SECRET"):
        # Thrown away with the data: no secret file to keep, nothing to warn about.
        env["INGEST_VAULT_SECRET"] = secrets.token_hex(32)
    try:
        return _run_demo(visitors, directory, env, chart_folder, keep is not None)
    finally:
        if keep is None:
            shutil.rmtree(directory, ignore_errors=True)
            _say(f"Removed the demo's data ({directory}); `--keep DIR` keeps it.")
        else:
            _say(f"Data, with the demo's admin key, kept in {directory}.")


TEXT_WIDTH = 100
"""The demo's sentences are wrapped to this many columns."""


def _say(text: str) -> None:
    """Prints a sentence of the demo wrapped to TEXT_WIDTH columns (paths stay whole)."""
    print(textwrap.fill(text, TEXT_WIDTH, break_long_words=False, break_on_hyphens=False))


def _heading(number: int, title: str, detail: str) -> None:
    """Prints a section of the tour's heading: `── 2. Period comparison: ... ──`."""
    print(f"\n── {number}. {title}: {detail} ──\n")


def _run_demo(
    visitors: int, directory: Path, env: dict[str, str], chart_folder: Path, kept: bool
) -> int:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    config = sample_data.SampleConfig(end=today, visitors=visitors)
    web = sample_data.generate_sample(config)
    deals = sample_data.generate_deals(config, web)
    events = sorted([*web, *deals], key=lambda e: (e.timestamp.seconds, e.timestamp.nanos))
    summary = sample_data.summarise(web)
    forms = sum(1 for e in deals if e.WhichOneof("kind") == "conversion")
    _say(
        f"Sample: {summary.touchpoints} touchpoints, {summary.page_views} page views, "
        f"{summary.identifies} identify calls and {summary.conversions} conversion events "
        f"({describe_conversions(web)}) from {visitors} visitors "
        f"({', '.join(summary.currencies)}), plus {forms} {sample_data.DEAL_CONVERSION} "
        f"enquiries with {len(deals) - forms} CRM outcomes."
    )
    _say(f"Starting ingest, identity, attribution and reporting on SQLite in {directory} ...")
    access = local_access(env, any_port=True)
    key, tls = access.admin_key, access.client_tls
    if access.admin_key_file is not None:
        _say(
            "API keys are on; the demo calls the services with its admin key, in "
            f"{access.admin_key_file}" + ("." if kept else " (removed with the data).")
        )
    running, addresses = launcher.start_all(access.env, any_port=True)
    try:
        started = time.monotonic()
        accepted = duplicates = rejected = 0
        journeys = sample_data.cross_device_purchases(web)
        record_ids: dict[str, str] = {}
        with client_channel(addresses.ingest, key, tls) as channel:
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
                record_ids.update((v.event_id, v.record_id) for v in response.verdicts)
            spend = sample_data.generate_spend(config)
            recorded = ingest.RecordSpend(
                ingest_pb2.RecordSpendRequest(rows=spend), timeout=CALL_TIMEOUT
            ).recorded_count
        sent = time.monotonic() - started
        _say(
            f"Sent {len(events)} events over gRPC in {sent:.1f}s: {accepted} accepted, "
            f"{duplicates} duplicates, {rejected} rejected; {recorded} daily spend rows "
            "(paid search in USD, paid social in EUR)."
        )
        launcher.wait_for_sync(addresses, timeout=300, tls=tls, api_key=key)
        _say(
            "Identity, attribution and reporting caught up after "
            f"{time.monotonic() - started:.1f}s."
        )
        by_id = {e.event_id: e for e in web}
        _tour(addresses, config, key, tls, [(by_id[i], record_ids.get(i, "")) for i in journeys])
        written = write_demo_charts(addresses.reporting, config.property_id, chart_folder, tls, key)
        _heading(len(SECTIONS) + 1, "Charts", ", ".join(p.name for p in written))
        _say(f"Written to {chart_folder.resolve()}.")
    finally:
        launcher.stop_all(running)
        print("\nServices stopped.")
    return 0


SECTIONS = (
    "Model comparison",
    "Period comparison",
    "Cost and ROAS",
    "Top paths",
    "Cross-device journey",
    "CRM outcomes",
    "Funnel",
)
"""The tour's sections in order (the charts come last)."""
PERIOD_DAYS = 14
"""The period comparison's period: the sample's last 14 days against the 14 before."""
JOURNEY_MODELS = ("last_click", "linear")
FUNNEL_STEPS = ("page:/products/*", "page:=/cart", "conversion:purchase")
"""The tour's funnel: a product page, the cart, a purchase (`convtrack report funnel --step`)."""
FUNNEL_WITHIN = timedelta(days=7)
FUNNEL_CHANNELS = 3
"""The funnel's first-touch channels shown beside all persons: those with the most persons."""


def funnel_steps() -> list[reporting_pb2.FunnelStep]:
    """The tour's funnel steps as the reporting service takes them."""
    from services.commands.people import parse_step

    return [parse_step(text) for text in FUNNEL_STEPS]


def _tour(
    addresses: launcher.Addresses,
    config: sample_data.SampleConfig,
    key: str | None,
    tls: TlsSettings | None,
    journeys: Sequence[tuple[ingest_pb2.Event, str]],
) -> None:
    """Prints the tour's sections, each a heading and a table of the report it names."""
    property_id, name = config.property_id, REPORTED_CONVERSION
    comparison = compare_models(
        addresses.reporting,
        property_id=property_id,
        models=["last_click", "linear"],
        conversion_name=name,
        api_key=key,
        tls=tls,
    )
    _heading(
        1,
        SECTIONS[0],
        f"{name} by channel, last click vs linear (reporting currency)",
    )
    print(format_comparison(comparison, width=TEXT_WIDTH))

    until = config.end
    since = until - timedelta(days=PERIOD_DAYS)
    period = fetch_report(
        addresses.reporting,
        "conversions",
        property_id=property_id,
        models=["last_click"],
        start=since,
        end=until,
        conversion_name=name,
        compare="previous",
        api_key=key,
        tls=tls,
    )
    _heading(
        2,
        SECTIONS[1],
        f"{name} by channel, last {PERIOD_DAYS} days vs the {PERIOD_DAYS} before "
        "(--compare previous)",
    )
    print(render_report_table(period, TEXT_WIDTH))

    cost = fetch_metric_table(
        addresses.reporting,
        "cost",
        property_id=property_id,
        conversion_name=name,
        api_key=key,
        tls=tls,
    )
    _heading(3, SECTIONS[2], f"cost and return on ad spend by channel, {name}, last click")
    print(render_metric_table(cost, TEXT_WIDTH))

    paths = fetch_path_table(
        addresses.reporting,
        "top",
        property_id=property_id,
        conversion_name=name,
        limit=5,
        tls=tls,
        api_key=key,
    )
    _heading(4, SECTIONS[3], f"the five top {name} conversion paths")
    print(render_metric_table(paths, TEXT_WIDTH))

    _heading(5, SECTIONS[4], f"one person's {name} journey across two devices, joined by logins")
    _print_journey(addresses, property_id, key, tls, journeys)

    outcomes = fetch_outcome_table(
        addresses.reporting,
        property_id=property_id,
        conversion_name=sample_data.DEAL_CONVERSION,
        api_key=key,
        tls=tls,
    )
    _heading(
        6,
        SECTIONS[5],
        f"{sample_data.DEAL_CONVERSION} stages from the CRM, credited by channel, last click",
    )
    print(render_metric_table(outcomes, TEXT_WIDTH))

    from services.commands.people import fetch_funnel, funnel_table

    funnel = fetch_funnel(
        addresses.reporting,
        property_id=property_id,
        steps=funnel_steps(),
        within=FUNNEL_WITHIN,
        api_key=key,
        tls=tls,
    )
    largest = sorted(funnel.channels, key=lambda c: (-c.steps[0].persons, c.channel))
    del funnel.channels[:]
    funnel.channels.extend(largest[:FUNNEL_CHANNELS])
    _heading(
        7,
        SECTIONS[6],
        f"product page, cart, purchase within {FUNNEL_WITHIN.days} days, "
        f"by first-touch channel ({FUNNEL_CHANNELS} largest)",
    )
    print(render_metric_table(funnel_table(funnel), TEXT_WIDTH))


def _print_journey(
    addresses: launcher.Addresses,
    property_id: str,
    key: str | None,
    tls: TlsSettings | None,
    candidates: Sequence[tuple[ingest_pb2.Event, str]],
) -> None:
    """Shows the first candidate purchase whose credited journey came from two device types
    (of at most five tried), else says there was none."""
    from services.commands.journey import fetch_journey, identifier_table, journey_table

    for purchase, conversion_id in candidates[:5]:
        if not conversion_id:
            continue
        journey = fetch_journey(
            addresses.identity,
            addresses.attribution,
            property_id=property_id,
            user_id=purchase.identity.user_id,
            conversion_id=conversion_id,
            api_key=key,
            tls=tls,
        )
        if len(journey.device_types) < 2:
            continue
        print(render_metric_table(identifier_table(journey.person), TEXT_WIDTH))
        print()
        print(render_metric_table(journey_table(journey.attribution, JOURNEY_MODELS), TEXT_WIDTH))
        return
    print("No purchase in this sample came from two devices (try more --visitors).")
