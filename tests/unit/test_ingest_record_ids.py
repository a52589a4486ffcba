"""Ingest's record ids are the UUIDv5 of (property, key) in the record namespace."""

from __future__ import annotations

import pickle
from uuid import RFC_4122, UUID, uuid5

from hypothesis import given
from hypothesis import strategies as st

from services.ingest.domainmodel import RECORD_NAMESPACE, conversion_record_id, record_id


@given(property_id=st.text(max_size=40), key=st.text(max_size=200))
def test_record_id_is_uuid5_of_property_and_key(property_id: str, key: str) -> None:
    made, expected = record_id(property_id, key), uuid5(RECORD_NAMESPACE, f"{property_id}\x1f{key}")
    assert made == expected
    assert type(made) is UUID
    assert (made.version, made.variant, made.is_safe) == (5, RFC_4122, expected.is_safe)
    assert hash(made) == hash(expected)
    assert pickle.loads(pickle.dumps(made)) == expected


def test_record_id_is_version_5_and_stable() -> None:
    made = record_id("demo-shop", "evt-0000001")
    assert made.version == 5
    assert str(made) == str(uuid5(RECORD_NAMESPACE, "demo-shop\x1fevt-0000001"))


def test_conversion_with_order_id_is_keyed_by_name_and_order() -> None:
    by_order = conversion_record_id("p", "evt-1", "purchase", "o-1")
    assert by_order == uuid5(RECORD_NAMESPACE, "p\x1forder\x1fpurchase\x1fo-1")
    assert conversion_record_id("p", "evt-2", "purchase", "o-1") == by_order
    assert conversion_record_id("p", "evt-1", "purchase", "") == record_id("p", "evt-1")
