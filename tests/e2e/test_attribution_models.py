"""End to end through gRPC: configuring models, refitting Markov, comparing models."""

from __future__ import annotations

import time
from datetime import timedelta

import grpc
import pytest

from convtrack.attribution.v1 import attribution_pb2
from convtrack.ingest.v1 import ingest_pb2
from convtrack.reporting.v1 import reporting_pb2
from tests.e2e.system import DEADLINE, PROPERTY, System, cross_device_journey, event


def finished(system: System, job_id: str) -> attribution_pb2.GetJobResponse:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = system.attribution.GetJob(
            attribution_pb2.GetJobRequest(job_id=job_id), timeout=DEADLINE
        )
        if job.state != attribution_pb2.JOB_STATE_RUNNING:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def more_buyers() -> list[ingest_pb2.Event]:
    """Ten buyers reached by email then paid search, five non-buyers reached by display."""
    events = []
    for n in range(10):
        who = ingest_pb2.Identity(anonymous_id=f"buyer-{n}")
        events += [
            event(
                f"b{n}-email",
                50,
                identity=who,
                touchpoint=ingest_pb2.Touchpoint(
                    landing_url="https://shop.example.com/?utm_source=news&utm_medium=email"
                ),
            ),
            event(
                f"b{n}-search",
                40,
                identity=who,
                touchpoint=ingest_pb2.Touchpoint(landing_url="https://shop.example.com/?gclid=x"),
            ),
            event(f"b{n}-buy", 39, identity=who, conversion=ingest_pb2.Conversion(name="purchase")),
        ]
    for n in range(5):
        events.append(
            event(
                f"n{n}-display",
                30,
                identity=ingest_pb2.Identity(anonymous_id=f"window-shopper-{n}"),
                touchpoint=ingest_pb2.Touchpoint(
                    type=ingest_pb2.TOUCHPOINT_TYPE_IMPRESSION,
                    landing_url="https://shop.example.com/?utm_source=dsp&utm_medium=display",
                ),
            )
        )
    return events


def test_new_models_credit_past_conversions_and_markov_can_be_refitted(system: System) -> None:
    system.track(*cross_device_journey())
    system.track(*more_buyers())
    system.sync()
    listed = system.attribution.ListModels(
        attribution_pb2.ListModelsRequest(property_id=PROPERTY), timeout=DEADLINE
    )
    assert [m.name for m in listed.models] == [
        "first_click",
        "last_click",
        "last_non_direct_click",
        "linear",
        "position_based",
        "w_shaped",
        "j_shaped",
        "inverse_j",
        "time_decay",
        "participation",
    ]

    # Configure first click, time decay (half-life 3 days) and first-order Markov.
    half_life = attribution_pb2.ModelConfig(
        name="time_decay_3d", kind=attribution_pb2.MODEL_KIND_TIME_DECAY
    )
    half_life.half_life.FromTimedelta(timedelta(days=3))
    configured = system.attribution.ConfigureModels(
        attribution_pb2.ConfigureModelsRequest(
            property_id=PROPERTY,
            models=[
                attribution_pb2.ModelConfig(
                    name="last_click", kind=attribution_pb2.MODEL_KIND_LAST_TOUCH
                ),
                attribution_pb2.ModelConfig(
                    name="first_click", kind=attribution_pb2.MODEL_KIND_FIRST_TOUCH
                ),
                half_life,
                attribution_pb2.ModelConfig(name="markov", kind=attribution_pb2.MODEL_KIND_MARKOV),
            ],
        ),
        timeout=DEADLINE,
    )
    job = finished(system, configured.job_id)
    assert job.state == attribution_pb2.JOB_STATE_COMPLETED
    assert job.done == job.total == 11

    refit = system.attribution.RefitModel(
        attribution_pb2.RefitModelRequest(
            property_id=PROPERTY, conversion_name="purchase", model="markov"
        ),
        timeout=DEADLINE,
    )
    assert finished(system, refit.job_id).state == attribution_pb2.JOB_STATE_COMPLETED
    system.sync()
    log = system.attribution.ListEvents(
        attribution_pb2.ListEventsRequest(after=0, limit=1000), timeout=DEADLINE
    )
    (fitted,) = [e.model_fitted for e in log.entries if e.HasField("model_fitted")]
    assert sum(fitted.channel_shares.values()) == pytest.approx(1.0)
    assert sum(fitted.value_shares.values()) == pytest.approx(1.0)

    comparison = system.reporting.CompareModels(
        reporting_pb2.CompareModelsRequest(
            property_id=PROPERTY, models=["first_click", "last_click", "markov"]
        ),
        timeout=DEADLINE,
    )
    table = {row.group: [round(f.conversions, 6) for f in row.figures] for row in comparison.rows}
    assert table["email"][:2] == [10.0, 1.0]
    assert table["paid_search"][:2] == [1.0, 10.0]
    assert sum(figures[2] for figures in table.values()) == pytest.approx(11.0)
    assert table["email"][2] == pytest.approx(table["paid_search"][2])


def test_bad_model_configurations_are_refused_with_the_field(system: System) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        system.attribution.ConfigureModels(
            attribution_pb2.ConfigureModelsRequest(
                property_id=PROPERTY,
                models=[
                    attribution_pb2.ModelConfig(
                        name="u",
                        kind=attribution_pb2.MODEL_KIND_POSITION_BASED,
                        first_share=0.7,
                        last_share=0.7,
                    )
                ],
            ),
            timeout=DEADLINE,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as not_data_driven:
        system.attribution.RefitModel(
            attribution_pb2.RefitModelRequest(
                property_id=PROPERTY, conversion_name="purchase", model="linear"
            ),
            timeout=DEADLINE,
        )
    assert not_data_driven.value.code() == grpc.StatusCode.INVALID_ARGUMENT
