"""Configuring models, refitting data-driven models and re-attributing history, in memory."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import NAMESPACE_DNS, UUID, uuid4, uuid5

import pytest
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from common.follower import UpstreamEntry
from common.storage import database_for
from services.attribution.application import (
    SETTINGS_REFRESH_SECONDS,
    AttributionApplication,
    UnknownJobError,
)
from services.attribution.domainmodel import (
    CONFIGURATION_ID,
    Job,
    ModelConfiguration,
    ModelFit,
    PersonChanged,
    ProbabilisticLinkSeen,
    ReportingIdentity,
    fit_id,
)
from services.attribution.models import UnknownModelError, named_model
from services.attribution.settings import SettingSource
from tests.conftest import Storage
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

    job = feed.app.configure_models(PROP, [named_model("first_click"), named_model("time_decay")])

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
        feed.app,
        feed.app.configure_models(PROP, [named_model("last_click"), named_model("markov")]),
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


def valued_history(feed: Feed) -> None:
    """Eighteen people reached by email: six then buy through paid search for 90, six through
    display for 10, and six do not buy."""
    for n in range(6):
        for person, channel, value_micros in (
            (f"p{n}", "paid_search", 90_000_000),
            (f"d{n}", "display", 10_000_000),
            (f"x{n}", "", 0),
        ):
            feed.send(
                "ingest", touch(f"e-{person}", f"anon:{person}", NOW - timedelta(days=3), "email")
            )
            if channel:
                feed.send(
                    "ingest",
                    touch(f"t-{person}", f"anon:{person}", NOW - timedelta(days=2), channel),
                    conversion(
                        f"c-{person}", f"anon:{person}", NOW - timedelta(days=1), value_micros
                    ),
                )


def value_micros_of(feed: Feed, conversion_name: str, model: str) -> dict[str, int]:
    latest = feed.app.latest_attribution(uuid5(NAMESPACE_DNS, conversion_name))
    result: dict[str, int] = {}
    for c in latest.credits[model]:  # type: ignore[attr-defined]
        result[c["channel"]] = result.get(c["channel"], 0) + c["value_micros"]
    return result


@pytest.mark.parametrize("model", ["markov", "shapley"])
def test_a_fit_credits_value_by_value_shares_and_conversions_by_conversion_shares(
    model: str,
) -> None:
    # Markov conversion removal effects: email 1, paid search 1/2, display 1/2 (shares 1/2, 1/4,
    # 1/4). Value: E[value] = 90/3 + 10/3; without paid search 10/3 (effect 0.9), without
    # display 30 (effect 0.1): value shares 1/2, 0.45, 0.05. A 90 purchase through email and
    # paid search splits its value 0.5 : 0.45 (10/19 and 9/19), not by its conversion
    # fractions 2/3 : 1/3; a 10 purchase through display 0.5 : 0.05 (10/11 and 1/11).
    # Shapley (each path's conversions and value split over its channels) gives the same
    # shares here: conversions 6, 3, 3 and value 300, 270, 30.
    feed = Feed()
    valued_history(feed)
    wait_for(feed.app, feed.app.configure_models(PROP, [named_model(model)]))

    assert wait_for(feed.app, feed.app.refit(PROP, "purchase", model)) == "completed"

    assert value_micros_of(feed, "c-p0", model) == {
        "email": 47_368_421,
        "paid_search": 42_631_579,
    }
    assert value_micros_of(feed, "c-d0", model) == {"email": 9_090_909, "display": 909_091}
    assert feed.credits("c-p0", model) == pytest.approx({"email": 2 / 3, "paid_search": 1 / 3})
    fits = feed.app.repository.get(fit_id(PROP, "purchase", model))
    assert isinstance(fits, ModelFit)
    assert fits.channel_shares == pytest.approx(
        {"email": 0.5, "paid_search": 0.25, "display": 0.25}
    )
    assert fits.value_shares == pytest.approx({"email": 0.5, "paid_search": 0.45, "display": 0.05})


def test_a_fit_stored_before_value_shares_replays_and_splits_value_like_conversions(
    storage: Storage,
) -> None:
    database = database_for("attribution", storage.database_url, storage.data_dir)
    database.ensure_schema()
    env = database.eventsourcing_env()
    first = AttributionApplication(models=[named_model("markov")], env=env)
    fits = ModelFit(
        id=fit_id(PROP, "purchase", "markov"),
        property_id=PROP,
        conversion_name="purchase",
        model="markov",
    )
    fits.record_fit(
        window_start=NOW - timedelta(days=90),
        window_end=NOW,
        converting_paths=12,
        null_paths=6,
        channel_shares={"email": 0.75, "paid_search": 0.25},
        value_shares={"email": 0.0, "paid_search": 1.0},
    )
    created, fitted = fits.collect_events()
    first.recorder.insert_events(
        [first.mapper.to_stored_event(created), stored_as_version_1(first, fitted)]
    )
    first.close()

    restarted = AttributionApplication(models=[named_model("markov")], env=env)
    restarted.process_page(
        "ingest",
        [
            UpstreamEntry(1, touch("e", "anon:a", NOW - timedelta(days=2), "email")),
            UpstreamEntry(2, touch("s", "anon:a", NOW - timedelta(days=1), "paid_search")),
            UpstreamEntry(3, conversion("c", "anon:a", NOW, 10_000_000)),
        ],
    )

    loaded = restarted.repository.get(fit_id(PROP, "purchase", "markov"))
    assert isinstance(loaded, ModelFit)
    assert loaded.fit_version == 1
    assert loaded.value_shares == {"email": 0.75, "paid_search": 0.25}
    latest = restarted.latest_attribution(uuid5(NAMESPACE_DNS, "c"))
    assert latest.model_versions == {"markov": 1}  # type: ignore[attr-defined]
    assert {c["channel"]: c["value_micros"] for c in latest.credits["markov"]} == {  # type: ignore[attr-defined]
        "email": 7_500_000,
        "paid_search": 2_500_000,
    }
    restarted.close()


def stored_as_version_1(app: AttributionApplication, fitted: DomainEvent) -> StoredEvent:
    """`fitted` as the code before value shares stored it: no class version, no value shares."""
    state = {
        k: v
        for k, v in vars(fitted).items()
        if k not in ("originator_id", "originator_version", "value_shares")
    }
    encoded = app.mapper.transcoder.encode(state)
    if app.mapper.compressor:
        encoded = app.mapper.compressor.compress(encoded)
    if app.mapper.cipher:
        encoded = app.mapper.cipher.encrypt(encoded)
    return StoredEvent(
        originator_id=fitted.originator_id,
        originator_version=fitted.originator_version,
        topic=get_topic(type(fitted)),
        state=encoded,
    )


def test_a_refit_without_conversions_in_the_window_fails_with_the_reason() -> None:
    feed = Feed()
    wait_for(feed.app, feed.app.configure_models(PROP, [named_model("markov")]))
    assert wait_for(feed.app, feed.app.refit(PROP, "purchase", "markov")).startswith(
        "failed: no 'purchase' conversions"
    )


def test_only_configured_data_driven_models_can_be_refitted() -> None:
    feed = Feed()
    with pytest.raises(UnknownModelError):
        feed.app.refit(PROP, "purchase", "linear")


def test_a_stored_configuration_wins_over_the_initial_one_after_a_restart() -> None:
    feed = Feed()
    wait_for(feed.app, feed.app.configure_models(PROP, [named_model("first_click")]))
    assert [m.name for m in feed.app.settings(PROP).settings.models] == ["first_click"]


def test_the_schedule_refits_every_data_driven_model_for_every_conversion_name() -> None:
    feed = Feed()
    history(feed)
    wait_for(
        feed.app, feed.app.configure_models(PROP, [named_model("markov"), named_model("shapley")])
    )
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

    job = feed.app.choose_reporting_identity(PROP, ReportingIdentity.BLENDED)
    assert wait_for(feed.app, job) == "completed"
    assert feed.credits("c1", "linear") == {"paid_search": 0.5, "email": 0.5}

    feed.send("identity", ProbabilisticLinkSeen(PROP, "anon:phone", "anon:laptop", accepted=False))
    assert feed.credits("c1", "linear") == {"email": 1.0}
    feed.send("identity", ProbabilisticLinkSeen(PROP, "anon:phone", "anon:laptop", accepted=True))
    assert feed.credits("c1", "linear") == {"paid_search": 0.5, "email": 0.5}

    job = feed.app.choose_reporting_identity(PROP, ReportingIdentity.DETERMINISTIC)
    assert wait_for(feed.app, job) == "completed"
    assert feed.credits("c1", "linear") == {"email": 1.0}


def test_the_reporting_identity_choice_survives_a_restart(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "a.db")}
    first = AttributionApplication(env=env)
    wait_for(first, first.choose_reporting_identity(PROP, ReportingIdentity.BLENDED))
    first.close()
    restarted = AttributionApplication(env=env)
    assert restarted.settings(PROP).settings.reporting_identity is ReportingIdentity.BLENDED
    restarted.close()


def test_a_restart_with_the_same_environment_records_no_settings_change(tmp_path: Path) -> None:
    """The environment's settings go into attribution's log when they change, not at every
    start (each entry would be a settings revision in reporting)."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "a.db")}
    models = [named_model("first_click"), named_model("position_based"), named_model("markov")]
    first = AttributionApplication(models=models, env=env)
    head = first.recorder.max_notification_id()
    first.close()
    again = AttributionApplication(models=models, env=env)
    assert again.recorder.max_notification_id() == head
    again.close()
    changed = AttributionApplication(models=models[:1], env=env)
    assert changed.recorder.max_notification_id() == (head or 0) + 1
    changed.close()


