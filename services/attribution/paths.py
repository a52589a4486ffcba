"""Conversion paths: the ordered channels of a conversion's journey, compact and bounded."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.attribution.models import JourneyTouch
from services.attribution.rules import DIRECT_CHANNEL

MAX_PATH_RUNS = 1000
"""The most runs (consecutive touchpoints of one channel) a path carries whole."""

PATH_TEXT_BYTES = 16 * 1024
"""The most channel text a path's runs take, as stored (UTF-8, JSON-escaped)."""

NONE_CHANNEL = "(none)"
"""The last non-direct channel of a conversion without touchpoints."""


@dataclass(frozen=True, slots=True)
class ConversionPath:
    """The channels of a journey in order, as runs of one channel (`channels[i]` repeated
    `run_lengths[i]` times in a row).

    A path of at most `MAX_PATH_RUNS` runs (within `PATH_TEXT_BYTES`) is whole. A longer one
    keeps its first and last runs (up to half the bound each) and says what lies between:
    `omitted_runs` runs of `omitted_touchpoints` touchpoints, of the distinct
    `omitted_channels`; the omitted runs come after the first `head_runs` runs.
    `last_non_direct_channel` is that of the whole journey: its last touchpoint whose channel
    is not direct, "direct" when all are, "(none)" without touchpoints.
    """

    channels: tuple[str, ...]
    run_lengths: tuple[int, ...]
    touchpoint_count: int
    first_touch_at: datetime | None
    last_non_direct_channel: str
    head_runs: int = 0
    omitted_runs: int = 0
    omitted_touchpoints: int = 0
    omitted_channels: tuple[str, ...] = ()


def runs_of(channels: Sequence[str]) -> list[tuple[str, int]]:
    """Consecutive equal channels as (channel, count) runs."""
    runs: list[tuple[str, int]] = []
    for channel in channels:
        if runs and runs[-1][0] == channel:
            runs[-1] = (channel, runs[-1][1] + 1)
        else:
            runs.append((channel, 1))
    return runs


def last_non_direct(channels: Sequence[str]) -> str:
    """The last channel that is not direct; direct when all are; "(none)" for no channel."""
    for channel in reversed(channels):
        if channel != DIRECT_CHANNEL:
            return channel
    return DIRECT_CHANNEL if channels else NONE_CHANNEL


def conversion_path(journey: Sequence[JourneyTouch]) -> ConversionPath:
    """The path of a whole journey (oldest touchpoint first), bounded."""
    channels = [t.channel for t in journey]
    return bounded_path(
        runs_of(channels),
        first_touch_at=journey[0].occurred_at if journey else None,
        last_non_direct_channel=last_non_direct(channels),
    )


def bounded_path(
    runs: Sequence[tuple[str, int]],
    *,
    first_touch_at: datetime | None,
    last_non_direct_channel: str,
    unknown_middle: tuple[int, int, Sequence[str]] | None = None,
) -> ConversionPath:
    """A path of `runs`, keeping the first and last runs when there are too many.

    `unknown_middle` (run index, touchpoints, channels) marks touchpoints already left out
    before that run (attributions recorded before paths kept only a journey's ends).
    """
    total = sum(n for _, n in runs) + (unknown_middle[1] if unknown_middle else 0)
    if unknown_middle is None and len(runs) <= MAX_PATH_RUNS and _text(runs) <= PATH_TEXT_BYTES:
        return ConversionPath(
            tuple(c for c, _ in runs),
            tuple(n for _, n in runs),
            total,
            first_touch_at,
            last_non_direct_channel,
        )
    half = MAX_PATH_RUNS // 2
    head = _fitting(runs[: min(half, unknown_middle[0]) if unknown_middle else half])
    rest = runs[len(head) :]
    tail = list(reversed(_fitting(list(reversed(rest[-half:])))))
    middle = rest[: len(rest) - len(tail)]
    omitted_touchpoints = sum(n for _, n in middle)
    omitted_channels = list(dict.fromkeys(c for c, _ in middle))
    omitted_runs = len(middle)
    if unknown_middle is not None:
        omitted_touchpoints += unknown_middle[1]
        omitted_channels += [c for c in unknown_middle[2] if c not in omitted_channels]
        omitted_runs += 1
    kept = [*head, *tail]
    return ConversionPath(
        tuple(c for c, _ in kept),
        tuple(n for _, n in kept),
        total,
        first_touch_at,
        last_non_direct_channel,
        head_runs=len(head),
        omitted_runs=omitted_runs,
        omitted_touchpoints=omitted_touchpoints,
        omitted_channels=tuple(omitted_channels),
    )


def _run_text(run: tuple[str, int]) -> int:
    return len(json.dumps(run[0], ensure_ascii=False).encode()) + 4


def _text(runs: Sequence[tuple[str, int]]) -> int:
    return sum(_run_text(r) for r in runs)


def _fitting(runs: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """The longest prefix of `runs` within half the text budget."""
    budget = PATH_TEXT_BYTES // 2
    fitting: list[tuple[str, int]] = []
    for run in runs:
        budget -= _run_text(run)
        if budget < 0:
            break
        fitting.append(run)
    return fitting


def path_to_dict(path: ConversionPath) -> dict[str, Any]:
    """A path as stored in events."""
    return {
        "channels": list(path.channels),
        "run_lengths": list(path.run_lengths),
        "touchpoint_count": path.touchpoint_count,
        "first_touch_at": path.first_touch_at,
        "last_non_direct_channel": path.last_non_direct_channel,
        "head_runs": path.head_runs,
        "omitted_runs": path.omitted_runs,
        "omitted_touchpoints": path.omitted_touchpoints,
        "omitted_channels": list(path.omitted_channels),
    }


def path_from_dict(data: Mapping[str, Any]) -> ConversionPath:
    """A path from its stored form."""
    return ConversionPath(
        channels=tuple(data["channels"]),
        run_lengths=tuple(data["run_lengths"]),
        touchpoint_count=data["touchpoint_count"],
        first_touch_at=data["first_touch_at"],
        last_non_direct_channel=data["last_non_direct_channel"],
        head_runs=data["head_runs"],
        omitted_runs=data["omitted_runs"],
        omitted_touchpoints=data["omitted_touchpoints"],
        omitted_channels=tuple(data["omitted_channels"]),
    )


def path_of_stored_journey(
    journey: Sequence[JourneyTouch],
    journey_length: int,
    credited_channels: Sequence[str],
) -> ConversionPath:
    """The path of an attribution recorded before paths existed, from what it kept: the whole
    journey, or a long journey's first and last touchpoints, its length and the channels its
    credits name. Of such a long journey the omitted touchpoints are taken to lie after the
    first half of those kept (exact unless its ends were shortened to fit their text bound)
    and its last non-direct channel is that of its kept last touchpoints (else "direct")."""
    channels = [t.channel for t in journey]
    first = journey[0].occurred_at if journey else None
    if journey_length <= len(journey):
        return bounded_path(
            runs_of(channels),
            first_touch_at=first,
            last_non_direct_channel=last_non_direct(channels),
        )
    split = len(journey) // 2
    head = runs_of(channels[:split])
    shown = set(channels)
    return bounded_path(
        head + runs_of(channels[split:]),
        first_touch_at=first,
        last_non_direct_channel=last_non_direct(channels),
        unknown_middle=(
            len(head),
            journey_length - len(journey),
            [c for c in dict.fromkeys(credited_channels) if c not in shown],
        ),
    )
