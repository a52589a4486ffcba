"""Identity's composition root: settings, application, ingest follower, servicer and server."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import grpc

from common.audit import audit_interceptors, open_audit_log
from common.authentication import AuthMode, AuthSettings, auth_settings
from common.authorisation import access_interceptors
from common.channels import open_channel
from common.eventlog import positions
from common.follower import Follower, ReadAhead
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
from common.storage import Database, database_for
from common.telemetry import Telemetry
from common.upstream import ingest_log
from common.values import Identifier
from common.wire import from_identifier_pb, to_identifier_pb
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.identity.access import RATE_COSTS, policy
from services.identity.application import (
    DEFAULT_MIN_EXPECTED_PRECISION,
    IdentifierVault,
    IdentityApplication,
    PlainIdentifiers,
)
from services.identity.domainmodel import Observation
from services.identity.matching import FellegiSunterMatcher, ObservationSource
from services.identity.probabilistic import LinkerConfig, ProbabilisticLinker
from services.identity.servicer import IdentityServicer
from services.identity.upstream import IngestObservations, observation_of

SERVICE_NAME = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name
UPSTREAMS = ("ingest",)
CALL_TIMEOUT = 10.0


@dataclass(frozen=True)
class IdentitySettings:
    """Identity's settings (`IDENTITY_*`, `INGEST_ADDR` and `CONVTRACK_*`)."""

    listen: str = "127.0.0.1:50052"
    database_url: str = ""
    data_dir: Path = Path("data")
    create_tables: bool = True
    max_ready_lag: int = DEFAULT_MAX_READY_LAG
    leader_election: bool = True
    ingest_addr: str = "127.0.0.1:50051"
    matching_interval: timedelta = timedelta(hours=6)
    matching_window: timedelta = timedelta(days=90)
    min_match_probability: float = 0.99
    min_expected_precision: float = DEFAULT_MIN_EXPECTED_PRECISION
    auth: AuthSettings = field(default_factory=AuthSettings)
    transport: TransportSettings = PLAINTEXT
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IdentitySettings:
        """Reads `IDENTITY_LISTEN`, `IDENTITY_DATABASE_URL`, `INGEST_ADDR`, `CONVTRACK_DATA_DIR`,
        and for probabilistic matching `IDENTITY_MATCHING_INTERVAL_HOURS` (6; 0 turns the
        schedule off, `RunMatching` still works), `IDENTITY_MATCHING_WINDOW_DAYS` (90) and
        `IDENTITY_MIN_MATCH_PROBABILITY` (0.99), `IDENTITY_MIN_EXPECTED_PRECISION` (0.95: a
        run whose expected precision is lower accepts no links; 0 turns the check off),
        `IDENTITY_MAX_READY_LAG` (10000: the lag past which readiness reports NOT_SERVING),
        `CONVTRACK_LEADER_ELECTION` (on); ports and TLS as in `transport_settings`, ingest
        at `INGEST_INTERNAL_ADDR` or `INGEST_ADDR`, `CONVTRACK_AUTH`."""
        probability = env_str(env, "IDENTITY_MIN_MATCH_PROBABILITY", str(cls.min_match_probability))
        try:
            min_probability = float(probability)
        except ValueError:
            min_probability = -1.0
        if not 0.5 <= min_probability < 1.0:
            raise SettingsError(
                f"IDENTITY_MIN_MATCH_PROBABILITY must be a number in [0.5, 1), not {probability!r}"
            )
        target = env_str(env, "IDENTITY_MIN_EXPECTED_PRECISION", str(cls.min_expected_precision))
        try:
            min_expected_precision = float(target)
        except ValueError:
            min_expected_precision = -1.0
        if not 0.0 <= min_expected_precision <= 1.0:
            raise SettingsError(
                f"IDENTITY_MIN_EXPECTED_PRECISION must be a number in [0, 1], not {target!r}"
            )
        listen = env_str(env, "IDENTITY_LISTEN", cls.listen)
        return cls(
            listen=listen,
            database_url=database_url(env, "identity"),
            data_dir=data_dir(env),
            create_tables=creates_tables(env),
            max_ready_lag=max_ready_lag(env, "identity"),
            leader_election=leader_election(env),
            ingest_addr=peer_address(env, "ingest", cls.ingest_addr),
            matching_interval=timedelta(hours=env_int(env, "IDENTITY_MATCHING_INTERVAL_HOURS", 6)),
            matching_window=timedelta(days=env_int(env, "IDENTITY_MATCHING_WINDOW_DAYS", 90)),
            min_match_probability=min_probability,
            min_expected_precision=min_expected_precision,
            auth=auth_settings(env, listen),
            transport=transport_settings(env, "identity", listen),
            rate_limits=rate_limit_settings(env, "identity"),
        )


