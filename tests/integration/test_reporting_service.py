"""The reporting service over gRPC, following a stand-in attribution log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from common.grpc_errors import bad_request_of
from common.wire import from_money_pb, to_timestamp
from convtrack.attribution.v1 import attribution_pb2
from convtrack.common.v1 import common_pb2
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from tests.conftest import Storage
from tests.integration.helpers_attribution import (
    serving_log,
    serving_reporting,
    wait_for_position,
)

DAY = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def usd(micros: int) -> common_pb2.Money:
    return common_pb2.Money(
        currency_code="USD", units=micros // 1_000_000, nanos=micros % 1_000_000 * 1000
    )


def credit(channel: str, fraction: float, micros: int) -> attribution_pb2.Credit:
    return attribution_pb2.Credit(
        touchpoint_id=f"tp-{channel}",
        channel=channel,
        source=channel,
        fraction=fraction,
        value=usd(micros),
    )


def entry(
    position: int,
    conversion_id: str,
    channels: list[str],
    *,
    name: str = "purchase",
    property_id: str = "shop",
    hours: int = 0,
    revision: int = 1,
) -> attribution_pb2.LogEntry:
    n = len(channels)
    return attribution_pb2.LogEntry(
        position=position,
        conversion_attributed=attribution_pb2.ConversionAttributed(
            property_id=property_id,
            conversion_id=conversion_id,
            event_id=f"evt-{conversion_id}",
            conversion_name=name,
            occurred_at=to_timestamp(DAY + timedelta(hours=hours)),
            reporting_value=usd(20_000_000),
            revision=revision,
            models=[
                attribution_pb2.ModelCredits(
                    model="last_click", credits=[credit(channels[-1], 1.0, 20_000_000)]
                ),
                attribution_pb2.ModelCredits(
                    model="linear",
                    credits=[credit(c, 1 / n, 20_000_000 // n) for c in channels],
                ),
            ],
        ),
    )


@pytest.fixture
def attribution_addr() -> Iterator[str]:
    log = [
        entry(1, "c1", ["email", "paid_search"]),
        attribution_pb2.LogEntry(position=3),
        entry(4, "c2", ["paid_search"], hours=2),
        entry(6, "c3", ["email"], name="sign_up", hours=5),
        entry(7, "c4", ["referral"], property_id="outlet", hours=9),
    ]
    with serving_log(log) as address:
        yield address


@pytest.fixture
def reporting(
    storage: Storage, attribution_addr: str
) -> Iterator[reporting_pb2_grpc.ReportingServiceStub]:
    with (
        serving_reporting(storage, attribution_addr) as address,
        grpc.insecure_channel(address) as channel,
    ):
        yield reporting_pb2_grpc.ReportingServiceStub(channel)


def test_reporting_follows_attribution_and_serves_the_report(
    reporting: reporting_pb2_grpc.ReportingServiceStub,
) -> None:
    wait_for_position(reporting, 7)

    response = reporting.GetConversionReport(
        reporting_pb2.GetConversionReportRequest(
            property_id="shop", model="linear", conversion_name="purchase"
        ),
        timeout=5,
    )

    assert [(r.group, r.conversions, r.share) for r in response.rows] == [
        ("paid_search", 1.5, 0.75),
        ("email", 0.5, 0.25),
    ]
    assert str(from_money_pb(response.rows[0].value)) == "30 USD"
    assert response.total_conversions == 2.0
    assert str(from_money_pb(response.total_value)) == "40 USD"
    assert response.conversion_name == "purchase"
    assert [(u.upstream, u.position) for u in response.freshness.upstream_positions] == [
        ("attribution", 7)
    ]
    assert response.freshness.newest_conversion_time.ToDatetime(tzinfo=UTC) == DAY + timedelta(
        hours=2
    )


def test_a_report_without_property_or_model_is_invalid(
    reporting: reporting_pb2_grpc.ReportingServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        reporting.GetConversionReport(reporting_pb2.GetConversionReportRequest(), timeout=5)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {p.field for p in bad_request_of(raised.value)} == {"property_id", "model"}


def test_a_model_without_credits_is_a_failed_precondition_saying_how_to_enable_it(
    reporting: reporting_pb2_grpc.ReportingServiceStub,
) -> None:
    wait_for_position(reporting, 7)
    for call in (
        lambda: reporting.GetConversionReport(
            reporting_pb2.GetConversionReportRequest(
                property_id="shop", model="first_click", conversion_name="purchase"
            ),
            timeout=5,
        ),
        lambda: reporting.CompareModels(
            reporting_pb2.CompareModelsRequest(
                property_id="shop", models=["linear", "first_click"], conversion_name="purchase"
            ),
            timeout=5,
        ),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            call()

        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "'first_click'" in raised.value.details()
        assert "ConfigureModels" in raised.value.details()
        assert "ATTRIBUTION_MODELS" in raised.value.details()


def test_an_unknown_property_is_not_found_without_naming_other_properties(
    reporting: reporting_pb2_grpc.ReportingServiceStub,
) -> None:
    wait_for_position(reporting, 7)
    for call in (
        lambda: reporting.GetConversionReport(
            reporting_pb2.GetConversionReportRequest(property_id="shopp", model="linear"),
            timeout=5,
        ),
        lambda: reporting.CompareModels(
            reporting_pb2.CompareModelsRequest(property_id="shopp", models=["linear"]),
            timeout=5,
        ),
        lambda: reporting.ListConversionNames(
            reporting_pb2.ListConversionNamesRequest(property_id="shopp"), timeout=5
        ),
        lambda: reporting.ListReportModels(
            reporting_pb2.ListReportModelsRequest(property_id="shopp"), timeout=5
        ),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            call()

        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert "'shopp'" in raised.value.details()
        assert "outlet" not in raised.value.details()
        assert "purchase" not in raised.value.details()


def test_a_report_of_a_property_with_several_conversion_names_must_name_one(
    reporting: reporting_pb2_grpc.ReportingServiceStub,
) -> None:
    wait_for_position(reporting, 7)
    with pytest.raises(grpc.RpcError) as raised:
        reporting.CompareModels(
            reporting_pb2.CompareModelsRequest(property_id="shop", models=["linear"]), timeout=5
        )

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (problem,) = bad_request_of(raised.value)
    assert problem.field == "conversion_name"
    assert "purchase, sign_up" in problem.description


def test_a_property_with_one_conversion_name_is_reported_under_it(
    reporting: reporting_pb2_grpc.ReportingServiceStub,
) -> None:
    wait_for_position(reporting, 7)

    response = reporting.CompareModels(
        reporting_pb2.CompareModelsRequest(property_id="outlet", models=["last_click"]),
        timeout=5,
    )

    assert response.conversion_name == "purchase"
    assert [(r.group, r.figures[0].conversions) for r in response.rows] == [("referral", 1.0)]
    assert response.freshness.newest_conversion_time.ToDatetime(tzinfo=UTC) == DAY + timedelta(
        hours=9
    )


def test_properties_names_dimensions_and_models_can_be_listed(
    reporting: reporting_pb2_grpc.ReportingServiceStub,
) -> None:
    wait_for_position(reporting, 7)

    first = reporting.ListProperties(reporting_pb2.ListPropertiesRequest(page_size=1), timeout=5)
    second = reporting.ListProperties(
        reporting_pb2.ListPropertiesRequest(page_size=1, page_token=first.next_page_token),
        timeout=5,
    )
    names = reporting.ListConversionNames(
        reporting_pb2.ListConversionNamesRequest(property_id="shop"), timeout=5
    )
    dimensions = reporting.ListDimensions(reporting_pb2.ListDimensionsRequest(), timeout=5)
    models = reporting.ListReportModels(
        reporting_pb2.ListReportModelsRequest(property_id="shop", conversion_name="sign_up"),
        timeout=5,
    )

    assert (list(first.property_ids), list(second.property_ids)) == (["outlet"], ["shop"])
    assert first.next_page_token and not second.next_page_token
    assert list(names.conversion_names) == ["purchase", "sign_up"]
    assert [(d.name, d.group_by) for d in dimensions.dimensions] == [
        ("channel", reporting_pb2.GROUP_BY_CHANNEL),
        ("source", reporting_pb2.GROUP_BY_SOURCE),
        ("medium", reporting_pb2.GROUP_BY_MEDIUM),
        ("campaign", reporting_pb2.GROUP_BY_CAMPAIGN),
        ("term", reporting_pb2.GROUP_BY_TERM),
        ("content", reporting_pb2.GROUP_BY_CONTENT),
        ("device_type", reporting_pb2.GROUP_BY_DEVICE_TYPE),
        ("browser", reporting_pb2.GROUP_BY_BROWSER),
        ("country", reporting_pb2.GROUP_BY_COUNTRY),
        ("landing_page", reporting_pb2.GROUP_BY_LANDING_PAGE),
        ("conversion_name", reporting_pb2.GROUP_BY_CONVERSION_NAME),
    ]
    assert list(models.models) == ["last_click", "linear"]


def test_a_reports_later_pages_are_answered_as_of_its_first_page_while_credits_arrive(
    storage: Storage,
) -> None:
    log = [entry(1, "c1", ["email", "paid_search"]), entry(2, "c2", ["paid_search"])]
    with (
        serving_log(log) as attribution_address,
        serving_reporting(storage, attribution_address) as address,
        grpc.insecure_channel(address) as channel,
    ):
        reporting = reporting_pb2_grpc.ReportingServiceStub(channel)
        wait_for_position(reporting, 2)
        request = reporting_pb2.GetConversionReportRequest(
            property_id="shop", model="linear", conversion_name="purchase", page_size=1
        )
        first = reporting.GetConversionReport(request, timeout=5)

        # Between the pages c1 is attributed again (to display) and c5 arrives: live, display
        # now leads and paid_search has dropped to the second row.
        log.append(entry(3, "c1", ["display"], revision=2))
        log.append(entry(4, "c5", ["display"]))
        wait_for_position(reporting, 4)
        request.page_token = first.next_page_token
        second = reporting.GetConversionReport(request, timeout=5)
        request.ClearField("page_token")
        live = reporting.GetConversionReport(request, timeout=5)

    assert [(r.group, r.conversions) for r in first.rows] == [("paid_search", 1.5)]
    assert [(r.group, r.conversions) for r in second.rows] == [("email", 0.5)]
    assert (second.total_conversions, second.total_rows) == (2.0, 2)
    assert not second.next_page_token
    assert [(u.upstream, u.position) for u in second.freshness.upstream_positions] == [
        ("attribution", 2)
    ]
    assert [(r.group, r.conversions) for r in live.rows] == [("display", 2.0)]
    assert (live.total_conversions, live.total_rows) == (3.0, 2)


def test_a_page_token_of_another_listing_is_invalid(
    reporting: reporting_pb2_grpc.ReportingServiceStub,
) -> None:
    wait_for_position(reporting, 7)
    first = reporting.ListProperties(reporting_pb2.ListPropertiesRequest(page_size=1), timeout=5)

    with pytest.raises(grpc.RpcError) as raised:
        reporting.ListConversionNames(
            reporting_pb2.ListConversionNamesRequest(
                property_id="shop", page_token=first.next_page_token
            ),
            timeout=5,
        )

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [p.field for p in bad_request_of(raised.value)] == ["page_token"]
