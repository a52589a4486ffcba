"""Probabilistic identity end to end: ingest pseudonymises IPs, identity matches on them, and the
blended reporting identity joins journeys in attribution."""

from __future__ import annotations

import time
from datetime import timedelta

from bench.identity_synth import START, generate
from common.identifiers import placeholder_reason
from common.wire import to_timestamp
from convtrack.attribution.v1 import attribution_pb2
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2
from convtrack.ingest.v1 import ingest_pb2
from tests.e2e.system import DEADLINE, NOW, PROPERTY, System

SPAN = timedelta(days=85)
SYNTH_SPAN = timedelta(days=90)


def _synthetic_events(persons: int) -> tuple[list[ingest_pb2.Event], list[str]]:
    """The synthetic web observations as page views sent to ingest (CRM records and phone
    numbers have no place in TrackEvents and are left out), and every cookie sent."""
    events: list[ingest_pb2.Event] = []
    cookies: list[str] = []
    for obs in generate(persons, seed=5).observations:
        if obs.source == "crm" or obs.ts is None:
            continue
        fields = {kind: value for kind, _, value in (i.partition(":") for i in obs.identifiers)}
        if all(placeholder_reason(value) for value in fields.values()):
            continue  # ingest rejects an event without a real identifier
        identity = ingest_pb2.Identity(
            anonymous_id=fields.get("anon", ""),
            user_id=fields.get("user", ""),
            email_sha256=fields.get("email", ""),
        )
        if fields.get("anon") and placeholder_reason(fields["anon"]) is None:
            cookies.append(fields["anon"])
        at = NOW - SPAN + (obs.ts - START) * (SPAN / SYNTH_SPAN) - timedelta(days=1)
        events.append(
            ingest_pb2.Event(
                property_id=PROPERTY,
                event_id=obs.obs_id,
                timestamp=to_timestamp(at),
                identity=identity,
                context=ingest_pb2.Context(
                    user_agent=obs.user_agent, ip_address=obs.ip, geo_city=obs.geo_city
                ),
                page_view=ingest_pb2.PageView(url="https://shop.example.com/"),
            )
        )
    return events, sorted(set(cookies))


def _resolve(system: System, cookie: str, identity: int) -> set[tuple[int, str]]:
    response = system.identity.ResolveIdentity(
        identity_pb2.ResolveIdentityRequest(
            property_id=PROPERTY,
            identifier=common_pb2.Identifier(
                type=common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID, value=cookie
            ),
            reporting_identity=identity,  # type: ignore[arg-type]
        ),
        timeout=DEADLINE,
    )
    return {(i.type, i.value) for i in response.identifiers}


def _wait_for_job(system: System, job_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = system.attribution.GetJob(attribution_pb2.GetJobRequest(job_id=job_id))
        if job.state != attribution_pb2.JOB_STATE_RUNNING:
            assert job.state == attribution_pb2.JOB_STATE_COMPLETED, job
            return
        time.sleep(0.1)
    raise AssertionError("the re-attribution job did not finish")


def _channels(system: System, record_id: str) -> set[str]:
    attribution = system.attribution.GetAttribution(
        attribution_pb2.GetAttributionRequest(conversion_id=record_id), timeout=DEADLINE
    ).attribution
    [linear] = [m for m in attribution.models if m.model == "linear"]
    return {c.channel for c in linear.credits}


def test_matching_links_devices_and_the_blended_identity_joins_their_journeys(
    system: System,
) -> None:
    events, cookies = _synthetic_events(150)
    for start in range(0, len(events), 500):
        system.track(*events[start : start + 500])
    system.sync()

    runs = system.identity.RunMatching(
        identity_pb2.RunMatchingRequest(property_id=PROPERTY), timeout=120
    ).runs
    assert [r.property_id for r in runs] == [PROPERTY]
    assert len(events) - 10 <= runs[0].observations <= len(events)
    assert runs[0].candidate_pairs > 0
    assert runs[0].links_accepted > 0

    deterministic = common_pb2.REPORTING_IDENTITY_DETERMINISTIC
    blended = common_pb2.REPORTING_IDENTITY_BLENDED
    joined = None
    for cookie in cookies:
        alone, together = _resolve(system, cookie, deterministic), _resolve(system, cookie, blended)
        assert alone <= together
        anonymous = common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID
        extra = sorted(value for kind, value in together - alone if kind == anonymous)
        if extra:
            joined = (cookie, extra[0])
            break
    assert joined is not None, "matching joined no two anonymous devices of different persons"
    seen_first, converted_on = joined

    click, purchase = system.track(
        ingest_pb2.Event(
            property_id=PROPERTY,
            event_id="blended-click",
            timestamp=to_timestamp(NOW - timedelta(hours=3)),
            identity=ingest_pb2.Identity(anonymous_id=seen_first),
            touchpoint=ingest_pb2.Touchpoint(
                type=ingest_pb2.TOUCHPOINT_TYPE_CLICK,
                landing_url="https://shop.example.com/?gclid=abc",
            ),
        ),
        ingest_pb2.Event(
            property_id=PROPERTY,
            event_id="blended-purchase",
            timestamp=to_timestamp(NOW - timedelta(hours=1)),
            identity=ingest_pb2.Identity(anonymous_id=converted_on),
            conversion=ingest_pb2.Conversion(
                name="purchase", value=common_pb2.Money(currency_code="EUR", units=40)
            ),
        ),
    )
    system.sync()
    assert _channels(system, purchase) == {"(none)"}

    job = system.attribution.SetReportingIdentity(
        attribution_pb2.SetReportingIdentityRequest(
            property_id=PROPERTY, reporting_identity=blended
        ),
        timeout=DEADLINE,
    ).job_id
    _wait_for_job(system, job)
    assert _channels(system, purchase) == {"paid_search"}
    models = system.attribution.ListModels(
        attribution_pb2.ListModelsRequest(property_id=PROPERTY), timeout=DEADLINE
    )
    assert models.reporting_identity == blended
    assert click
