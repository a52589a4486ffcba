"""Authorisation: each service's policy table (the scope or peers every RPC needs, and where its
request names the property) and the interceptor that enforces it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from common.authentication import (
    AuthenticationInterceptor,
    AuthMode,
    AuthSettings,
    is_exempt,
)
from common.callers import Caller, Scope, current_caller
from common.interceptors import Behaviour, wrap_handler
from common.keyset import KeySet


@dataclass(frozen=True, slots=True)
class Rule:
    """What one RPC requires of its caller.

    - `scope`: the scope a key must hold; None when only peers may call (`internal`).
    - `property_path`: where the request names the property (`property_id`,
      `events[*].property_id`); every property named there must be the key's. A request
      naming none needs a key for every property. None: the RPC concerns no property, any
      key holding the scope may call it.
    - `every_property`: the RPC acts on every property at once (only all-properties keys).
    - `peers`: peer services (by client certificate) that may call it too.
    - `default_property`: a property id that names the deployment default (`*`) rather than a
      property; a request naming it needs an admin key (every scope, every property).
    - `audited`: an admin action; every call is recorded in the service's audit log.
    """

    scope: Scope | None
    property_path: str | None = None
    every_property: bool = False
    peers: tuple[str, ...] = ()
    default_property: str | None = None
    audited: bool = False


def scoped(scope: Scope, property_path: str, *, peers: Sequence[str] = ()) -> Rule:
    """Needs `scope` on the property (or properties) the request names at `property_path`."""
    return Rule(scope, property_path, peers=tuple(peers))


def scoped_or_default(scope: Scope, property_path: str, default: str = "*") -> Rule:
    """Needs `scope` on the property the request names at `property_path`, or the admin
    scope when it names `default` (the deployment default of every property)."""
    return Rule(scope, property_path, default_property=default)


def unscoped(scope: Scope) -> Rule:
    """Needs `scope` on any property: the RPC reveals nothing about a property."""
    return Rule(scope)


def every_property(scope: Scope) -> Rule:
    """Needs `scope` on every property (an operator's admin key)."""
    return Rule(scope, every_property=True)


def audited(rule: Rule) -> Rule:
    """The same rule for an admin action: every call is recorded in the audit log."""
    return replace(rule, audited=True)


def internal(peers: Sequence[str]) -> Rule:
    """Only these peer services may call, identified by their client certificate."""
    return Rule(None, peers=tuple(peers))


def internal_or_operator(peers: Sequence[str]) -> Rule:
    """These peer services (by their client certificate), or an operator's admin key for
    every property: for RPCs that answer log positions only (GetLogHead, GetSyncStatus), so
    that an operator can wait until the services are in sync."""
    return Rule(Scope.ADMIN, every_property=True, peers=tuple(peers))


class PolicyError(ValueError):
    """A policy table that does not cover its service's RPCs, or names fields that do not
    exist; the service refuses to start."""


def _segments(path: str) -> list[tuple[str, bool]]:
    """The (field name, repeated) steps of a path like `events[*].property_id`."""
    return [(s.removesuffix("[*]"), s.endswith("[*]")) for s in path.split(".")]


def _check_path(message: Descriptor, path: str) -> str | None:
    """Why `path` does not name a string field of `message`; None when it does."""
    descriptor = message
    steps = _segments(path)
    for index, (name, repeated) in enumerate(steps):
        field = descriptor.fields_by_name.get(name)
        if field is None:
            return f"{descriptor.full_name} has no field {name!r}"
        if field.is_repeated != repeated:
            return f"{path}: write [*] after exactly the repeated fields"
        last = index == len(steps) - 1
        if last and field.type != FieldDescriptor.TYPE_STRING:
            return f"{path} is not a string field"
        if not last:
            if field.message_type is None:
                return f"{path}: {name} is not a message"
            descriptor = field.message_type
    return None


def property_values(request: Message, path: str) -> set[str]:
    """The non-empty property ids a request names at `path` (none when a field on the path
    does not exist in the message)."""

    def walk(message: Message, steps: list[tuple[str, bool]]) -> Iterator[str]:
        (name, repeated), rest = steps[0], steps[1:]
        if name not in message.DESCRIPTOR.fields_by_name:
            return
        value = getattr(message, name)
        items = list(value) if repeated else [value]
        for item in items:
            if rest:
                yield from walk(item, rest)
            elif item:
                yield str(item)

    return set(walk(request, _segments(path)))


class AccessPolicy:
    """One service's policy table, checked against its descriptor: every RPC has a rule."""

    def __init__(self, service: ServiceDescriptor, rules: Mapping[str, Rule]) -> None:
        problems = [
            f"{service.name}.{m.name} has no access rule"
            for m in service.methods
            if m.name not in rules
        ]
        problems += [
            f"{service.name} has no RPC {name} (in its access rules)"
            for name in rules
            if name not in service.methods_by_name
        ]
        for name, rule in rules.items():
            method = service.methods_by_name.get(name)
            if method is None or rule.property_path is None:
                continue
            problem = _check_path(method.input_type, rule.property_path)
            if problem is not None:
                problems.append(f"{service.name}.{name}: {problem}")
        if problems:
            raise PolicyError("; ".join(problems))
        self.service = service
        self._rules = {f"/{service.full_name}/{name}": rule for name, rule in rules.items()}

    def rule_for(self, method: str) -> Rule | None:
        """The rule of a method path (`/package.Service/Method`)."""
        return self._rules.get(method)

    @property
    def rules(self) -> Mapping[str, Rule]:
        """The rules by method path."""
        return self._rules


def denial(rule: Rule, rpc: str, caller: Caller, request: Message) -> str | None:
    """Why `caller` may not make this call; None when it may. The reason never names a
    property nor says whether anything exists."""
    if caller.local:
        return None
    if caller.peer is not None and caller.peer in rule.peers:
        return None
    if rule.scope is None:
        peers = ", ".join(rule.peers)
        return f"{rpc} is internal: only the {peers} service(s) may call it, with their certificate"
    if not caller.holds(rule.scope):
        return f"this key does not hold the {rule.scope} scope that {rpc} needs"
    if rule.property_path is None and not rule.every_property:
        return None
    properties = (
        set() if rule.every_property else property_values(request, rule.property_path or "")
    )
    if rule.default_property is not None and rule.default_property in properties:
        if caller.allows(Scope.ADMIN, None):
            return None
        return f"{rpc} for the deployment default ({rule.default_property}) needs an admin key"
    if not properties:
        if caller.allows(rule.scope, None):
            return None
        return f"{rpc} without a property needs a key for every property (an admin key)"
    if all(caller.allows(rule.scope, p) for p in properties):
        return None
    return f"this key may not call {rpc} for the property named in the request"


class AuthorisationInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Refuses with PERMISSION_DENIED every call its policy table does not allow the caller."""

    def __init__(self, policy: AccessPolicy) -> None:
        self._policy = policy

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """The handler of the method, guarded by its rule."""
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or is_exempt(method):
            return handler
        rule = self._policy.rule_for(method)
        rpc = method.rpartition("/")[2]

        def check(request: Any, context: grpc.ServicerContext) -> None:
            reason = (
                f"{rpc} has no access rule"
                if rule is None
                else denial(rule, rpc, current_caller(), request)
            )
            if reason is not None:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, reason)

        def guarded(behaviour: Behaviour, request_streaming: bool, _: bool) -> Behaviour:
            if request_streaming:
                raise PolicyError(f"{rpc}: streamed requests are not supported by the policy")

            def run(request: Any, context: grpc.ServicerContext) -> Any:
                check(request, context)
                return behaviour(request, context)

            return run

        return wrap_handler(handler, guarded)


def access_interceptors(
    settings: AuthSettings,
    policy: AccessPolicy,
    keys: Callable[[], KeySet | None] | None,
    below: Sequence[grpc.ServerInterceptor[Any, Any]] = (),
) -> list[grpc.ServerInterceptor[Any, Any]]:
    """Authentication then authorisation, then `below` (rate limits, audit), for
    `GrpcServer(interceptors=...)`: with authentication off every caller is the local
    all-powerful one (the policy is still checked to cover every RPC)."""
    if settings.mode is AuthMode.OFF:
        return [AuthenticationInterceptor(None), *below]
    if keys is None:
        raise PolicyError("authentication is on but no key set was given")
    return [
        AuthenticationInterceptor(keys, lambda: datetime.now(UTC)),
        AuthorisationInterceptor(policy),
        *below,
    ]
