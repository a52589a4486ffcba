"""A seeded fuzzer over every RPC of every service: no request, however odd, gets UNKNOWN or
INTERNAL (those mean a server bug), and every service still answers health afterwards.

The RPCs are read from the protobuf descriptors, so a new RPC is fuzzed without touching this
file. The four services run in one process, on SQLite and (fewer examples) on PostgreSQL."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, message_factory, timestamp_pb2
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from convtrack.attribution.v1 import attribution_pb2
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2
from convtrack.ingest.v1 import ingest_pb2
from convtrack.reporting.v1 import reporting_pb2
from services import launcher
from tests.e2e.system import cross_device_journey
from tests.integration.conftest import SEED_PROPERTY, SharedSystem
from tests.integration.request_strategies import RequestStrategies

DEADLINE = 15.0
# Readiness is re-evaluated twice a second and the store checked every 2 s.
READY_AFTER_SYNC_SECONDS = 30.0
# The seed and the examples per RPC; for a longer run by hand, CONVTRACK_FUZZ_SEED and
# CONVTRACK_FUZZ_EXAMPLES (both backends) set them.
SEED = int(os.environ.get("CONVTRACK_FUZZ_SEED", "20261130"))
EXAMPLES = {"sqlite": 60, "postgres": 15}
if os.environ.get("CONVTRACK_FUZZ_EXAMPLES"):
    EXAMPLES = dict.fromkeys(EXAMPLES, int(os.environ["CONVTRACK_FUZZ_EXAMPLES"]))
SERVICE_MODULES: dict[str, ModuleType] = {
    "ingest": ingest_pb2,
    "identity": identity_pb2,
    "attribution": attribution_pb2,
    "reporting": reporting_pb2,
}
SERVER_BUGS = (
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
)
# The services run in this process: their threads may use the `random` module while
# hypothesis draws a request, which it would take for a strategy's doing.
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
# Streaming or long-running RPCs left out, with the reason. None so far.
EXCLUDED: dict[str, str] = {}
# A server stream (WatchConversions) is read until it says it has caught up, or this many
# messages.
STREAM_MESSAGES_MAX = 200


def _list_events(request: Message) -> None:
    """ListEvents long-polls up to max_wait (30 s): the fuzzer never waits."""
    request.ClearField("max_wait")  # type: ignore[arg-type]


# Fields a request is adjusted in before it is sent, by RPC name, with the reason.
ADJUSTMENTS: dict[str, Callable[[Message], None]] = {"ListEvents": _list_events}


@dataclass(frozen=True)
class Rpc:
    """One RPC of one service."""

    service: str
    method: MethodDescriptor

    @property
    def path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    def __str__(self) -> str:
        return f"{self.service}.{self.method.name}"


def every_rpc() -> list[Rpc]:
    """Every RPC of every service, from the protobuf descriptors."""
    return [
        Rpc(name, method)
        for name, module in SERVICE_MODULES.items()
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]


def _invoke(system: SharedSystem, rpc: Rpc, request: Message) -> None:
    response_class = message_factory.GetMessageClass(rpc.method.output_type)
    serialize: dict[str, Any] = {
        "request_serializer": lambda message: message.SerializeToString(),
        "response_deserializer": response_class.FromString,
    }
    if rpc.method.server_streaming:
        _read_stream(system.channels[rpc.service].unary_stream(rpc.path, **serialize), request)
        return
    call = system.channels[rpc.service].unary_unary(rpc.path, **serialize)
    call(request, timeout=DEADLINE)


def _read_stream(stream: Any, request: Message) -> None:
    """Reads a server stream until it has caught up (WatchConversions: a heartbeat at the log's
    head) or sent STREAM_MESSAGES_MAX messages, then cancels it."""
    responses = stream(request, timeout=DEADLINE)
    try:
        for count, response in enumerate(responses, start=1):
            caught_up = getattr(response, "log_head", None)
            if count >= STREAM_MESSAGES_MAX or (
                caught_up is not None and response.position >= caught_up
            ):
                return
    finally:
        responses.cancel()


def _journey(token: str) -> Message:
    events = cross_device_journey()
    for event in events:
        event.event_id += f"-{token}"
        event.conversion.order_id += f"-{token}" if event.HasField("conversion") else ""
    return ingest_pb2.TrackEventsRequest(events=events)


def _identifier(value: str) -> common_pb2.Identifier:
    return common_pb2.Identifier(type=common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID, value=value)


def _days(days: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=days * 86_400)


# A valid request per RPC that takes more than ids, by "service.Method": the fuzzer also
# sends these with a few fields made random. `token` keeps new things new (fresh event ids).
VALID: dict[str, Callable[[str], Message]] = {
    "ingest.TrackEvents": _journey,
    "ingest.PseudonymiseIdentifiers": lambda token: ingest_pb2.PseudonymiseIdentifiersRequest(
        property_id=SEED_PROPERTY, identifiers=[_identifier(f"cookie-{token}")]
    ),
    "identity.LinkIdentifiers": lambda token: identity_pb2.LinkIdentifiersRequest(
        property_id=SEED_PROPERTY,
        identifiers=[_identifier(f"a-{token}"), _identifier(f"b-{token}")],
        note="fuzz",
    ),
    "identity.ConfigureRules": lambda token: identity_pb2.ConfigureRulesRequest(
        property_id=f"fuzz-{token}",
        rules=identity_pb2.ResolutionRules(
            kinds=[
                identity_pb2.KindRule(kind=common_pb2.IDENTIFIER_TYPE_USER_ID, priority=1),
                identity_pb2.KindRule(kind=common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID, priority=2),
            ],
            max_persons_per_identifier=3,
            fanout_window=_days(30),
        ),
    ),
    "attribution.ConfigureModels": lambda token: attribution_pb2.ConfigureModelsRequest(
        property_id=f"fuzz-{token}",
        models=[
            attribution_pb2.ModelConfig(
                name="last_click", kind=attribution_pb2.MODEL_KIND_LAST_TOUCH
            ),
            attribution_pb2.ModelConfig(name="linear", kind=attribution_pb2.MODEL_KIND_LINEAR),
            attribution_pb2.ModelConfig(
                name="decay", kind=attribution_pb2.MODEL_KIND_TIME_DECAY, half_life=_days(3)
            ),
            attribution_pb2.ModelConfig(
                name="markov", kind=attribution_pb2.MODEL_KIND_MARKOV, training_window=_days(60)
            ),
        ],
    ),
    "attribution.WatchConversions": lambda token: attribution_pb2.WatchConversionsRequest(
        property_id=SEED_PROPERTY,
        conversion_names=["purchase"],
        heartbeat_interval=duration_pb2.Duration(seconds=1),
    ),
    "reporting.GetConversionReport": lambda token: reporting_pb2.GetConversionReportRequest(
        property_id=SEED_PROPERTY,
        model="linear",
        start_time=timestamp_pb2.Timestamp(seconds=0),
        end_time=timestamp_pb2.Timestamp(seconds=4_000_000_000),
        conversion_name="purchase",
    ),
    "reporting.CompareModels": lambda token: reporting_pb2.CompareModelsRequest(
        property_id=SEED_PROPERTY, models=["last_click", "linear"], conversion_name="purchase"
    ),
    "reporting.ListConversionNames": lambda token: reporting_pb2.ListConversionNamesRequest(
        property_id=SEED_PROPERTY, page_size=1
    ),
    "reporting.ListReportModels": lambda token: reporting_pb2.ListReportModelsRequest(
        property_id=SEED_PROPERTY, conversion_name="purchase"
    ),
}


def _requests(system: SharedSystem, rpc: Rpc) -> st.SearchStrategy[Message]:
    """Random requests of the RPC's type, and its valid request with random fields."""
    strategies = _strategies(system)
    random = strategies.message(rpc.method.input_type)
    valid = VALID.get(str(rpc))
    if valid is None:
        return random
    return st.one_of(random, strategies.mutations(st.uuids().map(lambda u: valid(u.hex[:8]))))


