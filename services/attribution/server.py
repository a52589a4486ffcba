"""Attribution's composition root: settings, application, followers, servicer and server."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import grpc

from common.audit import audit_interceptors, open_audit_log
from common.authentication import AuthMode, AuthSettings, auth_settings
from common.authorisation import access_interceptors
from common.channels import open_channel
from common.eventlog import positions
from common.follower import Follower, ReadAhead, UpstreamLog
from common.health import DEFAULT_MAX_READY_LAG, Readiness, max_ready_lag
from common.key_ring import key_set_loader
from common.keyset import KeySet, started_cache
from common.leadership import Election, leader_election, started_elected
from common.rate_limits import RateLimitSettings, rate_limit_interceptors, rate_limit_settings
from common.server import GrpcServer, RunningService
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
from common.shards import ShardOfLog, ShardSink, shard_count, sharded_positions
from common.storage import Database, database_for
from common.telemetry import Telemetry
from common.upstream import identity_log, ingest_log
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from services.attribution.access import RATE_COSTS, policy
from services.attribution.application import AttributionApplication
from services.attribution.domainmodel import AttributionInput, ReportingIdentity
from services.attribution.journeys import Lookback, LookbackPolicy
from services.attribution.models import named_model
from services.attribution.rules import NAMED_RULES
from services.attribution.servicer import AttributionServicer
from services.attribution.upstream import identity_input, ingest_input
from services.attribution.watch import DEFAULT_MAX_STREAMS, MAX_STREAMS_LIMIT, ConversionWatches

SERVICE_NAME = attribution_pb2.DESCRIPTOR.services_by_name["AttributionService"].full_name
UPSTREAMS = ("ingest", "identity")


@dataclass(frozen=True)
class AttributionSettings:
    """Attribution's settings (`ATTRIBUTION_*`, `INGEST_ADDR`, `IDENTITY_ADDR`, `CONVTRACK_*`)."""

    listen: str = "127.0.0.1:50053"
    database_url: str = ""
    data_dir: Path = Path("data")
    create_tables: bool = True
    max_ready_lag: int = DEFAULT_MAX_READY_LAG
    leader_election: bool = True
    shards: int = 1
    ingest_addr: str = "127.0.0.1:50051"
    identity_addr: str = "127.0.0.1:50052"
    models: tuple[str, ...] = field(default=tuple(NAMED_RULES))
    lookbacks: LookbackPolicy = field(default_factory=LookbackPolicy)
    refit_interval: timedelta = timedelta(hours=24)
    reporting_identity: ReportingIdentity = ReportingIdentity.DETERMINISTIC
    auth: AuthSettings = field(default_factory=AuthSettings)
    transport: TransportSettings = PLAINTEXT
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    max_watch_streams: int = DEFAULT_MAX_STREAMS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AttributionSettings:
        """Reads `ATTRIBUTION_LISTEN`, `ATTRIBUTION_DATABASE_URL`, `ATTRIBUTION_MODELS`
        (comma-separated), `ATTRIBUTION_CLICK_LOOKBACK_DAYS` (30), `ATTRIBUTION_VIEW_LOOKBACK_DAYS`
        (1), `ATTRIBUTION_LOOKBACKS` (per conversion name, "lead=90:7,purchase=30:1" as
        click:view days), `ATTRIBUTION_REFIT_INTERVAL_HOURS` (24; 0 turns scheduled refits
        of data-driven models off), `ATTRIBUTION_REPORTING_IDENTITY` (deterministic or
        blended; the initial choice, `SetReportingIdentity` changes it), `INGEST_ADDR`,
        `IDENTITY_ADDR`,
        `ATTRIBUTION_MAX_READY_LAG` (10000: the lag past which readiness reports NOT_SERVING),
        `CONVTRACK_LEADER_ELECTION` (on), `ATTRIBUTION_SHARDS` (1: one replica follows each
        log; N: the properties are split into N shards that replicas share),
        `ATTRIBUTION_MAX_WATCH_STREAMS` (4, at most 4: open WatchConversions streams per
        process); ports and TLS as
        in `transport_settings`, peers at their `<PEER>_INTERNAL_ADDR` when set,
        `CONVTRACK_AUTH`."""
        models = env_str(env, "ATTRIBUTION_MODELS", ",".join(NAMED_RULES))
        identity = env_str(env, "ATTRIBUTION_REPORTING_IDENTITY", "deterministic").lower()
        if identity not in {r.value for r in ReportingIdentity}:
            raise SettingsError(
                f"ATTRIBUTION_REPORTING_IDENTITY must be deterministic or blended, not {identity!r}"
            )
        listen = env_str(env, "ATTRIBUTION_LISTEN", "127.0.0.1:50053")
        return cls(
            listen=listen,
            database_url=database_url(env, "attribution"),
            data_dir=data_dir(env),
            create_tables=creates_tables(env),
            max_ready_lag=max_ready_lag(env, "attribution"),
            leader_election=leader_election(env),
            shards=shard_count(env, "ATTRIBUTION_SHARDS"),
            ingest_addr=peer_address(env, "ingest", "127.0.0.1:50051"),
            identity_addr=peer_address(env, "identity", "127.0.0.1:50052"),
            models=tuple(m.strip() for m in models.split(",") if m.strip()),
            lookbacks=lookback_policy(env),
            refit_interval=timedelta(hours=env_int(env, "ATTRIBUTION_REFIT_INTERVAL_HOURS", 24)),
            reporting_identity=ReportingIdentity(identity),
            transport=transport_settings(env, "attribution", listen),
            auth=auth_settings(env, listen),
            rate_limits=rate_limit_settings(env, "attribution"),
            max_watch_streams=max_watch_streams(env),
        )


