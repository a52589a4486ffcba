"""Consent values that several services share: the state of a purpose, and the paid channels."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ConsentState(StrEnum):
    """Whether the visitor consented to a purpose; UNKNOWN when nothing was said."""

    UNKNOWN = "unknown"
    GRANTED = "granted"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class Consent:
    """An event's consent for analytics (measurement, identity) and advertising."""

    analytics: ConsentState = ConsentState.UNKNOWN
    advertising: ConsentState = ConsentState.UNKNOWN

    @property
    def analytics_denied(self) -> bool:
        """The event may be counted in aggregates only: no identifier, no person."""
        return self.analytics is ConsentState.DENIED

    @property
    def advertising_denied(self) -> bool:
        """The event may not be used for paid channels nor exported to ad platforms."""
        return self.advertising is ConsentState.DENIED

    def to_dict(self) -> dict[str, str]:
        """The stored form."""
        # `_value_`, the member's value without the enum's `value` descriptor (a Python call).
        return {"analytics": self.analytics._value_, "advertising": self.advertising._value_}

    @classmethod
    def from_dict(cls, data: dict[str, str] | None) -> Consent:
        """From the stored form; events stored before consent existed read as unknown."""
        data = data or {}
        return cls(
            ConsentState(data.get("analytics", ConsentState.UNKNOWN.value)),
            ConsentState(data.get("advertising", ConsentState.UNKNOWN.value)),
        )


PAID_CHANNELS = frozenset(
    {
        "paid_search",
        "paid_social",
        "display",
        "paid_video",
        "paid_shopping",
        "paid_other",
        "cross_network",
    }
)
"""The channels of paid media (GA4's Paid Search, Paid Social, Display, Paid Video, Paid
Shopping, Paid Other and Cross-network). A touchpoint or conversion whose advertising consent
was denied never gives credit to one of them. Affiliates are not counted as paid media."""


PAID_CHANNEL_PREFIX = "paid_"


def is_paid_channel(channel: str) -> bool:
    """Whether `channel` is paid media: one of `PAID_CHANNELS`, or a property's own channel
    named paid_* (custom channel rules name paid channels so)."""
    return channel in PAID_CHANNELS or channel.startswith(PAID_CHANNEL_PREFIX)
