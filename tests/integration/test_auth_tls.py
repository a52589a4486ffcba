"""API keys with mutual TLS: the four services in `CONVTRACK_AUTH=keys` mode with certificates
from `convtrack certs dev`, main and internal ports, peers calling each other's internal ports
with their certificates (the services other than ingest load their key sets from ingest's
GetKeyRing, as in production)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from common.callers import Scope
from common.channels import open_channel
from common.settings import TlsSettings
from common.telemetry import Telemetry
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services import launcher
from services.cli import main
from services.commands.certs import write_dev_certificates
from tests.e2e.system import PROPERTY, cross_device_journey
from tests.integration.test_auth_matrix import Keys, _mint

DEADLINE = 20.0
assert PROPERTY == "shop"  # the property the minted keys are for


@dataclass
class TlsSystem:
    addresses: launcher.Addresses
    certs: Path
    keys: Keys

    def channel(self, address: str, certificate: str = "client") -> grpc.Channel:
        """A channel presenting `certificate` (a service's name, or the operators' `client`)."""
        return open_channel(address, TlsSettings.in_directory(self.certs, certificate))


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def status_of(call: Callable[[], Any]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        return code
    return grpc.StatusCode.OK


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    write_dev_certificates(directory)
    return directory


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, certs: Path) -> Iterator[TlsSystem]:
    data_dir = tmp_path_factory.mktemp("auth-tls") / "data"
    keys = _mint(data_dir)
    env = {
        "CONVTRACK_DATA_DIR": str(data_dir),
        "CONVTRACK_TLS_DIR": str(certs),
        "CONVTRACK_AUTH": "keys",
    }
    running, addresses = launcher.start_all(env, any_port=True)
    try:
        assert sorted(addresses.internal) == sorted(launcher.SERVICES)
        yield TlsSystem(addresses, certs, keys)
    finally:
        launcher.stop_all(running)


def test_events_sent_with_a_write_key_reach_a_report_read_with_a_read_key(
    system: TlsSystem,
) -> None:
    keys = system.keys
    with system.channel(system.addresses.ingest) as channel:
        tracked = ingest_pb2_grpc.IngestServiceStub(channel).TrackEvents(
            ingest_pb2.TrackEventsRequest(events=cross_device_journey()),
            timeout=DEADLINE,
            metadata=bearer(keys.right[Scope.INGEST_WRITE]),
        )
    assert tracked.rejected_count == 0, tracked
    request = reporting_pb2.GetConversionReportRequest(property_id=PROPERTY, model="linear")
    with system.channel(system.addresses.reporting) as channel:
        reporting = reporting_pb2_grpc.ReportingServiceStub(channel)
        started = time.monotonic()
        while True:
            try:
                report = reporting.GetConversionReport(
                    request, timeout=DEADLINE, metadata=bearer(keys.right[Scope.REPORTS_READ])
                )
                if sum(row.conversions for row in report.rows) > 0:
                    break
            except grpc.RpcError as error:  # NOT_FOUND until the conversion is attributed
                assert error.code() is grpc.StatusCode.NOT_FOUND, error
            assert time.monotonic() - started < 60, "the conversion never reached reporting"
            time.sleep(0.2)
        assert sum(row.conversions for row in report.rows) == pytest.approx(1.0)
        wrong_scope = status_of(
            lambda: reporting.GetConversionReport(
                request, timeout=DEADLINE, metadata=bearer(keys.right[Scope.INGEST_WRITE])
            )
        )
        assert wrong_scope is grpc.StatusCode.PERMISSION_DENIED


def test_the_other_services_load_their_key_sets_from_ingest_over_mutual_tls(
    system: TlsSystem,
) -> None:
    """A key created after start works in identity, attribution and reporting: they hold no
    key store, so it reached them through GetKeyRing on ingest's internal port."""
    addresses = system.addresses
    with system.channel(addresses.ingest) as channel:
        created = ingest_pb2_grpc.IngestServiceStub(channel).CreateApiKey(
            ingest_pb2.CreateApiKeyRequest(
                property_id=PROPERTY,
                scopes=[
                    ingest_pb2.API_KEY_SCOPE_REPORTS_READ,
                    ingest_pb2.API_KEY_SCOPE_IDENTITY_ADMIN,
                ],
            ),
            timeout=DEADLINE,
            metadata=bearer(system.keys.admin),
        )
    new_key = bearer(created.api_key)
    with (
        system.channel(addresses.identity) as identity_channel,
        system.channel(addresses.attribution) as attribution_channel,
        system.channel(addresses.reporting) as reporting_channel,
    ):
        identity = identity_pb2_grpc.IdentityServiceStub(identity_channel)
        attribution = attribution_pb2_grpc.AttributionServiceStub(attribution_channel)
        reporting = reporting_pb2_grpc.ReportingServiceStub(reporting_channel)
        calls: dict[str, Callable[[], Any]] = {
            "identity": lambda: identity.GetRules(
                identity_pb2.GetRulesRequest(property_id=PROPERTY),
                timeout=DEADLINE,
                metadata=new_key,
            ),
            "attribution": lambda: attribution.ListModels(
                attribution_pb2.ListModelsRequest(property_id=PROPERTY),
                timeout=DEADLINE,
                metadata=new_key,
            ),
            "reporting": lambda: reporting.ListConversionNames(
                reporting_pb2.ListConversionNamesRequest(property_id=PROPERTY),
                timeout=DEADLINE,
                metadata=new_key,
            ),
        }
        # Reporting answers NOT_FOUND, past authentication and authorisation, while the
        # property has no conversion: this test may run first on its worker's system.
        accepted = {
            "identity": {grpc.StatusCode.OK},
            "attribution": {grpc.StatusCode.OK},
            "reporting": {grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND},
        }
        started = time.monotonic()
        for name, call in calls.items():
            while (code := status_of(call)) is grpc.StatusCode.UNAUTHENTICATED:
                assert time.monotonic() - started < 10, f"the new key did not reach {name}"
                time.sleep(0.1)
            assert code in accepted[name], (name, code)

    ring = ingest_pb2.GetKeyRingRequest()
    for peer in ("identity", "attribution", "reporting"):
        with system.channel(addresses.internal["ingest"], peer) as channel:
            answer = ingest_pb2_grpc.IngestServiceStub(channel).GetKeyRing(ring, timeout=DEADLINE)
        assert created.key.key_id in {entry.key.key_id for entry in answer.keys}, peer
    with system.channel(addresses.internal["ingest"], "client") as channel:
        operator = ingest_pb2_grpc.IngestServiceStub(channel)
        assert status_of(lambda: operator.GetKeyRing(ring, timeout=DEADLINE)) is (
            grpc.StatusCode.PERMISSION_DENIED
        )


