"""`convtrack`: run the services, the demo, reports and maintenance from the command line."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from common.logs import configure_logging
from common.settings import SettingsError
from services import SERVICES

# What runs each command, as "module:function", imported only when that command runs: parsing
# the arguments (and `--help`) imports no service, and a command imports only what it needs.
COMMANDS = {
    "up": "services.commands.serving:up",
    "serve": "services.commands.serving:serve",
    "demo": "services.commands.demo:demo",
    "report": "services.commands.reports:report",
    "chart": "services.commands.charts:chart",
    "rebuild-reports": "services.commands.maintenance:rebuild_reports",
    "migrate": "services.commands.maintenance:migrate",
    "keys create": "services.commands.keys:create",
    "keys list": "services.commands.keys:list_keys",
    "keys revoke": "services.commands.keys:revoke",
    "audit list": "services.commands.audit:audit_list",
    "rejected": "services.commands.rejected:rejected",
    "relay": "services.commands.relay:relay",
    "import events": "services.commands.import_events:import_events",
    "spend import": "services.commands.spend_import:spend_import",
    "outcomes import": "services.commands.outcomes:outcomes_import",
    "sample send": "services.commands.sample:sample_send",
    "attribution run-file": "services.commands.attribution:run_file",
    "attribution models": "services.commands.attribution_settings:show_models",
    "attribution configure-models": "services.commands.attribution_settings:configure_models",
    "attribution reporting-identity": (
        "services.commands.attribution_settings:set_reporting_identity"
    ),
    "identity resolve-file": "services.commands.identity:resolve_file",
    "certs dev": "services.commands.certs:certs_dev",
    "consent defaults": "services.commands.consent:defaults",
    "consent forget": "services.commands.consent:forget",
    "channels show": "services.commands.channels:show",
    "channels set": "services.commands.channels:set_rules",
    "vault export-legacy-secret": "services.commands.vault:export_legacy_secret",
    "vault retire": "services.commands.vault:retire",
}
QUIET_COMMANDS = ("demo", "report", "chart")  # log warnings only: they print their own results
GROUP_BY = (  # the keys of commands.reports.GROUP_BY
    "channel",
    "source",
    "medium",
    "campaign",
    "term",
    "content",
    "device_type",
    "browser",
    "country",
    "landing_page",
    "conversion_name",
)
REPORTS = (  # commands.reports.SERVED_KINDS
    "conversions",
    "compare",
    "cost",
    "rates",
    "paths",
    "outcomes",
    "funnel",
    "cohorts",
)
PATH_VIEWS = ("top", "length", "lag", "assisted")  # commands.paths.VIEWS
CHARTS = ("models", "trend", "path-length", "cost", "funnel")  # commands.charts.CHARTS
SPEND_FORMATS = ("auto", "generic", "google-ads", "meta")  # "auto" + spend_import.CSV_FORMATS
REPORT_FORMATS = ("table", "csv", "json", "parquet")  # commands.report_output.FORMATS

Handler = Callable[[argparse.Namespace], int]
SCOPES = ("ingest:write", "reports:read", "identity:admin", "attribution:admin", "admin")


def _add_api_key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-key",
        default=None,
        help="the API key to send (else CONVTRACK_API_KEY, else the file CONVTRACK_API_KEY_FILE, "
        "else to a loopback address the local admin key of `convtrack up`, "
        "<CONVTRACK_DATA_DIR, default ./data>/admin.key)",
    )


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _add_tls_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tls-dir",
        type=Path,
        default=None,
        help="connect with TLS: the operators' client certificate and the CA, client.crt, "
        "client.key and ca.crt in this directory (default CONVTRACK_TLS_DIR; none: plaintext)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command; building it imports nothing heavy."""
    parser = argparse.ArgumentParser(prog="convtrack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "up", help="run the four services until Ctrl-C (data in CONVTRACK_DATA_DIR)"
    )
    serve = commands.add_parser("serve", help="run one service, configured from the environment")
    serve.add_argument("service", choices=SERVICES)
    demo = commands.add_parser("demo", help="run the services on a sample and print reports")
    demo.add_argument("--visitors", type=int, default=3000)
    demo.add_argument(
        "--keep",
        "--data-dir",
        type=Path,
        default=None,
        dest="keep",
        metavar="DIR",
        help="keep the data (and the demo's admin key) in DIR; by default they go to a "
        "temporary directory that is removed at the end",
    )
    demo.add_argument(
        "--charts",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the charts here (default: DIR/charts with --keep, else "
        "./convtrack-demo-charts)",
    )
    report = commands.add_parser(
        "report",
        help="print or write a report from reporting: conversions, compare, cost, rates, paths, "
        "outcomes, funnel or cohorts",
        description="Report KINDs: conversions (one model), compare (models side by side), "
        "cost (cost, conversions, cost per conversion, ROAS and ROI under one model), rates "
        "(visitors, sessions, conversions per session and per visitor), paths (top conversion "
        "paths; --view length, lag or assisted for path lengths, time lags or assisted versus "
        "last-touch conversions per channel), outcomes (per CRM stage: conversions that "
        "reached it, their value, credited per --group-by under one model), funnel (persons "
        "reaching ordered --step's within --within, per first-touch channel), cohorts (persons "
        "by first-touch --interval week or month and channel, cumulative conversions per period "
        "since). Without KIND: "
        "conversions, or compare when --models names several (kept for compatibility).",
    )
    report.add_argument(
        "kind",
        nargs="?",
        default=None,
        metavar="KIND",
        help=f"one of {', '.join(REPORTS)} (default: conversions)",
    )
    report.add_argument("--property", required=True, dest="property_id")
    report.add_argument(
        "--models",
        default=None,
        help="comma-separated: one for conversions (last_click by default), several for "
        "compare (last_click,linear by default); any model attribution credits (every "
        "rule-based model by default: first_click, last_click, last_non_direct_click, "
        "linear, position_based, w_shaped, j_shaped, inverse_j, time_decay, participation)",
    )
    report.add_argument(
        "--group-by",
        default="channel",
        metavar="DIMENSION[,DIMENSION...]",
        help=f"comma-separated, in column order (conversions, compare: up to 5; outcomes, cost, "
        f"rates: one); dimensions: {', '.join(GROUP_BY)}",
    )
    report.add_argument("--since", type=_parse_time, default=None, help="ISO 8601, inclusive")
    report.add_argument("--until", type=_parse_time, default=None, help="ISO 8601, exclusive")
    report.add_argument(
        "--as-of",
        default=None,
        help="the report as it stood at a past moment: an ISO 8601 time, or position:N of "
        "attribution's log",
    )
    report.add_argument(
        "--interval",
        choices=("none", "day", "week", "month"),
        default=None,
        help="rows per day, week (Monday to Sunday) or month in the property's time zone; "
        "cohorts: persons by first-touch week (the default) or month",
    )
    report.add_argument(
        "--filter",
        action="append",
        metavar="DIMENSION=VALUE[,VALUE...]",
        help="only credits with one of the values; repeat for several dimensions (all hold); "
        '"(not set)" matches empty values',
    )
    report.add_argument(
        "--compare",
        default=None,
        metavar="previous|START/END",
        help="compare with the previous period of the same length (needs --since and "
        "--until) or with START/END (ISO 8601): each row gets the figures then and the change",
    )
    report.add_argument(
        "--conversion",
        default="",
        help="the conversion name to count, e.g. purchase (required when the property has "
        "several; the error lists them); cohorts: comma-separated names (every name if none)",
    )
    report.add_argument(
        "--format",
        choices=REPORT_FORMATS,
        default="table",
        dest="output_format",
        help="table (aligned, for people), or one row per group: csv, json, parquet (values "
        "as exact decimals, never floats)",
    )
    report.add_argument(
        "--output",
        type=Path,
        default=None,
        help="write to this file (required for parquet; a table is written as plain text)",
    )
    report.add_argument(
        "--view",
        choices=PATH_VIEWS,
        default=None,
        help="paths: top (paths by conversions, the default), length (touchpoints per path), "
        "lag (days from first touch to conversion), assisted (assisted versus last-touch "
        "conversions per channel)",
    )
    report.add_argument(
        "--collapse-repeats",
        action="store_true",
        help="paths: consecutive touchpoints of one channel count as one step",
    )
    report.add_argument(
        "--limit", type=int, default=None, help="paths: show at most this many top paths"
    )
    report.add_argument(
        "--step",
        action="append",
        metavar="KIND:VALUE",
        help="funnel: a step, repeated in order: page:/pricing (path prefix; page:=/pricing "
        "exactly), event:identify (identify, page_view, touchpoint or a conversion name), "
        "conversion:purchase; a trailing * matches names by prefix",
    )
    report.add_argument(
        "--within",
        default=None,
        metavar="DURATION",
        help="funnel: the time from the first step to reach the last, e.g. 7d, 12h (30d)",
    )
    report.add_argument(
        "--periods",
        type=int,
        default=None,
        help="cohorts: weeks or months since the first touch to show (8)",
    )
    report.add_argument("--addr", default=None, help="reporting address (REPORTING_ADDR)")
    _add_api_key(report)
    _add_tls_dir(report)
    chart = commands.add_parser(
        "chart",
        help="draw a chart from reporting as a PNG file: models, trend, path-length, cost or "
        "funnel",
        description="Chart KINDs: models (conversions by channel under several models side by "
        "side), trend (conversions per day against the previous period), path-length "
        "(conversions per path length), cost (cost versus value per channel), funnel (persons "
        "per --step, overall and for the largest first-touch channels).",
    )
    chart.add_argument("kind", choices=CHARTS, metavar="KIND", help=", ".join(CHARTS))
    chart.add_argument("--output", type=Path, required=True, help="the PNG file to write")
    chart.add_argument("--property", required=True, dest="property_id")
    chart.add_argument("--conversion", default="", help="the conversion name to count")
    chart.add_argument(
        "--models",
        default=None,
        help="models: comma-separated (default last_click,first_click,linear); trend and "
        "cost: one (default last_click)",
    )
    chart.add_argument("--since", type=_parse_time, default=None, help="ISO 8601, inclusive")
    chart.add_argument("--until", type=_parse_time, default=None, help="ISO 8601, exclusive")
    chart.add_argument(
        "--days", type=int, default=28, help="trend: days shown when --since is not given"
    )
    chart.add_argument(
        "--step", action="append", metavar="KIND:VALUE", help="funnel: a step, as in report"
    )
    chart.add_argument("--within", default=None, help="funnel: e.g. 7d (30d)")
    chart.add_argument("--width", type=int, default=1200, help="pixels")
    chart.add_argument("--height", type=int, default=700, help="pixels")
    chart.add_argument("--addr", default=None, help="reporting address (REPORTING_ADDR)")
    _add_api_key(chart)
    _add_tls_dir(chart)
    rebuild = commands.add_parser(
        "rebuild-reports",
        help="rebuild the report views in the background while reporting serves the old ones; "
        "the new ones replace them once caught up",
    )
    rebuild.add_argument("--addr", default=None, help="reporting address (REPORTING_ADDR)")
    rebuild.add_argument(
        "--no-wait", action="store_true", help="start the rebuild and return at once"
    )
    rebuild.add_argument(
        "--offline",
        action="store_true",
        help="replace the views at once by empty ones (database access; reports are empty "
        "until reporting has replayed the logs): for a stopped service",
    )
    _add_api_key(rebuild)
    _add_tls_dir(rebuild)
    commands.add_parser(
        "migrate",
        help="create every service's schema and tables once (then start replicas with "
        "CONVTRACK_CREATE_TABLES=n)",
    )
    rejected = commands.add_parser(
        "rejected", help="show a property's rejected events (dead letters) with counts by reason"
    )
    rejected.add_argument("--property", required=True, dest="property_id")
    rejected.add_argument("--since", type=_parse_time, default=None, help="ISO 8601, inclusive")
    rejected.add_argument("--field", default="", help="only violations on this field path")
    rejected.add_argument("--reason", default="", help="only reasons containing this text")
    rejected.add_argument("--limit", type=int, default=20, help="latest events shown (1-1000)")
    rejected.add_argument("--addr", default=None, help="ingest address (INGEST_ADDR)")
    _add_api_key(rejected)
    _add_tls_dir(rejected)
    relay = commands.add_parser(
        "relay",
        help="POST each attributed conversion of a property (every revision, with its credits) "
        "as JSON to a webhook URL, in log order, retrying until a 2xx (docs/api.md)",
    )
    relay.add_argument("--url", required=True, help="the webhook (http:// or https://)")
    relay.add_argument("--property", required=True, dest="property_id")
    relay.add_argument(
        "--from-position",
        default=None,
        help="start after this log position (0: every conversion so far); default 'now'. "
        "A state file that holds a position wins",
    )
    relay.add_argument(
        "--state-file",
        type=Path,
        default=None,
        help="keeps the last delivered position; a restarted relay resumes there",
    )
    relay.add_argument(
        "--secret",
        default=None,
        help="sign each body with HMAC-SHA256 in the Convtrack-Signature header (else "
        "CONVTRACK_RELAY_SECRET or the file CONVTRACK_RELAY_SECRET_FILE; none: unsigned)",
    )
    relay.add_argument(
        "--conversion", action="append", help="only this conversion name (repeatable)"
    )
    relay.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for each POST (10)"
    )
    relay.add_argument(
        "--until-caught-up",
        action="store_true",
        help="exit once every conversion so far is delivered (default: follow until Ctrl-C)",
    )
    relay.add_argument("--addr", default=None, help="attribution address (ATTRIBUTION_ADDR)")
    _add_api_key(relay)
    _add_tls_dir(relay)
    imports = commands.add_parser("import", help="import data into a running service")
    import_commands = imports.add_subparsers(dest="subcommand", required=True)
    import_events = import_commands.add_parser(
        "events",
        help="backfill history: send a JSON-lines file of ingest.v1.Event (protobuf JSON "
        "mapping) to ingest in batches, accepted up to INGEST_MAX_BACKFILL_AGE_DAYS old",
    )
    import_events.add_argument("file", type=Path)
    import_events.add_argument("--addr", default=None, help="ingest address (INGEST_ADDR)")
    _add_tls_dir(import_events)
    import_events.add_argument("--batch-size", type=int, default=500, help="events per call")
    _add_api_key(import_events)
    sample = commands.add_parser("sample", help="the demo's sample data")
    sample_commands = sample.add_subparsers(dest="subcommand", required=True)
    sample_send = sample_commands.add_parser(
        "send",
        help="send the demo sample (28 days of one property's traffic, conversions and ad "
        "spend, the same all day) to a running ingest, e.g. after `convtrack up`",
    )
    sample_send.add_argument("--ingest", default=None, help="ingest address (INGEST_ADDR)")
    sample_send.add_argument(
        "--property", default="demo-shop", dest="property_id", help="default demo-shop"
    )
    sample_send.add_argument("--visitors", type=int, default=3000, help="default 3000")
    sample_send.add_argument("--batch-size", type=int, default=500, help="events per call")
    _add_tls_dir(sample_send)
    _add_api_key(sample_send)
    keys = commands.add_parser("keys", help="create, list and revoke API keys (in ingest)")
    keys_commands = keys.add_subparsers(dest="subcommand", required=True)
    create = keys_commands.add_parser(
        "create",
        help="create an API key and print it once (needs an admin key, or --offline)",
        description="Prints the key alone on stdout (shown once: only its hash is stored).",
    )
    create.add_argument("--property", default=None, dest="property_id")
    create.add_argument("--scopes", default=None, help=f"comma-separated: {', '.join(SCOPES)}")
    create.add_argument(
        "--admin", action="store_true", help="an admin key: every scope, every property"
    )
    create.add_argument(
        "--expires", default=None, help="ISO 8601 time, or from now: 90d, 12h (default: never)"
    )
    create.add_argument("--description", default="", help="what the key is for")
    create.add_argument(
        "--offline",
        action="store_true",
        help="write straight into ingest's store (database access, like migrate): for the "
        "first admin key",
    )
    listing = keys_commands.add_parser("list", help="list the API keys (never their secrets)")
    listing.add_argument("--property", default=None, dest="property_id")
    revoke = keys_commands.add_parser("revoke", help="revoke an API key by its id")
    revoke.add_argument("key_id")
    for keys_command in (create, listing, revoke):
        keys_command.add_argument("--addr", default=None, help="ingest address (INGEST_ADDR)")
        _add_api_key(keys_command)
        _add_tls_dir(keys_command)
    audit = commands.add_parser("audit", help="the services' audit logs of admin calls")
    audit_commands = audit.add_subparsers(dest="subcommand", required=True)
    audit_list = audit_commands.add_parser(
        "list",
        help="list a service's audit entries (who made which admin call, when, with what "
        "outcome), oldest first",
        description="Each service keeps its own audit log: ingest (API keys), identity "
        "(links, splits, erasures, rules), attribution (models, refits, re-attribution) and "
        "reporting (property settings). Needs an admin key, or the service's admin scope for "
        "one property with --property (ingest: an admin key).",
    )
    audit_list.add_argument("--service", required=True, choices=SERVICES)
    audit_list.add_argument(
        "--property", default=None, dest="property_id", help="only this property's entries"
    )
    audit_list.add_argument("--since", type=_parse_time, default=None, help="ISO 8601, inclusive")
    audit_list.add_argument("--limit", type=int, default=100, help="entries shown (default 100)")
    audit_list.add_argument(
        "--format", choices=("table", "json"), default="table", dest="output_format"
    )
    audit_list.add_argument(
        "--addr", default=None, help="the service's address (<SERVICE>_ADDR, default its port)"
    )
    _add_api_key(audit_list)
    _add_tls_dir(audit_list)
    spend = commands.add_parser("spend", help="ad spend for cost and ROAS reports")
    spend_commands = spend.add_subparsers(dest="subcommand", required=True)
    spend_import = spend_commands.add_parser(
        "import",
        help="send a CSV of daily spend to ingest; columns: date, source, medium, campaign, "
        "channel (optional), cost, currency, property (or --property); Google Ads (Day, "
        "Campaign, Cost, Currency code) and Meta Ads Manager (Reporting starts, Campaign name, "
        "Amount spent (USD)) exports are read as they are",
    )
    spend_import.add_argument("file", type=Path)
    spend_import.add_argument("--property", default=None, dest="property_id")
    spend_import.add_argument(
        "--format",
        choices=SPEND_FORMATS,
        default="auto",
        dest="csv_format",
        help="the file's column names (auto: from the header)",
    )
    spend_import.add_argument("--addr", default=None, help="ingest address (INGEST_ADDR)")
    _add_api_key(spend_import)
    _add_tls_dir(spend_import)
    outcomes = commands.add_parser("outcomes", help="CRM outcomes of conversions (deal stages)")
    outcomes_commands = outcomes.add_subparsers(dest="subcommand", required=True)
    outcomes_import = outcomes_commands.add_parser(
        "import",
        help="send a CSV of outcomes to ingest; columns: order_id, timestamp, stage, value, "
        "currency, refund, retracted (HubSpot and Salesforce export names too; docs/api.md)",
    )
    outcomes_import.add_argument("file", type=Path)
    outcomes_import.add_argument("--property", default=None, dest="property_id")
    outcomes_import.add_argument(
        "--conversion", default="deal", help="the conversion name when the file has none"
    )
    outcomes_import.add_argument(
        "--currency", default=None, help="the currency of amounts when the file names none"
    )
    outcomes_import.add_argument(
        "--backfill", action="store_true", help="accept outcomes up to 730 days old"
    )
    outcomes_import.add_argument("--addr", default=None, help="ingest address (INGEST_ADDR)")
    _add_api_key(outcomes_import)
    _add_tls_dir(outcomes_import)
    attribution = commands.add_parser(
        "attribution", help="a property's attribution settings, and offline attribution tools"
    )
    attribution_commands = attribution.add_subparsers(dest="subcommand", required=True)
    show = attribution_commands.add_parser(
        "models",
        help="show the models, lookback windows and reporting identity of a property (or the "
        "deployment default) and whether they are its own choice or the default",
    )
    _settings_scope(show, changes=False)
    configure = attribution_commands.add_parser(
        "configure-models",
        help="set a property's models (or the default's, for every property without its own); "
        "its past conversions are re-attributed",
    )
    _settings_scope(configure)
    configure.add_argument(
        "--models",
        default="",
        help="comma-separated: first_click, last_click, last_non_direct_click, linear, "
        "position_based, w_shaped, j_shaped, inverse_j, time_decay, participation, markov, "
        "markov_2, markov_3, shapley",
    )
    configure.add_argument(
        "--follow-default",
        action="store_true",
        help="drop the property's own models and lookback windows: it follows the default",
    )
    configure.add_argument(
        "--click-lookback-days", type=float, default=None, help="the property's click window"
    )
    configure.add_argument(
        "--view-lookback-days",
        type=float,
        default=1.0,
        help="the property's view window (with --click-lookback-days; default 1)",
    )
    identity_choice = attribution_commands.add_parser(
        "reporting-identity",
        help="choose which identity links make up a property's journeys (or the default's)",
    )
    _settings_scope(identity_choice)
    identity_choice.add_argument("identity", choices=["deterministic", "blended"])
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
    identity_commands = identity.add_subparsers(dest="subcommand", required=True)
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
    certs = commands.add_parser("certs", help="TLS certificates")
    certs_commands = certs.add_subparsers(dest="subcommand", required=True)
    certs_dev = certs_commands.add_parser(
        "dev",
        help="write a development CA and a certificate per service (server and client) and "
        "for operators (client) into DIR; existing files are kept",
    )
    certs_dev.add_argument("dir", type=Path, metavar="DIR")
    certs_dev.add_argument(
        "--namespace",
        default="convtrack",
        help="Kubernetes namespace in the services' DNS names (convtrack-<service>.<ns>.svc)",
    )
    certs_dev.add_argument("--force", action="store_true", help="replace existing files")
    consent = commands.add_parser(
        "consent", help="consent defaults per property, and erasing identifiers' consent"
    )
    consent_commands = consent.add_subparsers(dest="subcommand", required=True)
    consent_defaults = consent_commands.add_parser(
        "defaults",
        help="show, or with --analytics/--advertising choose, what an event whose consent is "
        "unknown counts as for a property (denied: opt-in required) or the deployment default",
    )
    scope = consent_defaults.add_mutually_exclusive_group(required=True)
    scope.add_argument("--property", dest="property_id", help="the property")
    scope.add_argument(
        "--all-properties",
        action="store_true",
        help="the deployment default: every property that did not choose its own",
    )
    for purpose in ("analytics", "advertising"):
        consent_defaults.add_argument(
            f"--{purpose}",
            choices=("granted", "denied"),
            default=None,
            help=f"unknown {purpose} consent counts as this (unchanged when left out)",
        )
    consent_forget = consent_commands.add_parser(
        "forget",
        help="erase the consent ingest recorded for identifiers (those that only ever denied "
        "reach no person, so ForgetPerson cannot erase them)",
    )
    consent_forget.add_argument("--property", dest="property_id", required=True)
    consent_forget.add_argument(
        "--identifier",
        action="append",
        required=True,
        help="TYPE:VALUE (anon, user, email, phone or crm; a plain email is hashed); repeatable",
    )
    consent_forget.add_argument("--note", default="", help="why (no personal data)")
    for consent_command in (consent_defaults, consent_forget):
        consent_command.add_argument("--addr", default=None, help="ingest address (INGEST_ADDR)")
        _add_api_key(consent_command)
        _add_tls_dir(consent_command)
    channels = commands.add_parser(
        "channels", help="channel grouping rules per property (docs/api.md, Channel grouping)"
    )
    channels_commands = channels.add_subparsers(dest="subcommand", required=True)
    channels_show = channels_commands.add_parser(
        "show", help="print a property's custom channel rules as JSON (the form `set` reads)"
    )
    channels_set = channels_commands.add_parser(
        "set",
        help="set a property's custom channel rules from a JSON file; they apply to events "
        "received from then on",
    )
    channels_set.add_argument(
        "--rules",
        required=True,
        help='JSON file: {"rules": [{"channel": "partners", "source": {"match": "exact", '
        '"values": ["awin"]}}], "replace_defaults": false}',
    )
    for channels_command in (channels_show, channels_set):
        channels_command.add_argument(
            "--property",
            dest="property_id",
            required=True,
            help='the property, or "*" for the deployment default (an admin key)',
        )
        channels_command.add_argument("--addr", default=None, help="ingest address (INGEST_ADDR)")
        _add_api_key(channels_command)
        _add_tls_dir(channels_command)
    vault = commands.add_parser("vault", help="ingest's vault secrets (docs/deploy.md)")
    vault_commands = vault.add_subparsers(dest="subcommand", required=True)
    export = vault_commands.add_parser(
        "export-legacy-secret",
        help="write the vault secret an older ingest kept in its database to a new file "
        "(mode 0600, hex), to list in INGEST_VAULT_SECRET_PREVIOUS_FILE",
    )
    export.add_argument("--out", type=Path, required=True, help="the file to create")
    retire = vault_commands.add_parser(
        "retire",
        help="let ingest start without a previous vault secret: identifiers pseudonymised "
        "under it get new pseudonyms when seen again (their old ones stay revealable)",
    )
    retire.add_argument("version", help="the secret's version id, as logged and in errors")
    return parser


