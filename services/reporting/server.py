"""Reporting's composition root: settings, views, attribution follower, servicer and server."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc
from sqlalchemy import Engine

from common.authentication import AuthMode, AuthSettings, auth_settings
from common.authorisation import access_interceptors
from common.follower import Follower
from common.health import DEFAULT_MAX_READY_LAG, Readiness, max_ready_lag
from common.key_ring import key_set_loader
from common.keyset import KeySet, started_cache
from common.leadership import Election, leader_election, started_elected
from common.rate_limits import RateLimitSettings, rate_limit_interceptors, rate_limit_settings
from common.server import GrpcServer, RunningService
from common.settings import creates_tables, data_dir, database_url, env_str
from common.storage import Database, create_sql_engine, database_for
from common.telemetry import Telemetry
from common.upstream import attribution_log, open_channel
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting.access import RATE_COSTS, policy
from services.reporting.application import ReportingApplication
from services.reporting.domainmodel import ConversionAttribution
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.servicer import ReportingServicer
from services.reporting.upstream import attribution_of

SERVICE_NAME = reporting_pb2.DESCRIPTOR.services_by_name["ReportingService"].full_name
UPSTREAMS = ("attribution",)


@dataclass(frozen=True)
class ReportingSettings:
    """Reporting's settings (`REPORTING_*`, `ATTRIBUTION_ADDR`, `INGEST_ADDR`, `CONVTRACK_*`)."""

    listen: str = "127.0.0.1:50054"
    database_url: str = ""
    data_dir: Path = Path("data")
    create_tables: bool = True
    max_ready_lag: int = DEFAULT_MAX_READY_LAG
    leader_election: bool = True
    attribution_addr: str = "127.0.0.1:50053"
    ingest_addr: str = "127.0.0.1:50051"
    auth: AuthSettings = field(default_factory=AuthSettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ReportingSettings:
        """Reads `REPORTING_LISTEN`, `REPORTING_DATABASE_URL`, `ATTRIBUTION_ADDR`,
        `CONVTRACK_DATA_DIR`,
        `REPORTING_MAX_READY_LAG` (10000: the lag past which readiness reports NOT_SERVING),
        `CONVTRACK_LEADER_ELECTION` (on), `CONVTRACK_AUTH` and `INGEST_ADDR` (where the API
        key ring is read when authentication is on)."""
        listen = env_str(env, "REPORTING_LISTEN", cls.listen)
        return cls(
            listen=listen,
            database_url=database_url(env, "reporting"),
            data_dir=data_dir(env),
            create_tables=creates_tables(env),
            max_ready_lag=max_ready_lag(env, "reporting"),
            leader_election=leader_election(env),
            attribution_addr=env_str(env, "ATTRIBUTION_ADDR", cls.attribution_addr),
            ingest_addr=env_str(env, "INGEST_ADDR", cls.ingest_addr),
            auth=auth_settings(env, listen),
            rate_limits=rate_limit_settings(env, "reporting"),
        )


def database_of(settings: ReportingSettings) -> Database:
    """Reporting's database."""
    return database_for(
        "reporting", settings.database_url, settings.data_dir, create_tables=settings.create_tables
    )


def build_engine(settings: ReportingSettings) -> Engine:
    """An engine for the report views: an SQLite file, or the `reporting` PostgreSQL schema."""
    database = database_of(settings)
    database.ensure_schema()
    return create_sql_engine(database.sqlalchemy_url(), schema=database.schema)


def start(
    settings: ReportingSettings,
    telemetry: Telemetry | None = None,
    key_set: Callable[[], KeySet] | None = None,
) -> RunningService:
    """Starts reporting: its views, its follower of attribution's log (while this replica
    leads it) and its gRPC server. With authentication on, API keys are checked against the
    key set loaded by `key_set` every second (by default from ingest's GetKeyRing)."""
    election = Election("reporting", database_of(settings), enabled=settings.leader_election)
    return started_elected(
        election, lambda e: _start(settings, telemetry or Telemetry(), e, key_set)
    )


def _start(
    settings: ReportingSettings,
    telemetry: Telemetry,
    election: Election,
    key_set: Callable[[], KeySet] | None,
) -> RunningService:
    engine = build_engine(settings)
    projection = ConversionCreditsProjection(engine)
    if settings.create_tables:
        projection.create_tables()
    else:
        projection.check_tables()
    app = ReportingApplication(engine, UPSTREAMS)
    channel = open_channel(settings.attribution_addr, telemetry.tracer_provider)
    interrupts = [channel.close]
    keys = None
    if settings.auth.mode is AuthMode.KEYS:
        ingest_channel = open_channel(settings.ingest_addr, telemetry.tracer_provider)
        interrupts.append(ingest_channel.close)
        keys = started_cache(True, key_set or key_set_loader(ingest_channel), "reporting")
    follower: Follower[ConversionAttribution | None] = Follower(
        attribution_log(channel, attribution_of),
        projection,
        lock=projection.lock,
        tracer=telemetry.tracer(__name__),
        meter=telemetry.meter(__name__),
        leadership=election.leadership("attribution"),
    )

    servicer = ReportingServicer(
        app, lambda: projection.positions(UPSTREAMS), telemetry.meter(__name__)
    )

    def register(server: grpc.Server) -> None:
        reporting_pb2_grpc.add_ReportingServiceServicer_to_server(servicer, server)

    server = GrpcServer(
        listen=settings.listen,
        service_names=[SERVICE_NAME],
        register=register,
        tracer_provider=telemetry.tracer_provider,
        interceptors=access_interceptors(
            settings.auth,
            policy(),
            keys.current if keys is not None else None,
            below=rate_limit_interceptors(settings.rate_limits, RATE_COSTS),
        ),
        ready_at_start=False,
    )
    return RunningService(
        "reporting",
        server,
        followers=[follower],
        interrupts=interrupts,
        closers=[
            *([keys.stop] if keys else []),
            engine.dispose,
            telemetry.shutdown,
            election.close,
        ],
        readiness=Readiness(
            lambda: projection.positions(UPSTREAMS), [follower], max_lag=settings.max_ready_lag
        ),
    )


def migrate(settings: ReportingSettings) -> None:
    """Creates reporting's schema and views (the migrate step)."""
    engine = build_engine(replace(settings, create_tables=True))
    try:
        ConversionCreditsProjection(engine).create_tables()
    finally:
        engine.dispose()


def rebuild_reports(settings: ReportingSettings) -> None:
    """Drops and recreates the report views; the service replays attribution's log into them."""
    engine = build_engine(settings)
    try:
        ConversionCreditsProjection(engine).rebuild()
    finally:
        engine.dispose()
