"""Ingest's composition root: settings, application, servicer and server."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

from common.follower import Follower
from common.health import Readiness
from common.leadership import Election, leader_election, started_elected
from common.money import ExchangeRates, is_known_currency
from common.server import GrpcServer, RunningService
from common.settings import SettingsError, creates_tables, data_dir, database_url, env_int, env_str
from common.storage import Database, database_for
from common.telemetry import Telemetry
from common.upstream import identity_log, open_channel
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.application import IngestApplication
from services.ingest.enrichment import UserAgentParser
from services.ingest.normalise import Limits, Normaliser
from services.ingest.rejected import RejectedStore
from services.ingest.servicer import IngestServicer
from services.ingest.spend import SpendNormaliser
from services.ingest.upstream import forgotten_of
from services.ingest.url_privacy import DEFAULT_PII_QUERY_PARAMS, UrlScrubber
from services.ingest.vault import Forgotten, SubjectVault

_log = logging.getLogger(__name__)

# Measured (bench/backpressure.py, tracemalloc): a typical event held while it waits to be
# stored costs about 9 KB (its request bytes, plain values and domain event), so the default
# bound holds about 90 MB of events: ten full batches of 1,000.
DEFAULT_MAX_QUEUED_EVENTS = 10_000
# Calls in progress (running on the 16 workers or waiting for one); beyond it grpcio refuses
# at once with RESOURCE_EXHAUSTED rather than let calls pile up until their deadlines.
DEFAULT_MAX_CONCURRENT_CALLS = 64
BUSY_RETRY_AFTER_SECONDS = 1.0

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name


@dataclass(frozen=True)
class IngestSettings:
    """Ingest's settings (environment variables `INGEST_*` and `CONVTRACK_*`)."""

    listen: str = "127.0.0.1:50051"
    identity_addr: str = ""
    database_url: str = ""
    data_dir: Path = Path("data")
    create_tables: bool = True
    leader_election: bool = True
    reporting_currency: str = "USD"
    fx_rates_file: str = ""
    max_event_age_days: int = 90
    late_after_hours: int = 72
    max_backfill_age_days: int = 730
    rejected_retention_days: int = 30
    pii_query_params: tuple[str, ...] = DEFAULT_PII_QUERY_PARAMS
    max_queued_events: int = DEFAULT_MAX_QUEUED_EVENTS
    max_concurrent_calls: int = DEFAULT_MAX_CONCURRENT_CALLS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IngestSettings:
        """Reads `INGEST_LISTEN`, `INGEST_DATABASE_URL`, `INGEST_REPORTING_CURRENCY`,
        `INGEST_FX_RATES_FILE`, `INGEST_MAX_EVENT_AGE_DAYS`, `INGEST_LATE_AFTER_HOURS`,
        `INGEST_MAX_BACKFILL_AGE_DAYS`, `INGEST_REJECTED_RETENTION_DAYS`,
        `INGEST_PII_QUERY_PARAMS` (comma-separated names, replacing the default list),
        `INGEST_MAX_QUEUED_EVENTS` (events waiting to be stored, at least one full batch),
        `INGEST_MAX_CONCURRENT_CALLS` (calls in progress, at least 1),
        `CONVTRACK_DATA_DIR` and `CONVTRACK_LEADER_ELECTION` (on)."""
        pii_query_params = env_str(env, "INGEST_PII_QUERY_PARAMS")
        settings = cls(
            listen=env_str(env, "INGEST_LISTEN", "127.0.0.1:50051"),
            identity_addr=env_str(env, "IDENTITY_ADDR", "127.0.0.1:50052"),
            database_url=database_url(env, "ingest"),
            data_dir=data_dir(env),
            create_tables=creates_tables(env),
            leader_election=leader_election(env),
            reporting_currency=env_str(env, "INGEST_REPORTING_CURRENCY", "USD").upper(),
            fx_rates_file=env_str(env, "INGEST_FX_RATES_FILE"),
            max_event_age_days=env_int(env, "INGEST_MAX_EVENT_AGE_DAYS", 90),
            late_after_hours=env_int(env, "INGEST_LATE_AFTER_HOURS", 72),
            max_backfill_age_days=env_int(env, "INGEST_MAX_BACKFILL_AGE_DAYS", 730),
            rejected_retention_days=env_int(env, "INGEST_REJECTED_RETENTION_DAYS", 30),
            pii_query_params=(
                tuple(n.strip().lower() for n in pii_query_params.split(",") if n.strip())
                if pii_query_params
                else DEFAULT_PII_QUERY_PARAMS
            ),
            max_queued_events=env_int(env, "INGEST_MAX_QUEUED_EVENTS", DEFAULT_MAX_QUEUED_EVENTS),
            max_concurrent_calls=env_int(
                env, "INGEST_MAX_CONCURRENT_CALLS", DEFAULT_MAX_CONCURRENT_CALLS
            ),
        )
        if settings.max_concurrent_calls < 1:
            raise SettingsError("INGEST_MAX_CONCURRENT_CALLS must be at least 1")
        if settings.max_queued_events < Limits().max_events_per_batch:
            raise SettingsError(
                f"INGEST_MAX_QUEUED_EVENTS {settings.max_queued_events} is below one full "
                f"batch ({Limits().max_events_per_batch} events)"
            )
        if not is_known_currency(settings.reporting_currency):
            raise SettingsError(
                f"INGEST_REPORTING_CURRENCY {settings.reporting_currency!r} is not ISO 4217"
            )
        return settings


