"""Transport settings: where TLS files come from and which ports open (secrets from files:
tests/unit/test_secret_settings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.channels import operator_tls
from common.settings import (
    SettingsError,
    TlsSettings,
    is_loopback,
    peer_address,
    transport_settings,
)
from services.commands.certs import write_dev_certificates


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    write_dev_certificates(directory, names=("ingest", "client"))
    return directory


def test_a_tls_directory_names_the_services_own_files(certs: Path) -> None:
    transport = transport_settings({"INGEST_TLS_DIR": str(certs)}, "ingest", "0.0.0.0:50051")
    assert transport.tls == TlsSettings(
        certs / "ingest.crt", certs / "ingest.key", certs / "ca.crt"
    )


def test_the_shared_tls_directory_applies_when_the_service_has_none(certs: Path) -> None:
    transport = transport_settings({"CONVTRACK_TLS_DIR": str(certs)}, "ingest", "0.0.0.0:1")
    assert transport.tls == TlsSettings.in_directory(certs, "ingest")


def test_explicit_files_win_over_a_directory(certs: Path) -> None:
    env = {
        "INGEST_TLS_CERT": str(certs / "client.crt"),
        "INGEST_TLS_KEY": str(certs / "client.key"),
        "INGEST_TLS_CA": str(certs / "ca.crt"),
        "INGEST_TLS_DIR": str(certs),
    }
    tls = transport_settings(env, "ingest", "127.0.0.1:1").tls
    assert tls is not None and tls.cert == certs / "client.crt"


def test_explicit_files_go_together(certs: Path) -> None:
    with pytest.raises(SettingsError, match="INGEST_TLS_KEY is unset"):
        transport_settings({"INGEST_TLS_CERT": str(certs / "ingest.crt")}, "ingest", "")


def test_a_missing_tls_file_names_its_setting(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="INGEST_TLS_DIR"):
        transport_settings({"INGEST_TLS_DIR": str(tmp_path)}, "ingest", "127.0.0.1:1")


def test_an_internal_port_needs_tls() -> None:
    with pytest.raises(SettingsError, match="INGEST_INTERNAL_LISTEN needs TLS"):
        transport_settings({"INGEST_INTERNAL_LISTEN": "127.0.0.1:0"}, "ingest", "127.0.0.1:0")


def test_loopback_without_tls_stays_the_default() -> None:
    transport = transport_settings({}, "ingest", "127.0.0.1:50051")
    assert transport.tls is None and not transport.internal_listen and not transport.health_listen


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:50051", True),
        ("127.0.0.2:1", True),
        ("localhost:50051", True),
        ("[::1]:50051", True),
        ("0.0.0.0:50051", False),
        ("[::]:50051", False),
        (":50051", False),
        ("10.0.0.5:50051", False),
        ("convtrack-ingest:50051", False),
    ],
)
def test_loopback_addresses_are_recognised(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_a_non_loopback_address_without_tls_needs_an_explicit_allowance() -> None:
    with pytest.raises(SettingsError, match=r"REPORTING_LISTEN 0\.0\.0\.0:50054 is not a loopback"):
        transport_settings({}, "reporting", "0.0.0.0:50054")
    allowed = transport_settings({"CONVTRACK_ALLOW_INSECURE_REMOTE": "1"}, "reporting", ":1")
    assert allowed.allow_insecure_remote


def test_peers_are_called_on_their_internal_address_when_it_is_set() -> None:
    env = {"INGEST_ADDR": "convtrack-ingest:50051"}
    assert peer_address(env, "ingest", "127.0.0.1:50051") == "convtrack-ingest:50051"
    env["INGEST_INTERNAL_ADDR"] = "convtrack-ingest:50061"
    assert peer_address(env, "ingest", "127.0.0.1:50051") == "convtrack-ingest:50061"
    assert peer_address({}, "ingest", "127.0.0.1:50051") == "127.0.0.1:50051"


def test_operators_use_the_client_certificate_of_a_tls_directory(certs: Path) -> None:
    assert operator_tls(None, {}) is None
    assert operator_tls(certs, {}) == TlsSettings.in_directory(certs, "client")
    assert operator_tls(None, {"CONVTRACK_TLS_DIR": str(certs)}) == TlsSettings.in_directory(
        certs, "client"
    )
    with pytest.raises(SettingsError, match=r"client\.crt is missing"):
        operator_tls(certs / "absent", {})


def test_tls_on_the_internal_port_only_keeps_the_main_port_plaintext_on_loopback(
    certs: Path,
) -> None:
    env = {"CONVTRACK_TLS_DIR": str(certs), "CONVTRACK_TLS_INTERNAL_ONLY": "y"}
    transport = transport_settings(env, "ingest", "127.0.0.1:50051")
    assert transport.tls == TlsSettings.in_directory(certs, "ingest")
    assert transport.plaintext_main and transport.main_tls is None
    with pytest.raises(SettingsError, match="CONVTRACK_TLS_INTERNAL_ONLY keeps it plaintext"):
        transport_settings(env, "ingest", "0.0.0.0:50051")
    assert transport_settings({"CONVTRACK_TLS_DIR": str(certs)}, "ingest", "0.0.0.0:1").main_tls
