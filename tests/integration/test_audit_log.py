"""The audit log: admin calls on every service are recorded with the caller's key id, the RPC,
the property, a summary without identifiers or secrets and the outcome, and listed by
ListAuditEvents; a property's key sees its property's entries only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from common.audit import open_audit_log, request_summary
from common.callers import Scope
from common.storage import database_for
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.cli import main
from tests.conftest import Storage
from tests.integration.test_auth_matrix import PROPERTY, System, start_system

DEADLINE = 20.0
SECRET_PERSON = "person-7f3a-secret"
SECRET_EMAIL = "jane.doe@example.com"


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def _key_id(token: str) -> str:
    return token.split("_")[1]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with ExitStack() as cleanup:
        yield start_system(tmp_path_factory.mktemp("audit") / "data", cleanup)


def _ignore_outcome(call: object) -> None:
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as error:
        assert error.code() not in (
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.PERMISSION_DENIED,
        ), error


def test_admin_calls_are_audited_with_the_key_id_and_no_identifiers(system: System) -> None:
    identity = identity_pb2_grpc.IdentityServiceStub(system.channels["identity"])
    attribution = attribution_pb2_grpc.AttributionServiceStub(system.channels["attribution"])
    ingest = ingest_pb2_grpc.IngestServiceStub(system.channels["ingest"])
    admin_key = system.keys.right[Scope.IDENTITY_ADMIN]
    email = common_pb2.Identifier(type=common_pb2.IDENTIFIER_TYPE_EMAIL, value=SECRET_EMAIL)
    meta = _bearer(admin_key)
    _ignore_outcome(
        lambda: identity.ForgetPerson(
            identity_pb2.ForgetPersonRequest(property_id=PROPERTY, person_id=SECRET_PERSON),
            timeout=DEADLINE,
            metadata=meta,
        )
    )
    _ignore_outcome(
        lambda: identity.UnlinkIdentifier(
            identity_pb2.UnlinkIdentifierRequest(property_id=PROPERTY, identifier=email),
            timeout=DEADLINE,
            metadata=meta,
        )
    )
    _ignore_outcome(
        lambda: identity.SplitPerson(
            identity_pb2.SplitPersonRequest(
                property_id=PROPERTY, person_id=SECRET_PERSON, identifiers=[email]
            ),
            timeout=DEADLINE,
            metadata=meta,
        )
    )
    # A read is not audited.
    _ignore_outcome(
        lambda: identity.GetRules(
            identity_pb2.GetRulesRequest(property_id=PROPERTY), timeout=DEADLINE, metadata=meta
        )
    )
    listed = identity.ListAuditEvents(
        identity_pb2.ListAuditEventsRequest(property_id=PROPERTY), timeout=DEADLINE, metadata=meta
    )
    assert [e.rpc for e in listed.events] == ["ForgetPerson", "UnlinkIdentifier", "SplitPerson"]
    for entry in listed.events:
        assert entry.caller == _key_id(admin_key)
        assert entry.property_id == PROPERTY
        assert entry.outcome
        assert SECRET_PERSON not in entry.request_summary
        assert SECRET_EMAIL not in entry.request_summary
        assert abs(entry.time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=1)
    assert listed.events[2].request_summary == "property_id, person_id, identifiers: 1 item(s)"

    # Another property's key may not read this property's audit log.
    with pytest.raises(grpc.RpcError) as denied:
        identity.ListAuditEvents(
            identity_pb2.ListAuditEventsRequest(property_id=PROPERTY),
            timeout=DEADLINE,
            metadata=_bearer(system.keys.other_property[Scope.IDENTITY_ADMIN]),
        )
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED

    config_key = system.keys.admin
    _ignore_outcome(
        lambda: attribution.ConfigureModels(
            attribution_pb2.ConfigureModelsRequest(), timeout=DEADLINE, metadata=_bearer(config_key)
        )
    )
    configured = attribution.ListAuditEvents(
        attribution_pb2.ListAuditEventsRequest(), timeout=DEADLINE, metadata=_bearer(config_key)
    )
    assert [(e.rpc, e.caller) for e in configured.events] == [
        ("ConfigureModels", _key_id(config_key))
    ]

    created = ingest.CreateApiKey(
        ingest_pb2.CreateApiKeyRequest(
            property_id=PROPERTY, scopes=[ingest_pb2.API_KEY_SCOPE_REPORTS_READ]
        ),
        timeout=DEADLINE,
        metadata=_bearer(config_key),
    )
    ingest.RevokeApiKey(
        ingest_pb2.RevokeApiKeyRequest(key_id=created.key.key_id),
        timeout=DEADLINE,
        metadata=_bearer(config_key),
    )
    keys = ingest.ListAuditEvents(
        ingest_pb2.ListAuditEventsRequest(), timeout=DEADLINE, metadata=_bearer(config_key)
    )
    assert [(e.rpc, e.caller, e.outcome) for e in keys.events] == [
        ("CreateApiKey", _key_id(config_key), "OK"),
        ("RevokeApiKey", _key_id(config_key), "OK"),
    ]
    assert all(created.key.key_id not in e.request_summary for e in keys.events)


def test_the_audit_log_pages_and_filters_on_sqlite_and_postgres(storage: Storage) -> None:
    database = database_for("identity", storage.database_url, storage.data_dir)
    audit = open_audit_log(database)
    try:
        for index in range(5):
            entry = audit.begin(
                caller="k1",
                rpc="ForgetPerson",
                property_id="shop" if index % 2 == 0 else "other",
                summary=request_summary(identity_pb2.ForgetPersonRequest(person_id="x")),
            )
            audit.complete(entry, "OK")
        first = audit.list(property_id="shop", limit=2)
        assert [r.property_id for r in first.records] == ["shop", "shop"]
        assert first.next_position
        rest = audit.list(property_id="shop", after=first.next_position, limit=2)
        assert len(rest.records) == 1
        assert audit.list(property_id="shop", after=rest.records[-1].position).records == []
        assert all(r.outcome == "OK" and r.summary == "person_id" for r in first.records)
        assert audit.list(since=datetime.now(UTC) + timedelta(minutes=1)).records == []
    finally:
        audit.close()


def test_consent_defaults_and_identifier_erasure_are_audited_without_identifiers(
    system: System,
) -> None:
    ingest = ingest_pb2_grpc.IngestServiceStub(system.channels["ingest"])
    privacy_key = system.keys.right[Scope.IDENTITY_ADMIN]
    meta = _bearer(privacy_key)
    ingest.SetConsentDefaults(
        ingest_pb2.SetConsentDefaultsRequest(
            property_id=PROPERTY, analytics=ingest_pb2.CONSENT_DEFAULT_DENIED
        ),
        timeout=DEADLINE,
        metadata=meta,
    )
    email = common_pb2.Identifier(type=common_pb2.IDENTIFIER_TYPE_EMAIL, value=SECRET_EMAIL)
    ingest.ForgetIdentifiers(
        ingest_pb2.ForgetIdentifiersRequest(property_id=PROPERTY, identifiers=[email]),
        timeout=DEADLINE,
        metadata=meta,
    )
    # A read is not audited.
    ingest.GetConsentDefaults(
        ingest_pb2.GetConsentDefaultsRequest(property_id=PROPERTY), timeout=DEADLINE, metadata=meta
    )
    listed = ingest.ListAuditEvents(
        ingest_pb2.ListAuditEventsRequest(property_id=PROPERTY),
        timeout=DEADLINE,
        metadata=_bearer(system.keys.admin),
    )
    entries = [e for e in listed.events if e.caller == _key_id(privacy_key)]
    assert [(e.rpc, e.outcome) for e in entries] == [
        ("SetConsentDefaults", "OK"),
        ("ForgetIdentifiers", "OK"),
    ]
    assert entries[1].request_summary == "property_id, identifiers: 1 item(s)"
    assert all(SECRET_EMAIL not in e.request_summary for e in entries)


def test_channel_rules_are_audited_and_a_read_is_not(system: System) -> None:
    ingest = ingest_pb2_grpc.IngestServiceStub(system.channels["ingest"])
    settings_key = system.keys.right[Scope.ATTRIBUTION_ADMIN]
    meta = _bearer(settings_key)
    ingest.SetChannelGroups(
        ingest_pb2.SetChannelGroupsRequest(
            property_id=PROPERTY,
            rules=[
                ingest_pb2.ChannelRule(
                    channel="partners",
                    source=ingest_pb2.ChannelTextCondition(
                        match=ingest_pb2.CHANNEL_MATCH_EXACT, values=["awin"]
                    ),
                )
            ],
        ),
        timeout=DEADLINE,
        metadata=meta,
    )
    ingest.GetChannelGroups(
        ingest_pb2.GetChannelGroupsRequest(property_id=PROPERTY), timeout=DEADLINE, metadata=meta
    )
    listed = ingest.ListAuditEvents(
        ingest_pb2.ListAuditEventsRequest(property_id=PROPERTY),
        timeout=DEADLINE,
        metadata=_bearer(system.keys.admin),
    )
    entries = [e for e in listed.events if e.caller == _key_id(settings_key)]
    assert [(e.rpc, e.outcome, e.property_id) for e in entries] == [
        ("SetChannelGroups", "OK", PROPERTY)
    ]


def test_audit_list_prints_a_services_entries_as_a_table_or_json(
    system: System, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CONVTRACK_API_KEY", "CONVTRACK_API_KEY_FILE", "CONVTRACK_TLS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONVTRACK_DATA_DIR", str(system.data_dir))
    settings_key = system.keys.right[Scope.ATTRIBUTION_ADMIN]
    reporting = reporting_pb2_grpc.ReportingServiceStub(system.channels["reporting"])
    reporting.SetPropertySettings(
        reporting_pb2.SetPropertySettingsRequest(
            property_id=PROPERTY, settings=reporting_pb2.PropertySettings(time_zone="Asia/Tokyo")
        ),
        timeout=DEADLINE,
        metadata=_bearer(settings_key),
    )
    command = ["audit", "list", "--service", "reporting", "--addr", system.addresses["reporting"]]

    # A property's attribution:admin key lists its property's entries.
    assert (
        main([*command, "--property", PROPERTY, "--api-key", settings_key, "--format", "json"]) == 0
    )
    listed = json.loads(capsys.readouterr().out)
    assert listed["service"] == "reporting" and listed["more"] is False
    assert [(e["rpc"], e["caller"], e["property_id"], e["outcome"]) for e in listed["events"]] == [
        ("SetPropertySettings", _key_id(settings_key), PROPERTY, "OK")
    ]
    assert "Asia/Tokyo" not in json.dumps(listed)

    # Not every property's, nor another property's.
    assert main([*command, "--api-key", settings_key]) == 1
    assert "PERMISSION_DENIED" in capsys.readouterr().err
    other = system.keys.other_property[Scope.ATTRIBUTION_ADMIN]
    assert main([*command, "--property", PROPERTY, "--api-key", other]) == 1
    assert "PERMISSION_DENIED" in capsys.readouterr().err

    # An admin key, as a table; --since after the call lists nothing.
    assert main([*command, "--api-key", system.keys.admin]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["time", "caller", "rpc", "property", "outcome", "request"]
    assert table[2].split()[1:5] == [_key_id(settings_key), "SetPropertySettings", PROPERTY, "OK"]
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert main([*command, "--api-key", system.keys.admin, "--since", later]) == 0
    assert capsys.readouterr().out.strip() == "no audit entries"

    # --limit pages: ingest's key changes, one per page.
    ingest = ingest_pb2_grpc.IngestServiceStub(system.channels["ingest"])
    for _ in range(3):
        ingest.CreateApiKey(
            ingest_pb2.CreateApiKeyRequest(
                property_id=PROPERTY, scopes=[ingest_pb2.API_KEY_SCOPE_REPORTS_READ]
            ),
            timeout=DEADLINE,
            metadata=_bearer(system.keys.admin),
        )
    ingest_command = ["audit", "list", "--service", "ingest", "--addr", system.addresses["ingest"]]
    assert (
        main([*ingest_command, "--api-key", system.keys.admin, "--format", "json", "--limit", "2"])
        == 0
    )
    page = json.loads(capsys.readouterr().out)
    assert len(page["events"]) == 2 and page["more"] is True