def exchange_rates(settings: IngestSettings) -> ExchangeRates:
    """The bundled ECB reference rates (and pegs), under the rates file when one is set;
    refuses a reporting currency that has no rate today."""
    rates = ExchangeRates.reference()
    if settings.fx_rates_file:
        rates = ExchangeRates.from_file(Path(settings.fx_rates_file)).over(rates)
    today = datetime.now(UTC).date()
    if not rates.has_rate(settings.reporting_currency, today):
        raise SettingsError(
            f"INGEST_REPORTING_CURRENCY {settings.reporting_currency!r} has no exchange rate "
            f"on {today}: give its rates in INGEST_FX_RATES_FILE"
        )
    _log.info(
        "exchange rates: ECB reference rates up to %s%s",
        ExchangeRates.reference().newest_date,
        f", under {settings.fx_rates_file}" if settings.fx_rates_file else "",
    )
    return rates


def database_of(settings: IngestSettings) -> Database:
    """Ingest's database."""
    return database_for(
        "ingest", settings.database_url, settings.data_dir, create_tables=settings.create_tables
    )


def build_application(settings: IngestSettings) -> IngestApplication:
    """The ingest application on the configured store."""
    database = database_of(settings)
    database.ensure_schema()
    rates = exchange_rates(settings)
    limits = Limits(
        max_age=timedelta(days=settings.max_event_age_days),
        late_after=timedelta(hours=settings.late_after_hours),
        max_backfill_age=timedelta(days=settings.max_backfill_age_days),
    )
    urls = UrlScrubber(settings.pii_query_params)
    normaliser = Normaliser(
        limits=limits,
        rates=rates,
        reporting_currency=settings.reporting_currency,
        user_agents=UserAgentParser(),
        urls=urls,
    )
    engine = database.sql_engine()
    vault = SubjectVault(engine)
    rejected = RejectedStore(engine, urls, timedelta(days=settings.rejected_retention_days))
    for tables in (vault, rejected):
        if settings.create_tables:
            tables.create_tables()
        else:
            tables.check_tables()
    app = IngestApplication(
        normaliser=normaliser,
        limits=limits,
        vault=vault,
        rejected=rejected,
        spend=SpendNormaliser(rates, settings.reporting_currency),
        env=database.eventsourcing_env(),
        max_queued_events=settings.max_queued_events,
        busy_retry_after=BUSY_RETRY_AFTER_SECONDS,
    )
    if not settings.create_tables:
        app.check_tables()
    return app


def start(settings: IngestSettings, telemetry: Telemetry | None = None) -> RunningService:
    """Starts ingest: its store, its follower of identity's log (to destroy forgotten
    persons' keys; only with an identity address, and while this replica leads it) and its
    gRPC server."""
    election = Election("ingest", database_of(settings), enabled=settings.leader_election)
    return started_elected(election, lambda e: _start(settings, telemetry or Telemetry(), e))


def _start(settings: IngestSettings, telemetry: Telemetry, election: Election) -> RunningService:
    app = build_application(settings)
    followers: list[Follower[Forgotten | None]] = []
    interrupts = [app.release_log_readers]
    if settings.identity_addr:
        channel = open_channel(settings.identity_addr, telemetry.tracer_provider)
        followers.append(
            Follower(
                identity_log(channel, forgotten_of),
                app.vault,
                lock=app.vault.lock,
                tracer=telemetry.tracer(__name__),
                meter=telemetry.meter(__name__),
                leadership=election.leadership("identity"),
                on_standby=app.vault.forget_cached_keys,
            )
        )
        interrupts.append(channel.close)
    servicer = IngestServicer(app, telemetry.meter(__name__))

    def register(server: grpc.Server) -> None:
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)

    server = GrpcServer(
        listen=settings.listen,
        service_names=[SERVICE_NAME],
        register=register,
        tracer_provider=telemetry.tracer_provider,
        max_concurrent_rpcs=settings.max_concurrent_calls,
        ready_at_start=False,
    )
    # Ingest's readiness is its store only: identity follows ingest's log, so ingest waiting
    # for identity's log would deadlock both at start behind Kubernetes Services, which route
    # only to ready pods. Erasures are not on ingest's request path.
    return RunningService(
        "ingest",
        server,
        followers=followers,
        interrupts=interrupts,
        closers=[app.close, telemetry.shutdown, election.close],
        readiness=Readiness(app.log_head),
    )
