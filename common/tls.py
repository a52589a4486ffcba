"""TLS for gRPC: server and channel credentials from `TlsSettings`, and the verified peer's name."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from common.settings import SettingsError, TlsSettings


@dataclass(frozen=True)
class TlsMaterial:
    """The PEM bytes of a TLS identity and of the CA its peers are verified against."""

    cert: bytes
    key: bytes
    ca: bytes

    @classmethod
    def read(cls, tls: TlsSettings) -> TlsMaterial:
        """Reads the three files; a file that cannot be read is a `SettingsError`."""
        parts = []
        for path in (tls.cert, tls.key, tls.ca):
            try:
                parts.append(path.read_bytes())
            except OSError as error:
                raise SettingsError(f"TLS file {path} cannot be read: {error.strerror}") from None
        return cls(*parts)

    def server_credentials(self, *, require_client_auth: bool) -> grpc.ServerCredentials:
        """Credentials for a listening port. grpcio either requires and verifies client
        certificates (against the CA) or does not request them at all: it has no "verify when
        presented" mode, hence the separate internal port."""
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)],
            root_certificates=self.ca if require_client_auth else None,
            require_client_auth=require_client_auth,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Credentials for a client channel: this identity as the client certificate, the CA as
        the only root the server's certificate may chain to."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )


def peer_name(context: grpc.ServicerContext) -> str | None:
    """The common name of the caller's client certificate, verified against the CA (only the
    internal port asks for one); None when the caller presented none."""
    names = context.auth_context().get("x509_common_name")
    if not names:
        return None
    name = names[0]
    return name.decode() if isinstance(name, bytes) else str(name)
