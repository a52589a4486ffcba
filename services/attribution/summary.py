"""Bounded attributions: what one attributed conversion carries, whatever its journey's length."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from services.attribution.models import DETAIL_DIMENSIONS, Credit, JourneyTouch, details_of

DETAILED_JOURNEY_LIMIT = 100
"""The most touchpoints a journey may have to be carried whole, touchpoint by touchpoint."""

JOURNEY_ENDS = 50
"""How many of a summarised journey's first (and last) touchpoints are kept."""

MAX_CREDIT_GROUPS = 100
"""The most groups of every dimension (channel, source, medium, campaign and the detail
dimensions) a summarised model's credits keep."""

GROUPS_TEXT_BYTES = 24 * 1024
"""The most text those groups keep."""

MAX_ROLLED_UP_GROUPS = 50
"""The most (channel, source, medium, campaign) groups kept of the credits beyond those
groups, and then the most (channel, source, medium) groups."""

ROLLED_UP_TEXT_BYTES = 8 * 1024
"""The most text those rolled-up groups keep."""

MAX_LIST_TEXT_BYTES = 32 * 1024
"""The most text (ids and every dimension) of one journey or one model's credits, as stored
(UTF-8, JSON-escaped)."""

OTHER = "(other)"
"""The campaign (and source and medium) of credits rolled up beyond `MAX_CREDIT_GROUPS`."""

BASE_ENTRY_BYTES = 96 * 1024
"""The bound of an attributed conversion's facts and journey, stored or in a log entry
(the facts are bounded by ingest's 32 KiB event limit)."""

ENTRY_BYTES_PER_MODEL = 64 * 1024
"""The bound of one model's credits, stored or in a log entry."""


GroupKey = tuple[str, str, str, str, str, str, str, str, str, str]
"""What credits are summed by: (channel, source, medium, campaign, *DETAIL_DIMENSIONS)."""

_OTHER_DETAILS = (OTHER, OTHER, OTHER, OTHER, OTHER, OTHER)
assert len(_OTHER_DETAILS) == len(DETAIL_DIMENSIONS)


def max_entry_bytes(models: int) -> int:
    """The most bytes an attributed conversion takes, stored or as a log entry, with `models`
    configured models."""
    return BASE_ENTRY_BYTES + ENTRY_BYTES_PER_MODEL * models


@dataclass(frozen=True, slots=True)
class BoundedAttribution:
    """What an attributed conversion carries: the journey or its first and last touchpoints,
    its length and digest, and the credits per model (summed per group when `grouped`)."""

    journey: tuple[JourneyTouch, ...]
    journey_length: int
    journey_digest: str
    credits: Mapping[str, tuple[Credit, ...]]
    grouped: bool


def journey_digest_of(touchpoint_ids: Iterable[str]) -> str:
    """A digest of a journey's touchpoint ids in order: equal digests, same journey."""
    digest = hashlib.sha256()
    for touchpoint_id in touchpoint_ids:
        digest.update(touchpoint_id.encode())
        digest.update(b"\x1f")
    return digest.hexdigest()


def bound_attribution(
    journey: Sequence[JourneyTouch], credits: Mapping[str, Sequence[Credit]]
) -> BoundedAttribution:
    """The journey and credits as carried.

    A journey of at most `DETAILED_JOURNEY_LIMIT` touchpoints (whose text fits
    `MAX_LIST_TEXT_BYTES`) is carried whole, with one credit per touchpoint. A longer one is
    summarised: its first and last touchpoints, its length and the digest of all its
    touchpoint ids, and under each model the credits summed per (channel, source, medium,
    campaign, term, content, device type, browser, country, landing page) — reports group by
    nothing finer, so they stay exact — rolled up further beyond `MAX_CREDIT_GROUPS` groups
    (`group_credits`). Value credits are integer sums, so they
    still add up to the conversion's value exactly.
    """
    digest = journey_digest_of(t.touchpoint_id for t in journey)
    if (
        len(journey) <= DETAILED_JOURNEY_LIMIT
        and sum(_touch_text(t) for t in journey) <= MAX_LIST_TEXT_BYTES
    ):
        return BoundedAttribution(
            tuple(journey),
            len(journey),
            digest,
            {model: tuple(found) for model, found in credits.items()},
            grouped=False,
        )
    return BoundedAttribution(
        journey_ends(journey),
        len(journey),
        digest,
        {model: group_credits(found) for model, found in credits.items()},
        grouped=True,
    )


def journey_ends(journey: Sequence[JourneyTouch]) -> tuple[JourneyTouch, ...]:
    """Up to `JOURNEY_ENDS` first and last touchpoints, each end within half the text budget."""
    budget = MAX_LIST_TEXT_BYTES // 2
    head = _fitting(journey[:JOURNEY_ENDS], budget)
    rest = journey[len(head) :]
    tail = _fitting(list(reversed(rest[-JOURNEY_ENDS:])), budget)
    return (*head, *reversed(tail))


