"""Admission of write calls: a bound on how many of a server's worker threads they may hold,
so that log reads and other short calls always find one free."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import grpc

from common.grpc_errors import abort_resource_exhausted
from common.interceptors import Behaviour, wrap_handler

BUSY_MESSAGE = (
    "the server is running as many of these calls as it may at once; retry after the delay in "
    "the RetryInfo detail (retries are safe)"
)


class AdmissionLimit(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """At most `limit` calls of the given methods (full names, `/package.Service/Method`) run
    at once; one more is answered RESOURCE_EXHAUSTED with a RetryInfo of `retry_after`
    seconds as soon as a worker thread takes it, instead of holding that thread while it
    waits for the store.

    A gRPC server's worker threads are shared by every method: without a bound, write calls
    waiting for their group commit can take all of them, and the followers' `ListEvents` and
    `GetLogHead` then wait behind the writes for a thread (docs/benchmarks.md). The slot is
    taken and given back in the worker thread that runs the call, so a call cancelled while
    it waited for a thread holds none. `running` and `refused` count what it admitted and
    turned away.
    """

    def __init__(self, methods: Iterable[str], *, limit: int, retry_after: float) -> None:
        if limit < 1:
            raise ValueError("an admission limit must be at least 1")
        self._methods = frozenset(methods)
        self._slots = threading.BoundedSemaphore(limit)
        self._retry_after = retry_after
        self._count_lock = threading.Lock()
        self.limit = limit
        self.running = 0
        self.refused = 0

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """The method's handler, admitted under the limit when it is one of the methods."""
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method not in self._methods:
            return handler
        if handler.request_streaming or handler.response_streaming:
            raise TypeError(f"{handler_call_details.method}: only unary calls can be admitted")
        return wrap_handler(handler, lambda behaviour, _, __: self._admitted(behaviour))

    def _admitted(self, behaviour: Behaviour) -> Behaviour:
        def admitted(request: Any, context: grpc.ServicerContext) -> Any:
            if not self._slots.acquire(blocking=False):
                with self._count_lock:
                    self.refused += 1
                abort_resource_exhausted(context, BUSY_MESSAGE, self._retry_after)
                return None
            with self._count_lock:
                self.running += 1
            try:
                return behaviour(request, context)
            finally:
                with self._count_lock:
                    self.running -= 1
                self._slots.release()

        return admitted
