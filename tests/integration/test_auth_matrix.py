"""Authentication and authorisation over every RPC of every service (read from the
descriptors), with the four services running with `CONVTRACK_AUTH=keys`.

For each RPC: no key, a malformed key, an unknown key, an expired and a revoked key →
UNAUTHENTICATED; another property's key and a key without the scope → PERMISSION_DENIED; the
right key → neither. No refusal names the property asked for.

Here the services run without TLS: internal RPCs need a peer's client certificate (the
internal port), so every key is refused on them, and the services other than ingest load
their key set from ingest's store directly instead of ingest's GetKeyRing (which only peers
may call). tests/integration/test_auth_tls.py runs the same services with mutual TLS.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from common.authorisation import Rule
from common.callers import Scope
from common.grpc_errors import retry_delay_of
from common.key_ring import key_set_loader
from common.keyset import KeySet
from common.server import RunningService
from common.telemetry import Telemetry
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.identity.v1 import identity_pb2
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services import launcher
from services.attribution import access as attribution_access
from services.identity import access as identity_access
from services.ingest import access as ingest_access
from services.ingest.server import IngestSettings, offline_api_keys
from services.reporting import access as reporting_access

DEADLINE = 20.0
PROPERTY = "shop"
OTHER = "rival-property"
NOW = datetime.now(UTC)
MODULES: dict[str, ModuleType] = {
    "ingest": ingest_pb2,
    "identity": identity_pb2,
    "attribution": attribution_pb2,
    "reporting": reporting_pb2,
}
RULES: dict[str, dict[str, Rule]] = {
    "ingest": ingest_access.RULES,
    "identity": identity_access.RULES,
    "attribution": attribution_access.RULES,
    "reporting": reporting_access.RULES,
}
PROPERTY_SCOPES = (
    Scope.INGEST_WRITE,
    Scope.REPORTS_READ,
    Scope.IDENTITY_ADMIN,
    Scope.ATTRIBUTION_ADMIN,
)
DENIED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


@dataclass(frozen=True)
class Rpc:
    service: str
    method: MethodDescriptor

    @property
    def rule(self) -> Rule:
        return RULES[self.service][self.method.name]

    def __str__(self) -> str:
        return f"{self.service}.{self.method.name}"


def every_rpc() -> list[Rpc]:
    return [
        Rpc(name, method)
        for name, module in MODULES.items()
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]


@dataclass
class Keys:
    """The tokens of the keys the matrix uses."""

    admin: str
    right: dict[Scope, str]  # per scope, for PROPERTY
    other_property: dict[Scope, str]  # per scope, for OTHER
    expired: str  # every property scope, for PROPERTY
    revoked: str


@dataclass
class System:
    running: list[RunningService]
    channels: dict[str, grpc.Channel]
    keys: Keys
    data_dir: Path
    addresses: dict[str, str]


def _mint(data_dir: Path) -> Keys:
    api_keys, close = offline_api_keys(IngestSettings(data_dir=data_dir))
    try:

        def token(property_id: str, *scopes: Scope, now: datetime = NOW, **kw: object) -> str:
            return api_keys.create(
                property_id=property_id,
                scopes=list(scopes),
                now=now,
                **kw,  # type: ignore[arg-type]
            ).token

        past = NOW - timedelta(days=2)
        revoked = api_keys.create(property_id=PROPERTY, scopes=list(PROPERTY_SCOPES), now=NOW)
        api_keys.revoke(revoked.key.key_id, NOW)
        return Keys(
            admin=token("", Scope.ADMIN),
            right={s: token(PROPERTY, s) for s in PROPERTY_SCOPES},
            other_property={s: token(OTHER, s) for s in PROPERTY_SCOPES},
            expired=token(
                PROPERTY, *PROPERTY_SCOPES, now=past, expires_at=past + timedelta(days=1)
            ),
            revoked=revoked.token,
        )
    finally:
        close()


def store_key_set(data_dir: Path) -> KeySet:
    """The key set read from ingest's store (standing in for GetKeyRing until mTLS)."""
    api_keys, close = offline_api_keys(IngestSettings(data_dir=data_dir))
    try:
        return api_keys.key_set()
    finally:
        close()