def test_a_refit_job_belongs_to_its_property_and_is_unknown_under_another() -> None:
    feed = Feed()
    reattribution = feed.app.configure_models("*", [named_model("markov")])
    wait_for(feed.app, reattribution)
    own = feed.app.configure_models(PROP, [named_model("markov")])
    wait_for(feed.app, own)
    refit = feed.app.refit(PROP, "purchase", "markov")
    wait_for(feed.app, refit)
    assert feed.app.job(refit, PROP).property_id == PROP
    assert feed.app.job(refit).property_id == PROP
    assert feed.app.job(own, PROP).property_id == PROP
    for job_id, property_id in ((refit, "another"), (own, "another"), (reattribution, PROP)):
        with pytest.raises(UnknownJobError, match=f"^no job {job_id}$"):
            feed.app.job(job_id, property_id)
    assert feed.app.job(reattribution).property_id == ""


def test_a_job_stored_before_jobs_had_a_property_is_of_every_property() -> None:
    started = Job(id=uuid4(), description="old", total=0, property_id="p").collect_events()[0]
    del started.__dict__["property_id"]
    assert started.mutate(None).property_id == ""


def other_property_journey(feed: Feed) -> None:
    """In property "outlet": a paid-search click on a laptop, an email click on a phone, a
    purchase on the phone; identity links laptop and phone probabilistically only."""
    laptop = replace(touch("o-laptop", "anon:o-laptop", T0, "paid_search"), property_id="outlet")
    phone = replace(
        touch("o-phone", "anon:o-phone", T0 + timedelta(hours=1), "email"), property_id="outlet"
    )
    bought = replace(
        conversion("o-c1", "anon:o-phone", T0 + timedelta(hours=2)), property_id="outlet"
    )
    feed.send("ingest", laptop, phone, bought)
    feed.send(
        "identity",
        ProbabilisticLinkSeen("outlet", "anon:o-laptop", "anon:o-phone", accepted=True),
    )


