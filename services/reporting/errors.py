"""Reporting's errors: what a report query can be refused for."""

from __future__ import annotations


class ReportingError(Exception):
    """Base of reporting's errors."""


class MissingPropertyError(ReportingError):
    """A report query without a property: reports never mix properties."""


class NotFoundError(ReportingError):
    """What a query names has no attributed conversion in the views."""


class UnknownPropertyError(NotFoundError):
    """The property has no attributed conversion."""


class UnknownConversionNameError(NotFoundError):
    """The property has no attributed conversion of that name."""


class ConversionNameRequiredError(ReportingError):
    """The query names no conversion and the property has conversions of several names."""


class ModelWithoutCreditsError(ReportingError):
    """The model has no credits for the property and conversion name: attribution is not
    configured with it for the property (or, for a data-driven model, has not fitted it yet,
    or is still re-attributing the property's conversions under it)."""


class InvalidTimeRangeError(ReportingError):
    """The time range ends before or where it starts."""


class InvalidComparisonError(ReportingError):
    """The compared period lacks a start or an end, or ends before or where it starts."""


class InvalidTimeZoneError(ReportingError):
    """A time zone that is no IANA time zone name."""


class MixedCurrencyError(ReportingError):
    """The credits to add up are in more than one reporting currency."""
