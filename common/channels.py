"""Client channels to convtrack services: TLS with a client certificate when configured."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import grpc
from opentelemetry.instrumentation.grpc import client_interceptor, grpcext
from opentelemetry.sdk.trace import TracerProvider

from common.server import MAX_RESPONSE_BYTES
from common.settings import SettingsError, TlsSettings, env_str
from common.tls import TlsMaterial

OPERATOR_CERTIFICATE = "client"
"""The name of the operators' certificate in a TLS directory (`convtrack certs dev`)."""


def open_channel(
    address: str,
    tls: TlsSettings | None = None,
    tracer_provider: TracerProvider | None = None,
) -> grpc.Channel:
    """A client channel to a convtrack service: secure with `tls` (its certificate presented
    as the client certificate, its CA the only trusted root), insecure without; traced when a
    tracer provider is given. Receives messages up to the servers' send limit."""
    options = [
        ("grpc.max_receive_message_length", MAX_RESPONSE_BYTES),
        ("grpc.enable_retries", 1),
    ]
    if tls is None:
        channel = grpc.insecure_channel(address, options=options)
    else:
        credentials = TlsMaterial.read(tls).channel_credentials()
        channel = grpc.secure_channel(address, credentials, options=options)
    if tracer_provider is not None:
        channel = grpcext.intercept_channel(
            channel, client_interceptor(tracer_provider=tracer_provider)
        )
    return channel


def operator_tls(directory: Path | None, env: Mapping[str, str]) -> TlsSettings | None:
    """The operators' TLS identity for `convtrack` commands: `client.crt`, `client.key` and
    `ca.crt` in `directory` (`--tls-dir`), else in `CONVTRACK_TLS_DIR`; None for neither."""
    chosen = directory or (
        Path(env_str(env, "CONVTRACK_TLS_DIR")) if env_str(env, "CONVTRACK_TLS_DIR") else None
    )
    if chosen is None:
        return None
    tls = TlsSettings.in_directory(chosen, OPERATOR_CERTIFICATE)
    for path in (tls.cert, tls.key, tls.ca):
        if not path.is_file():
            raise SettingsError(f"TLS directory {chosen}: {path.name} is missing")
    return tls
