"""`convtrack migrate` creates every table once; services started without DDL then work."""

from __future__ import annotations

import pytest

from common.eventlog import MissingTablesError
from services import launcher
from services.cli import main
from tests.conftest import Storage
from tests.e2e.system import System, cross_device_journey, purchase_value_in_usd


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