def test_a_reporting_identity_chosen_for_one_property_leaves_the_others_alone() -> None:
    feed = Feed()
    feed.send(
        "ingest",
        touch("t-laptop", "anon:laptop", T0, "paid_search"),
        touch("t-phone", "anon:phone", T0 + timedelta(hours=1), "email"),
        conversion("c1", "anon:phone", T0 + timedelta(hours=2)),
    )
    feed.send("identity", ProbabilisticLinkSeen(PROP, "anon:laptop", "anon:phone", accepted=True))
    other_property_journey(feed)
    outlet_revision = feed.revision("o-c1")

    job = feed.app.choose_reporting_identity(PROP, ReportingIdentity.BLENDED)
    assert wait_for(feed.app, job) == "completed"

    assert feed.credits("c1", "linear") == {"paid_search": 0.5, "email": 0.5}
    assert feed.credits("o-c1", "linear") == {"email": 1.0}
    assert feed.revision("o-c1") == outlet_revision
    assert feed.app.settings("outlet").reporting_identity_source is SettingSource.ENVIRONMENT

    # The default's choice reaches the outlet, which did not choose; the shop keeps its own.
    wait_for(feed.app, feed.app.choose_reporting_identity("*", ReportingIdentity.BLENDED))
    assert feed.credits("o-c1", "linear") == {"paid_search": 0.5, "email": 0.5}
    wait_for(feed.app, feed.app.choose_reporting_identity("*", ReportingIdentity.DETERMINISTIC))
    assert feed.credits("o-c1", "linear") == {"email": 1.0}
    assert feed.credits("c1", "linear") == {"paid_search": 0.5, "email": 0.5}


def test_the_deployment_wide_configuration_stored_before_becomes_the_default(
    tmp_path: Path,
) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "a.db")}
    first = AttributionApplication(env=env)
    unit = first.unit_of_work()
    unit.add(ModelConfiguration(id=CONFIGURATION_ID, models=[named_model("markov").to_dict()]))
    first.save_unit(unit)
    first.close()

    restarted = AttributionApplication(env=env)
    applied = restarted.settings("any-property")
    assert [m.name for m in applied.settings.models] == ["markov"]
    assert applied.models_source is SettingSource.DEFAULT
    restarted.close()


def test_settings_stored_by_another_replica_apply_to_the_next_page(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "a.db")}
    leader, other = AttributionApplication(env=env), AttributionApplication(env=env)
    other.configure_models(PROP, [named_model("first_click")])
    other.close()
    time.sleep(SETTINGS_REFRESH_SECONDS)

    leader.process_page(
        "ingest",
        [
            UpstreamEntry(1, touch("t1", "anon:a", T0, "email")),
            UpstreamEntry(2, touch("t2", "anon:a", T0 + timedelta(hours=1), "paid_search")),
            UpstreamEntry(3, conversion("c1", "anon:a", T0 + timedelta(hours=2))),
        ],
    )
    credits = leader.latest_attribution(uuid5(NAMESPACE_DNS, "c1")).credits  # type: ignore[attr-defined]
    assert set(credits) == {"first_click"}
    leader.close()
