"""Authentication: the `Caller` of every call, from its bearer API key or its peer certificate."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import grpc

from common.callers import LOCAL_CALLER, Caller, caller_var
from common.grpc_errors import abort_unavailable
from common.interceptors import Behaviour, wrap_handler
from common.keyset import AuthenticationError, KeySet
from common.settings import SettingsError, env_str
from common.tls import peer_name

# Served to anyone: probes and tools must reach them without credentials.
EXEMPT_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)
KEYS_NOT_LOADED_RETRY_SECONDS = 1.0
# A server stream's key is checked again before a message at most this often, so that a
# revoked or expired key's open stream ends (UNAUTHENTICATED) with its next message.
STREAM_RECHECK_SECONDS = 1.0
KEYS_NOT_LOADED_MESSAGE = (
    "this server has not loaded the API key set yet, so it cannot check keys; retry after the "
    "delay in the RetryInfo detail"
)
MISSING_CREDENTIALS_MESSAGE = (
    "this call needs credentials: send the metadata `authorization: Bearer <API key>`"
)


class AuthMode(StrEnum):
    """`CONVTRACK_AUTH`: `off` (every caller may do everything) or `keys`."""

    OFF = "off"
    KEYS = "keys"


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """How a server authenticates its callers."""

    mode: AuthMode = AuthMode.OFF


def is_loopback(listen: str) -> bool:
    """Whether a listen address (`host:port`) binds loopback only."""
    host = listen.rpartition(":")[0].strip("[]") or "0.0.0.0"
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_settings(env: Mapping[str, str], listen: str) -> AuthSettings:
    """`CONVTRACK_AUTH=off|keys`; by default `off` on a loopback address (local development,
    `make demo`, `make up`) and `keys` on any other."""
    raw = env_str(env, "CONVTRACK_AUTH").lower()
    if not raw:
        return AuthSettings(AuthMode.OFF if is_loopback(listen) else AuthMode.KEYS)
    try:
        return AuthSettings(AuthMode(raw))
    except ValueError:
        raise SettingsError(f"CONVTRACK_AUTH must be off or keys, not {raw!r}") from None


def bearer_token(metadata: Any) -> str | None:
    """The token of an `authorization: Bearer <token>` metadata entry, if any."""
    for key, value in metadata or ():
        if key.lower() == "authorization":
            text = value.decode() if isinstance(value, bytes) else str(value)
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return ""
    return None


def is_exempt(method: str) -> bool:
    """Whether a method (`/package.Service/Rpc`) belongs to a service every caller may use
    without credentials: health and reflection."""
    return method.lstrip("/").partition("/")[0] in EXEMPT_SERVICES


class AuthenticationInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Puts the call's `Caller` in `common.callers` for the servicer and the interceptors
    below, or refuses the call.

    With `keys` None (authentication off) every caller is the local all-powerful caller.
    Otherwise a bearer API key is checked against `keys()` (the key set held in memory):
    missing, malformed, unknown, expired or revoked keys are UNAUTHENTICATED; no key set
    loaded yet is UNAVAILABLE with a RetryInfo. A call without a key but with a verified
    client certificate is its peer service's. Health and reflection are exempt. A server
    stream's key is checked again before its messages (at most once a second), so that an
    open stream ends once its key is revoked or expires.
    """

    def __init__(
        self,
        keys: Callable[[], KeySet | None] | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._keys = keys
        self._clock = clock

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """The handler of the method, run as its authenticated caller."""
        handler = continuation(handler_call_details)
        if handler is None or is_exempt(handler_call_details.method):
            return handler
        token = bearer_token(handler_call_details.invocation_metadata)

        def authenticated(behaviour: Behaviour, _: bool, response_streaming: bool) -> Behaviour:
            def run(request: Any, context: grpc.ServicerContext) -> Any:
                reset = caller_var().set(self._caller(token, context))
                try:
                    return behaviour(request, context)
                finally:
                    caller_var().reset(reset)

            def run_stream(request: Any, context: grpc.ServicerContext) -> Any:
                caller = self._caller(token, context)
                reset = caller_var().set(caller)
                responses = behaviour(request, context)
                try:
                    checked = time.monotonic()
                    for response in responses:
                        if caller.key_id is not None and (
                            time.monotonic() - checked >= STREAM_RECHECK_SECONDS
                        ):
                            self._caller(token, context)  # revoked or expired meanwhile?
                            checked = time.monotonic()
                        yield response
                finally:
                    close = getattr(responses, "close", None)
                    if close is not None:
                        close()
                    caller_var().reset(reset)

            return run_stream if response_streaming else run

        return wrap_handler(handler, authenticated)

    def _caller(self, token: str | None, context: grpc.ServicerContext) -> Caller:
        if self._keys is None:
            return LOCAL_CALLER
        peer = peer_name(context)
        if token is None and peer is not None:
            return Caller(peer=peer, properties=None)
        if not token:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, MISSING_CREDENTIALS_MESSAGE)
            raise AssertionError("unreachable: abort raises")
        keys = self._keys()
        if keys is None:
            abort_unavailable(context, KEYS_NOT_LOADED_MESSAGE, KEYS_NOT_LOADED_RETRY_SECONDS)
            raise AssertionError("unreachable: abort raises")
        try:
            caller = keys.authenticate(token, self._clock())
        except AuthenticationError as error:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
            raise AssertionError("unreachable: abort raises") from error
        return Caller(
            key_id=caller.key_id, peer=peer, properties=caller.properties, scopes=caller.scopes
        )
