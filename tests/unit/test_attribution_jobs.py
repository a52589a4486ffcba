"""Configuring models, refitting data-driven models and re-attributing history, in memory."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import NAMESPACE_DNS, UUID, uuid4, uuid5

import pytest

from services.attribution.application import AttributionApplication
from services.attribution.domainmodel import (
    Job,
    ModelFit,
    PersonChanged,
    ProbabilisticLinkSeen,
    ReportingIdentity,
    fit_id,
)
from services.attribution.models import UnknownModelError, named_model
from tests.unit.test_attribution import PROP, T0, Feed, conversion, touch

NOW = datetime.now(UTC).replace(microsecond=0)


def wait_for(app: AttributionApplication, job_id: UUID) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = app.job(job_id)
        if job.state != "running":
            return str(job.state) + (f": {job.error}" if job.error else "")
        time.sleep(0.02)
    raise AssertionError("job did not finish")


def history(feed: Feed) -> None:
    """Twelve buyers reached by email then paid search, and twelve non-buyers reached by
    display only."""
    for n in range(12):
        feed.send(
            "ingest",
            touch(f"e{n}", f"anon:b{n}", NOW - timedelta(days=3), "email"),
            touch(f"s{n}", f"anon:b{n}", NOW - timedelta(days=2), "paid_search"),
            conversion(f"c{n}", f"anon:b{n}", NOW - timedelta(days=1), 10_000_000),
            touch(f"d{n}", f"anon:n{n}", NOW - timedelta(days=2), "display"),
        )


def test_configuring_models_re_attributes_every_past_conversion() -> None:
    feed = Feed()
    history(feed)
    assert feed.credits("c0", "linear") == {"email": 0.5, "paid_search": 0.5}

    job = feed.app.configure_models([named_model("first_click"), named_model("time_decay")])

    assert wait_for(feed.app, job) == "completed"
    assert feed.app.job(job).done == 12
    assert feed.credits("c0", "first_click") == {"email": 1.0}
    assert set(feed.app.latest_attribution(uuid5(NAMESPACE_DNS, "c0")).credits) == {  # type: ignore[attr-defined]
        "first_click",
        "time_decay",
    }


def test_a_refit_records_a_versioned_fit_and_credits_conversions_with_it() -> None:
    feed = Feed()
    history(feed)
    wait_for(
        feed.app, feed.app.configure_models([named_model("last_click"), named_model("markov")])
    )
    assert "markov" not in feed.app.latest_attribution(uuid5(NAMESPACE_DNS, "c0")).credits  # type: ignore[attr-defined]

    assert wait_for(feed.app, feed.app.refit(PROP, "purchase", "markov")) == "completed"

    fits = feed.app.repository.get(fit_id(PROP, "purchase", "markov"))
    assert isinstance(fits, ModelFit)
    assert fits.fit_version == 1
    assert fits.channel_shares == pytest.approx({"email": 0.5, "paid_search": 0.5, "display": 0.0})
    latest = feed.app.latest_attribution(uuid5(NAMESPACE_DNS, "c0"))
    assert latest.model_versions["markov"] == 1  # type: ignore[attr-defined]
    assert feed.credits("c0", "markov") == pytest.approx({"email": 0.5, "paid_search": 0.5})


def test_a_refit_without_conversions_in_the_window_fails_with_the_reason() -> None:
    feed = Feed()
    wait_for(feed.app, feed.app.configure_models([named_model("markov")]))
    assert wait_for(feed.app, feed.app.refit(PROP, "purchase", "markov")).startswith(
        "failed: no 'purchase' conversions"
    )


def test_only_configured_data_driven_models_can_be_refitted() -> None:
    feed = Feed()
    with pytest.raises(UnknownModelError):
        feed.app.refit(PROP, "purchase", "linear")


def test_a_stored_configuration_wins_over_the_initial_one_after_a_restart() -> None:
    feed = Feed()
    wait_for(feed.app, feed.app.configure_models([named_model("first_click")]))
    assert [m.name for m in feed.app.models] == ["first_click"]


def test_the_schedule_refits_every_data_driven_model_for_every_conversion_name() -> None:
    feed = Feed()
    history(feed)
    wait_for(feed.app, feed.app.configure_models([named_model("markov"), named_model("shapley")]))
    feed.app.refit_every(timedelta(milliseconds=50))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        fits = [
            feed.app.repository.get(fit_id(PROP, "purchase", model))
            for model in ("markov", "shapley")
            if fit_id(PROP, "purchase", model)
            in feed.app.stored_ids([fit_id(PROP, "purchase", m) for m in ("markov", "shapley")])
        ]
        if len(fits) == 2 and all(f.fit_version >= 1 for f in fits):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the schedule did not refit both models")
    feed.app.close()


def test_a_job_interrupted_by_a_restart_is_reported_as_failed(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "a.db")}
    first = AttributionApplication(env=env)
    job = first._jobs.start("a long job", lambda report: None)
    deadline = time.monotonic() + 10
    while first.job(job).state == "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    interrupted = Job(id=uuid4(), description="cut short", total=10)
    unit = first.unit_of_work()
    unit.add(interrupted)
    first.save_unit(unit)
    first.close()

    restarted = AttributionApplication(env=env)
    assert restarted.job(job).state == "completed"
    assert restarted.job(interrupted.id).state == "failed"
    assert "interrupted by a restart" in restarted.job(interrupted.id).error
    restarted.close()


def test_the_blended_reporting_identity_joins_journeys_through_probabilistic_links() -> None:
    feed = Feed()
    feed.send(
        "ingest",
        touch("t-laptop", "anon:laptop", T0, "paid_search"),
        touch("t-phone", "anon:phone", T0 + timedelta(hours=1), "email"),
        conversion("c1", "anon:phone", T0 + timedelta(hours=2)),
    )
    feed.send(
        "identity",
        PersonChanged(PROP, str(uuid5(NAMESPACE_DNS, "p1")), ("anon:laptop",)),
        PersonChanged(PROP, str(uuid5(NAMESPACE_DNS, "p2")), ("anon:phone",)),
        ProbabilisticLinkSeen(PROP, "anon:laptop", "anon:phone", accepted=True),
    )
    assert feed.credits("c1", "linear") == {"email": 1.0}

    job = feed.app.choose_reporting_identity(ReportingIdentity.BLENDED)
    assert wait_for(feed.app, job) == "completed"
    assert feed.credits("c1", "linear") == {"paid_search": 0.5, "email": 0.5}

    feed.send("identity", ProbabilisticLinkSeen(PROP, "anon:phone", "anon:laptop", accepted=False))
    assert feed.credits("c1", "linear") == {"email": 1.0}
    feed.send("identity", ProbabilisticLinkSeen(PROP, "anon:phone", "anon:laptop", accepted=True))
    assert feed.credits("c1", "linear") == {"paid_search": 0.5, "email": 0.5}

    job = feed.app.choose_reporting_identity(ReportingIdentity.DETERMINISTIC)
    assert wait_for(feed.app, job) == "completed"
    assert feed.credits("c1", "linear") == {"email": 1.0}


def test_the_reporting_identity_choice_survives_a_restart(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "a.db")}
    first = AttributionApplication(env=env)
    wait_for(first, first.choose_reporting_identity(ReportingIdentity.BLENDED))
    first.close()
    restarted = AttributionApplication(env=env)
    assert restarted.reporting_identity is ReportingIdentity.BLENDED
    restarted.close()