def test_internal_rpcs_on_the_main_port_are_refused_even_to_an_admin_key(
    system: TlsSystem,
) -> None:
    admin = bearer(system.keys.admin)
    addresses = system.addresses
    # A peer certificate does not help on the main port: it never asks for one.
    with (
        system.channel(addresses.ingest, "identity") as ingest_channel,
        system.channel(addresses.attribution, "reporting") as attribution_channel,
    ):
        ingest = ingest_pb2_grpc.IngestServiceStub(ingest_channel)
        attribution = attribution_pb2_grpc.AttributionServiceStub(attribution_channel)
        calls: dict[str, Callable[[], Any]] = {
            "ingest.GetKeyRing": lambda: ingest.GetKeyRing(
                ingest_pb2.GetKeyRingRequest(), timeout=DEADLINE, metadata=admin
            ),
            "ingest.ListEvents": lambda: ingest.ListEvents(
                ingest_pb2.ListEventsRequest(), timeout=DEADLINE, metadata=admin
            ),
            "ingest.RevealIdentifiers": lambda: ingest.RevealIdentifiers(
                ingest_pb2.RevealIdentifiersRequest(property_id=PROPERTY),
                timeout=DEADLINE,
                metadata=admin,
            ),
            "attribution.ListEvents": lambda: attribution.ListEvents(
                attribution_pb2.ListEventsRequest(), timeout=DEADLINE, metadata=admin
            ),
        }
        for name, call in calls.items():
            assert status_of(call) is grpc.StatusCode.PERMISSION_DENIED, name


