"""Every RPC checks its fields at the edge: a bad field is answered INVALID_ARGUMENT with a
BadRequest naming it, never UNKNOWN, and changes nothing. One case per kind of check, on
SQLite and PostgreSQL (the fuzzer in test_fuzz_rpcs.py covers the rest at random)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from common.grpc_errors import bad_request_of
from convtrack.attribution.v1 import attribution_pb2
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2
from convtrack.ingest.v1 import ingest_pb2
from convtrack.reporting.v1 import reporting_pb2
from tests.integration.conftest import SEED_PROPERTY, SharedSystem

pytestmark = pytest.mark.xdist_group("request_validation")  # one shared system per backend
DEADLINE = 10.0
HUGE = 2**62
Ask = Callable[[SharedSystem], object]


def _report(**fields: object) -> Ask:
    request = reporting_pb2.GetConversionReportRequest(
        property_id=SEED_PROPERTY,
        model="linear",
        **fields,  # type: ignore[arg-type]
    )
    return lambda s: s.reporting.GetConversionReport(request, timeout=DEADLINE)


def _configure_models(*models: attribution_pb2.ModelConfig) -> Ask:
    request = attribution_pb2.ConfigureModelsRequest(property_id=SEED_PROPERTY, models=models)
    return lambda s: s.attribution.ConfigureModels(request, timeout=DEADLINE)


def _configure_rules(**rules: object) -> Ask:
    fields: dict[str, object] = {
        "kinds": [identity_pb2.KindRule(kind=common_pb2.IDENTIFIER_TYPE_USER_ID, priority=1)],
        "max_persons_per_identifier": 3,
        "fanout_window": duration_pb2.Duration(seconds=86_400),
    }
    request = identity_pb2.ConfigureRulesRequest(
        property_id=SEED_PROPERTY,
        rules=identity_pb2.ResolutionRules(**(fields | rules)),  # type: ignore[arg-type]
    )
    return lambda s: s.identity.ConfigureRules(request, timeout=DEADLINE)


def _reveal(identifier_type: int) -> Ask:
    request = ingest_pb2.RevealIdentifiersRequest(
        property_id=SEED_PROPERTY,
        pseudonyms=[common_pb2.Identifier(type=identifier_type, value="anon:0a1b")],  # type: ignore[arg-type]
    )
    return lambda s: s.ingest.RevealIdentifiers(request, timeout=DEADLINE)


CASES: list[tuple[str, Ask, list[str], str]] = [
    (
        "report_start_nanos_out_of_range",
        _report(start_time=timestamp_pb2.Timestamp(seconds=0, nanos=-1)),
        ["start_time"],
        "nanos -1",
    ),
    (
        "report_end_seconds_out_of_range",
        _report(end_time=timestamp_pb2.Timestamp(seconds=HUGE)),
        ["end_time"],
        "outside the representable range",
    ),
    ("report_unknown_group_by", _report(group_by=99), ["group_by"], "not 99"),
    (
        "report_conversion_name_with_a_newline",
        _report(conversion_name="purchase\nx"),
        ["conversion_name"],
        "lower-case",
    ),
    (
        "compare_the_same_model_twice",
        lambda s: s.reporting.CompareModels(
            reporting_pb2.CompareModelsRequest(
                property_id=SEED_PROPERTY, models=["linear", "linear"]
            ),
            timeout=DEADLINE,
        ),
        ["models"],
        "at most once",
    ),
    ("reveal_an_unknown_identifier_type", _reveal(99), ["pseudonyms[0].type"], "not 99"),
    (
        "reveal_a_plain_email",
        _reveal(common_pb2.IDENTIFIER_TYPE_EMAIL),
        ["pseudonyms[0].type"],
        "not 4",
    ),
    (
        "pseudonymise_a_hashed_email_that_is_not_hex",
        lambda s: s.ingest.PseudonymiseIdentifiers(
            ingest_pb2.PseudonymiseIdentifiersRequest(
                property_id=SEED_PROPERTY,
                identifiers=[
                    common_pb2.Identifier(
                        type=common_pb2.IDENTIFIER_TYPE_EMAIL_SHA256, value="not-a-hash"
                    )
                ],
            ),
            timeout=DEADLINE,
        ),
        ["identifiers[0].value"],
        "64 hexadecimal digits",
    ),
    (
        "track_with_sent_at_nanos_out_of_range",
        lambda s: s.ingest.TrackEvents(
            ingest_pb2.TrackEventsRequest(sent_at=timestamp_pb2.Timestamp(seconds=1, nanos=10**9)),
            timeout=DEADLINE,
        ),
        ["sent_at"],
        "nanos",
    ),
    (
        "model_half_life_of_2_62_seconds",
        _configure_models(
            attribution_pb2.ModelConfig(
                name="decay",
                kind=attribution_pb2.MODEL_KIND_TIME_DECAY,
                half_life=duration_pb2.Duration(seconds=HUGE),
            )
        ),
        ["models[0].half_life"],
        "outside the range",
    ),
    (
        "model_training_window_of_2_62_seconds",
        _configure_models(
            attribution_pb2.ModelConfig(name="linear", kind=attribution_pb2.MODEL_KIND_LINEAR),
            attribution_pb2.ModelConfig(
                name="markov",
                kind=attribution_pb2.MODEL_KIND_MARKOV,
                training_window=duration_pb2.Duration(seconds=HUGE),
            ),
        ),
        ["models[1].training_window"],
        "outside the range",
    ),
    (
        "model_of_an_unknown_kind",
        _configure_models(attribution_pb2.ModelConfig(name="odd", kind=99)),  # type: ignore[arg-type]
        ["models[0].kind"],
        "not 99",
    ),
    (
        "model_share_not_a_number",
        _configure_models(
            attribution_pb2.ModelConfig(
                name="u",
                kind=attribution_pb2.MODEL_KIND_POSITION_BASED,
                first_share=float("nan"),
            )
        ),
        ["models[0].first_share"],
        "between 0 and 1",
    ),
    (
        "markov_order_of_2_32_minus_1",
        _configure_models(
            attribution_pb2.ModelConfig(
                name="markov", kind=attribution_pb2.MODEL_KIND_MARKOV, markov_order=2**32 - 1
            )
        ),
        ["models[0].markov_order"],
        "between 0 and 4",
    ),
    (
        "refit_with_names_that_cannot_exist",
        lambda s: s.attribution.RefitModel(
            attribution_pb2.RefitModelRequest(
                property_id="shop/1", conversion_name="Purchase", model="markov;"
            ),
            timeout=DEADLINE,
        ),
        ["property_id", "conversion_name", "model"],
        "",
    ),
    (
        "reporting_identity_of_99",
        lambda s: s.attribution.SetReportingIdentity(
            attribution_pb2.SetReportingIdentityRequest(
                property_id=SEED_PROPERTY,
                reporting_identity=99,  # type: ignore[arg-type]
            ),
            timeout=DEADLINE,
        ),
        ["reporting_identity"],
        "not 99",
    ),
    (
        "rules_fanout_window_of_2_62_seconds",
        _configure_rules(fanout_window=duration_pb2.Duration(seconds=HUGE)),
        ["rules.fanout_window"],
        "outside the range",
    ),
    (
        "rules_for_an_unknown_identifier_type",
        _configure_rules(kinds=[identity_pb2.KindRule(kind=99, priority=1)]),  # type: ignore[arg-type]
        ["rules.kinds[0].kind"],
        "not 99",
    ),
    (
        "resolve_with_an_unknown_reporting_identity",
        lambda s: s.identity.ResolveIdentity(
            identity_pb2.ResolveIdentityRequest(
                property_id=SEED_PROPERTY,
                identifier=common_pb2.Identifier(
                    type=common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID, value="phone-cookie"
                ),
                reporting_identity=7,  # type: ignore[arg-type]
            ),
            timeout=DEADLINE,
        ),
        ["reporting_identity"],
        "not 7",
    ),
    (
        "explain_a_person_id_that_is_not_a_uuid",
        lambda s: s.identity.ExplainPerson(
            identity_pb2.ExplainPersonRequest(property_id=SEED_PROPERTY, person_id="nobody"),
            timeout=DEADLINE,
        ),
        ["person_id"],
        "a person id (a UUID)",
    ),
    (
        "forget_with_a_note_over_1000_characters",
        lambda s: s.identity.ForgetPerson(
            identity_pb2.ForgetPersonRequest(
                property_id=SEED_PROPERTY, person_id=str(uuid4()), note="x" * 1001
            ),
            timeout=DEADLINE,
        ),
        ["note"],
        "longer than 1000 characters",
    ),
    (
        "rules_of_a_property_id_with_a_slash",
        lambda s: s.identity.GetRules(
            identity_pb2.GetRulesRequest(property_id="shop/1"), timeout=DEADLINE
        ),
        ["property_id"],
        "letters, digits",
    ),
]


@pytest.mark.parametrize(
    ("ask", "fields", "reason"),
    [pytest.param(ask, fields, reason, id=name) for name, ask, fields, reason in CASES],
)
def test_a_bad_field_is_refused_with_invalid_argument_naming_it(
    shared_system: SharedSystem, ask: Ask, fields: list[str], reason: str
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        ask(shared_system)
    error = refused.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    problems = bad_request_of(error)
    assert [p.field for p in problems] == fields
    assert reason in problems[0].description


def test_models_stay_as_they_were_after_a_refused_configuration(
    shared_system: SharedSystem,
) -> None:
    before = shared_system.attribution.ListModels(
        attribution_pb2.ListModelsRequest(property_id=SEED_PROPERTY), timeout=DEADLINE
    )
    with pytest.raises(grpc.RpcError):
        _configure_models(
            attribution_pb2.ModelConfig(name="linear", kind=attribution_pb2.MODEL_KIND_LINEAR),
            attribution_pb2.ModelConfig(
                name="decay",
                kind=attribution_pb2.MODEL_KIND_TIME_DECAY,
                half_life=duration_pb2.Duration(seconds=-1),
            ),
        )(shared_system)
    after = shared_system.attribution.ListModels(
        attribution_pb2.ListModelsRequest(property_id=SEED_PROPERTY), timeout=DEADLINE
    )
    assert after == before


def test_asking_for_a_job_by_a_conversion_id_is_not_found(shared_system: SharedSystem) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        shared_system.attribution.GetJob(
            attribution_pb2.GetJobRequest(job_id=shared_system.conversion_id), timeout=DEADLINE
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
