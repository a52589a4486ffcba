"""Rule-based attribution models: exact per-touch weights, one journey at a time or in batch."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # only for annotations, so models.py may import this module
    from services.attribution.models import JourneyTouch

DIRECT_CHANNEL = "direct"
"""The channel that `last_non_direct` skips (the ingest service's `Channel.DIRECT`)."""

_DAY = timedelta(days=1)
_SHARE_TOLERANCE = 1e-9
FloatArray = npt.NDArray[np.float64]


class InvalidModelError(ValueError):
    """A rule model's parameters are out of range or do not apply to its kind."""


class InvalidJourneyError(ValueError):
    """A journey cannot be credited: it is empty, or malformed for the model."""


class RuleKind(StrEnum):
    """The rule-based attribution models."""

    FIRST_TOUCH = "first_touch"
    LAST_TOUCH = "last_touch"
    LAST_NON_DIRECT = "last_non_direct"
    LINEAR = "linear"
    POSITION_BASED = "position_based"
    W_SHAPED = "w_shaped"
    J_SHAPED = "j_shaped"
    INVERSE_J = "inverse_j"
    TIME_DECAY = "time_decay"
    PARTICIPATION = "participation"
    CUSTOM_POSITIONS = "custom_positions"


# Default (first, key, last) shares of the shaped kinds; the key share is W-shaped only.
_DEFAULT_SHARES: dict[RuleKind, tuple[float, float | None, float]] = {
    RuleKind.POSITION_BASED: (0.4, None, 0.4),
    RuleKind.J_SHAPED: (0.2, None, 0.6),
    RuleKind.INVERSE_J: (0.6, None, 0.2),
    RuleKind.W_SHAPED: (0.3, 0.3, 0.3),
}


def _as_share(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidModelError(f"{name} must be a number, got {value!r}")
    share = float(value)
    if not math.isfinite(share) or share < 0:
        raise InvalidModelError(f"{name} must be finite and non-negative, got {value!r}")
    return share


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


@dataclass(frozen=True, slots=True)
class RuleModel:
    """A rule-based attribution model and its parameters.

    Parameters (each applies only to the kinds named; giving it to another kind is an error):

    - ``first_share``, ``last_share``: the first and last touch's shares for
      ``position_based`` (default 0.4/0.4), ``j_shaped`` (0.2/0.6), ``inverse_j`` (0.6/0.2)
      and ``w_shaped`` (0.3/0.3). The rest, ``1 - first - last``, is spread equally over the
      middle touches; ``first + last`` must not exceed 1.
    - ``key_share``: ``w_shaped`` only (default 0.3), the share of the key middle touch
      (lead creation). Journeys carry no lead marker, so the key touch is the middle one,
      index ``(n - 1) // 2`` of ``n`` (the earlier of the two middle touches when ``n`` is
      even). The rest, ``1 - first - key - last`` (default 0.1), is spread over the others.
    - ``half_life_days``: ``time_decay`` (default 7.0, must be > 0): a touch ``age`` days
      before the conversion weighs ``2 ** (-age / half_life_days)``, normalised.
    - ``position_weights``: ``custom_positions`` only, required: a ``(first, middle, last)``
      triple as in Adobe's custom model, non-negative with a positive sum and normalised;
      the middle weight is spread equally over the touches between first and last.

    Shaped journeys shorter than the shape: one touch gets all the credit (true of every
    model); with two touches (U, J, inverse J, W, custom) the first and last shares are
    renormalised (U 50/50, J 25/75, inverse J 75/25, W 50/50) and with three W-shaped
    touches the first, key and last shares are; if the shares present are all zero, the
    credit is split equally.
    """

    kind: RuleKind
    first_share: float | None = None
    key_share: float | None = None
    last_share: float | None = None
    half_life_days: float = 7.0
    position_weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        try:
            kind = RuleKind(self.kind)
        except ValueError:
            raise InvalidModelError(f"unknown rule kind {self.kind!r}") from None
        object.__setattr__(self, "kind", kind)
        self._check_half_life()
        self._resolve_shares(kind)
        self._check_position_weights(kind)

    def _check_half_life(self) -> None:
        half_life = _as_share("half_life_days", self.half_life_days)
        if half_life <= 0:
            raise InvalidModelError(f"half_life_days must be > 0, got {self.half_life_days!r}")
        object.__setattr__(self, "half_life_days", half_life)

    def _resolve_shares(self, kind: RuleKind) -> None:
        defaults = _DEFAULT_SHARES.get(kind)
        if defaults is None:
            given = {"first_share": self.first_share, "key_share": self.key_share}
            given["last_share"] = self.last_share
            extra = [name for name, value in given.items() if value is not None]
            if extra:
                raise InvalidModelError(f"{', '.join(extra)} do(es) not apply to {kind}")
            return
        first_default, key_default, last_default = defaults
        if key_default is None and self.key_share is not None:
            raise InvalidModelError(f"key_share applies to w_shaped only, not {kind}")
        first = _as_share("first_share", _or(self.first_share, first_default))
        last = _as_share("last_share", _or(self.last_share, last_default))
        object.__setattr__(self, "first_share", first)
        object.__setattr__(self, "last_share", last)
        total = first + last
        if key_default is not None:
            key = _as_share("key_share", _or(self.key_share, key_default))
            object.__setattr__(self, "key_share", key)
            total += key
        if total > 1 + _SHARE_TOLERANCE:
            raise InvalidModelError(f"the shares of {kind} sum to {total}, more than 1")

    def _check_position_weights(self, kind: RuleKind) -> None:
        if kind is not RuleKind.CUSTOM_POSITIONS:
            if self.position_weights:
                raise InvalidModelError(f"position_weights apply to custom_positions, not {kind}")
            return
        weights = tuple(self.position_weights)
        if len(weights) != 3:
            raise InvalidModelError(
                f"position_weights must be a (first, middle, last) triple, got {weights!r}"
            )
        checked = tuple(_as_share("position_weights", w) for w in weights)
        if sum(checked) <= 0:
            raise InvalidModelError("position_weights must have a positive sum")
        object.__setattr__(self, "position_weights", checked)

    @property
    def conserves_credit(self) -> bool:
        """Whether every conversion's weights sum to 1 (all models but participation)."""
        return self.kind is not RuleKind.PARTICIPATION

    def _shape(self) -> tuple[float, float, float, float, bool]:
        """(first, key, last, rest, keyed) of a shaped kind; rest is spread over the others."""
        if self.kind is RuleKind.CUSTOM_POSITIONS:
            first, middle, last = self.position_weights
            return first, 0.0, last, middle, False
        first = self.first_share or 0.0
        last = self.last_share or 0.0
        if self.kind is RuleKind.W_SHAPED:
            key = self.key_share or 0.0
            return first, key, last, max(0.0, 1.0 - first - key - last), True
        return first, 0.0, last, max(0.0, 1.0 - first - last), False

    def weights(self, journey: Sequence[JourneyTouch], conversion_at: datetime) -> list[float]:
        """Per-touch credit for one conversion, in journey order (oldest first).

        The caller orders the journey (ties in time included) and drops touches after the
        conversion; time decay rejects them. Weights sum to 1 up to float rounding, except
        under participation, where each distinct channel's touches share 1.0 equally (the
        channel is credited once in full), so the sum is the number of distinct channels.
        An empty journey raises `InvalidJourneyError`: unattributed conversions are the
        caller's to report.
        """
        n = len(journey)
        if n == 0:
            raise InvalidJourneyError("cannot credit an empty journey")
        kind = self.kind
        if kind is RuleKind.TIME_DECAY:
            ages = [(conversion_at - touch.occurred_at) / _DAY for touch in journey]
            return _time_decay(ages, self.half_life_days)
        if n == 1:
            return [1.0]
        if kind is RuleKind.FIRST_TOUCH:
            return [1.0] + [0.0] * (n - 1)
        if kind is RuleKind.LAST_TOUCH:
            return [0.0] * (n - 1) + [1.0]
        if kind is RuleKind.LAST_NON_DIRECT:
            chosen = n - 1
            for index in range(n - 1, -1, -1):
                if journey[index].channel != DIRECT_CHANNEL:
                    chosen = index
                    break
            weights = [0.0] * n
            weights[chosen] = 1.0
            return weights
        if kind is RuleKind.LINEAR:
            return [1.0 / n] * n
        if kind is RuleKind.PARTICIPATION:
            counts = Counter(touch.channel for touch in journey)
            return [1.0 / counts[touch.channel] for touch in journey]
        return _shaped(n, *self._shape())


def _time_decay(ages_days: Sequence[float], half_life_days: float) -> list[float]:
    if any(not math.isfinite(age) or age < 0 for age in ages_days):
        raise InvalidJourneyError("time decay needs touches at or before the conversion")
    youngest = min(ages_days)
    raw = [2.0 ** (-(age - youngest) / half_life_days) for age in ages_days]
    total = math.fsum(raw)
    return [w / total for w in raw]


def _shaped(n: int, first: float, key: float, last: float, rest: float, keyed: bool) -> list[float]:
    """Weights of a shaped journey of n >= 2 touches (see `RuleModel` for the rules)."""
    if n == 2 or (keyed and n == 3):
        named = [first, key, last] if n == 3 else [first, last]
        total = sum(named)
        if total == 0:
            return [1.0 / n] * n
        return [share / total for share in named]
    total = first + key + last + rest
    other = rest / (n - 3 if keyed else n - 2) / total
    weights = [other] * n
    weights[0] = first / total
    if keyed:
        weights[(n - 1) // 2] = key / total
    weights[-1] = last / total
    return weights


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where each touch of a batch sits: its journey, position and journey length."""

    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    journey: npt.NDArray[np.int64]
    position: npt.NDArray[np.int64]
    length: npt.NDArray[np.int64]


def _layout(offsets: npt.ArrayLike, n_touches: int) -> _Layout:
    bounds = np.asarray(offsets)
    if bounds.ndim != 1 or bounds.size < 1 or not np.issubdtype(bounds.dtype, np.integer):
        raise InvalidJourneyError("offsets must be a 1-d integer array of n_journeys + 1")
    bounds = bounds.astype(np.int64, copy=False)
    if bounds[0] != 0 or bounds[-1] != n_touches:
        raise InvalidJourneyError("offsets must start at 0 and end at the number of touches")
    lengths = np.diff(bounds)
    if lengths.size and lengths.min() < 1:
        raise InvalidJourneyError("cannot credit an empty journey")
    starts, ends = bounds[:-1], bounds[1:]
    journey = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    position = np.arange(n_touches, dtype=np.int64) - starts[journey]
    return _Layout(starts, ends, journey, position, lengths[journey])


def batch_weights(
    model: RuleModel,
    offsets: npt.ArrayLike,
    ages_days: npt.ArrayLike,
    is_direct: npt.ArrayLike,
    channel_codes: npt.ArrayLike | None = None,
) -> FloatArray:
    """Per-touch weights of many conversions at once; equal to `RuleModel.weights` on each.

    Journeys are concatenated, oldest touch first: journey ``j`` is touches
    ``offsets[j]:offsets[j + 1]`` of the flat arrays ``ages_days`` (days before its
    conversion), ``is_direct`` (channel is "direct") and ``channel_codes`` (any integer per
    channel, needed by participation only). Returns the flat float64 weights.
    """
    ages = np.asarray(ages_days, dtype=np.float64)
    direct = np.asarray(is_direct, dtype=np.bool_)
    if ages.ndim != 1 or direct.shape != ages.shape:
        raise InvalidJourneyError("ages_days and is_direct must be 1-d arrays of equal length")
    n_touches = ages.size
    layout = _layout(offsets, n_touches)
    kind = model.kind
    if kind is RuleKind.FIRST_TOUCH:
        return np.asarray(layout.position == 0, dtype=np.float64)
    if kind is RuleKind.LAST_TOUCH:
        return np.asarray(layout.position == layout.length - 1, dtype=np.float64)
    if kind is RuleKind.LINEAR:
        return 1.0 / layout.length
    if kind is RuleKind.LAST_NON_DIRECT:
        return _batch_last_non_direct(layout, direct)
    if kind is RuleKind.PARTICIPATION:
        if channel_codes is None:
            raise InvalidJourneyError("participation needs channel_codes")
        return _batch_participation(layout, np.asarray(channel_codes))
    if kind is RuleKind.TIME_DECAY:
        return _batch_time_decay(layout, ages, model.half_life_days)
    return _batch_shaped(layout, *model._shape())


def _batch_last_non_direct(layout: _Layout, direct: npt.NDArray[np.bool_]) -> FloatArray:
    index = np.arange(direct.size, dtype=np.int64)
    latest = np.maximum.accumulate(np.where(direct, -1, index)) if direct.size else index
    candidate = latest[layout.ends - 1]
    chosen = np.where(candidate >= layout.starts, candidate, layout.ends - 1)
    weights = np.zeros(direct.size, dtype=np.float64)
    weights[chosen] = 1.0
    return weights


def _batch_participation(layout: _Layout, codes: npt.NDArray[Any]) -> FloatArray:
    if codes.shape != layout.journey.shape:
        raise InvalidJourneyError("channel_codes must have one code per touch")
    if codes.size == 0:
        return np.zeros(0, dtype=np.float64)
    dense = codes.astype(np.int64, copy=False) if np.issubdtype(codes.dtype, np.integer) else None
    if dense is not None:
        low, high = int(dense.min()), int(dense.max())
    if dense is None or high - low > codes.size:
        _, inverse = np.unique(codes, return_inverse=True)
        dense, low, high = inverse.reshape(-1).astype(np.int64), 0, int(inverse.max())
    n_codes = high - low + 1
    key = layout.journey * n_codes + (dense - low)
    n_keys = layout.starts.size * n_codes
    if n_keys <= 4 * dense.size + 1024:
        counts = np.bincount(key, minlength=n_keys)[key]
    else:
        _, inverse, per_key = np.unique(key, return_inverse=True, return_counts=True)
        counts = per_key[inverse.reshape(-1)]
    return np.asarray(1.0 / counts, dtype=np.float64)


def _batch_time_decay(layout: _Layout, ages: FloatArray, half_life_days: float) -> FloatArray:
    if ages.size and (not np.isfinite(ages).all() or ages.min() < 0):
        raise InvalidJourneyError("time decay needs touches at or before the conversion")
    if ages.size == 0:
        return np.zeros(0, dtype=np.float64)
    youngest = np.minimum.reduceat(ages, layout.starts)
    raw = np.exp2(-(ages - youngest[layout.journey]) / half_life_days)
    totals = np.add.reduceat(raw, layout.starts)
    weights: FloatArray = raw / totals[layout.journey]
    return weights


def _batch_shaped(
    layout: _Layout, first: float, key: float, last: float, rest: float, keyed: bool
) -> FloatArray:
    position, length = layout.position, layout.length
    two = _shaped(2, first, key, last, rest, keyed)
    is_first, is_last = position == 0, position == length - 1
    conditions = [length == 1, (length == 2) & is_first, length == 2]
    choices: list[float | FloatArray] = [1.0, two[0], two[1]]
    if keyed:
        three = _shaped(3, first, key, last, rest, keyed)
        conditions += [(length == 3) & is_first, (length == 3) & is_last, length == 3]
        choices += [three[0], three[2], three[1]]
        long = _shaped(4, first, key, last, rest, keyed)
        total = first + key + last + rest
        conditions += [is_first, is_last, position == (length - 1) // 2]
        choices += [long[0], long[3], long[1]]
        other = rest / np.maximum(length - 3, 1) / total
    else:
        long = _shaped(3, first, key, last, rest, keyed)
        total = first + key + last + rest
        conditions += [is_first, is_last]
        choices += [long[0], long[2]]
        other = rest / np.maximum(length - 2, 1) / total
    weights: FloatArray = np.select(conditions, choices, default=other)
    return weights


@dataclass(frozen=True, slots=True)
class PackedJourneys:
    """Journeys in the flat layout that `batch_weights` takes, with the channel of each code."""

    offsets: npt.NDArray[np.int64]
    ages_days: FloatArray
    is_direct: npt.NDArray[np.bool_]
    channel_codes: npt.NDArray[np.int64]
    channels: tuple[str, ...]

    def weights(self, model: RuleModel) -> FloatArray:
        """The flat weights of every packed journey under `model`."""
        return batch_weights(
            model, self.offsets, self.ages_days, self.is_direct, self.channel_codes
        )


def pack_journeys(conversions: Sequence[tuple[Sequence[JourneyTouch], datetime]]) -> PackedJourneys:
    """Pack (journey, conversion time) pairs for `batch_weights`, ages as `weights` takes them."""
    lengths = [len(journey) for journey, _ in conversions]
    offsets = np.zeros(len(conversions) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    codes: dict[str, int] = {}
    ages: list[float] = []
    channel_codes: list[int] = []
    for journey, conversion_at in conversions:
        for touch in journey:
            ages.append((conversion_at - touch.occurred_at) / _DAY)
            channel_codes.append(codes.setdefault(touch.channel, len(codes)))
    channels = tuple(codes)
    code_array = np.array(channel_codes, dtype=np.int64)
    direct_code = codes.get(DIRECT_CHANNEL, -1)
    return PackedJourneys(
        offsets=offsets,
        ages_days=np.array(ages, dtype=np.float64),
        is_direct=code_array == direct_code,
        channel_codes=code_array,
        channels=channels,
    )


NAMED_RULES: dict[str, RuleModel] = {
    "first_click": RuleModel(RuleKind.FIRST_TOUCH),
    "last_click": RuleModel(RuleKind.LAST_TOUCH),
    "last_non_direct_click": RuleModel(RuleKind.LAST_NON_DIRECT),
    "linear": RuleModel(RuleKind.LINEAR),
    "position_based": RuleModel(RuleKind.POSITION_BASED),
    "w_shaped": RuleModel(RuleKind.W_SHAPED),
    "j_shaped": RuleModel(RuleKind.J_SHAPED),
    "inverse_j": RuleModel(RuleKind.INVERSE_J),
    "time_decay": RuleModel(RuleKind.TIME_DECAY),
    "participation": RuleModel(RuleKind.PARTICIPATION),
}
"""The default named models, by the names users know them."""

__all__ = [
    "DIRECT_CHANNEL",
    "NAMED_RULES",
    "InvalidJourneyError",
    "InvalidModelError",
    "PackedJourneys",
    "RuleKind",
    "RuleModel",
    "batch_weights",
    "pack_journeys",
]