def start_system(data_dir: Path, cleanup: ExitStack) -> System:
    env = {"CONVTRACK_DATA_DIR": str(data_dir), "CONVTRACK_AUTH": "keys"}
    keys = _mint(data_dir)
    running: list[RunningService] = []
    cleanup.callback(lambda: launcher.stop_all(running))
    ingest = launcher.start_one("ingest", env, {"listen": "127.0.0.1:0", "identity_addr": ""})
    running.append(ingest)
    addresses = {"ingest": f"127.0.0.1:{ingest.port}"}
    for name in ("identity", "attribution", "reporting"):
        module, settings_class = launcher.server(name)
        settings = replace(
            settings_class.from_env(env),
            listen="127.0.0.1:0",
            **{f"{peer}_addr": addresses[peer] for peer in launcher.PEERS[name]},
        )
        service = module.start(settings, Telemetry(), key_set=lambda: store_key_set(data_dir))
        running.append(service)
        addresses[name] = f"127.0.0.1:{service.port}"
    channels = {name: grpc.insecure_channel(address) for name, address in addresses.items()}
    for channel in channels.values():
        cleanup.callback(channel.close)
    return System(running, channels, keys, data_dir, addresses)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with ExitStack() as cleanup:
        yield start_system(tmp_path_factory.mktemp("auth") / "data", cleanup)


def request_for(rpc: Rpc, property_id: str) -> Message:
    """A request of the RPC's type that names `property_id` wherever it names a property."""
    request = message_factory.GetMessageClass(rpc.method.input_type)()
    if "property_id" in rpc.method.input_type.fields_by_name:
        request.property_id = property_id  # type: ignore[attr-defined]
    if rpc.method.name == "TrackEvents":
        request.events.add(property_id=property_id, event_id="e1")  # type: ignore[attr-defined]
    if rpc.method.name == "RecordSpend":
        request.rows.add(property_id=property_id)  # type: ignore[attr-defined]
    return request


def call(system: System, rpc: Rpc, request: Message, token: str | None) -> grpc.StatusCode:
    """The status code of the call (OK when it returned, or for a server stream when its first
    message came), with its details checked for a leak of the other property's id."""
    response_class = message_factory.GetMessageClass(rpc.method.output_type)
    path = f"/{rpc.method.containing_service.full_name}/{rpc.method.name}"
    serialize = {
        "request_serializer": lambda m: m.SerializeToString(),
        "response_deserializer": response_class.FromString,
    }
    metadata = [("authorization", f"Bearer {token}")] if token is not None else None
    try:
        if rpc.method.server_streaming:
            stream = system.channels[rpc.service].unary_stream(path, **serialize)
            responses: Any = stream(request, timeout=DEADLINE, metadata=metadata)
            try:
                next(responses)
            finally:
                responses.cancel()
        else:
            method = system.channels[rpc.service].unary_unary(path, **serialize)
            method(request, timeout=DEADLINE, metadata=metadata)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        if code in DENIED:
            details = error.details() or ""
            assert PROPERTY not in details and OTHER not in details, (rpc, details)
        return code
    return grpc.StatusCode.OK


def right_key(keys: Keys, rule: Rule) -> str:
    """The least key the rule lets call for PROPERTY (an admin key for every-property and
    admin-scoped RPCs)."""
    if rule.scope is None or rule.scope is Scope.ADMIN or rule.every_property:
        return keys.admin
    return keys.right[rule.scope]


def wrong_scope_key(keys: Keys, rule: Rule) -> str:
    """A key for PROPERTY without the scope the rule needs."""
    other = Scope.INGEST_WRITE if rule.scope is not Scope.INGEST_WRITE else Scope.REPORTS_READ
    return keys.right[other]


@pytest.mark.parametrize("rpc", every_rpc(), ids=str)
def test_calls_without_a_valid_key_are_unauthenticated(system: System, rpc: Rpc) -> None:
    request = request_for(rpc, PROPERTY)
    keys = system.keys
    for token in (None, "", "not-a-key", "ctk_0123456789abcdef_wrong", keys.expired, keys.revoked):
        assert call(system, rpc, request, token) is grpc.StatusCode.UNAUTHENTICATED, (rpc, token)


@pytest.mark.parametrize("rpc", every_rpc(), ids=str)
def test_keys_are_held_to_their_property_and_scopes(system: System, rpc: Rpc) -> None:
    rule, keys = rpc.rule, system.keys
    request = request_for(rpc, PROPERTY)
    if rule.scope is None:
        for token in (keys.admin, *keys.right.values()):
            assert call(system, rpc, request, token) is grpc.StatusCode.PERMISSION_DENIED, (
                f"{rpc} is internal: no key may call it"
            )
        return
    allowed = call(system, rpc, request, right_key(keys, rule))
    assert allowed not in DENIED, f"{rpc} refused its right key: {allowed}"
    assert call(system, rpc, request, wrong_scope_key(keys, rule)) is (
        grpc.StatusCode.PERMISSION_DENIED
    )
    if rule.scope in PROPERTY_SCOPES:
        other = call(system, rpc, request, keys.other_property[rule.scope])
        if rule.property_path is None and not rule.every_property:
            assert other not in DENIED, f"{rpc} concerns no property"
        else:
            assert other is grpc.StatusCode.PERMISSION_DENIED, rpc


