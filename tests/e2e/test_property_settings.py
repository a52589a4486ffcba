"""End to end through gRPC: attribution settings are per property, with a deployment default."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest

from convtrack.attribution.v1 import attribution_pb2
from convtrack.ingest.v1 import ingest_pb2
from convtrack.reporting.v1 import reporting_pb2
from services.cli import main
from tests.conftest import Storage
from tests.e2e.system import DEADLINE, NOW, System
from tests.e2e.test_attribution_models import finished

SHOP, OUTLET = "shop", "outlet"
DEFAULT = "*"


def journey(property_id: str, who: str) -> list[ingest_pb2.Event]:
    """An email click three days ago, a paid-search click two days ago, a purchase today."""
    identity = ingest_pb2.Identity(anonymous_id=who)

    def at(event_id: str, days: float, **fields: object) -> ingest_pb2.Event:
        stamp = ingest_pb2.Event().timestamp
        stamp.FromDatetime(NOW - timedelta(days=days))
        return ingest_pb2.Event(
            property_id=property_id,
            event_id=f"{who}-{event_id}",
            timestamp=stamp,
            identity=identity,
            **fields,  # type: ignore[arg-type]
        )

    return [
        at(
            "email",
            3,
            touchpoint=ingest_pb2.Touchpoint(
                landing_url="https://shop.example.com/?utm_source=news&utm_medium=email"
            ),
        ),
        at("search", 2, touchpoint=ingest_pb2.Touchpoint(landing_url="https://x.example/?gclid=1")),
        at("buy", 0.5, conversion=ingest_pb2.Conversion(name="purchase")),
    ]


def named(*names: str) -> list[attribution_pb2.ModelConfig]:
    kinds = {
        "last_click": attribution_pb2.MODEL_KIND_LAST_TOUCH,
        "first_click": attribution_pb2.MODEL_KIND_FIRST_TOUCH,
        "linear": attribution_pb2.MODEL_KIND_LINEAR,
    }
    return [attribution_pb2.ModelConfig(name=n, kind=kinds[n]) for n in names]


def configure(system: System, property_id: str, *models: str, **fields: object) -> None:
    job = system.attribution.ConfigureModels(
        attribution_pb2.ConfigureModelsRequest(
            property_id=property_id,
            models=named(*models),
            **fields,  # type: ignore[arg-type]
        ),
        timeout=DEADLINE,
    )
    assert finished(system, job.job_id).state == attribution_pb2.JOB_STATE_COMPLETED


def listed(system: System, property_id: str) -> tuple[list[str], str]:
    found = system.attribution.ListModels(
        attribution_pb2.ListModelsRequest(property_id=property_id), timeout=DEADLINE
    )
    return [m.name for m in found.models], attribution_pb2.SettingSource.Name(found.models_source)


def latest(system: System, conversion_id: str) -> attribution_pb2.ConversionAttributed:
    return system.attribution.GetAttribution(
        attribution_pb2.GetAttributionRequest(conversion_id=conversion_id), timeout=DEADLINE
    ).attribution


def credited(system: System, conversion_id: str) -> dict[str, set[str]]:
    """The channels credited under each model."""
    return {m.model: {c.channel for c in m.credits} for m in latest(system, conversion_id).models}


def report_error(system: System, property_id: str, model: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        system.reporting.GetConversionReport(
            reporting_pb2.GetConversionReportRequest(
                property_id=property_id, model=model, conversion_name="purchase"
            ),
            timeout=DEADLINE,
        )
    return raised.value


def test_each_property_keeps_its_own_settings_and_the_others_follow_the_default(
    storage: Storage,
) -> None:
    system = System(storage)
    try:
        shop_buy = system.track(*journey(SHOP, "ana"))[2]
        outlet_buy = system.track(*journey(OUTLET, "bo"))[2]
        system.sync()
        assert listed(system, OUTLET)[1] == "SETTING_SOURCE_ENVIRONMENT"

        # The default changes every property that did not choose.
        configure(system, DEFAULT, "last_click", "linear")
        assert listed(system, OUTLET) == (["last_click", "linear"], "SETTING_SOURCE_DEFAULT")
        assert set(credited(system, outlet_buy)) == {"last_click", "linear"}
        assert set(credited(system, shop_buy)) == {"last_click", "linear"}

        # The shop chooses its own models and a 2-day click window: only its conversion is
        # re-attributed (the email click three days ago falls out of its journey).
        outlet_revision = latest(system, outlet_buy).revision
        window = attribution_pb2.LookbackSettings()
        window.default_window.clicks.FromTimedelta(timedelta(days=2))
        configure(system, SHOP, "first_click", "last_click", lookbacks=window)
        assert listed(system, SHOP) == (["first_click", "last_click"], "SETTING_SOURCE_PROPERTY")
        assert credited(system, shop_buy) == {
            "first_click": {"paid_search"},
            "last_click": {"paid_search"},
        }
        assert latest(system, outlet_buy).revision == outlet_revision
        assert listed(system, OUTLET) == (["last_click", "linear"], "SETTING_SOURCE_DEFAULT")
        assert credited(system, outlet_buy)["linear"] == {"email", "paid_search"}

        # A later default change reaches the outlet, not the shop.
        shop_revision = latest(system, shop_buy).revision
        configure(system, DEFAULT, "linear")
        assert set(credited(system, outlet_buy)) == {"linear"}
        assert latest(system, shop_buy).revision == shop_revision
        assert listed(system, SHOP)[0] == ["first_click", "last_click"]

        # Reporting knows from attribution's log which models each property has.
        system.sync()
        shop_report = system.reporting.GetConversionReport(
            reporting_pb2.GetConversionReportRequest(
                property_id=SHOP, model="first_click", conversion_name="purchase"
            ),
            timeout=DEADLINE,
        )
        assert {r.group: r.conversions for r in shop_report.rows} == {"paid_search": 1.0}
        refused = report_error(system, OUTLET, "first_click")
        assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "not configured for property 'outlet'" in (refused.details() or "")
        assert "--property outlet" in (refused.details() or "")
        assert "linear" in (refused.details() or "")
        models = system.reporting.ListReportModels(
            reporting_pb2.ListReportModelsRequest(property_id=OUTLET), timeout=DEADLINE
        )
        assert list(models.configured_models) == ["linear"]
    finally:
        system.close()

    restarted = System(storage)
    try:
        assert listed(restarted, SHOP) == (["first_click", "last_click"], "SETTING_SOURCE_PROPERTY")
        assert listed(restarted, OUTLET) == (["linear"], "SETTING_SOURCE_DEFAULT")
        found = restarted.attribution.ListModels(
            attribution_pb2.ListModelsRequest(property_id=SHOP), timeout=DEADLINE
        )
        assert found.lookbacks.default_window.clicks.ToTimedelta() == timedelta(days=2)
        assert found.lookbacks_source == attribution_pb2.SETTING_SOURCE_PROPERTY

        # Following the default again drops the shop's own models and window.
        configure(restarted, SHOP, follow_default=True)
        assert listed(restarted, SHOP) == (["linear"], "SETTING_SOURCE_DEFAULT")
        assert credited(restarted, shop_buy) == {"linear": {"email", "paid_search"}}
    finally:
        restarted.close()


def test_settings_requests_need_a_property_or_the_default(storage: Storage) -> None:
    system = System(storage)
    try:
        for call in (
            lambda: system.attribution.ListModels(
                attribution_pb2.ListModelsRequest(), timeout=DEADLINE
            ),
            lambda: system.attribution.ConfigureModels(
                attribution_pb2.ConfigureModelsRequest(models=named("linear")), timeout=DEADLINE
            ),
            lambda: system.attribution.ConfigureModels(
                attribution_pb2.ConfigureModelsRequest(
                    property_id=SHOP, models=named("linear"), follow_default=True
                ),
                timeout=DEADLINE,
            ),
        ):
            with pytest.raises(grpc.RpcError) as raised:
                call()
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        system.close()


def test_the_command_line_configures_and_shows_a_property_s_settings(
    storage: Storage, capsys: pytest.CaptureFixture[str]
) -> None:
    system = System(storage)
    address = ["--addr", system.addresses.attribution]
    try:
        assert (
            main(
                [
                    "attribution",
                    "configure-models",
                    "--property",
                    SHOP,
                    "--models",
                    "first_click,markov",
                    "--wait",
                    *address,
                ]
            )
            == 0
        )
        assert (
            main(["attribution", "reporting-identity", "--all-properties", "blended", *address])
            == 0
        )
        assert main(["attribution", "models", "--property", SHOP, *address]) == 0
        shown = capsys.readouterr().out
        assert "this property's own choice" in shown and "markov" in shown
        assert "blended (the deployment default (--all-properties))" in shown
        assert listed(system, OUTLET)[1] == "SETTING_SOURCE_ENVIRONMENT"

        assert main(["attribution", "configure-models", "--property", SHOP, *address]) == 2
        assert (
            main(
                [
                    "attribution",
                    "configure-models",
                    "--property",
                    SHOP,
                    "--models",
                    "nope",
                    *address,
                ]
            )
            == 2
        )
    finally:
        system.close()
