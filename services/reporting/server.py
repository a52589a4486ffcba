"""Reporting's composition root: settings, views, followers of attribution's, ingest's and
identity's logs, servicer and server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
from sqlalchemy import Engine

from common.audit import audit_interceptors, open_audit_log
from common.authentication import AuthMode, AuthSettings, auth_settings
from common.authorisation import access_interceptors
from common.channels import open_channel
from common.follower import Follower, PageSink, UpstreamLog
from common.health import DEFAULT_MAX_READY_LAG, Readiness, max_ready_lag
from common.key_ring import key_set_loader
from common.keyset import KeySet, started_cache
from common.leadership import Election, leader_election, started_elected
from common.rate_limits import RateLimitSettings, rate_limit_interceptors, rate_limit_settings
from common.server import GrpcServer, RunningService
from common.settings import (
    PLAINTEXT,
    TransportSettings,
    creates_tables,
    data_dir,
    database_url,
    env_flag,
    env_int,
    env_str,
    peer_address,
    transport_settings,
)
from common.shards import ShardOfLog, ShardSink, shard_count, sharded_positions
from common.sql_positions import stored_positions
from common.storage import Database, create_sql_engine, database_for
from common.telemetry import Telemetry
from common.upstream import attribution_log, identity_log, ingest_log
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting import schema
from services.reporting.access import RATE_COSTS, policy
from services.reporting.activity import PROJECTION_NAME as ACTIVITY
from services.reporting.activity import IngestActivityProjection
from services.reporting.application import ReportingApplication
from services.reporting.filter_totals import FilterTotalsFollower
from services.reporting.generations import LIVE, GenerationEngine, ReportViews
from services.reporting.metrics import MetricsReports
from services.reporting.outcome_reports import OutcomeReports
from services.reporting.path_reports import PathReports
from services.reporting.person_projection import PROJECTION_NAME as LINKS
from services.reporting.person_projection import IdentityLinksProjection
from services.reporting.person_reports import PersonReports
from services.reporting.projections import PROJECTION_NAME as CREDITS
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.rebuild import DROP_GRACE_SECONDS, Feed, Rebuilder
from services.reporting.servicer import ReportingServicer
from services.reporting.upstream import activity_of, attribution_of, identity_of
from services.reporting.views import projection_positions

SERVICE_NAME = reporting_pb2.DESCRIPTOR.services_by_name["ReportingService"].full_name
UPSTREAMS = ("attribution",)


@dataclass(frozen=True)
class ReportingSettings:
    """Reporting's settings (`REPORTING_*`, `ATTRIBUTION_ADDR`, `INGEST_ADDR`,
    `IDENTITY_ADDR` and `CONVTRACK_*`)."""

    listen: str = "127.0.0.1:50054"
    database_url: str = ""
    data_dir: Path = Path("data")
    create_tables: bool = True
    max_ready_lag: int = DEFAULT_MAX_READY_LAG
    leader_election: bool = True
    shards: int = 1
    attribution_addr: str = "127.0.0.1:50053"
    ingest_addr: str = "127.0.0.1:50051"
    identity_addr: str = "127.0.0.1:50052"
    auth: AuthSettings = field(default_factory=AuthSettings)
    transport: TransportSettings = PLAINTEXT
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    rebuild_drop_grace: float = DROP_GRACE_SECONDS
    filter_totals: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ReportingSettings:
        """Reads `REPORTING_LISTEN`, `REPORTING_DATABASE_URL`, `ATTRIBUTION_ADDR`,
        `INGEST_ADDR` (spend, sessions and the events funnels count follow ingest's log),
        `IDENTITY_ADDR` (the persons funnels and cohorts count follow identity's log),
        `CONVTRACK_DATA_DIR`,
        `REPORTING_MAX_READY_LAG` (10000: the lag past which readiness reports NOT_SERVING),
        `CONVTRACK_LEADER_ELECTION` (on), `REPORTING_SHARDS` (1: one replica follows each log;
        N: the properties are split into N shards that replicas share); ports and TLS as in
        `transport_settings`, peers at their `<PEER>_INTERNAL_ADDR` when set, and
        `CONVTRACK_AUTH` (with keys, the API key ring is read from ingest),
        `REPORTING_REBUILD_GRACE_SECONDS` (30: how long a replaced generation of the views is
        kept for the queries still reading it), `REPORTING_FILTER_TOTALS` (off: whether the
        filter totals are summed and read; docs/architecture.md, "Filter totals")."""
        listen = env_str(env, "REPORTING_LISTEN", cls.listen)
        return cls(
            listen=listen,
            database_url=database_url(env, "reporting"),
            data_dir=data_dir(env),
            create_tables=creates_tables(env),
            max_ready_lag=max_ready_lag(env, "reporting"),
            leader_election=leader_election(env),
            shards=shard_count(env, "REPORTING_SHARDS"),
            attribution_addr=peer_address(env, "attribution", cls.attribution_addr),
            ingest_addr=peer_address(env, "ingest", cls.ingest_addr),
            identity_addr=peer_address(env, "identity", cls.identity_addr),
            transport=transport_settings(env, "reporting", listen),
            auth=auth_settings(env, listen),
            rate_limits=rate_limit_settings(env, "reporting"),
            rebuild_drop_grace=env_int(
                env, "REPORTING_REBUILD_GRACE_SECONDS", int(DROP_GRACE_SECONDS)
            ),
            filter_totals=env_flag(env, "REPORTING_FILTER_TOTALS", default=False),
        )


def database_of(settings: ReportingSettings) -> Database:
    """Reporting's database."""
    return database_for(
        "reporting", settings.database_url, settings.data_dir, create_tables=settings.create_tables
    )


def open_views(settings: ReportingSettings) -> ReportViews:
    """Reporting's database with its generations of the report views: an SQLite file (and
    a file per generation beside it), or the `reporting` PostgreSQL schema (and a schema
    per generation)."""
    database = database_of(settings)
    database.ensure_schema()
    return ReportViews(create_sql_engine(database.sqlalchemy_url(), schema=database.schema))


def build_engine(settings: ReportingSettings) -> Engine:
    """An engine whose connections read the live generation of the report views."""
    return open_views(settings).engine


def start(
    settings: ReportingSettings,
    telemetry: Telemetry | None = None,
    key_set: Callable[[], KeySet] | None = None,
) -> RunningService:
    """Starts reporting: its views, its followers of attribution's, ingest's and identity's
    logs (while this replica leads them, or per shard while it holds the shard; ingest's and
    identity's only with their addresses) and its gRPC server. With authentication on, API
    keys are checked against the key set loaded by `key_set` every second (by default from
    ingest's GetKeyRing)."""
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
    views = open_views(settings)
    engine = views.engine
    try:
        if settings.create_tables:
            schema.migrate(views)
        else:
            schema.check(views)
    except BaseException:
        engine.dispose()
        raise
    projection = ConversionCreditsProjection(engine)
    app = ReportingApplication(
        engine, UPSTREAMS, settings.shards, filter_totals=settings.filter_totals
    )
    activity = IngestActivityProjection(engine)
    channel = open_channel(
        settings.attribution_addr, settings.transport.tls, telemetry.tracer_provider
    )
    interrupts = [channel.close]
    # Each log with the projection it feeds and the lock that projection processes under;
    # a rebuild makes the same projection for its generation.
    feeds: list[tuple[UpstreamLog[Any], PageSink[Any], threading.Lock]] = [
        (attribution_log(channel, attribution_of), projection, projection.lock)
    ]
    kinds: list[Callable[[GenerationEngine], PageSink[Any]]] = [ConversionCreditsProjection]
    if settings.ingest_addr:
        ingest_channel = open_channel(
            settings.ingest_addr, settings.transport.tls, telemetry.tracer_provider
        )
        feeds.append((ingest_log(ingest_channel, activity_of), activity, activity.lock))
        kinds.append(IngestActivityProjection)
        interrupts.append(ingest_channel.close)
    links = IdentityLinksProjection(engine)
    if settings.identity_addr:
        identity_channel = open_channel(
            settings.identity_addr, settings.transport.tls, telemetry.tracer_provider
        )
        feeds.append((identity_log(identity_channel, identity_of), links, links.lock))
        kinds.append(IdentityLinksProjection)
        interrupts.append(identity_channel.close)
    keys = None
    key_closers: list[Callable[[], None]] = []
    if settings.auth.mode is AuthMode.KEYS:
        key_channel = open_channel(
            settings.ingest_addr or ReportingSettings.ingest_addr,
            settings.transport.tls,
            telemetry.tracer_provider,
        )
        keys = started_cache(True, key_set or key_set_loader(key_channel), "reporting")
        # Closed after the refresh has stopped (a closer), not with the interrupts: a refresh
        # running when the channel closed logged a failure at every shutdown's chance.
        key_closers = [*([keys.stop] if keys else []), key_channel.close]
    rebuilder = Rebuilder(
        views,
        [Feed(log, kind, lock) for (log, _, lock), kind in zip(feeds, kinds, strict=True)],
        shards=settings.shards,
        leadership=election.task_leadership("rebuild"),
        tracer=telemetry.tracer(__name__),
        meter=telemetry.meter(__name__),
        drop_grace=settings.rebuild_drop_grace,
    )
    followers: list[Follower[Any]] = []
    if settings.shards == 1:
        for log, sink, lock in feeds:
            followers.append(
                Follower(
                    log,
                    sink,
                    lock=lock,
                    tracer=telemetry.tracer(__name__),
                    meter=telemetry.meter(__name__),
                    leadership=election.leadership(log.name),
                )
            )
    else:
        shards = election.shard_leaderships(settings.shards, guards=[lock for *_, lock in feeds])
        for shard, leadership in enumerate(shards):
            for log, sink, lock in feeds:
                followers.append(
                    Follower(
                        ShardOfLog(log, shard, settings.shards),
                        ShardSink(sink, log.name),
                        lock=lock,
                        tracer=telemetry.tracer(__name__),
                        meter=telemetry.meter(__name__),
                        leadership=leadership,
                    )
                )

    def positions() -> dict[str, int]:
        # One connection and one query for all of them: sync status is polled often.
        with engine.connect() as conn:
            stored = stored_positions(conn, projection_positions)

        def of(consumer: str) -> Callable[[str], int]:
            return lambda upstream: stored.get((consumer, upstream), 0)

        consumers = [(CREDITS, list(UPSTREAMS))]
        if settings.ingest_addr:
            consumers.append((ACTIVITY, ["ingest"]))
        if settings.identity_addr:
            consumers.append((LINKS, ["identity"]))
        found: dict[str, int] = {}
        for consumer, upstreams in consumers:
            if settings.shards == 1:
                found.update({upstream: of(consumer)(upstream) for upstream in upstreams})
            else:
                found.update(sharded_positions(of(consumer), upstreams, settings.shards))
        return found

    audit = open_audit_log(database_of(settings))
    servicer = ReportingServicer(
        app,
        positions,
        telemetry.meter(__name__),
        MetricsReports(engine, settings.shards),
        PathReports(engine, settings.shards),
        rebuilds=rebuilder,
        outcomes=OutcomeReports(engine, settings.shards),
        audit=audit,
        people=PersonReports(engine, settings.shards),
    )

    def register(server: grpc.Server) -> None:
        reporting_pb2_grpc.add_ReportingServiceServicer_to_server(servicer, server)

    # The rate limits are the deployment's: shared among the live replicas (PostgreSQL).
    replicas = election.replica_count() if settings.rate_limits.enabled else (lambda: 1)
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
    rebuilder.start()
    closers = [rebuilder.stop]
    if settings.filter_totals:
        # Whole days' filter totals, apart from the catch-up, in the replica leading the task
        # (on PostgreSQL its leadership holds one more connection: none when off).
        filter_totals = FilterTotalsFollower(engine, election.task_leadership("filter-totals"))
        filter_totals.start()
        closers.append(filter_totals.stop)
    return RunningService(
        "reporting",
        server,
        followers=followers,
        interrupts=interrupts,
        closers=[
            *closers,
            *key_closers,
            engine.dispose,
            audit.close,
            telemetry.shutdown,
            election.close,
        ],
        readiness=Readiness(positions, followers, max_lag=settings.max_ready_lag),
    )


def migrate(settings: ReportingSettings) -> None:
    """Brings reporting's tables and every generation of its views to the newest Alembic
    revisions, creating the first generation when there is none, and creates its audit log
    table (the migrate step)."""
    views = open_views(replace(settings, create_tables=True))
    try:
        schema.migrate(views)
    finally:
        views.engine.dispose()
    open_audit_log(database_of(replace(settings, create_tables=True))).close()


def rebuild_reports(settings: ReportingSettings) -> int:
    """Replaces the live generation of the report views by a new, empty one at once (the
    running service replays the logs into it; reports are empty until it has): for a
    stopped service, or when an answer from the old views is worse than none. RebuildViews
    rebuilds while serving instead. Returns the new generation's number."""
    views = open_views(settings)
    try:
        return views.create(LIVE)
    finally:
        views.engine.dispose()
