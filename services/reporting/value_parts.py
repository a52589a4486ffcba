"""Values added up exactly in three 21-bit parts, in SQL and in Python alike."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ColumnElement, Integer, func, literal

VALUE_PART_BITS = 21
"""Values are added up in three parts of 21 bits (value = high·2^42 + middle·2^21 + low).

SQLite's SUM of integers fails with "integer overflow" past int64, and ten values near
ingest's limit (10^18 micros each) get there. A part is below 2^21, so its sum stays inside
int64 for up to 2^42 rows, more than any database here can hold; the parts are joined in
Python, exactly, on SQLite and PostgreSQL alike.
"""
VALUE_PART_MASK = (1 << VALUE_PART_BITS) - 1


def value_parts(micros: int) -> tuple[int, int, int]:
    """The high, middle and low parts of a value (see VALUE_PART_BITS)."""
    return (
        micros >> (2 * VALUE_PART_BITS),
        (micros >> VALUE_PART_BITS) & VALUE_PART_MASK,
        micros & VALUE_PART_MASK,
    )


def value_part_sums(micros: ColumnElement[int]) -> list[ColumnElement[int]]:
    """The sums of the high, middle and low parts of `micros`, in SQL."""
    # PostgreSQL shifts a bigint by an integer only.
    high = micros.bitwise_rshift(literal(2 * VALUE_PART_BITS, Integer))
    middle = micros.bitwise_rshift(literal(VALUE_PART_BITS, Integer))
    return [
        func.sum(high),
        func.sum(middle.bitwise_and(VALUE_PART_MASK)),
        func.sum(micros.bitwise_and(VALUE_PART_MASK)),
    ]


def joined_value(high: int | Decimal, middle: int | Decimal, low: int | Decimal) -> int:
    """The exact sum of values from the sums of their parts; SQLite gives ints, PostgreSQL
    exact NUMERIC Decimals."""
    return (int(high) << (2 * VALUE_PART_BITS)) + (int(middle) << VALUE_PART_BITS) + int(low)