def max_watch_streams(env: Mapping[str, str]) -> int:
    """`ATTRIBUTION_MAX_WATCH_STREAMS`: 1 to 4 (each open stream holds a server thread)."""
    value = env_int(env, "ATTRIBUTION_MAX_WATCH_STREAMS", DEFAULT_MAX_STREAMS)
    if not 1 <= value <= MAX_STREAMS_LIMIT:
        raise SettingsError(
            f"ATTRIBUTION_MAX_WATCH_STREAMS must be between 1 and {MAX_STREAMS_LIMIT}, not {value}"
        )
    return value


def lookback_policy(env: Mapping[str, str]) -> LookbackPolicy:
    """The lookback windows from the environment (see `AttributionSettings.from_env`)."""
    default = Lookback(
        clicks=timedelta(days=env_int(env, "ATTRIBUTION_CLICK_LOOKBACK_DAYS", 30)),
        views=timedelta(days=env_int(env, "ATTRIBUTION_VIEW_LOOKBACK_DAYS", 1)),
    )
    overrides: dict[str, Lookback] = {}
    for item in env_str(env, "ATTRIBUTION_LOOKBACKS").split(","):
        if not item.strip():
            continue
        name, _, days = item.partition("=")
        clicks, _, views = days.partition(":")
        try:
            overrides[name.strip()] = Lookback(
                clicks=timedelta(days=float(clicks)),
                views=timedelta(days=float(views or 1)),
            )
        except ValueError:
            raise SettingsError(
                f"ATTRIBUTION_LOOKBACKS item {item!r} is not name=click_days:view_days"
            ) from None
    return LookbackPolicy(default=default, by_conversion=overrides)


def database_of(settings: AttributionSettings) -> Database:
    """Attribution's database."""
    return database_for(
        "attribution",
        settings.database_url,
        settings.data_dir,
        create_tables=settings.create_tables,
    )


def build_application(settings: AttributionSettings) -> AttributionApplication:
    """The attribution application on the configured store."""
    database = database_of(settings)
    database.ensure_schema()
    app = AttributionApplication(
        models=[named_model(name) for name in settings.models],
        lookbacks=settings.lookbacks,
        reporting_identity=settings.reporting_identity,
        env=database.eventsourcing_env(),
    )
    if not settings.create_tables:
        app.check_tables()
    return app


