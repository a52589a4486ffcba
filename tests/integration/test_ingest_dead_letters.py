"""Dead letters, late events and backfill: every rejected event is kept without its
identifiers and listed with its reasons; late events are flagged in the log; a backfill
import accepts history that live tracking refuses."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from sqlalchemy import select

from common.grpc_errors import bad_request_of
from common.server import RunningService
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.cli import main
from services.commands.import_events import send_events
from services.ingest.application import IngestApplication, Outcome
from services.ingest.domainmodel import EventKind, IncomingEvent, IncomingPageView
from services.ingest.rejected import RejectedFilter, rejected_events, rejected_violations
from services.ingest.server import IngestSettings, build_application, start
from tests.conftest import Storage
from tests.integration.helpers_ingest import (
    DEADLINE,
    PROPERTY,
    ago,
    conversion,
    logged_by_event_id,
    page_view,
    touchpoint,
    track,
)

Stub = ingest_pb2_grpc.IngestServiceStub
ACCEPTED = ingest_pb2.VERDICT_ACCEPTED
REJECTED = ingest_pb2.VERDICT_REJECTED
PERSONAL = (
    "anon-7f3a9c",
    "user-51d2e8",
    "jane.q.4b9e@mail.example",
    "98.76.54.32",
    "gclid-c0ffee12",
    "order-5e1f77",
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
)


def _settings(storage: Storage, **overrides: object) -> IngestSettings:
    return IngestSettings(
        listen="127.0.0.1:0",
        database_url=storage.database_url,
        data_dir=storage.data_dir,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
def ingest(storage: Storage) -> Iterator[RunningService]:
    service = start(_settings(storage))
    try:
        yield service
    finally:
        service.stop(0)


@pytest.fixture
def stub(ingest: RunningService) -> Iterator[Stub]:
    with grpc.insecure_channel(f"127.0.0.1:{ingest.port}") as channel:
        yield ingest_pb2_grpc.IngestServiceStub(channel)


@pytest.fixture
def app(storage: Storage) -> Iterator[IngestApplication]:
    application = build_application(_settings(storage, rejected_retention_days=30))
    try:
        yield application
    finally:
        application.close()


def list_rejected(stub: Stub, **fields: object) -> ingest_pb2.ListRejectedResponse:
    fields.setdefault("property_id", PROPERTY)
    return stub.ListRejected(ingest_pb2.ListRejectedRequest(**fields), timeout=DEADLINE)  # type: ignore[arg-type]


def dead_letter_bytes(app: IngestApplication) -> str:
    """Every value of every row of both dead-letter tables, as text."""
    engine = app.rejected._engine
    with engine.connect() as conn:
        rows = [
            *conn.execute(select(rejected_events)).all(),
            *conn.execute(select(rejected_violations)).all(),
        ]
    return "\n".join(str(cell) for row in rows for cell in row)


def personal_mixed_batch() -> list[ingest_pb2.Event]:
    """A valid event, an invalid one full of personal data, and a placeholder-only one."""
    identity = ingest_pb2.Identity(
        anonymous_id=PERSONAL[0], user_id=PERSONAL[1], email="jane.q.4b9e@mail", email_sha256=""
    )
    invalid = conversion(
        "bad-1",
        name="Purchase!",
        order_id=PERSONAL[5],
        identity=identity,
        context=ingest_pb2.Context(
            ip_address=PERSONAL[3],
            page_url=f"https://shop.example/thanks?email={PERSONAL[2]}&utm_source=news",
            user_agent="Mozilla/5.0",
        ),
    )
    hashed = touchpoint("bad-2", landing_url="https://shop.example/?gclid=" + PERSONAL[4])
    hashed.identity.CopyFrom(ingest_pb2.Identity(email_sha256=PERSONAL[6].upper() + "zz"))
    hashed.touchpoint.click_ids.gclid = PERSONAL[4]
    placeholder = page_view("bad-3", identity=ingest_pb2.Identity(anonymous_id="undefined"))
    return [page_view("good-1"), invalid, hashed, placeholder]


def test_rejected_events_are_listed_with_reasons_and_no_identifier_is_stored(
    storage: Storage, stub: Stub, ingest: RunningService
) -> None:
    response = track(stub, personal_mixed_batch())
    assert [v.verdict for v in response.verdicts] == [ACCEPTED, REJECTED, REJECTED, REJECTED]

    listed = list_rejected(stub)
    assert [e.event_id for e in listed.events] == ["bad-3", "bad-2", "bad-1"]
    bad_1 = listed.events[2]
    assert bad_1.kind == "conversion"
    assert {v.field for v in bad_1.violations} == {"conversion.name", "identity.email"}
    fields = json.loads(bad_1.fields_json)
    assert fields["identifiers_sent"] == ["anonymous_id", "user_id", "email", "ip_address"]
    assert fields["conversion"]["order_id_sent"] is True
    assert (
        fields["context"]["page_url"]
        == "https://shop.example/thanks?email=(redacted)&utm_source=news"
    )
    assert [v.field for v in listed.events[0].violations] == ["identity.anonymous_id"]
    assert '"undefined" is a placeholder' in listed.events[0].violations[0].description

    app = build_application(_settings(storage))
    try:
        stored = dead_letter_bytes(app)
    finally:
        app.close()
    assert "bad-1" in stored
    for value in (*PERSONAL, PERSONAL[6].upper(), "jane.q.4b9e", "mail.example"):
        assert value not in stored
    assert "jane.q.4b9e@mail" not in json.dumps(json_format.MessageToDict(listed))


def test_counts_by_field_and_reason_cover_the_whole_filter_across_pages(stub: Stub) -> None:
    events = [page_view(f"no-kind-{i}") for i in range(5)]
    for event in events:
        event.ClearField("page_view")
    events += [page_view(f"old-{i}", timestamp=ago(timedelta(days=120))) for i in range(3)]
    track(stub, events)

    first = list_rejected(stub, page_size=3)
    counts = {(c.field, c.count) for c in first.counts}
    assert counts == {("kind", 5), ("timestamp", 3)}
    seen = [e.event_id for e in first.events]
    token = first.next_page_token
    while token:
        page = list_rejected(stub, page_size=3, page_token=token)
        assert page.counts == first.counts
        seen += [e.event_id for e in page.events]
        token = page.next_page_token
    assert sorted(seen) == sorted(e.event_id for e in events)

    only_time = list_rejected(stub, field="timestamp")
    assert sorted(e.event_id for e in only_time.events) == ["old-0", "old-1", "old-2"]
    by_reason = list_rejected(stub, reason="days old")
    assert len(by_reason.events) == 3
    assert [(c.field, c.count) for c in by_reason.counts] == [("timestamp", 3)]
    later = list_rejected(stub, since=ago(timedelta(minutes=-5)))
    assert not later.events and not later.counts


def test_dead_letters_are_listed_only_for_their_own_property(stub: Stub) -> None:
    other = page_view("other-1", property_id="other-shop", timestamp=ago(timedelta(days=400)))
    malformed = page_view("odd-1", property_id="Shop With Spaces")
    track(stub, [other, malformed])

    assert list_rejected(stub).events == []
    assert [e.event_id for e in list_rejected(stub, property_id="other-shop").events] == ["other-1"]
    assert [e.event_id for e in list_rejected(stub, property_id="Shop With Spaces").events] == [
        "odd-1"
    ]


def test_list_rejected_without_a_property_is_invalid_argument(stub: Stub) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        list_rejected(stub, property_id="", page_size=5000, page_token="abc")
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert {p.field for p in bad_request_of(raised.value)} == {
        "property_id",
        "page_size",
        "page_token",
    }


def _rejected_incoming(event_id: str) -> IncomingEvent:
    return IncomingEvent(
        kind=EventKind.PAGE_VIEW,
        property_id=PROPERTY,
        event_id=event_id,
        anonymous_id="anon-1",
        page_view=IncomingPageView(url="https://shop.example/"),
    )


def test_retention_deletes_dead_letters_older_than_it(app: IngestApplication) -> None:
    now = datetime.now(UTC)
    verdicts = app.track([_rejected_incoming("old")], received_at=now - timedelta(days=31))
    assert verdicts[0].outcome is Outcome.REJECTED
    app.track([_rejected_incoming("recent")], received_at=now - timedelta(days=29))

    assert app.rejected.purge_expired(now) == 1
    page = app.rejected.list(RejectedFilter(PROPERTY), page_size=10)
    assert [e.event_id for e in page.events] == ["recent"]
    assert [c.count for c in page.counts] == [1]


def test_dead_letters_expire_on_a_later_write_without_a_separate_job(
    app: IngestApplication,
) -> None:
    now = datetime.now(UTC)
    app.track([_rejected_incoming("old")], received_at=now - timedelta(days=40))
    app.track([_rejected_incoming("new")], received_at=now)

    page = app.rejected.list(RejectedFilter(PROPERTY), page_size=10)
    assert [e.event_id for e in page.events] == ["new"]


def test_a_failure_to_keep_dead_letters_costs_no_accepted_event(
    app: IngestApplication, stub: Stub
) -> None:
    with app.rejected._engine.begin() as conn:
        rejected_violations.drop(conn)

    response = track(stub, [page_view("kept"), page_view("bad", property_id="")])

    assert [v.verdict for v in response.verdicts] == [ACCEPTED, REJECTED]
    assert "kept" in logged_by_event_id(stub)


def test_an_event_older_than_the_late_age_is_accepted_and_flagged_late(stub: Stub) -> None:
    track(
        stub,
        [
            page_view("on-time", timestamp=ago(timedelta(hours=71))),
            page_view("late", timestamp=ago(timedelta(hours=73))),
        ],
    )

    logged = logged_by_event_id(stub)
    assert logged["late"].envelope.late is True
    assert logged["on-time"].envelope.late is False


def test_a_backfill_accepts_a_200_day_old_event_that_live_tracking_rejects(stub: Stub) -> None:
    old = ago(timedelta(days=200))
    live = track(stub, [page_view("history-1", timestamp=old)])
    assert live.verdicts[0].verdict == REJECTED
    assert "200 days old" in live.verdicts[0].violations[0].description

    backfill = stub.TrackEvents(
        ingest_pb2.TrackEventsRequest(
            events=[page_view("history-1", timestamp=old)], backfill=True
        ),
        timeout=DEADLINE,
    )
    assert backfill.verdicts[0].verdict == ACCEPTED
    assert logged_by_event_id(stub)["history-1"].envelope.late is True

    too_old = stub.TrackEvents(
        ingest_pb2.TrackEventsRequest(
            events=[page_view("history-2", timestamp=ago(timedelta(days=800)))], backfill=True
        ),
        timeout=DEADLINE,
    )
    assert "older than 730 days" in too_old.verdicts[0].violations[0].description


def _write_import_file(path: Path) -> None:
    events = [page_view(f"import-{i}", timestamp=ago(timedelta(days=200 + i))) for i in range(7)]
    lines = [json_format.MessageToJson(e, indent=None) for e in events]
    lines.insert(3, "{not json")
    lines.append(json_format.MessageToJson(page_view("import-bad", property_id=""), indent=None))
    path.write_text("\n".join(lines) + "\n\n")


def test_import_events_backfills_a_file_in_batches_with_progress(
    tmp_path: Path, stub: Stub, ingest: RunningService
) -> None:
    source = tmp_path / "history.jsonl"
    _write_import_file(source)
    progress = io.StringIO()

    with source.open() as lines:
        tally = send_events(f"127.0.0.1:{ingest.port}", lines, progress=progress, batch_size=3)

    assert (tally.accepted, tally.duplicate, tally.rejected, tally.unreadable) == (7, 0, 1, 1)
    assert "line 4: not an Event" in progress.getvalue()
    assert progress.getvalue().count("accepted") == 3
    assert {f"import-{i}" for i in range(7)} <= set(logged_by_event_id(stub))


def test_the_import_and_rejected_commands_run_against_a_server(
    tmp_path: Path, ingest: RunningService, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "history.jsonl"
    _write_import_file(source)
    address = f"127.0.0.1:{ingest.port}"

    assert main(["import", "events", str(source), "--addr", address]) == 0
    out = capsys.readouterr().out
    assert "accepted 7" in out and "rejected 1" in out and "unreadable 1" in out
    assert main(["import", "events", str(source), "--addr", address]) == 0
    assert "duplicate 7" in capsys.readouterr().out

    old = ingest_pb2.TrackEventsRequest(
        events=[page_view("stale", timestamp=ago(timedelta(days=100)))]
    )
    with grpc.insecure_channel(address) as channel:
        ingest_pb2_grpc.IngestServiceStub(channel).TrackEvents(old, timeout=DEADLINE)
    assert main(["rejected", "--property", PROPERTY, "--addr", address]) == 0
    out = capsys.readouterr().out
    assert "timestamp: is 100 days old" in out
    assert "'stale'" in out


def test_migrate_creates_the_dead_letter_tables(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVTRACK_DATA_DIR", str(storage.data_dir))
    if storage.database_url:
        monkeypatch.setenv("CONVTRACK_DATABASE_URL", storage.database_url)
        monkeypatch.setenv("CONVTRACK_ALLOW_GENERATED_SECRETS", "1")
    assert main(["migrate"]) == 0

    app = build_application(_settings(storage, create_tables=False))
    try:
        app.track([_rejected_incoming("after-migrate")], received_at=datetime.now(UTC))
        page = app.rejected.list(RejectedFilter(PROPERTY), page_size=10)
    finally:
        app.close()
    assert [e.event_id for e in page.events] == ["after-migrate"]