def _settings_scope(parser: argparse.ArgumentParser, *, changes: bool = True) -> None:
    """The arguments naming whose attribution settings a command reads or changes."""
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--property", dest="property_id", help="the property")
    scope.add_argument(
        "--all-properties",
        action="store_true",
        help="the deployment default: every property that did not choose its own",
    )
    parser.add_argument("--addr", default=None, help="attribution address (ATTRIBUTION_ADDR)")
    _add_api_key(parser)
    _add_tls_dir(parser)
    if changes:
        parser.add_argument(
            "--wait", action="store_true", help="follow the re-attribution job until it ends"
        )


def command_name(args: argparse.Namespace) -> str:
    """The command the arguments name, as a key of `COMMANDS` ("serve", "identity resolve-file")."""
    return " ".join(filter(None, (args.command, getattr(args, "subcommand", None))))


def handler(command: str) -> Handler:
    """The function that runs `command`, importing its module now."""
    module_name, _, function_name = COMMANDS[command].partition(":")
    run: Handler = getattr(importlib.import_module(module_name), function_name)
    return run


def main(argv: Sequence[str] | None = None) -> int:
    """The command line entry point."""
    args = build_parser().parse_args(argv)
    command = command_name(args)
    try:
        configure_logging("WARNING" if command in QUIET_COMMANDS else None)
        return handler(command)(args)
    except SettingsError as error:
        print(f"convtrack {command}: {error}", file=sys.stderr)
        return 2