def test_an_operator_with_an_admin_key_waits_for_sync_on_the_main_ports(
    system: TlsSystem,
) -> None:
    keys, operator = system.keys, TlsSettings.in_directory(system.certs, "client")
    with system.channel(system.addresses.ingest) as channel:
        tracked = ingest_pb2_grpc.IngestServiceStub(channel).TrackEvents(
            ingest_pb2.TrackEventsRequest(events=cross_device_journey()),
            timeout=DEADLINE,
            metadata=bearer(keys.right[Scope.INGEST_WRITE]),
        )
    assert tracked.accepted_count + tracked.duplicate_count == len(cross_device_journey())
    launcher.wait_for_sync(system.addresses, timeout=60, tls=operator, api_key=keys.admin)
    with system.channel(system.addresses.attribution) as channel:
        status = attribution_pb2_grpc.AttributionServiceStub(channel).GetSyncStatus(
            attribution_pb2.GetSyncStatusRequest(), timeout=DEADLINE, metadata=bearer(keys.admin)
        )
    assert {u.upstream: u.position for u in status.upstreams}["ingest"] > 0

    # Log positions only: a property's key, even with every scope, may not ask.
    for token in (keys.right[Scope.ATTRIBUTION_ADMIN], keys.other_property[Scope.REPORTS_READ]):
        with pytest.raises(grpc.RpcError) as refused:
            launcher.wait_for_sync(system.addresses, timeout=5, tls=operator, api_key=token)
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as refused:
        launcher.wait_for_sync(system.addresses, timeout=5, tls=operator)
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_reveal_identifiers_is_for_identitys_certificate_only(system: TlsSystem) -> None:
    request = ingest_pb2.RevealIdentifiersRequest(property_id=PROPERTY)
    internal = system.addresses.internal["ingest"]
    with system.channel(internal, "attribution") as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.RevealIdentifiers(request, timeout=DEADLINE)
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "identity" in (refused.value.details() or "")
    with system.channel(internal, "identity") as channel:
        ingest_pb2_grpc.IngestServiceStub(channel).RevealIdentifiers(request, timeout=DEADLINE)


def test_a_peer_refusing_a_service_is_failed_precondition_for_its_caller_not_internal(
    tmp_path: Path, certs: Path
) -> None:
    """Identity misconfigured with attribution's certificate: ingest refuses its pseudonymise
    calls, and identity's caller learns it is a deployment problem (not INTERNAL)."""
    data_dir = tmp_path / "data"
    keys = _mint(data_dir)
    env: dict[str, str] = {
        "CONVTRACK_DATA_DIR": str(data_dir),
        "CONVTRACK_TLS_DIR": str(certs),
        "CONVTRACK_AUTH": "keys",
        "IDENTITY_TLS_CERT": str(certs / "attribution.crt"),
        "IDENTITY_TLS_KEY": str(certs / "attribution.key"),
        "IDENTITY_TLS_CA": str(certs / "ca.crt"),
    }
    env |= launcher.loopback_ports(env)
    running = [launcher.start_one(name, env, telemetry=Telemetry()) for name in ("ingest",)]
    try:
        running.append(launcher.start_one("identity", env, telemetry=Telemetry()))
        request = identity_pb2.ResolveIdentityRequest(
            property_id=PROPERTY,
            identifier=common_pb2.Identifier(
                type=common_pb2.IDENTIFIER_TYPE_EMAIL, value="ada@example.com"
            ),
        )
        tls = TlsSettings.in_directory(certs, "client")
        with open_channel(env["IDENTITY_ADDR"], tls) as channel:
            identity = identity_pb2_grpc.IdentityServiceStub(channel)
            started = time.monotonic()
            while True:
                try:
                    identity.ResolveIdentity(
                        request,
                        timeout=DEADLINE,
                        metadata=bearer(keys.right[Scope.IDENTITY_ADMIN]),
                    )
                except grpc.RpcError as error:
                    # UNAVAILABLE until identity loaded its key set from ingest.
                    if error.code() is grpc.StatusCode.UNAVAILABLE:
                        assert time.monotonic() - started < 20, error.details()
                        time.sleep(0.2)
                        continue
                    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION, error
                    assert "refused" in (error.details() or "")
                    break
                raise AssertionError("ingest answered a peer with the wrong certificate")
    finally:
        launcher.stop_all(running)


