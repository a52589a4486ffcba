"""`convtrack certs dev DIR`: a development CA and a certificate per service and for operators."""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services import SERVICES

CLIENT = "client"
"""The operators' certificate (for `convtrack` commands with `--tls-dir`)."""
CA_NAME = "ca"
DEFAULT_NAMESPACE = "convtrack"
KEY_MODE = 0o600
CA_DAYS = 3650
LEAF_DAYS = 825


@dataclass(frozen=True)
class Written:
    """What `write_dev_certificates` did: the files it wrote and the ones it kept."""

    written: tuple[Path, ...]
    kept: tuple[Path, ...]


def certs_dev(args: argparse.Namespace) -> int:
    """Writes the development certificates into `args.dir`; 1 when it cannot."""
    try:
        done = write_dev_certificates(args.dir, namespace=args.namespace, force=args.force)
    except CertificateError as error:
        print(f"convtrack certs dev: {error}", file=sys.stderr)
        return 1
    for path in done.written:
        print(f"wrote {path}")
    if done.kept:
        print(f"kept {len(done.kept)} existing files (--force replaces them)")
    return 0


class CertificateError(Exception):
    """The certificate directory cannot be completed as asked (one-line message)."""


def subject_names(name: str, namespace: str) -> list[str]:
    """The DNS names a service's certificate is valid for: local, bare and Kubernetes names."""
    if name == CLIENT:
        return [CLIENT]
    service = f"convtrack-{name}"
    return [
        "localhost",
        name,
        service,
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def write_dev_certificates(
    directory: Path,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    force: bool = False,
    names: Sequence[str] = (*SERVICES, CLIENT),
) -> Written:
    """A development CA (`ca.crt`, `ca.key`) and per name `<name>.crt` / `<name>.key` signed by
    it, in `directory`. Existing files are kept unless `force`; keys are written mode 0600."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    kept: list[Path] = []
    ca_cert_path, ca_key_path = directory / "ca.crt", directory / "ca.key"
    if force or not ca_cert_path.exists():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key)
        _write_key(ca_key_path, ca_key)
        ca_cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        written += [ca_cert_path, ca_key_path]
        force = True  # certificates of an earlier CA would not verify against the new one
    else:
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        ca_key = None
        kept.append(ca_cert_path)
    for name in names:
        cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
        if not force and cert_path.exists() and key_path.exists():
            kept += [cert_path, key_path]
            continue
        if ca_key is None:
            if not ca_key_path.exists():
                raise CertificateError(
                    f"{cert_path} is missing and {ca_key_path} is gone, so it cannot be "
                    "signed by the existing CA: run again with --force for a new CA"
                )
            loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise CertificateError(f"{ca_key_path} is not an EC private key")
            ca_key = loaded
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _leaf_certificate(name, key, ca_cert, ca_key, subject_names(name, namespace))
        _write_key(key_path, key)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        written += [cert_path, key_path]
    return Written(tuple(written), tuple(kept))


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "convtrack development"),
            x509.NameAttribute(NameOID.COMMON_NAME, "convtrack development CA"),
        ]
    )
    start = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf_certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    dns_names: Sequence[str],
) -> x509.Certificate:
    alternative_names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    if name != CLIENT:
        alternative_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    start = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
