"""Server interceptors: how every service answers what its servicer did not answer itself."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry import trace

from common.grpc_errors import abort_invalid, abort_unavailable
from common.log_throttle import LogThrottle, limit_logs, summary
from common.storage_errors import causes, is_storage_unavailable

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1.0
LOG_INTERVAL_SECONDS = 60.0
STORAGE_UNAVAILABLE_MESSAGE = (
    "storage is temporarily unavailable; retry after the delay in the RetryInfo detail "
    "(retries are safe)"
)
PEER_UNAVAILABLE_MESSAGE = (
    "a service this one depends on is temporarily unavailable; retry after the delay in the "
    "RetryInfo detail (retries are safe)"
)
PEER_UNAVAILABLE_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
PEER_REFUSED_MESSAGE = (
    "a service this one depends on refused its call (the deployment's service certificates "
    "or access rules do not allow it); retrying will not help until an operator fixes that"
)
PEER_REFUSED_CODES = (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
GRPC_LOGGERS = ("grpc._server", "grpc._common")

Behaviour = Callable[[Any, grpc.ServicerContext], Any]
Deserializer = Callable[[bytes], Any]


def wrap_handler(
    handler: grpc.RpcMethodHandler[Any, Any],
    wrap: Callable[[Behaviour, bool, bool], Behaviour],
    request_deserializer: Deserializer | None = None,
) -> grpc.RpcMethodHandler[Any, Any]:
    """The same handler with its behaviour replaced by `wrap(behaviour, request_streaming,
    response_streaming)` (and its request deserializer, when one is given), whichever of the
    four kinds of RPC it serves. The building block of this module's interceptors."""
    deserializer = request_deserializer or handler.request_deserializer
    serializer = handler.response_serializer
    streaming = (handler.request_streaming, handler.response_streaming)
    builders: dict[tuple[bool, bool], tuple[Behaviour | None, Callable[..., Any]]] = {
        (False, False): (handler.unary_unary, grpc.unary_unary_rpc_method_handler),
        (False, True): (handler.unary_stream, grpc.unary_stream_rpc_method_handler),
        (True, False): (handler.stream_unary, grpc.stream_unary_rpc_method_handler),
        (True, True): (handler.stream_stream, grpc.stream_stream_rpc_method_handler),
    }
    behaviour, build = builders[streaming]
    assert behaviour is not None, "a method handler without the behaviour of its kind"
    wrapped: grpc.RpcMethodHandler[Any, Any] = build(
        wrap(behaviour, *streaming), deserializer, serializer
    )
    return wrapped


@dataclass(frozen=True, slots=True)
class _Unparsable:
    """Stands for request bytes that did not parse, so the call can answer INVALID_ARGUMENT."""

    error: str


def _tolerant(deserializer: Deserializer | None) -> Deserializer | None:
    """A deserializer that returns _Unparsable instead of raising (grpcio would log a
    traceback and answer INTERNAL)."""
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as error:  # any failure to parse is the sender's bad bytes
            return _Unparsable(summary(error))

    return parse


def _answered_by_servicer(error: BaseException, context: grpc.ServicerContext) -> bool:
    """True for the bare Exception that `context.abort` raises after setting the status."""
    code = getattr(context, "code", lambda: None)()
    return type(error) is Exception and code not in (None, grpc.StatusCode.OK)


def _peer_unavailable(error: BaseException) -> bool:
    """True for a call to another service that failed because it is unavailable."""
    code = getattr(error, "code", None)
    return isinstance(error, grpc.RpcError) and callable(code) and code() in PEER_UNAVAILABLE_CODES


def _peer_refused(error: BaseException) -> bool:
    """True for a call to another service that it refused this service (its certificate or
    the peer's access rules): not the caller's fault, and not an internal error either."""
    code = getattr(error, "code", None)
    return isinstance(error, grpc.RpcError) and callable(code) and code() in PEER_REFUSED_CODES


class ErrorStatusInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Answers what a servicer raised instead of returning, without leaking its text.

    - `context.abort(...)` from the servicer (or an inner interceptor) passes untouched.
    - The database unreachable, gone, busy or out of connections (`is_storage_unavailable`),
      or a peer service unavailable: UNAVAILABLE with a RetryInfo detail; one log line per
      minute says so.
    - A peer service refusing this service's call (PERMISSION_DENIED, UNAUTHENTICATED):
      FAILED_PRECONDITION (a deployment problem), one log line per minute with the peer's
      reason.
    - Request bytes that do not parse: INVALID_ARGUMENT, one log line per minute.
    - Anything else: INTERNAL with an error id; the traceback is logged once with that id.

    Callers never see exception text, SQL, host names or ports.
    """

    def __init__(
        self,
        *,
        retry_after: float = RETRY_AFTER_SECONDS,
        log_interval: float = LOG_INTERVAL_SECONDS,
    ) -> None:
        self._retry_after = retry_after
        self._throttle = LogThrottle(log_interval)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """The handler of the method, guarded."""
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method

        def guard(behaviour: Behaviour, request_streaming: bool, response_streaming: bool) -> Any:
            if response_streaming:
                return self._guard_stream(method, behaviour, request_streaming)
            return self._guard_unary(method, behaviour, request_streaming)

        return wrap_handler(handler, guard, _tolerant(handler.request_deserializer))

    def _guard_unary(self, method: str, behaviour: Behaviour, request_streaming: bool) -> Behaviour:
        def guarded(request: Any, context: grpc.ServicerContext) -> Any:
            request = self._parsed(method, request, request_streaming, context)
            try:
                return behaviour(request, context)
            except Exception as error:
                self._answer(method, error, context)
                raise

        return guarded

    def _guard_stream(
        self, method: str, behaviour: Behaviour, request_streaming: bool
    ) -> Behaviour:
        def guarded(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            request = self._parsed(method, request, request_streaming, context)
            try:
                yield from behaviour(request, context)
            except Exception as error:
                self._answer(method, error, context)
                raise

        return guarded

    def _parsed(
        self, method: str, request: Any, request_streaming: bool, context: grpc.ServicerContext
    ) -> Any:
        """The request, or each request of a stream, refused when its bytes did not parse."""
        if not request_streaming:
            self._refuse_unparsable(method, request, context)
            return request

        def each(requests: Iterator[Any]) -> Iterator[Any]:
            for item in requests:
                self._refuse_unparsable(method, item, context)
                yield item

        return each(request)

    def _refuse_unparsable(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        if not isinstance(request, _Unparsable):
            return
        held_back = self._throttle.admit("unparsable")
        if held_back is not None:
            logger.warning(
                "refused a request to %s from %s whose bytes do not parse (%s)%s",
                method,
                context.peer(),
                request.error,
                self._throttle.held_back_note(held_back),
            )
        abort_invalid(context, f"the request bytes are not a valid request message for {method}")

    def _answer(self, method: str, error: Exception, context: grpc.ServicerContext) -> None:
        """Aborts the call with the status that fits `error`; returns only for a servicer's
        own abort, which the caller re-raises."""
        if _answered_by_servicer(error, context):
            return
        trace.get_current_span().record_exception(error)
        if is_storage_unavailable(error):
            self._abort_unavailable(method, error, context, STORAGE_UNAVAILABLE_MESSAGE)
        elif _peer_unavailable(error):
            self._abort_unavailable(method, error, context, PEER_UNAVAILABLE_MESSAGE)
        elif _peer_refused(error):
            held_back = self._throttle.admit("peer refused")
            if held_back is not None:
                logger.warning(
                    "%s: a peer service refused this service's call: %s%s",
                    method,
                    summary(error),
                    self._throttle.held_back_note(held_back),
                )
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, PEER_REFUSED_MESSAGE)
        else:
            error_id = uuid.uuid4().hex[:16]
            logger.error("%s failed (error id %s)", method, error_id, exc_info=error)
            context.abort(grpc.StatusCode.INTERNAL, f"internal error (error id {error_id})")

    def _abort_unavailable(
        self, method: str, error: Exception, context: grpc.ServicerContext, message: str
    ) -> None:
        held_back = self._throttle.admit("unavailable")
        if held_back is not None:
            root = list(causes(error))[-1]
            logger.warning(
                "%s answered UNAVAILABLE: %s%s%s",
                method,
                summary(error),
                f" (caused by {summary(root)})" if root is not error else "",
                self._throttle.held_back_note(held_back),
            )
        abort_unavailable(context, message, self._retry_after)


def limit_grpc_logs(interval: float = LOG_INTERVAL_SECONDS) -> None:
    """Makes grpcio's own error logs (a traceback per request whose bytes fail to parse or
    whose handler fails outside the interceptors) one concise line per interval."""
    limit_logs(GRPC_LOGGERS, interval)