def start(
    settings: AttributionSettings,
    telemetry: Telemetry | None = None,
    key_set: Callable[[], KeySet] | None = None,
) -> RunningService:
    """Starts attribution: its store, its followers of ingest and identity (each while this
    replica leads it, or per shard while it holds the shard), its gRPC server. With
    authentication on, API keys are checked against the key set loaded by `key_set` every
    second (by default from ingest's GetKeyRing)."""
    election = Election("attribution", database_of(settings), enabled=settings.leader_election)
    return started_elected(
        election, lambda e: _start(settings, telemetry or Telemetry(), e, key_set)
    )


def _start(
    settings: AttributionSettings,
    telemetry: Telemetry,
    election: Election,
    key_set: Callable[[], KeySet] | None,
) -> RunningService:
    app = build_application(settings)
    if settings.refit_interval > timedelta(0):
        app.refit_every(settings.refit_interval)
    tls = settings.transport.tls
    ingest_channel = open_channel(settings.ingest_addr, tls, telemetry.tracer_provider)
    identity_channel = open_channel(settings.identity_addr, tls, telemetry.tracer_provider)
    keys = started_cache(
        settings.auth.mode is AuthMode.KEYS,
        key_set or key_set_loader(ingest_channel),
        "attribution",
    )
    tracer, meter = telemetry.tracer(__name__), telemetry.meter(__name__)
    logs: list[UpstreamLog[AttributionInput | None]] = [
        ingest_log(ingest_channel, ingest_input),
        identity_log(identity_channel, identity_input),
    ]
    followers: list[Follower[AttributionInput | None]] = []
    if settings.shards == 1:
        for log in logs:
            followers.append(
                Follower(
                    ReadAhead(log),
                    app,
                    lock=app.lock,
                    tracer=tracer,
                    meter=meter,
                    leadership=election.leadership(log.name),
                    on_takeover=app.discard_cached_state,
                    on_standby=app.stand_by,
                )
            )
    else:
        # One lock per shard covers both logs: a shard's visitors and persons are written
        # by the replica that holds it only.
        shards = election.shard_leaderships(settings.shards, guards=[app.lock])
        for shard, leadership in enumerate(shards):
            for log in logs:
                followers.append(
                    Follower(
                        ReadAhead(ShardOfLog[AttributionInput](log, shard, settings.shards)),
                        ShardSink(app, log.name),
                        lock=app.lock,
                        tracer=tracer,
                        meter=meter,
                        leadership=leadership,
                        on_takeover=app.discard_cached_state,
                        on_standby=app.stand_by,
                        on_lost=app.discard_cached_state,
                    )
                )

    def upstream_positions() -> dict[str, int]:
        if settings.shards == 1:
            return positions(app, UPSTREAMS)
        return sharded_positions(app.position, UPSTREAMS, settings.shards)

    audit = open_audit_log(database_of(settings))
    watches = ConversionWatches(app, settings.max_watch_streams)
    # The rate limits are the deployment's: shared among the live replicas (PostgreSQL).
    replicas = election.replica_count() if settings.rate_limits.enabled else (lambda: 1)
    servicer = AttributionServicer(app, upstream_positions, audit, watches)

    def register(server: grpc.Server) -> None:
        attribution_pb2_grpc.add_AttributionServiceServicer_to_server(servicer, server)

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
            ],
        ),
        ready_at_start=False,
        transport=settings.transport,
    )
    return RunningService(
        "attribution",
        server,
        followers=followers,
        # The key refresh stops before the channel it loads through closes: a refresh running
        # as the channel closed logged a failure at shutdown.
        interrupts=[
            *([keys.stop] if keys else []),
            ingest_channel.close,
            identity_channel.close,
            app.release_log_readers,
        ],
        closers=[
            watches.drain,
            app.close,
            audit.close,
            telemetry.shutdown,
            election.close,
        ],
        readiness=Readiness(app.log_head, followers, max_lag=settings.max_ready_lag),
    )
