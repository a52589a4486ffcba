"""Objects named by id are fenced by the property the request names: another property's
conversion, job or person is answered exactly like one that does not exist (so a key for
one property learns nothing about another's), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import grpc
import pytest

from convtrack.attribution.v1 import attribution_pb2
from convtrack.identity.v1 import identity_pb2
from tests.integration.conftest import SEED_DEADLINE, SEED_PROPERTY, SharedSystem

OTHER = "rival-property"


def _refusal(call: object, request: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as refused:
        call(request, timeout=SEED_DEADLINE)  # type: ignore[operator]
    return refused.value.code(), refused.value.details() or ""


def test_another_propertys_conversion_is_not_found_like_a_missing_one(
    shared_system: SharedSystem,
) -> None:
    attribution = shared_system.attribution
    known = shared_system.conversion_id
    found = attribution.GetAttribution(
        attribution_pb2.GetAttributionRequest(conversion_id=known, property_id=SEED_PROPERTY),
        timeout=SEED_DEADLINE,
    )
    assert found.attribution.property_id == SEED_PROPERTY
    missing = str(uuid.uuid4())
    other = _refusal(
        attribution.GetAttribution,
        attribution_pb2.GetAttributionRequest(conversion_id=known, property_id=OTHER),
    )
    absent = _refusal(
        attribution.GetAttribution,
        attribution_pb2.GetAttributionRequest(conversion_id=missing, property_id=OTHER),
    )
    assert other[0] is absent[0] is grpc.StatusCode.NOT_FOUND
    assert other[1].replace(known, "ID") == absent[1].replace(missing, "ID")
    assert SEED_PROPERTY not in other[1]


def test_a_job_is_visible_only_under_its_own_property(shared_system: SharedSystem) -> None:
    attribution = shared_system.attribution
    every_property_job = shared_system.job_id
    assert attribution.GetJob(
        attribution_pb2.GetJobRequest(job_id=every_property_job), timeout=SEED_DEADLINE
    ).job_id
    missing = str(uuid.uuid4())
    scoped = _refusal(
        attribution.GetJob,
        attribution_pb2.GetJobRequest(job_id=every_property_job, property_id=SEED_PROPERTY),
    )
    absent = _refusal(
        attribution.GetJob,
        attribution_pb2.GetJobRequest(job_id=missing, property_id=SEED_PROPERTY),
    )
    assert scoped[0] is absent[0] is grpc.StatusCode.NOT_FOUND
    assert scoped[1].replace(every_property_job, "ID") == absent[1].replace(missing, "ID")


def test_another_propertys_person_cannot_be_explained_or_forgotten(
    shared_system: SharedSystem,
) -> None:
    identity = shared_system.identity
    person = shared_system.person_id
    missing = str(uuid.uuid4())
    for call, request_class in (
        (identity.ExplainPerson, identity_pb2.ExplainPersonRequest),
        (identity.ForgetPerson, identity_pb2.ForgetPersonRequest),
    ):
        other = _refusal(call, request_class(property_id=OTHER, person_id=person))
        absent = _refusal(call, request_class(property_id=OTHER, person_id=missing))
        assert other[0] is absent[0] is grpc.StatusCode.NOT_FOUND
        assert other[1].replace(person, "ID") == absent[1].replace(missing, "ID")
        assert SEED_PROPERTY not in other[1]
    explained = identity.ExplainPerson(
        identity_pb2.ExplainPersonRequest(property_id=SEED_PROPERTY, person_id=person),
        timeout=SEED_DEADLINE,
    )
    assert explained.person_id, "the person is still there: the other property's forget failed"