def test_the_rpcs_each_scope_opens(system: System) -> None:
    """The table itself, for the RPCs the issue names."""
    expected = {
        "ingest.TrackEvents": Scope.INGEST_WRITE,
        "identity.ForgetPerson": Scope.IDENTITY_ADMIN,
        "identity.ExplainPerson": Scope.IDENTITY_ADMIN,
        "identity.ResolveIdentity": Scope.IDENTITY_ADMIN,
        "attribution.RefitModel": Scope.ATTRIBUTION_ADMIN,
        "reporting.GetConversionReport": Scope.REPORTS_READ,
        "ingest.CreateApiKey": Scope.ADMIN,
        "ingest.RevokeApiKey": Scope.ADMIN,
    }
    rules = {str(rpc): rpc.rule for rpc in every_rpc()}
    assert {name: rules[name].scope for name in expected} == expected
    internal = ["ListEvents", "RevealIdentifiers", "GetKeyRing"]
    positions = ["GetLogHead", "GetSyncStatus"]  # also an operator's, to wait for sync
    for name, rule in rules.items():
        if name.rpartition(".")[2] in internal:
            assert rule.scope is None and rule.peers, name
        if name.rpartition(".")[2] in positions:
            assert rule.scope is Scope.ADMIN and rule.every_property and rule.peers, name
    assert rules["ingest.RevealIdentifiers"].peers == ("identity",)


@pytest.mark.parametrize(
    "rpc",
    [rpc for rpc in every_rpc() if rpc.rule.default_property is not None],
    ids=str,
)
def test_the_deployment_default_needs_an_admin_key(system: System, rpc: Rpc) -> None:
    rule, keys = rpc.rule, system.keys
    assert rule.scope is not None
    request = request_for(rpc, "*")
    for token in (keys.right[rule.scope], keys.other_property[rule.scope]):
        assert call(system, rpc, request, token) is grpc.StatusCode.PERMISSION_DENIED, rpc
    assert call(system, rpc, request, keys.admin) not in DENIED, rpc


def test_the_attribution_settings_rpcs_are_per_property() -> None:
    for name in ("ListModels", "ConfigureModels", "SetReportingIdentity"):
        rule = RULES["attribution"][name]
        assert rule.property_path == "property_id" and rule.default_property == "*", name


def test_a_batch_with_another_propertys_event_is_refused_whole(system: System) -> None:
    request = ingest_pb2.TrackEventsRequest(
        events=[
            ingest_pb2.Event(property_id=PROPERTY, event_id="a"),
            ingest_pb2.Event(property_id=OTHER, event_id="b"),
        ]
    )
    stub = ingest_pb2_grpc.IngestServiceStub(system.channels["ingest"])
    with pytest.raises(grpc.RpcError) as refused:
        stub.TrackEvents(
            request,
            timeout=DEADLINE,
            metadata=[("authorization", f"Bearer {system.keys.right[Scope.INGEST_WRITE]}")],
        )
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED


def test_a_new_key_works_and_a_revoked_one_stops_within_seconds_everywhere(
    system: System,
) -> None:
    admin = [("authorization", f"Bearer {system.keys.admin}")]
    ingest = ingest_pb2_grpc.IngestServiceStub(system.channels["ingest"])
    created = ingest.CreateApiKey(
        ingest_pb2.CreateApiKeyRequest(
            property_id=PROPERTY, scopes=[ingest_pb2.API_KEY_SCOPE_REPORTS_READ]
        ),
        timeout=DEADLINE,
        metadata=admin,
    )
    reporting = reporting_pb2_grpc.ReportingServiceStub(system.channels["reporting"])
    mine = [("authorization", f"Bearer {created.api_key}")]
    request = reporting_pb2.ListConversionNamesRequest(property_id=PROPERTY)

    def answer() -> grpc.StatusCode:
        try:
            reporting.ListConversionNames(request, timeout=DEADLINE, metadata=mine)
        except grpc.RpcError as error:
            code: grpc.StatusCode = error.code()
            return code
        return grpc.StatusCode.OK

    started = time.monotonic()
    while answer() is grpc.StatusCode.UNAUTHENTICATED:
        assert time.monotonic() - started < 5, "the new key did not reach reporting"
        time.sleep(0.1)
    listed = ingest.ListApiKeys(
        ingest_pb2.ListApiKeysRequest(property_id=PROPERTY), timeout=DEADLINE, metadata=admin
    )
    assert created.key.key_id in {k.key_id for k in listed.keys}
    secret = created.api_key.split("_", 2)[2]
    assert all(secret not in str(k) for k in listed.keys)
    ingest.RevokeApiKey(
        ingest_pb2.RevokeApiKeyRequest(key_id=created.key.key_id), timeout=DEADLINE, metadata=admin
    )
    revoked_at = time.monotonic()
    while answer() is not grpc.StatusCode.UNAUTHENTICATED:
        assert time.monotonic() - revoked_at < 5, "the revocation did not reach reporting"
        time.sleep(0.1)
    print(f"revocation took effect in reporting after {time.monotonic() - revoked_at:.2f}s")


