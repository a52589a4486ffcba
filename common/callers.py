"""Who is calling: the caller of the current gRPC call, with the scopes and properties it holds."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    """What an API key may do. `admin` is every scope, on every property."""

    INGEST_WRITE = "ingest:write"
    REPORTS_READ = "reports:read"
    IDENTITY_ADMIN = "identity:admin"
    ATTRIBUTION_ADMIN = "attribution:admin"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of one call.

    An API key's caller has its `key_id`, a peer service's its `peer` name (from its client
    certificate). `properties` None means every property; `local` marks the all-powerful
    caller of a server running with authentication off.
    """

    key_id: str | None = None
    peer: str | None = None
    properties: frozenset[str] | None = frozenset()
    scopes: frozenset[Scope] = frozenset()
    local: bool = False

    @property
    def name(self) -> str:
        """How logs name the caller: its key id, peer name, or "local"."""
        return self.key_id or (f"peer:{self.peer}" if self.peer else "local")

    def allows(self, scope: Scope, property_id: str | None) -> bool:
        """Whether the caller may act with `scope` on `property_id` (None: on every property
        at once, which only all-properties callers may)."""
        if self.local or (Scope.ADMIN in self.scopes and self.properties is None):
            return True
        if scope not in self.scopes:
            return False
        if self.properties is None:
            return True
        return property_id is not None and property_id in self.properties

    def holds(self, scope: Scope) -> bool:
        """Whether the caller holds `scope` on some property (or is all-powerful)."""
        return self.local or scope in self.scopes or Scope.ADMIN in self.scopes


LOCAL_CALLER = Caller(properties=None, scopes=frozenset(Scope), local=True)

_current: ContextVar[Caller | None] = ContextVar("convtrack_caller", default=None)


class NoCallerError(RuntimeError):
    """Code asked for the caller outside a call that was authenticated."""


def current_caller() -> Caller:
    """The caller of the call being served; raises NoCallerError outside one."""
    caller = _current.get()
    if caller is None:
        raise NoCallerError("no authenticated caller in this context")
    return caller


def caller_var() -> ContextVar[Caller | None]:
    """The context variable the authentication interceptor sets for each call."""
    return _current
