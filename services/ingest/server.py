"""Ingest's composition root: settings, application, servicer and server."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from sqlalchemy import Engine

from common.admission import AdmissionLimit
from common.audit import audit_interceptors, open_audit_log
from common.authentication import AuthMode, AuthSettings, auth_settings
from common.authorisation import access_interceptors
from common.channels import open_channel
from common.follower import Follower
from common.health import Readiness
from common.keyset import started_cache
from common.leadership import Election, leader_election, started_elected
from common.money import ExchangeRates, is_known_currency
from common.rate_limits import RateLimitSettings, rate_limit_interceptors, rate_limit_settings
from common.server import SERVER_WORKERS, GrpcServer, RunningService
from common.settings import (
    PLAINTEXT,
    SettingsError,
    TransportSettings,
    creates_tables,
    data_dir,
    database_url,
    env_int,
    env_str,
    peer_address,
    transport_settings,
)
from common.storage import Database, database_for
from common.telemetry import Telemetry
from common.upstream import identity_log
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.access import RATE_COSTS, policy
from services.ingest.api_keys import ApiKeys, IngestStore
from services.ingest.application import IngestApplication
from services.ingest.consent_defaults import ConsentDefaults, consent_defaults_settings
from services.ingest.enrichment import UserAgentParser
from services.ingest.normalise import Limits, Normaliser
from services.ingest.rejected import RejectedStore
from services.ingest.servicer import IngestServicer
from services.ingest.spend import SpendNormaliser
from services.ingest.upstream import forgotten_of
from services.ingest.url_privacy import DEFAULT_PII_QUERY_PARAMS, UrlScrubber
from services.ingest.vault import (
    Forgotten,
    SubjectVault,
    drop_legacy_secret,
    legacy_secret,
)
from services.ingest.vault_secrets import (
    CURRENT,
    CURRENT_FILE,
    PREVIOUS,
    PREVIOUS_FILE,
    configured_secrets,
    generated_secrets_allowed,
    vault_secrets,
)

_log = logging.getLogger(__name__)

# Measured (bench/backpressure.py, tracemalloc): a typical event held while it waits to be
# stored costs about 9 KB (its request bytes, plain values and domain event), so the default
# bound holds about 90 MB of events: ten full batches of 1,000.
DEFAULT_MAX_QUEUED_EVENTS = 10_000
# Calls in progress (running on the 16 workers or waiting for one); beyond it grpcio refuses
# at once with RESOURCE_EXHAUSTED rather than let calls pile up until their deadlines.
DEFAULT_MAX_CONCURRENT_CALLS = 64
BUSY_RETRY_AFTER_SECONDS = 1.0
# Write calls (TrackEvents, RecordSpend) running at once: at most half the server's worker
# threads, so that the followers' ListEvents and GetLogHead never wait behind writes for one
# (docs/benchmarks.md). A write call over it is refused at once; a slot frees when a group
# commit ends, so the retry delay is short.
DEFAULT_MAX_RUNNING_WRITES = SERVER_WORKERS // 2
WRITES_RETRY_AFTER_SECONDS = 0.25
WRITE_METHODS = ("TrackEvents", "RecordSpend")

# Set by the supervisor in each worker's environment (services/ingest/workers.py).
WORKER_INDEX = "INGEST_WORKER_INDEX"

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
    max_running_writes: int = DEFAULT_MAX_RUNNING_WRITES
    auth: AuthSettings = field(default_factory=AuthSettings)
    transport: TransportSettings = PLAINTEXT
    # The vault's HMAC secret as written (hex, base64 or raw); None: the one generated into
    # `<data dir>/secrets/ingest-vault.key` (the embedded default).
    vault_secret: str | None = field(default=None, repr=False)
    vault_previous_secrets: tuple[str, ...] = field(default=(), repr=False)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    consent_defaults: ConsentDefaults = field(default_factory=ConsentDefaults)
    # Worker processes serving the listen address together (`convtrack serve ingest`).
    workers: int = 1
    # Set by the supervisor of the workers only: this process's index among them.
    worker_index: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IngestSettings:
        """Reads `INGEST_LISTEN`, `INGEST_DATABASE_URL`, `INGEST_REPORTING_CURRENCY`,
        `INGEST_FX_RATES_FILE`, `INGEST_MAX_EVENT_AGE_DAYS`, `INGEST_LATE_AFTER_HOURS`,
        `INGEST_MAX_BACKFILL_AGE_DAYS`, `INGEST_REJECTED_RETENTION_DAYS`,
        `INGEST_PII_QUERY_PARAMS` (comma-separated names, replacing the default list),
        `INGEST_MAX_QUEUED_EVENTS` (events waiting to be stored, at least one full batch),
        `INGEST_MAX_CONCURRENT_CALLS` (calls in progress, at least 1),
        `INGEST_MAX_RUNNING_WRITES` (TrackEvents and RecordSpend calls running at once, at
        least 1 and below the server's worker threads),
        `CONVTRACK_DATA_DIR`, `CONVTRACK_LEADER_ELECTION` (on); ports and TLS as in
        `transport_settings`, identity at `IDENTITY_INTERNAL_ADDR` or `IDENTITY_ADDR`; the
        vault's secrets `INGEST_VAULT_SECRET[_FILE]` and `INGEST_VAULT_SECRET_PREVIOUS[_FILE]`
        (required on PostgreSQL unless `CONVTRACK_ALLOW_GENERATED_SECRETS=1`);
        `CONVTRACK_AUTH`; `INGEST_CONSENT_DEFAULT_ANALYTICS` and `_ADVERTISING` (`granted`
        or `denied`: what unknown consent counts as where no property chose);
        `INGEST_WORKERS` (processes serving one port, default 1; see
        services/ingest/workers.py) and `INGEST_WORKER_INDEX` (set by their supervisor)."""
        pii_query_params = env_str(env, "INGEST_PII_QUERY_PARAMS")
        listen = env_str(env, "INGEST_LISTEN", "127.0.0.1:50051")
        vault_secret, vault_previous_secrets = configured_secrets(env)
        url = database_url(env, "ingest")
        if vault_secret is None and url and not generated_secrets_allowed(env):
            raise SettingsError(
                f"{CURRENT} (or {CURRENT_FILE}) must be set for ingest on PostgreSQL: "
                "32 random bytes, e.g. `openssl rand -hex 32` (docs/deploy.md)"
            )
        settings = cls(
            listen=listen,
            identity_addr=peer_address(env, "identity", "127.0.0.1:50052"),
            database_url=url,
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
            max_running_writes=env_int(
                env, "INGEST_MAX_RUNNING_WRITES", DEFAULT_MAX_RUNNING_WRITES
            ),
            auth=auth_settings(env, listen),
            transport=transport_settings(env, "ingest", listen),
            vault_secret=vault_secret,
            vault_previous_secrets=vault_previous_secrets,
            rate_limits=rate_limit_settings(env, "ingest"),
            consent_defaults=consent_defaults_settings(env),
            workers=env_int(env, "INGEST_WORKERS", 1),
            worker_index=(env_int(env, WORKER_INDEX, 0) if env_str(env, WORKER_INDEX) else None),
        )
        if settings.workers < 1:
            raise SettingsError("INGEST_WORKERS must be at least 1")
        if settings.worker_index is not None and not (
            0 <= settings.worker_index < settings.workers
        ):
            raise SettingsError(f"{WORKER_INDEX} must be below INGEST_WORKERS")
        if settings.max_concurrent_calls < 1:
            raise SettingsError("INGEST_MAX_CONCURRENT_CALLS must be at least 1")
        if not 1 <= settings.max_running_writes < SERVER_WORKERS:
            raise SettingsError(
                f"INGEST_MAX_RUNNING_WRITES must be between 1 and {SERVER_WORKERS - 1} (the "
                "server's worker threads less at least one for log reads)"
            )
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


def offline_api_keys(settings: IngestSettings) -> tuple[ApiKeys, Callable[[], None]]:
    """The API keys in ingest's store, opened directly (creating its tables if need be), and
    the function that closes the store: for minting the first admin key offline."""
    database = database_of(replace(settings, create_tables=True))
    database.ensure_schema()
    store = IngestStore(env=database.eventsourcing_env())
    return ApiKeys(store), store.close


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
    vault = subject_vault(settings, engine)
    rejected = RejectedStore(engine, urls, timedelta(days=settings.rejected_retention_days))
    for tables in (vault, rejected):
        if settings.create_tables:
            tables.create_tables()
        else:
            tables.check_tables()
    legacy = legacy_secret(engine)
    vault.register_secrets(also_used=() if legacy is None else (legacy.version,))
    app = IngestApplication(
        normaliser=normaliser,
        limits=limits,
        vault=vault,
        rejected=rejected,
        spend=SpendNormaliser(rates, settings.reporting_currency),
        env=database.eventsourcing_env(),
        max_queued_events=settings.max_queued_events,
        busy_retry_after=BUSY_RETRY_AFTER_SECONDS,
        consent_defaults=settings.consent_defaults,
    )
    if not settings.create_tables:
        app.check_tables()
    return app


def subject_vault(settings: IngestSettings, engine: Engine) -> SubjectVault:
    """The vault on ingest's database, with the configured secrets; a secret a store made
    before secrets came from the settings is used as a previous one (or, with no secret
    configured, becomes the generated key file's secret) until `convtrack migrate` drops it."""
    legacy = legacy_secret(engine)
    secrets = vault_secrets(
        settings.vault_secret,
        settings.vault_previous_secrets,
        settings.data_dir,
        seed=None if legacy is None else legacy.key,
    )
    if legacy is not None:
        secrets = secrets.with_previous(legacy)
        _log.warning(
            "ingest: the vault secret %s is still in ingest's database: run `convtrack migrate` "
            '(docs/deploy.md, "Rotate secrets")',
            legacy.version,
        )
    return SubjectVault(engine, secrets)


def move_legacy_secret(settings: IngestSettings) -> str:
    """Drops the secret a store made before secrets came from the settings, once it is
    configured (current, previous or the generated key file); says what it did or what to do."""
    database = database_of(settings)
    engine = database.sql_engine()
    try:
        legacy = legacy_secret(engine)
        if legacy is None:
            return ""
        configured = vault_secrets(
            settings.vault_secret,
            settings.vault_previous_secrets,
            settings.data_dir,
            seed=legacy.key,
        ).all
        if legacy.version in {s.version for s in configured}:
            drop_legacy_secret(engine)
            return (
                f"ingest: the vault secret {legacy.version} is configured; dropped it from "
                "ingest's database."
            )
        return (
            f"ingest: ingest's database still holds the vault secret {legacy.version} (used "
            "as a previous secret). Move it out: `convtrack vault export-legacy-secret --out "
            f"FILE`, add the file's line to {PREVIOUS_FILE} (or {PREVIOUS}), restart ingest "
            "and run `convtrack migrate` again, which then drops it."
        )
    finally:
        engine.dispose()


def start(settings: IngestSettings, telemetry: Telemetry | None = None) -> RunningService:
    """Starts ingest: its store, its follower of identity's log (to destroy forgotten
    persons' keys; only with an identity address, and while this replica leads it) and its
    gRPC server."""
    worker = None if settings.worker_index is None else (settings.worker_index, settings.workers)
    election = Election(
        "ingest", database_of(settings), enabled=settings.leader_election, worker=worker
    )
    return started_elected(election, lambda e: _start(settings, telemetry or Telemetry(), e))


def write_admission(settings: IngestSettings) -> AdmissionLimit:
    """The bound on write calls running at once (`max_running_writes`), so that log reads
    keep worker threads that writes cannot take."""
    return AdmissionLimit(
        (f"/{SERVICE_NAME}/{method}" for method in WRITE_METHODS),
        limit=settings.max_running_writes,
        retry_after=WRITES_RETRY_AFTER_SECONDS,
    )


def _start(settings: IngestSettings, telemetry: Telemetry, election: Election) -> RunningService:
    app = build_application(settings)
    followers: list[Follower[Forgotten | None]] = []
    interrupts = [app.release_log_readers]
    if settings.identity_addr:
        channel = open_channel(
            settings.identity_addr, settings.transport.tls, telemetry.tracer_provider
        )
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
    api_keys = ApiKeys(app)
    # Ingest checks keys with its own store's key ring, reloaded every second (so the
    # changes other replicas make are seen too).
    keys = started_cache(settings.auth.mode is AuthMode.KEYS, api_keys.key_set, "ingest")
    if keys is not None:
        api_keys.on_change(keys.refresh)
    audit = open_audit_log(database_of(settings))
    # The rate limits are the deployment's: shared among the live replicas (PostgreSQL).
    replicas = election.replica_count() if settings.rate_limits.enabled else (lambda: 1)
    servicer = IngestServicer(app, api_keys, telemetry.meter(__name__), audit)

    def register(server: grpc.Server) -> None:
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)

    server = GrpcServer(
        listen=settings.listen,
        service_names=[SERVICE_NAME],
        register=register,
        tracer_provider=telemetry.tracer_provider,
        interceptors=access_interceptors(
            settings.auth,
            policy(),
            keys.current if keys is not None else None,
            below=[
                *rate_limit_interceptors(settings.rate_limits, RATE_COSTS, replicas),
                *audit_interceptors(policy(), audit),
                write_admission(settings),
            ],
        ),
        max_concurrent_rpcs=settings.max_concurrent_calls,
        ready_at_start=False,
        transport=settings.transport,
        reuse_port=settings.worker_index is not None,
    )
    # Ingest's readiness is its store only: identity follows ingest's log, so ingest waiting
    # for identity's log would deadlock both at start behind Kubernetes Services, which route
    # only to ready pods. Erasures are not on ingest's request path.
    return RunningService(
        "ingest",
        server,
        followers=followers,
        interrupts=interrupts,
        closers=[
            *([keys.stop] if keys is not None else []),
            app.close,
            audit.close,
            telemetry.shutdown,
            election.close,
        ],
        readiness=Readiness(app.log_head),
    )