def test_an_open_conversion_stream_ends_once_its_key_is_revoked(system: System) -> None:
    admin = [("authorization", f"Bearer {system.keys.admin}")]
    ingest = ingest_pb2_grpc.IngestServiceStub(system.channels["ingest"])
    created = ingest.CreateApiKey(
        ingest_pb2.CreateApiKeyRequest(
            property_id=PROPERTY, scopes=[ingest_pb2.API_KEY_SCOPE_REPORTS_READ]
        ),
        timeout=DEADLINE,
        metadata=admin,
    )
    attribution = attribution_pb2_grpc.AttributionServiceStub(system.channels["attribution"])
    request = attribution_pb2.WatchConversionsRequest(
        property_id=PROPERTY, heartbeat_interval=duration_pb2.Duration(seconds=1)
    )
    mine = [("authorization", f"Bearer {created.api_key}")]
    started = time.monotonic()
    while True:  # the new key reaches attribution within about a second
        stream: Any = attribution.WatchConversions(request, timeout=60, metadata=mine)
        try:
            opened = next(stream)
            break
        except grpc.RpcError as error:
            assert error.code() is grpc.StatusCode.UNAUTHENTICATED
            assert time.monotonic() - started < 5, "the new key did not reach attribution"
            time.sleep(0.1)
    assert opened.kind == attribution_pb2.WATCH_EVENT_KIND_HEARTBEAT
    ingest.RevokeApiKey(
        ingest_pb2.RevokeApiKeyRequest(key_id=created.key.key_id), timeout=DEADLINE, metadata=admin
    )
    with pytest.raises(grpc.RpcError) as ended:
        for _ in stream:  # heartbeats, until the revocation reaches attribution
            pass
    assert ended.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_a_server_that_never_loaded_its_key_set_answers_unavailable(tmp_path: Path) -> None:
    module, settings_class = launcher.server("reporting")
    settings = replace(
        settings_class.from_env({"CONVTRACK_DATA_DIR": str(tmp_path), "CONVTRACK_AUTH": "keys"}),
        listen="127.0.0.1:0",
        attribution_addr="127.0.0.1:1",
    )

    def unreachable() -> KeySet:
        raise ConnectionError("ingest is not there")

    service = module.start(settings, Telemetry(), key_set=unreachable)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = reporting_pb2_grpc.ReportingServiceStub(channel)
            request = reporting_pb2.ListDimensionsRequest()
            with pytest.raises(grpc.RpcError) as refused:
                stub.ListDimensions(
                    request, timeout=DEADLINE, metadata=[("authorization", "Bearer ctk_a_b")]
                )
            assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
            assert retry_delay_of(refused.value) is not None
            with pytest.raises(grpc.RpcError) as no_key:
                stub.ListDimensions(request, timeout=DEADLINE)
            assert no_key.value.code() is grpc.StatusCode.UNAUTHENTICATED
    finally:
        service.stop()


def test_peers_load_the_key_set_from_ingests_key_ring_over_grpc(tmp_path: Path) -> None:
    """GetKeyRing's answer becomes the same key set as ingest's store (authentication off,
    where every local caller may read it)."""
    data_dir = tmp_path / "data"
    keys = _mint(data_dir)
    ingest = launcher.start_one(
        "ingest",
        {"CONVTRACK_DATA_DIR": str(data_dir)},
        {"listen": "127.0.0.1:0", "identity_addr": ""},
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{ingest.port}") as channel:
            loaded = key_set_loader(channel)()
        stored = store_key_set(data_dir)
        assert loaded.version == stored.version and len(loaded) == len(stored) == 11
        now = datetime.now(UTC)
        caller = loaded.authenticate(keys.right[Scope.REPORTS_READ], now)
        assert caller == stored.authenticate(keys.right[Scope.REPORTS_READ], now)
        assert loaded.authenticate(keys.admin, now).properties is None
    finally:
        ingest.stop()


def test_health_and_reflection_need_no_key(system: System) -> None:
    for name, channel in system.channels.items():
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(service="liveness"), timeout=DEADLINE)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, name
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        listed = list(
            reflection.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                timeout=DEADLINE,
            )
        )
        services = {s.name for s in listed[0].list_services_response.service}
        assert any(s.startswith("convtrack.") for s in services), name
