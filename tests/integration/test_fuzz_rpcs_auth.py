"""The seeded fuzzer of test_fuzz_rpcs.py with authentication on: the four services run with
`CONVTRACK_AUTH=keys` and mutual TLS, so every request goes through the real interceptor
chain (authentication, authorisation, rate limits, audit) before the servicer.

Each RPC is called as the least caller its policy rule lets in: a key holding every property
scope of the seeded property, an admin key for the RPCs of every property, and for internal
RPCs a peer's certificate on the internal port. No answer is a server error, and nothing a
property key gets back (answer or error message) names anything of another property, seeded
in the same services, unless the request named it itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory, text_format
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from common.authorisation import Rule
from common.callers import Scope
from common.channels import open_channel
from common.settings import TlsSettings
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services import launcher
from services.commands.certs import write_dev_certificates
from services.ingest.server import IngestSettings, offline_api_keys
from tests.conftest import fresh_postgres_database
from tests.e2e.system import cross_device_journey
from tests.integration.conftest import SEED_PROPERTY
from tests.integration.request_strategies import RequestStrategies
from tests.integration.test_auth_matrix import RULES
from tests.integration.test_fuzz_rpcs import (
    ADJUSTMENTS,
    DEADLINE,
    EXCLUDED,
    SEED,
    SERVER_BUGS,
    VALID,
    Rpc,
    every_rpc,
)

OTHER_PROPERTY = "rival-property"
# Everything the other property holds is spelt with this marker (ids derived from them are
# checked one by one).
MARKER = "rival"
EXAMPLES = {"sqlite": 30, "postgres": 8}
SYNC_TIMEOUT = 90.0
PROPERTY_SCOPES = [
    Scope.INGEST_WRITE,
    Scope.REPORTS_READ,
    Scope.IDENTITY_ADMIN,
    Scope.ATTRIBUTION_ADMIN,
]
# Limits far above what the fuzzer sends: the interceptor runs on every call, never refuses.
HIGH_RATES = {f"{s.upper()}_RATE_LIMIT": "1000000" for s in launcher.SERVICES}
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")


@dataclass
class AuthSystem:
    """The services with keys and mutual TLS, the callers' credentials, and what each
    property holds."""

    backend: str
    addresses: launcher.Addresses
    certs: Path
    property_key: str
    admin_key: str
    other_key: str
    channels: dict[tuple[str, str], grpc.Channel] = field(default_factory=dict)
    known_ids: list[str] = field(default_factory=list)
    other_ids: set[str] = field(default_factory=set)

    def channel(self, address: str, certificate: str = "client") -> grpc.Channel:
        """A channel (kept open for the module) presenting `certificate`."""
        key = (address, certificate)
        if key not in self.channels:
            self.channels[key] = open_channel(
                address, TlsSettings.in_directory(self.certs, certificate)
            )
        return self.channels[key]

    def main(self, service: str) -> grpc.Channel:
        return self.channel(str(getattr(self.addresses, service)))

    def internal(self, service: str, peer: str) -> grpc.Channel:
        return self.channel(self.addresses.internal[service], peer)


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def _mint(settings: IngestSettings) -> tuple[str, str, str]:
    """Tokens of a key with every property scope of the seeded property, an admin key and a
    key of the other property."""
    api_keys, close = offline_api_keys(settings)
    try:
        now = datetime.now(UTC)
        return (
            api_keys.create(property_id=SEED_PROPERTY, scopes=PROPERTY_SCOPES, now=now).token,
            api_keys.create(property_id="", scopes=[Scope.ADMIN], now=now).token,
            api_keys.create(property_id=OTHER_PROPERTY, scopes=PROPERTY_SCOPES, now=now).token,
        )
    finally:
        close()


def _other_journey() -> list[ingest_pb2.Event]:
    """The cross-device journey, in the other property, with every id and identifier its own."""
    events = cross_device_journey()
    for event in events:
        event.property_id = OTHER_PROPERTY
        event.event_id = f"{MARKER}-{event.event_id}"
        for name in ("anonymous_id", "user_id"):
            if getattr(event.identity, name):
                setattr(event.identity, name, f"{MARKER}-{getattr(event.identity, name)}")
        if event.identity.email:
            event.identity.email = f"{MARKER}@example.org"
        if event.HasField("conversion"):
            event.conversion.order_id = f"{MARKER}-{event.conversion.order_id}"
    return events


def wait_for_sync_as_peers(system: AuthSystem, timeout: float = SYNC_TIMEOUT) -> None:
    """Blocks until every consumer caught up with its upstreams, asking each internal port
    with the certificate of a peer its policy lets call (no single peer may ask them all)."""
    ingest = ingest_pb2_grpc.IngestServiceStub(system.internal("ingest", "reporting"))
    identity_head = identity_pb2_grpc.IdentityServiceStub(system.internal("identity", "ingest"))
    attribution_head = attribution_pb2_grpc.AttributionServiceStub(
        system.internal("attribution", "reporting")
    )

    def status(service: str, stub_class: Any, request: Message) -> dict[str, int]:
        stub = stub_class(system.internal(service, "ingest"))
        answer = stub.GetSyncStatus(request, timeout=DEADLINE, wait_for_ready=True)
        return {u.upstream: u.position for u in answer.upstreams}

    deadline = time.monotonic() + timeout
    while True:
        heads = {
            "ingest": ingest.GetLogHead(ingest_pb2.GetLogHeadRequest(), timeout=DEADLINE).position,
            "identity": identity_head.GetLogHead(
                identity_pb2.GetLogHeadRequest(), timeout=DEADLINE
            ).position,
            "attribution": attribution_head.GetLogHead(
                attribution_pb2.GetLogHeadRequest(), timeout=DEADLINE
            ).position,
        }
        positions = {
            "identity": status(
                "identity",
                identity_pb2_grpc.IdentityServiceStub,
                identity_pb2.GetSyncStatusRequest(),
            ),
            "attribution": status(
                "attribution",
                attribution_pb2_grpc.AttributionServiceStub,
                attribution_pb2.GetSyncStatusRequest(),
            ),
            "reporting": status(
                "reporting",
                reporting_pb2_grpc.ReportingServiceStub,
                reporting_pb2.GetSyncStatusRequest(),
            ),
        }
        behind = [
            (consumer, upstream)
            for consumer, upstreams in {
                "identity": ("ingest",),
                "attribution": ("ingest", "identity"),
                "reporting": ("ingest", "attribution"),
            }.items()
            for upstream in upstreams
            if positions[consumer].get(upstream, 0) < heads[upstream]
        ]
        if not behind:
            return
        assert time.monotonic() < deadline, f"not in sync: {behind}, heads {heads}"
        time.sleep(0.2)


def _seed(system: AuthSystem) -> None:
    ingest = ingest_pb2_grpc.IngestServiceStub(system.main("ingest"))
    identity = identity_pb2_grpc.IdentityServiceStub(system.main("identity"))
    verdicts: dict[str, list[str]] = {}
    for property_id, events, token in (
        (SEED_PROPERTY, cross_device_journey(), system.property_key),
        (OTHER_PROPERTY, _other_journey(), system.other_key),
    ):
        tracked = ingest.TrackEvents(
            ingest_pb2.TrackEventsRequest(events=events), timeout=DEADLINE, metadata=_bearer(token)
        )
        assert tracked.rejected_count == 0, tracked
        verdicts[property_id] = [v.record_id for v in tracked.verdicts]
    wait_for_sync_as_peers(system)
    resolved = {}
    for property_id, cookie, token in (
        (SEED_PROPERTY, "phone-cookie", system.property_key),
        (OTHER_PROPERTY, f"{MARKER}-phone-cookie", system.other_key),
    ):
        resolved[property_id] = identity.ResolveIdentity(
            identity_pb2.ResolveIdentityRequest(
                property_id=property_id,
                identifier=common_pb2.Identifier(
                    type=common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID, value=cookie
                ),
            ),
            timeout=DEADLINE,
            metadata=_bearer(token),
        )
    mine, theirs = resolved[SEED_PROPERTY], resolved[OTHER_PROPERTY]
    system.other_ids = {
        OTHER_PROPERTY,
        *verdicts[OTHER_PROPERTY],
        theirs.person_id,
        *(i.value for i in theirs.identifiers),
    }
    # The fuzzer draws both properties' ids: asking for the other's with this property's
    # key must find nothing of it.
    system.known_ids = [
        *verdicts[SEED_PROPERTY],
        mine.person_id,
        *(i.value for i in mine.identifiers),
        *sorted(system.other_ids - {OTHER_PROPERTY}),
    ]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def auth_system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthSystem]:
    """The four services with keys and mutual TLS, both properties seeded."""
    certs = tmp_path_factory.mktemp("certs")
    write_dev_certificates(certs)
    env = {
        "CONVTRACK_DATA_DIR": str(tmp_path_factory.mktemp("auth-fuzz") / "data"),
        "CONVTRACK_TLS_DIR": str(certs),
        "CONVTRACK_AUTH": "keys",
        **HIGH_RATES,
    }
    with ExitStack() as cleanup:
        if request.param == "postgres":
            admin_url = request.getfixturevalue("postgres_admin_url")
            env["CONVTRACK_DATABASE_URL"] = cleanup.enter_context(
                fresh_postgres_database(admin_url)
            )
            env["CONVTRACK_ALLOW_GENERATED_SECRETS"] = "1"
        property_key, admin_key, other_key = _mint(IngestSettings.from_env(env))
        running, addresses = launcher.start_all(env, any_port=True)
        cleanup.callback(launcher.stop_all, running)
        system = AuthSystem(request.param, addresses, certs, property_key, admin_key, other_key)
        cleanup.callback(lambda: [c.close() for c in system.channels.values()])
        _seed(system)
        yield system


def rule_of(rpc: Rpc) -> Rule:
    return RULES[rpc.service][rpc.method.name]


def caller_for(system: AuthSystem, rpc: Rpc) -> tuple[grpc.Channel, list[tuple[str, str]], bool]:
    """The channel and metadata of the least caller the RPC's rule lets in, and whether it is
    the property key (whose answers must hold nothing of the other property)."""
    rule = rule_of(rpc)
    if rule.scope is None:
        return system.internal(rpc.service, rule.peers[0]), [], False
    if rule.scope is Scope.ADMIN or rule.every_property:
        return system.main(rpc.service), _bearer(system.admin_key), False
    return system.main(rpc.service), _bearer(system.property_key), True


def _pinned(pair: tuple[Message, bool]) -> Message:
    """Most requests name the key's property wherever they name one, so that they get
    past authorisation into the servicer."""
    request, pin = pair
    if pin:
        fields = request.DESCRIPTOR.fields_by_name
        if "property_id" in fields:
            request.property_id = SEED_PROPERTY  # type: ignore[attr-defined]
        for name in ("events", "rows"):
            if name in fields:
                for item in getattr(request, name):
                    item.property_id = SEED_PROPERTY
    return request


def _requests(system: AuthSystem, rpc: Rpc) -> st.SearchStrategy[Message]:
    strategies = RequestStrategies(
        strings={
            "property_id": [SEED_PROPERTY, OTHER_PROPERTY],
            "model": ["last_touch", "linear", "markov", "shapley"],
            "models": ["last_touch", "time_decay"],
            "conversion_name": ["purchase"],
            "name": ["purchase", "my_model"],
            "currency_code": ["EUR", "USD"],
            "anonymous_id": ["phone-cookie", "laptop-cookie", f"{MARKER}-phone-cookie"],
            "user_id": ["user-42", f"{MARKER}-user-42"],
            "email": ["ana@example.com", f"{MARKER}@example.org"],
        },
        string_pool=system.known_ids,
    )
    requests = strategies.message(rpc.method.input_type)
    valid = VALID.get(str(rpc))
    if valid is not None:
        requests = st.one_of(
            requests, strategies.mutations(st.uuids().map(lambda u: valid(u.hex[:8])))
        )
    # Most pinned (hypothesis draws 0 more often than the others): a key of one property is
    # refused every other property's.
    return st.tuples(requests, st.integers(0, 3).map(lambda n: n < 3)).map(_pinned)


def leaked(system: AuthSystem, request: Message, answer: str) -> list[str]:
    """The other property's ids and values in `answer` that the request did not name."""
    asked = text_format.MessageToString(request, as_utf8=True)
    found = [i for i in system.other_ids if i in answer and i not in asked]
    if MARKER in answer and MARKER not in asked:
        found.append(MARKER)
    return found


