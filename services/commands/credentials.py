"""The API key the command line sends, and channels that send it with every call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import grpc

from common.channels import open_channel
from common.settings import SettingsError, TlsSettings, data_dir, env_str, is_loopback

ADMIN_KEY_FILE = "admin.key"
"""The local admin key `convtrack up` and `convtrack demo` mint into their data directory."""


def sent_api_key(explicit: str | None, env: Mapping[str, str], address: str) -> str | None:
    """The API key to send to `address`: `--api-key`, else `CONVTRACK_API_KEY`, else the
    first line of the file named by `CONVTRACK_API_KEY_FILE`, else (only to a loopback
    address) the local admin key `convtrack up` wrote into the data directory
    (`CONVTRACK_DATA_DIR`, default `./data`), `<data dir>/admin.key`; None when there is none
    (servers with authentication off need none)."""
    if explicit:
        return explicit.strip()
    if key := env_str(env, "CONVTRACK_API_KEY"):
        return key
    if path := env_str(env, "CONVTRACK_API_KEY_FILE"):
        return _first_line(Path(path), "CONVTRACK_API_KEY_FILE")
    local = data_dir(env) / ADMIN_KEY_FILE
    if is_loopback(address) and local.is_file():
        return _first_line(local, "the local admin key")
    return None


def _first_line(path: Path, what: str) -> str | None:
    try:
        lines = path.read_text().strip().splitlines()
    except OSError as error:
        raise SettingsError(f"{what} {str(path)!r}: {error.strerror}") from None
    return lines[0].strip() if lines else None


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
