"""Reporting's audit log: SetPropertySettings calls are recorded in reporting's own audit table,
listed by its ListAuditEvents, and kept when the report views are rebuilt, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services import launcher
from services.reporting.server import ReportingSettings, rebuild_reports
from tests.conftest import Storage

DEADLINE = 20.0


def _env(storage: Storage) -> dict[str, str]:
    env = {"CONVTRACK_DATA_DIR": str(storage.data_dir)}
    if storage.database_url:
        env["CONVTRACK_DATABASE_URL"] = storage.database_url
    return env


@contextmanager
def _reporting(storage: Storage) -> Iterator[reporting_pb2_grpc.ReportingServiceStub]:
    """Reporting alone (its upstreams unreachable: nothing here needs them)."""
    service = launcher.start_one(
        "reporting",
        _env(storage),
        {"listen": "127.0.0.1:0", "attribution_addr": "127.0.0.1:1", "ingest_addr": ""},
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield reporting_pb2_grpc.ReportingServiceStub(channel)
    finally:
        service.stop()


def _listed(stub: reporting_pb2_grpc.ReportingServiceStub, property_id: str = "") -> list[str]:
    page = stub.ListAuditEvents(
        reporting_pb2.ListAuditEventsRequest(property_id=property_id), timeout=DEADLINE
    )
    return [f"{e.rpc} {e.property_id} {e.caller} {e.outcome}" for e in page.events]


def test_property_settings_changes_are_audited_and_kept_by_a_rebuild(storage: Storage) -> None:
    with _reporting(storage) as reporting:
        reporting.SetPropertySettings(
            reporting_pb2.SetPropertySettingsRequest(
                property_id="shop",
                settings=reporting_pb2.PropertySettings(time_zone="Europe/Berlin"),
            ),
            timeout=DEADLINE,
        )
        try:
            reporting.SetPropertySettings(
                reporting_pb2.SetPropertySettingsRequest(
                    property_id="outlet",
                    settings=reporting_pb2.PropertySettings(time_zone="Mars/Olympus"),
                ),
                timeout=DEADLINE,
            )
        except grpc.RpcError as error:
            assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        # Reads are not audited.
        reporting.GetPropertySettings(
            reporting_pb2.GetPropertySettingsRequest(property_id="shop"), timeout=DEADLINE
        )
        expected = [
            "SetPropertySettings shop local OK",
            "SetPropertySettings outlet local INVALID_ARGUMENT",
        ]
        assert _listed(reporting) == expected
        assert _listed(reporting, "shop") == expected[:1]

    rebuild_reports(ReportingSettings.from_env(_env(storage)))

    with _reporting(storage) as reporting:
        assert _listed(reporting) == expected
        summary = reporting.ListAuditEvents(
            reporting_pb2.ListAuditEventsRequest(property_id="shop"), timeout=DEADLINE
        ).events[0]
        assert "Europe/Berlin" not in summary.request_summary
