"""`convtrack certs dev`: a development CA and certificates that name each service."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.cli import main
from services.commands.certs import CertificateError, write_dev_certificates
from tests.module_probe import HEAVY_PACKAGES, run_probe, within

SERVICES = ("ingest", "identity", "attribution", "reporting")


def certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_every_service_and_the_operators_get_a_certificate_signed_by_the_ca(
    tmp_path: Path,
) -> None:
    assert main(["certs", "dev", str(tmp_path), "--namespace", "analytics"]) == 0
    ca = certificate(tmp_path / "ca.crt")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for name in (*SERVICES, "client"):
        cert = certificate(tmp_path / f"{name}.crt")
        cert.verify_directly_issued_by(ca)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.CLIENT_AUTH in usages
        assert stat.S_IMODE((tmp_path / f"{name}.key").stat().st_mode) == 0o600
    names = certificate(tmp_path / "attribution.crt").extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert {"localhost", "attribution", "convtrack-attribution"} <= set(
        names.value.get_values_for_type(x509.DNSName)
    )
    assert "convtrack-attribution.analytics.svc" in names.value.get_values_for_type(x509.DNSName)
    assert names.value.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600


def test_running_it_again_keeps_every_file_unless_forced(tmp_path: Path) -> None:
    write_dev_certificates(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    again = write_dev_certificates(tmp_path)
    assert again.written == ()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    forced = write_dev_certificates(tmp_path, force=True)
    assert {p.name for p in forced.written} == set(before)
    assert all(before[p.name] != p.read_bytes() for p in forced.written)


def test_a_missing_certificate_is_added_under_the_existing_ca(tmp_path: Path) -> None:
    write_dev_certificates(tmp_path)
    ca = (tmp_path / "ca.crt").read_bytes()
    (tmp_path / "reporting.crt").unlink()
    done = write_dev_certificates(tmp_path)
    assert {p.name for p in done.written} == {"reporting.crt", "reporting.key"}
    assert (tmp_path / "ca.crt").read_bytes() == ca
    certificate(tmp_path / "reporting.crt").verify_directly_issued_by(
        certificate(tmp_path / "ca.crt")
    )
    (tmp_path / "reporting.crt").unlink()
    (tmp_path / "ca.key").unlink()
    with pytest.raises(CertificateError, match="--force"):
        write_dev_certificates(tmp_path)


def test_certs_dev_imports_no_grpc_nor_service(tmp_path: Path) -> None:
    done, modules = run_probe(
        f"from services.cli import main\nsys.exit(main(['certs', 'dev', {str(tmp_path)!r}]))"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert within(modules, HEAVY_PACKAGES) == []