def test_the_new_commands_send_the_api_key(
    system: TlsSystem, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`spend import`, `sample send`, `attribution models|configure-models|reporting-identity` and
    `report cost|rates` send `--api-key` (over the operators' TLS): the right key passes,
    a key without the scope is PERMISSION_DENIED."""
    keys, addresses = system.keys, system.addresses
    spend = tmp_path / "spend.csv"
    spend.write_text(
        "date,source,medium,campaign,cost,currency,property\n"
        "2026-01-05,google,cpc,brand,12.50,USD,shop\n"
    )
    tls = ["--tls-dir", str(system.certs)]
    commands: list[tuple[list[str], Scope]] = [
        (["spend", "import", str(spend), "--addr", addresses.ingest], Scope.INGEST_WRITE),
        (
            ["attribution", "models", "--property", PROPERTY, "--addr", addresses.attribution],
            Scope.REPORTS_READ,
        ),
        (
            [
                "attribution",
                "configure-models",
                "--property",
                PROPERTY,
                "--models",
                "linear",
                "--addr",
                addresses.attribution,
            ],
            Scope.ATTRIBUTION_ADMIN,
        ),
        (
            [
                "attribution",
                "reporting-identity",
                "--property",
                PROPERTY,
                "deterministic",
                "--addr",
                addresses.attribution,
            ],
            Scope.ATTRIBUTION_ADMIN,
        ),
        (
            [
                "report",
                "cost",
                "--property",
                PROPERTY,
                "--models",
                "linear",
                "--addr",
                addresses.reporting,
            ],
            Scope.REPORTS_READ,
        ),
        (
            [
                "report",
                "rates",
                "--property",
                PROPERTY,
                "--models",
                "linear",
                "--addr",
                addresses.reporting,
            ],
            Scope.REPORTS_READ,
        ),
        # last: its sample adds conversions that the reports above would have to name
        (
            [
                "sample",
                "send",
                "--ingest",
                addresses.ingest,
                "--property",
                PROPERTY,
                "--visitors",
                "5",
            ],
            Scope.INGEST_WRITE,
        ),
    ]
    for command, scope in commands:
        wrong = Scope.INGEST_WRITE if scope is not Scope.INGEST_WRITE else Scope.REPORTS_READ
        assert main([*command, *tls, "--api-key", keys.right[wrong]]) == 1, command
        assert "PERMISSION_DENIED" in capsys.readouterr().err, command
        status = main([*command, *tls, "--api-key", keys.right[scope]])
        err = capsys.readouterr().err
        assert "PERMISSION_DENIED" not in err and "UNAUTHENTICATED" not in err, (command, err)
        assert status in (0, 1) and ("NOT_FOUND" in err or status == 0), (command, err)
    assert main([*commands[0][0], *tls]) == 1  # no key at all
    assert "UNAUTHENTICATED" in capsys.readouterr().err
