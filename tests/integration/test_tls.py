"""TLS on every port: real servers on 127.0.0.1:0 with certificates from `convtrack certs dev`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.channels import open_channel
from common.server import GrpcServer
from common.settings import SettingsError, TlsSettings, TransportSettings
from common.tls import TlsMaterial, peer_name
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services import launcher
from services.cli import main
from services.commands.certs import write_dev_certificates
from services.ingest.server import IngestSettings
from tests.e2e.system import PROPERTY, cross_device_journey
from tests.module_probe import REPO_ROOT

WHO = "convtrack.test.v1.WhoService"
DEADLINE = 10.0
HEALTH_CHECK = health_pb2.HealthCheckRequest(service=WHO)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A development CA with certificates for every service and for operators."""
    directory = tmp_path_factory.mktemp("certs")
    write_dev_certificates(directory)
    return directory


@pytest.fixture(scope="module")
def other_ca_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same names, signed by another CA."""
    directory = tmp_path_factory.mktemp("other-certs")
    write_dev_certificates(directory)
    return directory


def who_called(request: bytes, context: grpc.ServicerContext) -> bytes:
    return (peer_name(context) or "").encode()


@pytest.fixture
def server(certs: Path) -> Iterator[GrpcServer]:
    """A server (as ingest) answering with its caller's verified name: TLS on the main port,
    an internal port requiring client certificates, a plaintext health port."""

    def register(server: grpc.Server) -> None:
        handlers = {"Name": grpc.unary_unary_rpc_method_handler(who_called)}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(WHO, handlers),))

    transport = TransportSettings(
        tls=TlsSettings.in_directory(certs, "ingest"),
        internal_listen="127.0.0.1:0",
        health_listen="127.0.0.1:0",
    )
    running = GrpcServer(
        listen="127.0.0.1:0", service_names=[WHO], register=register, transport=transport
    )
    yield running
    running.stop(0)


def ask_name(channel: grpc.Channel) -> str:
    """The name the server saw for this channel's client certificate ("" for none)."""
    answer: bytes = channel.unary_unary(f"/{WHO}/Name")(b"", timeout=DEADLINE)
    return answer.decode()


def refused(channel: grpc.Channel) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        ask_name(channel)
    code: grpc.StatusCode = caught.value.code()
    return code


def server_only_trusted(certs: Path) -> grpc.ChannelCredentials:
    """Credentials trusting the CA but presenting no client certificate."""
    return grpc.ssl_channel_credentials(root_certificates=(certs / "ca.crt").read_bytes())


def test_a_call_over_tls_works_without_a_client_certificate(
    server: GrpcServer, certs: Path
) -> None:
    with grpc.secure_channel(f"127.0.0.1:{server.port}", server_only_trusted(certs)) as channel:
        assert ask_name(channel) == ""


def test_a_plaintext_client_is_refused_by_the_tls_port(server: GrpcServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        assert refused(channel) == grpc.StatusCode.UNAVAILABLE


def test_the_main_port_does_not_ask_for_client_certificates(
    server: GrpcServer, certs: Path
) -> None:
    # grpcio's server credentials either require client certificates or never request one;
    # this is why internal calls have a port of their own.
    identity = TlsSettings.in_directory(certs, "identity")
    with open_channel(f"127.0.0.1:{server.port}", identity) as channel:
        assert ask_name(channel) == ""


def test_the_internal_port_names_the_peer_by_its_certificate(
    server: GrpcServer, certs: Path
) -> None:
    for peer in ("identity", "attribution", "client"):
        tls = TlsSettings.in_directory(certs, peer)
        with open_channel(f"127.0.0.1:{server.internal_port}", tls) as channel:
            assert ask_name(channel) == peer


def test_the_internal_port_refuses_a_client_without_a_certificate(
    server: GrpcServer, certs: Path
) -> None:
    address = f"127.0.0.1:{server.internal_port}"
    with grpc.secure_channel(address, server_only_trusted(certs)) as channel:
        assert refused(channel) == grpc.StatusCode.UNAVAILABLE


def test_the_internal_port_refuses_a_certificate_from_another_ca(
    server: GrpcServer, certs: Path, other_ca_certs: Path
) -> None:
    stranger = TlsMaterial.read(TlsSettings.in_directory(other_ca_certs, "identity"))
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(certs / "ca.crt").read_bytes(),  # it trusts our server ...
        private_key=stranger.key,  # ... but its own certificate is signed elsewhere
        certificate_chain=stranger.cert,
    )
    with grpc.secure_channel(f"127.0.0.1:{server.internal_port}", credentials) as channel:
        assert refused(channel) == grpc.StatusCode.UNAVAILABLE