def group_credits(credits: Sequence[Credit]) -> tuple[Credit, ...]:
    """Credits summed per (channel, source, medium, campaign, *DETAIL_DIMENSIONS).

    When there are more groups than `MAX_CREDIT_GROUPS` (or their text exceeds its budget),
    the largest are kept and the rest rolled up: per (channel, source, medium, campaign)
    with every detail dimension "(other)", the largest `MAX_ROLLED_UP_GROUPS` of those; then
    per (channel, source, medium) under campaign "(other)", the largest
    `MAX_ROLLED_UP_GROUPS` of those; then the remainder per channel under every other
    dimension "(other)". Each level lists its groups in order of first appearance in the
    journey.
    """
    carried: list[Credit] = []
    rest = list(credits)
    for key_of, rows, text in _LEVELS:
        kept, rest = _largest_fitting(_summed(rest, key_of), rows, text)
        carried += kept
        if not rest:
            return tuple(carried)
    return (*carried, *_summed(rest, lambda c: (c.channel, OTHER, OTHER, OTHER, *_OTHER_DETAILS)))


def _full_key(credit: Credit) -> GroupKey:
    c = credit
    base = (c.channel, c.source, c.medium, c.campaign)
    return (*base, c.term, c.content, c.device_type, c.browser, c.country, c.landing_page)


_LEVELS: tuple[tuple[Callable[[Credit], GroupKey], int, int], ...] = (
    (_full_key, MAX_CREDIT_GROUPS, GROUPS_TEXT_BYTES),
    (
        lambda c: (c.channel, c.source, c.medium, c.campaign, *_OTHER_DETAILS),
        MAX_ROLLED_UP_GROUPS,
        ROLLED_UP_TEXT_BYTES,
    ),
    (
        lambda c: (c.channel, c.source, c.medium, OTHER, *_OTHER_DETAILS),
        MAX_ROLLED_UP_GROUPS,
        ROLLED_UP_TEXT_BYTES,
    ),
)
"""The levels of grouping credits: key, the most groups and the most text each keeps."""


def _largest_fitting(
    groups: Sequence[Credit], rows: int, text: int
) -> tuple[list[Credit], list[Credit]]:
    """(kept, rest): all groups when they fit `rows` and `text`, else the largest (by value,
    then fraction) that fit; both in their original order."""
    if len(groups) <= rows and _credits_text(groups) <= text:
        return list(groups), []
    largest = sorted(
        range(len(groups)), key=lambda i: (-groups[i].value_micros, -groups[i].fraction, i)
    )
    chosen: set[int] = set()
    for index in largest:
        if len(chosen) == rows:
            break
        size = _credit_text(groups[index])
        if size <= text:
            chosen.add(index)
            text -= size
    kept = [g for i, g in enumerate(groups) if i in chosen]
    return kept, [g for i, g in enumerate(groups) if i not in chosen]


def _summed(credits: Sequence[Credit], key_of: Callable[[Credit], GroupKey]) -> list[Credit]:
    """Credits summed per key, in order of first appearance (fractions with `math.fsum`)."""
    fractions: dict[GroupKey, list[float]] = {}
    values: dict[GroupKey, int] = {}
    counts: dict[GroupKey, int] = {}
    for credit in credits:
        key = key_of(credit)
        fractions.setdefault(key, []).append(credit.fraction)
        values[key] = values.get(key, 0) + credit.value_micros
        counts[key] = counts.get(key, 0) + credit.touchpoint_count
    return [
        Credit(
            touchpoint_id="",
            channel=key[0],
            source=key[1],
            medium=key[2],
            campaign=key[3],
            fraction=math.fsum(parts),
            value_micros=values[key],
            touchpoint_count=counts[key],
            term=key[4],
            content=key[5],
            device_type=key[6],
            browser=key[7],
            country=key[8],
            landing_page=key[9],
        )
        for key, parts in fractions.items()
    ]


def _fitting(touches: Sequence[JourneyTouch], budget: int) -> list[JourneyTouch]:
    """The longest prefix of `touches` whose text fits `budget`."""
    fitting: list[JourneyTouch] = []
    for touch in touches:
        budget -= _touch_text(touch)
        if budget < 0:
            break
        fitting.append(touch)
    return fitting


def _text(*texts: str) -> int:
    """Bytes the texts take stored: UTF-8 and JSON-escaped (at least their size on the wire)."""
    return sum(len(json.dumps(t, ensure_ascii=False).encode()) for t in texts)


def _touch_text(touch: JourneyTouch) -> int:
    return _text(
        touch.touchpoint_id,
        touch.channel,
        touch.source,
        touch.medium,
        touch.campaign,
        touch.touch_type,
        *_details(touch),
    )


def _credit_text(credit: Credit) -> int:
    return _text(
        credit.touchpoint_id,
        credit.channel,
        credit.source,
        credit.medium,
        credit.campaign,
        *_details(credit),
    )


def _details(item: JourneyTouch | Credit) -> tuple[str, ...]:
    return tuple(details_of(item).values())


def _credits_text(credits: Iterable[Credit]) -> int:
    return sum(_credit_text(c) for c in credits)
