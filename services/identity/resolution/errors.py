"""The resolution core's errors."""

from __future__ import annotations


class ResolutionError(Exception):
    """Base of the resolution core's errors."""


class UnknownIdentifierError(ResolutionError):
    """The identifier has not been resolved to any person."""


__all__ = ["ResolutionError", "UnknownIdentifierError"]