class IngestIdentifierVault:
    """Ingest's vault over gRPC: pseudonyms for identifiers, and identifiers for pseudonyms."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._stub = ingest_pb2_grpc.IngestServiceStub(channel)

    def pseudonymise(self, property_id: str, identifiers: Sequence[str]) -> dict[str, str]:
        """Each identifier's pseudonym; placeholder values are left out."""
        response = self._stub.PseudonymiseIdentifiers(
            ingest_pb2.PseudonymiseIdentifiersRequest(
                property_id=property_id,
                identifiers=[to_identifier_pb(Identifier.from_key(i)) for i in identifiers],
            ),
            timeout=CALL_TIMEOUT,
        )
        return _pairs(response.pairs)

    def reveal(self, property_id: str, pseudonyms: Sequence[str]) -> dict[str, str]:
        """The identifiers behind pseudonyms; forgotten ones are left out."""
        response = self._stub.RevealIdentifiers(
            ingest_pb2.RevealIdentifiersRequest(
                property_id=property_id,
                pseudonyms=[to_identifier_pb(Identifier.from_key(p)) for p in pseudonyms],
            ),
            timeout=CALL_TIMEOUT,
        )
        return {pseudonym: identifier for identifier, pseudonym in _pairs(response.pairs).items()}


def _pairs(pairs: Iterable[ingest_pb2.PseudonymPair]) -> dict[str, str]:
    return {
        from_identifier_pb(p.identifier).key: from_identifier_pb(p.pseudonym).key for p in pairs
    }


def database_of(settings: IdentitySettings) -> Database:
    """Identity's database."""
    return database_for(
        "identity", settings.database_url, settings.data_dir, create_tables=settings.create_tables
    )


def build_application(
    settings: IdentitySettings,
    identifiers: IdentifierVault | None = None,
    observations: ObservationSource | None = None,
) -> IdentityApplication:
    """The identity application on the configured store; `identifiers` is ingest's vault
    (plain identifiers when none is given, as for `convtrack migrate`); matching runs read
    `observations` (none: matching is off)."""
    database = database_of(settings)
    database.ensure_schema()
    linker = ProbabilisticLinker(LinkerConfig(min_probability=settings.min_match_probability))
    app = IdentityApplication(
        identifiers=identifiers or PlainIdentifiers(),
        observations=observations,
        matcher=FellegiSunterMatcher(linker) if observations is not None else None,
        matching_window=settings.matching_window,
        min_expected_precision=settings.min_expected_precision,
        env=database.eventsourcing_env(),
    )
    if not settings.create_tables:
        app.check_tables()
    return app


def start(
    settings: IdentitySettings,
    telemetry: Telemetry | None = None,
    key_set: Callable[[], KeySet] | None = None,
) -> RunningService:
    """Starts identity: its store, its follower of ingest's log (while this replica leads
    it) and its gRPC server. With authentication on, API keys are checked against the key
    set loaded by `key_set` every second (by default from ingest's GetKeyRing)."""
    election = Election("identity", database_of(settings), enabled=settings.leader_election)
    return started_elected(
        election, lambda e: _start(settings, telemetry or Telemetry(), e, key_set)
    )


def _start(
    settings: IdentitySettings,
    telemetry: Telemetry,
    election: Election,
    key_set: Callable[[], KeySet] | None,
) -> RunningService:
    channel = open_channel(settings.ingest_addr, settings.transport.tls, telemetry.tracer_provider)
    keys = started_cache(
        settings.auth.mode is AuthMode.KEYS, key_set or key_set_loader(channel), "identity"
    )
    app = build_application(
        settings,
        IngestIdentifierVault(channel),
        IngestObservations(ingest_log(channel, observation_of)),
    )
    if settings.matching_interval > timedelta(0):
        app.match_every(settings.matching_interval)
    follower: Follower[Observation | None] = Follower(
        ReadAhead(ingest_log(channel, observation_of)),
        app,
        lock=app.lock,
        tracer=telemetry.tracer(__name__),
        meter=telemetry.meter(__name__),
        leadership=election.leadership("ingest"),
        on_takeover=app.discard_cached_state,
        on_standby=app.stand_by,
    )

    audit = open_audit_log(database_of(settings))
    # The rate limits are the deployment's: shared among the live replicas (PostgreSQL).
    replicas = election.replica_count() if settings.rate_limits.enabled else (lambda: 1)
    servicer = IdentityServicer(app, lambda: positions(app, UPSTREAMS), audit)

    def register(server: grpc.Server) -> None:
        identity_pb2_grpc.add_IdentityServiceServicer_to_server(servicer, server)

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
        "identity",
        server,
        followers=[follower],
        # The key refresh stops before the channel it loads through closes: a refresh running
        # as the channel closed logged a failure at shutdown.
        interrupts=[*([keys.stop] if keys else []), channel.close, app.release_log_readers],
        closers=[
            app.close,
            audit.close,
            telemetry.shutdown,
            election.close,
        ],
        readiness=Readiness(app.log_head, [follower], max_lag=settings.max_ready_lag),
    )