def _invoke(
    channel: grpc.Channel, rpc: Rpc, request: Message, metadata: list[tuple[str, str]]
) -> Message:
    response_class = message_factory.GetMessageClass(rpc.method.output_type)
    serialize: dict[str, Any] = {
        "request_serializer": lambda message: message.SerializeToString(),
        "response_deserializer": response_class.FromString,
    }
    if rpc.method.server_streaming:
        # A stream (WatchConversions) has passed the chain once its first message arrives.
        responses: Any = channel.unary_stream(rpc.path, **serialize)(
            request, timeout=DEADLINE, metadata=metadata or None
        )
        try:
            return next(iter(responses))
        finally:
            responses.cancel()
    call: Callable[..., Message] = channel.unary_unary(rpc.path, **serialize)
    return call(request, timeout=DEADLINE, metadata=metadata or None)


def _assert_healthy(system: AuthSystem) -> None:
    for name in launcher.SERVICES:
        health = health_pb2_grpc.HealthStub(system.main(name))
        answer = health.Check(health_pb2.HealthCheckRequest(service="liveness"), timeout=DEADLINE)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, name
    wait_for_sync_as_peers(system)


@pytest.mark.xdist_group("fuzz_rpcs_auth")
@pytest.mark.parametrize("rpc", every_rpc(), ids=str)
def test_no_request_with_a_valid_key_gets_a_server_error_or_another_propertys_data(
    auth_system: AuthSystem, rpc: Rpc
) -> None:
    if rpc.method.client_streaming or rpc.method.server_streaming:
        pytest.skip("streaming RPCs are not fuzzed")
    if str(rpc) in EXCLUDED:
        pytest.skip(EXCLUDED[str(rpc)])
    system = auth_system
    adjust = ADJUSTMENTS.get(rpc.method.name, lambda request: None)
    channel, metadata, fenced = caller_for(system, rpc)

    @settings(
        max_examples=EXAMPLES[system.backend],
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @seed(SEED)
    @given(request=_requests(system, rpc))
    def answers_without_a_server_error_or_a_leak(request: Message) -> None:
        adjust(request)
        try:
            response = _invoke(channel, rpc, request, metadata)
        except grpc.RpcError as error:
            assert error.code() not in SERVER_BUGS, (
                f"{rpc} answered {error.code().name}: {error.details()}\nrequest: {request}"
            )
            answer = error.details() or ""
        else:
            answer = text_format.MessageToString(response, as_utf8=True)
        if fenced:
            assert not leaked(system, request, answer), (
                f"{rpc} gave the other property's {leaked(system, request, answer)} to this "
                f"property's key\nrequest: {request}\nanswer: {answer[:2000]}"
            )

    answers_without_a_server_error_or_a_leak()
    _assert_healthy(system)


def test_the_fuzzer_reaches_the_servicers_with_its_key(auth_system: AuthSystem) -> None:
    """The key is right: a plain valid call passes the whole chain (a fuzz run refused at
    the door would prove nothing)."""
    system = auth_system
    for rpc in every_rpc():
        if str(rpc) not in VALID:
            continue
        channel, metadata, _ = caller_for(system, rpc)
        request = _pinned((VALID[str(rpc)](f"probe{rpc.method.name}"), True))
        try:
            _invoke(channel, rpc, request, metadata)
        except grpc.RpcError as error:
            assert error.code() not in (
                grpc.StatusCode.UNAUTHENTICATED,
                grpc.StatusCode.PERMISSION_DENIED,
                *SERVER_BUGS,
            ), (rpc, error.code(), error.details())
