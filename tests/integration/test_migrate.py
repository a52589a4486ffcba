"""`convtrack migrate` creates every table once; services started without DDL then work."""

from __future__ import annotations

import pytest

from common.eventlog import MissingTablesError
from convtrack.attribution.v1 import attribution_pb2
from convtrack.identity.v1 import identity_pb2
from convtrack.ingest.v1 import ingest_pb2
from convtrack.reporting.v1 import reporting_pb2
from services import launcher
from services.cli import main
from tests.conftest import Storage
from tests.e2e.system import (
    DEADLINE,
    PROPERTY,
    System,
    cross_device_journey,
    purchase_value_in_usd,
)


class MigratedSystem(System):
    """The four services started with CONVTRACK_CREATE_TABLES=n."""

    def __init__(self, storage: Storage) -> None:
        super().__init__(storage)

    def _start(self) -> None:
        self.env["CONVTRACK_CREATE_TABLES"] = "n"
        super()._start()


def test_services_started_without_ddl_after_migrate_record_and_report(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"CONVTRACK_DATA_DIR": str(storage.data_dir)}
    if storage.database_url:
        env["CONVTRACK_DATABASE_URL"] = storage.database_url
        env["CONVTRACK_ALLOW_GENERATED_SECRETS"] = "1"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["migrate"]) == 0

    system = MigratedSystem(storage)
    try:
        system.track(*cross_device_journey())
        system.sync()
        usd = purchase_value_in_usd().to_micros()
        assert system.report("last_click") == {"email": (1.0, *divmod(usd * 1000, 10**9))}
        # Every service's audit log has its table too: admin calls are recorded and listed.
        system.reporting.SetPropertySettings(
            reporting_pb2.SetPropertySettingsRequest(
                property_id=PROPERTY, settings=reporting_pb2.PropertySettings(time_zone="UTC")
            ),
            timeout=DEADLINE,
        )
        listed = system.reporting.ListAuditEvents(
            reporting_pb2.ListAuditEventsRequest(), timeout=DEADLINE
        )
        assert [e.rpc for e in listed.events] == ["SetPropertySettings"]
        for stub, module in (
            (system.ingest, ingest_pb2),
            (system.identity, identity_pb2),
            (system.attribution, attribution_pb2),
        ):
            assert not stub.ListAuditEvents(
                module.ListAuditEventsRequest(), timeout=DEADLINE
            ).events
    finally:
        system.close()


def test_a_service_started_without_ddl_and_without_migrate_fails_plainly(
    storage: Storage,
) -> None:
    env = {"CONVTRACK_DATA_DIR": str(storage.data_dir), "CONVTRACK_CREATE_TABLES": "n"}
    if storage.database_url:
        env["CONVTRACK_DATABASE_URL"] = storage.database_url
        env["CONVTRACK_ALLOW_GENERATED_SECRETS"] = "1"
    for name in ("ingest", "reporting"):
        with pytest.raises(MissingTablesError, match="run `convtrack migrate` first"):
            launcher.start_one(name, env, {"listen": "127.0.0.1:0"}).stop(0)


def test_migrate_runs_without_tls_where_the_listen_addresses_are_off_loopback(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image sets `<SERVICE>_LISTEN=0.0.0.0:...`; the migrate Job serves nothing and has
    no certificates, so the services' refusal to listen off loopback without TLS must not
    stop it."""
    env = {"CONVTRACK_DATA_DIR": str(storage.data_dir)}
    if storage.database_url:
        env["CONVTRACK_DATABASE_URL"] = storage.database_url
        env["CONVTRACK_ALLOW_GENERATED_SECRETS"] = "1"
    for port, name in enumerate(("INGEST", "IDENTITY", "ATTRIBUTION", "REPORTING"), 50051):
        env[f"{name}_LISTEN"] = f"0.0.0.0:{port}"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["migrate"]) == 0
