"""The API key the command line sends, and channels that send it with every call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import grpc

from common.channels import open_channel
from common.settings import SettingsError, TlsSettings, env_str


def sent_api_key(explicit: str | None, env: Mapping[str, str]) -> str | None:
    """The API key to send: `--api-key`, else `CONVTRACK_API_KEY`, else the first line of
    the file named by `CONVTRACK_API_KEY_FILE`; None when there is none (servers with
    authentication off need none)."""
    if explicit:
        return explicit.strip()
    if key := env_str(env, "CONVTRACK_API_KEY"):
        return key
    if path := env_str(env, "CONVTRACK_API_KEY_FILE"):
        try:
            lines = Path(path).read_text().strip().splitlines()
        except OSError as error:
            raise SettingsError(f"CONVTRACK_API_KEY_FILE {path!r}: {error.strerror}") from None
        return lines[0].strip() if lines else None
    return None


class _BearerKey(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
):
    """Adds `authorization: Bearer <key>` to every call, streams (WatchConversions) too."""

    def __init__(self, key: str) -> None:
        self._metadata = ("authorization", f"Bearer {key}")

    def _with_key(self, client_call_details: Any) -> Any:
        return client_call_details._replace(
            metadata=[*(client_call_details.metadata or ()), self._metadata]
        )

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return continuation(self._with_key(client_call_details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return continuation(self._with_key(client_call_details), request)


def client_channel(
    address: str, key: str | None = None, tls: TlsSettings | None = None
) -> grpc.Channel:
    """A channel to a convtrack service (TLS with the operators' identity `tls` when given)
    that sends `key` (if any) with every call."""
    channel = open_channel(address, tls)
    if key:
        return grpc.intercept_channel(channel, _BearerKey(key))
    return channel