def test_a_client_refuses_a_server_certificate_from_another_ca(
    server: GrpcServer, other_ca_certs: Path
) -> None:
    tls = TlsSettings.in_directory(other_ca_certs, "identity")
    with open_channel(f"127.0.0.1:{server.port}", tls) as channel:
        assert refused(channel) == grpc.StatusCode.UNAVAILABLE


def test_the_health_port_answers_in_plaintext_and_serves_nothing_else(
    server: GrpcServer,
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.health_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = health.Check(HEALTH_CHECK, timeout=DEADLINE)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert refused(channel) == grpc.StatusCode.UNIMPLEMENTED
        server.set_ready(False)
        reply = health.Check(HEALTH_CHECK, timeout=DEADLINE)
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING


def test_a_non_loopback_address_without_tls_refuses_to_start() -> None:
    with pytest.raises(SettingsError, match="CONVTRACK_ALLOW_INSECURE_REMOTE") as caught:
        IngestSettings.from_env({"INGEST_LISTEN": "0.0.0.0:50051"})
    assert "INGEST_LISTEN" in str(caught.value)
    allowed = IngestSettings.from_env(
        {"INGEST_LISTEN": "0.0.0.0:50051", "CONVTRACK_ALLOW_INSECURE_REMOTE": "1"}
    )
    assert allowed.transport.tls is None
    assert IngestSettings.from_env({"INGEST_LISTEN": "localhost:50051"}).transport.tls is None


def test_convtrack_serve_says_in_one_line_why_it_refuses_to_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.ingest"],
        env={
            "PATH": "/usr/bin:/bin",
            "INGEST_LISTEN": "0.0.0.0:0",
            "CONVTRACK_DATA_DIR": str(tmp_path),
        },
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "refusing to start" in line]
    assert "CONVTRACK_ALLOW_INSECURE_REMOTE" in line


def test_the_whole_pipeline_runs_over_mutual_tls(
    tmp_path: Path, certs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"CONVTRACK_DATA_DIR": str(tmp_path / "data"), "CONVTRACK_TLS_DIR": str(certs)}
    operator = TlsSettings.in_directory(certs, "client")
    running, addresses = launcher.start_all(env, any_port=True)
    try:
        assert sorted(addresses.internal) == sorted(launcher.SERVICES)
        with open_channel(addresses.ingest, operator) as channel:
            tracked = ingest_pb2_grpc.IngestServiceStub(channel).TrackEvents(
                ingest_pb2.TrackEventsRequest(events=cross_device_journey()), timeout=DEADLINE
            )
        assert tracked.rejected_count == 0, tracked
        with grpc.insecure_channel(addresses.ingest) as plaintext:
            with pytest.raises(grpc.RpcError) as caught:
                ingest_pb2_grpc.IngestServiceStub(plaintext).GetLogHead(
                    ingest_pb2.GetLogHeadRequest(), timeout=DEADLINE
                )
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        launcher.wait_for_sync(addresses, timeout=60, tls=operator)
        with open_channel(addresses.reporting, operator) as channel:
            report = reporting_pb2_grpc.ReportingServiceStub(channel).GetConversionReport(
                reporting_pb2.GetConversionReportRequest(property_id=PROPERTY, model="linear"),
                timeout=DEADLINE,
            )
        assert sum(row.conversions for row in report.rows) == pytest.approx(1.0)
        command = ["report", "conversions", "--property", PROPERTY, "--models", "linear"]
        command += ["--addr", addresses.reporting, "--format", "json"]
        assert main([*command, "--tls-dir", str(certs)]) == 0
        assert json.loads(capsys.readouterr().out)["rows"]
        assert main(command) == 1  # plaintext to a TLS port
        assert "UNAVAILABLE" in capsys.readouterr().err
    finally:
        launcher.stop_all(running)