def _strategies(system: SharedSystem) -> RequestStrategies:
    return RequestStrategies(
        strings={
            "property_id": [SEED_PROPERTY],
            "model": ["last_touch", "linear", "markov", "shapley"],
            "models": ["last_touch", "time_decay"],
            "conversion_name": ["purchase"],
            "name": ["purchase", "my_model"],
            "currency_code": ["EUR", "USD"],
            "anonymous_id": ["phone-cookie", "laptop-cookie"],
            "user_id": ["user-42"],
            "email": ["ana@example.com"],
            "ip_address": ["81.2.69.160", "2001:db8::1"],
            "geo_country": ["DE"],
        },
        string_pool=system.known_ids,
    )


def _assert_healthy(system: SharedSystem) -> None:
    """Every service is alive, every consumer still keeps up with its upstreams (an accepted
    event never stops a follower), and every service is ready again once they caught up."""
    stubs = {name: health_pb2_grpc.HealthStub(c) for name, c in system.channels.items()}
    for name, health in stubs.items():
        answer = health.Check(health_pb2.HealthCheckRequest(service="liveness"), timeout=DEADLINE)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, name
    launcher.wait_for_sync(system.addresses, timeout=60)
    deadline = time.monotonic() + READY_AFTER_SYNC_SECONDS
    for name, health in stubs.items():
        while (
            health.Check(health_pb2.HealthCheckRequest(service=""), timeout=DEADLINE).status
            != health_pb2.HealthCheckResponse.SERVING
        ):
            assert time.monotonic() < deadline, f"{name} not ready after catching up"
            time.sleep(0.2)


@pytest.mark.xdist_group("fuzz_rpcs")
@pytest.mark.parametrize("rpc", every_rpc(), ids=str)
def test_no_request_gets_a_server_error(shared_system: SharedSystem, rpc: Rpc) -> None:
    if rpc.method.client_streaming:
        pytest.skip("client-streaming RPCs are not fuzzed")
    if str(rpc) in EXCLUDED:
        pytest.skip(EXCLUDED[str(rpc)])
    system = shared_system
    adjust = ADJUSTMENTS.get(rpc.method.name, lambda request: None)

    @settings(
        max_examples=EXAMPLES[system.backend],
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @seed(SEED)
    @given(request=_requests(system, rpc))
    def answers_without_a_server_error(request: Message) -> None:
        adjust(request)
        try:
            _invoke(system, rpc, request)
        except grpc.RpcError as error:
            assert error.code() not in SERVER_BUGS, (
                f"{rpc} answered {error.code().name}: {error.details()}\nrequest: {request}"
            )

    answers_without_a_server_error()
    _assert_healthy(system)
