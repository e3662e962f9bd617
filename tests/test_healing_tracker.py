"""The healing tracker: events in the event store and the warehouse, held rows, patterns and alerts.

Default stores (SQLite state file + DuckDB) run everywhere; the Firestore and BigQuery paths run
against the emulators (``@pytest.mark.firestore`` / ``@pytest.mark.bigquery``). Every pattern level
is driven by real events stored at controlled times, at its threshold and one below it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from healing.event_store import (
    EventStore,
    EventStoreError,
    SQLiteEventStore,
    open_event_store,
)
from healing.model import HealingEvent, new_healing_id
from healing.patterns import PatternLevel, assess, detect, finding_payload
from healing.tracker import HealingRecordError, HealingTracker
from resilience.alerts.dispatch import HISTORY_PREFIX
from resilience.alerts.record_run import record_run
from resilience.alerts.routing import channels_for
from resilience.history import WritableWarehouse
from resilience.settings import Settings
from resilience.state.base import StateStore, StateStoreError, open_state_store
from resilience.state.model import OutboxItem
from resilience.warehouse.base import QueryError
from resilience.warehouse.duckdb_backend import DuckDBWarehouse
from tests.slack_server import FakeSlack

if TYPE_CHECKING:
    from google.cloud import bigquery

    from tests.bigquery_emulator import BigQueryEmulator
    from tests.firestore_emulator import FirestoreEmulator

START = dt.datetime(2026, 1, 15, 17, 0, tzinfo=dt.UTC)
TABLE = "nba_orchestration.healing_events"
HELD = f"{HISTORY_PREFIX}{TABLE}"


class Clock:
    """A settable clock for the tracker and the alert lifecycle."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def heal(
    healing_type: str = "stalled_batch",
    at: dt.datetime = START,
    *,
    success: bool = True,
    healing_id: str | None = None,
    reason: str = "batch stalled 18 min at 94%",
) -> HealingEvent:
    return HealingEvent(
        healing_id=healing_id or new_healing_id(at),
        timestamp=at,
        healing_type=healing_type,
        trigger_reason=reason,
        action_taken="marked the batch complete",
        before_state={"completed": 94, "expected": 100, "players": ["a", "b"]},
        after_state={"is_complete": True},
        success=success,
        metadata={"batch_id": "batch_2026-01-15_1"},
        check_fingerprint="canary.phase5_predictions@duckdb:///demo",
    )


# --- Stores: SQLite (default) and Firestore (emulator) ---------------------------------------------


@dataclasses.dataclass
class Stores:
    """The event store and the state store (the outbox) of one test, on one place."""

    open_events: Callable[[], EventStore]
    open_state: Callable[[], StateStore]
    kind: str


def _sqlite_stores(path: Path) -> Stores:
    return Stores(
        lambda: SQLiteEventStore(path, table="healing_events"),
        lambda: open_state_store(f"sqlite://{path}", "test"),
        "sqlite",
    )


def _firestore_stores(emulator: FirestoreEmulator) -> Stores:
    from healing.event_store import FirestoreEventStore
    from resilience.state.firestore_store import FirestoreStateStore

    project = emulator.unique_project()
    return Stores(
        lambda: FirestoreEventStore(emulator.client(project), "healing_events"),
        lambda: FirestoreStateStore(emulator.client(project)),
        "firestore",
    )


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.firestore)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Stores:
    if request.param == "sqlite":
        return _sqlite_stores(tmp_path / "state.sqlite")
    return _firestore_stores(request.getfixturevalue("firestore_emulator"))


@pytest.fixture
def events(stores: Stores) -> Iterator[EventStore]:
    store = stores.open_events()
    yield store
    store.close()


@pytest.fixture
def sqlite_events(tmp_path: Path) -> Iterator[EventStore]:
    store = SQLiteEventStore(tmp_path / "state.sqlite")
    yield store
    store.close()


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[StateStore]:
    store = open_state_store(f"sqlite://{tmp_path / 'state.sqlite'}", "test")
    yield store
    store.close()


@pytest.fixture
def duckdb_warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb", read_only=False, create=True)
    yield warehouse
    warehouse.close()


def duckdb_rows(warehouse: DuckDBWarehouse) -> list[dict[str, Any]]:
    result = warehouse.query(
        f"SELECT * FROM {TABLE} ORDER BY timestamp, healing_id", {}, label="read healing events"
    )
    return [dict(row) for row in result.rows]


def held_ids(store: StateStore) -> list[str]:
    return [item.id for item in store.outbox_pending(limit=1000) if item.channel == HELD]


class FlakyWarehouse:
    """A real warehouse behind a switch: while ``down``, every write raises as an outage would."""

    def __init__(self, inner: WritableWarehouse) -> None:
        self.inner = inner
        self.down = False
        self.inserts = 0

    def _check(self) -> None:
        if self.down:
            raise QueryError("insert", "duckdb://flaky", "IO Error: could not write: connection lost")

    def ensure_table(
        self, table: str, fields: Sequence[Mapping[str, Any]], partition_column: str | None
    ) -> None:
        self._check()
        self.inner.ensure_table(table, fields, partition_column)

    def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]], *, key: str | None = None) -> None:
        self._check()
        self.inserts += 1
        self.inner.insert_rows(table, rows, key=key)

    def close(self) -> None:
        self.inner.close()


class ForgetfulOutbox:
    """A state store that loses its connection after a write: marking an item delivered fails once."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.location = inner.location
        self.fail_delivered = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def outbox_delivered(self, item_id: str) -> None:
        if self.fail_delivered:
            self.fail_delivered -= 1
            raise StateStoreError(self.location, f"mark outbox item {item_id!r} delivered", "disk I/O error")
        self.inner.outbox_delivered(item_id)


class BrokenOutbox(ForgetfulOutbox):
    """A state store that is down for adding."""

    def outbox_add(self, item: OutboxItem) -> bool:
        raise StateStoreError(self.location, f"add outbox item {item.id!r}", "database is locked")


def tracker_for(
    events: EventStore,
    warehouse: WritableWarehouse | None,
    outbox: StateStore,
    settings: Settings,
    clock: Clock,
    alerts: Callable[[list[dict[str, Any]]], object] | None = None,
) -> HealingTracker:
    return HealingTracker(events, warehouse, outbox, settings, alerts=alerts, clock=clock)


def record(
    tracker: HealingTracker, healing_type: str = "stalled_batch", success: bool = True
) -> HealingEvent:
    return tracker.record(
        healing_type,
        "batch stalled 18 min at 94%",
        "marked the batch complete",
        {"completed": 94, "expected": 100},
        {"is_complete": True},
        success,
        metadata={"batch_id": "batch_2026-01-15_1"},
        check_fingerprint="canary.phase5_predictions@duckdb:///demo",
    )


# --- The event store contract --------------------------------------------------------------------


def test_an_event_round_trips_with_its_states_metadata_and_fingerprint(events: EventStore) -> None:
    event = heal(at=START + dt.timedelta(microseconds=250))

    assert events.add(event) is True

    assert events.recent("stalled_batch", START - dt.timedelta(hours=1)) == [event]


def test_adding_a_stored_healing_id_returns_false_and_keeps_the_first(events: EventStore) -> None:
    first = heal(healing_id="heal_same", reason="first")
    second = heal(healing_id="heal_same", reason="second", at=START + dt.timedelta(minutes=5))

    assert events.add(first) is True
    assert events.add(second) is False

    assert events.recent(None, START - dt.timedelta(days=1)) == [first]


def test_recent_filters_by_type_and_time_newest_first_including_its_start(events: EventStore) -> None:
    since = START - dt.timedelta(hours=1)
    at_start = heal(at=since, healing_id="heal_a")
    before = heal(at=since - dt.timedelta(microseconds=1), healing_id="heal_b")
    newest = heal(at=START, healing_id="heal_c")
    other_type = heal("retry_scraper", at=START, healing_id="heal_d")
    for event in (at_start, before, newest, other_type):
        events.add(event)

    assert [e.healing_id for e in events.recent("stalled_batch", since)] == ["heal_c", "heal_a"]
    assert [e.healing_id for e in events.recent(None, since)] == ["heal_d", "heal_c", "heal_a"]
    assert events.recent("no_such_type", since) == []


def test_recent_refuses_a_naive_time(events: EventStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        events.recent(None, dt.datetime(2026, 1, 15))


def test_the_sqlite_table_shares_the_state_store_file(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    state = open_state_store(f"sqlite://{path}", "test")
    events = open_event_store(f"sqlite://{path}", "test", "healing_events")
    try:
        events.add(heal())
        state.outbox_add(OutboxItem("x", "#nba-alerts", {"text": "hi"}, START))
        with contextlib.closing(sqlite3.connect(path)) as connection:
            tables = {
                row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            (stored,) = connection.execute("SELECT before_state, timestamp FROM healing_events").fetchall()
    finally:
        events.close()
        state.close()
    assert {"healing_events", "outbox", "alert_states"} <= tables
    assert json.loads(stored[0]) == {"completed": 94, "expected": 100, "players": ["a", "b"]}
    assert stored[1] == "2026-01-15T17:00:00.000000+00:00"


def test_a_closed_sqlite_event_store_fails_with_its_location(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "state.sqlite")
    store.close()

    with pytest.raises(
        EventStoreError, match=r"^healing event store sqlite://.*: could not add healing event"
    ):
        store.add(heal())


def test_open_event_store_refuses_a_bad_url_naming_its_source() -> None:
    with pytest.raises(ValueError, match="RESILIENCE_STATE"):
        open_event_store("postgres://x", "RESILIENCE_STATE", "healing_events")
    with pytest.raises(ValueError, match="database"):
        open_event_store(
            "firestore://nba-props-platform?database=other", "RESILIENCE_STATE", "healing_events"
        )
    with pytest.raises(ValueError, match="letters, digits"):
        open_event_store("sqlite:///tmp/x.sqlite", "RESILIENCE_STATE", "healing events")


@pytest.mark.firestore
def test_firestore_documents_are_keyed_by_healing_id_with_a_timestamp_and_json_text(
    firestore_emulator: FirestoreEmulator,
) -> None:
    from tests.firestore_emulator import emulator_host

    project = firestore_emulator.unique_project()
    with emulator_host(firestore_emulator.host):
        store = open_event_store(f"firestore://{project}", "RESILIENCE_STATE", "healing_events")
    event = heal(healing_id="heal_20260115T170000Z_abc")
    try:
        store.add(event)
        assert store.location == f"firestore://{project}"
    finally:
        store.close()

    client = firestore_emulator.client(project)
    try:
        document = client.collection("healing_events").document("heal_20260115T170000Z_abc").get().to_dict()
    finally:
        client.close()  # type: ignore[no-untyped-call]
    assert document is not None
    assert isinstance(document["timestamp"], dt.datetime)  # a Firestore timestamp, not text
    assert document["timestamp"] == START
    assert json.loads(document["before_state"]) == dict(event.before_state)
    assert json.loads(document["after_state"]) == {"is_complete": True}
    assert json.loads(document["metadata"]) == {
        "batch_id": "batch_2026-01-15_1",
        "check_fingerprint": "canary.phase5_predictions@duckdb:///demo",
    }
    assert document["success"] is True


# --- insert_rows(key=...) on both warehouse backends -------------------------------------------


def _key_rows(*ids: str) -> list[dict[str, Any]]:
    return [heal(healing_id=healing_id).to_row() for healing_id in ids]


def _ensure(warehouse: WritableWarehouse, table: str = TABLE) -> None:
    from resilience.schemas import bigquery_fields, load_catalog

    warehouse.ensure_table(table, bigquery_fields(load_catalog()[TABLE]), None)


def test_duckdb_insert_with_a_key_skips_rows_already_in_the_table_or_the_batch(
    duckdb_warehouse: DuckDBWarehouse,
) -> None:
    _ensure(duckdb_warehouse)
    duckdb_warehouse.insert_rows(TABLE, _key_rows("a", "b"), key="healing_id")

    duckdb_warehouse.insert_rows(TABLE, _key_rows("b", "c", "c"), key="healing_id")

    assert [row["healing_id"] for row in duckdb_rows(duckdb_warehouse)] == ["a", "b", "c"]


def test_duckdb_insert_without_a_key_appends_every_row_as_before(duckdb_warehouse: DuckDBWarehouse) -> None:
    _ensure(duckdb_warehouse)
    duckdb_warehouse.insert_rows(TABLE, _key_rows("a"))

    duckdb_warehouse.insert_rows(TABLE, _key_rows("a"))

    assert [row["healing_id"] for row in duckdb_rows(duckdb_warehouse)] == ["a", "a"]


def test_duckdb_insert_with_a_key_the_rows_lack_is_refused(duckdb_warehouse: DuckDBWarehouse) -> None:
    _ensure(duckdb_warehouse)

    with pytest.raises(QueryError, match="no key column 'event_id'"):
        duckdb_warehouse.insert_rows(TABLE, _key_rows("a"), key="event_id")


@pytest.fixture(scope="module")
def emulator_client(bigquery_emulator: BigQueryEmulator) -> Iterator[bigquery.Client]:
    client = bigquery_emulator.client()
    yield client
    client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def bigquery_table(emulator_client: bigquery.Client) -> Iterator[str]:
    """The production table name, empty at the start of the test (dropped before and after)."""
    emulator_client.delete_table(TABLE, not_found_ok=True)
    yield TABLE
    emulator_client.delete_table(TABLE, not_found_ok=True)


def bigquery_ids(client: bigquery.Client) -> list[str]:
    rows = client.query(f"SELECT healing_id FROM `{TABLE}` ORDER BY timestamp, healing_id").result()
    return [str(row["healing_id"]) for row in rows]


def _bigquery_warehouse(client: bigquery.Client, write_timeout: float = 30.0) -> Any:
    from resilience.warehouse.base import BigQueryOptions
    from resilience.warehouse.bigquery_backend import BigQueryWarehouse

    return BigQueryWarehouse(client, BigQueryOptions(write_timeout_seconds=write_timeout))


@pytest.mark.bigquery
def test_bigquery_insert_with_a_key_sends_it_as_the_insert_id(
    emulator_client: bigquery.Client, bigquery_table: str
) -> None:
    warehouse = _bigquery_warehouse(emulator_client)
    _ensure(warehouse)

    warehouse.insert_rows(TABLE, _key_rows("a", "b"), key="healing_id")
    warehouse.insert_rows(TABLE, _key_rows("b"), key="healing_id")  # a retry BigQuery recognizes
    warehouse.insert_rows(TABLE, _key_rows("c"))
    warehouse.insert_rows(TABLE, _key_rows("c"))  # no key: fresh insert ids, both kept as before

    assert sorted(bigquery_ids(emulator_client)) == ["a", "b", "c", "c"]


# --- The tracker on the default stores ------------------------------------------------------------


def test_a_heal_lands_in_the_event_store_and_the_warehouse_with_json_states(
    sqlite_events: EventStore, outbox: StateStore, duckdb_warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    tracker = tracker_for(sqlite_events, duckdb_warehouse, outbox, settings, Clock())

    event = record(tracker)

    assert sqlite_events.recent("stalled_batch", START) == [event]
    [row] = duckdb_rows(duckdb_warehouse)
    assert row["healing_id"] == event.healing_id
    assert row["timestamp"] == START
    assert row["success"] is True
    assert json.loads(row["before_state"]) == {"completed": 94, "expected": 100}
    assert json.loads(row["after_state"]) == {"is_complete": True}
    assert json.loads(row["metadata"]) == {
        "batch_id": "batch_2026-01-15_1",
        "check_fingerprint": "canary.phase5_predictions@duckdb:///demo",
    }
    assert HealingEvent.from_row(row).to_row() == event.to_row()
    assert held_ids(outbox) == []


def test_a_warehouse_outage_holds_the_row_and_the_next_record_writes_it_exactly_once(
    sqlite_events: EventStore, outbox: StateStore, duckdb_warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    clock = Clock()
    flaky = FlakyWarehouse(duckdb_warehouse)
    tracker = tracker_for(sqlite_events, flaky, outbox, settings, clock)

    flaky.down = True
    during = record(tracker)  # no error: the row waits in the outbox

    assert held_ids(outbox) == [during.healing_id]
    [item] = [i for i in outbox.outbox_pending() if i.channel == HELD]
    assert item.payload == {"table": TABLE, "rows": [during.to_row()], "key": "healing_id"}
    assert sqlite_events.recent(None, START) == [during]
    _ensure(duckdb_warehouse)
    assert duckdb_rows(duckdb_warehouse) == []

    flaky.down = False
    clock.advance(minutes=10)
    after = record(tracker)
    clock.advance(minutes=10)
    last = record(tracker)

    assert [row["healing_id"] for row in duckdb_rows(duckdb_warehouse)] == [
        during.healing_id,
        after.healing_id,
        last.healing_id,
    ]
    assert held_ids(outbox) == []
    # The held id is remembered as delivered: the same event cannot be queued again.
    assert outbox.outbox_add(OutboxItem(during.healing_id, HELD, {"rows": []}, START)) is False


def test_flush_writes_held_rows_once_and_a_refused_flush_keeps_them(
    sqlite_events: EventStore, outbox: StateStore, duckdb_warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    clock = Clock()
    flaky = FlakyWarehouse(duckdb_warehouse)
    tracker = tracker_for(sqlite_events, flaky, outbox, settings, clock)
    flaky.down = True
    first = record(tracker)
    clock.advance(minutes=1)
    second = record(tracker)

    refused = tracker.flush()

    assert refused.held == [first.healing_id, second.healing_id]
    assert "connection lost" in refused.error
    assert {i.id: i.attempts for i in outbox.outbox_pending() if i.channel == HELD} == {
        first.healing_id: 2,  # tried again before the second heal was recorded
        second.healing_id: 1,
    }

    flaky.down = False
    written = tracker.flush()
    again = tracker.flush()

    assert written.written == [first.healing_id, second.healing_id]
    assert again.written == [] and again.held == []
    assert len(duckdb_rows(duckdb_warehouse)) == 2


def test_a_row_written_but_not_marked_delivered_is_not_written_twice(
    sqlite_events: EventStore, outbox: StateStore, duckdb_warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    clock = Clock()
    flaky = FlakyWarehouse(duckdb_warehouse)
    forgetful = ForgetfulOutbox(outbox)
    tracker = tracker_for(sqlite_events, flaky, forgetful, settings, clock)
    flaky.down = True
    held = record(tracker)
    flaky.down = False
    forgetful.fail_delivered = 1

    with pytest.raises(StateStoreError, match="disk I/O error"):
        tracker.flush()  # the row reached the warehouse; the outbox still holds it
    assert held_ids(outbox) == [held.healing_id]

    clock.advance(minutes=1)
    later = record(tracker)  # writes the held row again first: the key skips it

    assert [row["healing_id"] for row in duckdb_rows(duckdb_warehouse)] == [held.healing_id, later.healing_id]
    assert held_ids(outbox) == []


def test_a_duplicate_healing_id_is_written_once_in_each_store(
    sqlite_events: EventStore, outbox: StateStore, duckdb_warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    payloads: list[dict[str, Any]] = []
    tracker = tracker_for(sqlite_events, duckdb_warehouse, outbox, settings, Clock(), payloads.extend)
    event = heal(healing_id="heal_20260115T170000Z_retry")

    tracker.record_event(event)
    tracker.record_event(event)  # the healer retried after a crash, with the same id

    assert sqlite_events.recent(None, START - dt.timedelta(days=1)) == [event]
    assert [row["healing_id"] for row in duckdb_rows(duckdb_warehouse)] == [event.healing_id]
    assert len(payloads) == 2


def test_an_event_store_failure_still_writes_the_warehouse_and_is_raised_after(
    tmp_path: Path, outbox: StateStore, duckdb_warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    broken = SQLiteEventStore(tmp_path / "events.sqlite")
    broken.close()
    payloads: list[dict[str, Any]] = []
    tracker = tracker_for(broken, duckdb_warehouse, outbox, settings, Clock(), payloads.extend)

    with pytest.raises(HealingRecordError) as raised:
        record(tracker)

    error = raised.value
    assert error.in_event_store is False
    assert error.in_warehouse is True
    assert isinstance(error.__cause__, EventStoreError)
    assert "not stored in sqlite://" in str(error)
    assert [row["healing_id"] for row in duckdb_rows(duckdb_warehouse)] == [error.event.healing_id]
    assert payloads == []  # the pattern check reads the store that failed: skipped, not guessed


def test_warehouse_and_outbox_both_down_is_raised_and_a_retry_records_the_event_once(
    sqlite_events: EventStore, outbox: StateStore, duckdb_warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    flaky = FlakyWarehouse(duckdb_warehouse)
    flaky.down = True
    tracker = tracker_for(sqlite_events, flaky, BrokenOutbox(outbox), settings, Clock())

    with pytest.raises(HealingRecordError, match="is not in the warehouse") as raised:
        record(tracker)
    assert raised.value.in_event_store is True
    assert raised.value.in_warehouse is False

    flaky.down = False
    tracker_for(sqlite_events, flaky, outbox, settings, Clock()).record_event(raised.value.event)

    assert [row["healing_id"] for row in duckdb_rows(duckdb_warehouse)] == [raised.value.event.healing_id]
    assert len(sqlite_events.recent(None, START)) == 1


def test_without_a_warehouse_rows_are_held_until_one_is_given(
    sqlite_events: EventStore, outbox: StateStore, duckdb_warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    event = record(tracker_for(sqlite_events, None, outbox, settings, Clock()))
    assert held_ids(outbox) == [event.healing_id]

    report = tracker_for(sqlite_events, duckdb_warehouse, outbox, settings, Clock()).flush()

    assert report.written == [event.healing_id]
    assert [row["healing_id"] for row in duckdb_rows(duckdb_warehouse)] == [event.healing_id]


def test_a_held_row_replayed_by_record_run_is_not_written_again_by_the_tracker(
    sqlite_events: EventStore, outbox: StateStore, duckdb_warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    flaky = FlakyWarehouse(duckdb_warehouse)
    tracker = tracker_for(sqlite_events, flaky, outbox, settings, Clock())
    flaky.down = True
    held = record(tracker)
    flaky.down = False
    passed = {"id": "canary.phase2_raw", "suite": "canary", "outcome": "passed", "target": "t", "metrics": {}}

    run = record_run(
        [passed],
        settings=settings,
        store=outbox,
        warehouse=duckdb_warehouse,
        run_id="canary-run",
        started=START,
        now=START,
        fallback_as_of=None,
        report_hint="",
        environ={},
    )
    report = tracker.flush()
    tracker.record_event(held)

    assert run.problems == []
    assert report.written == []
    assert [row["healing_id"] for row in duckdb_rows(duckdb_warehouse)] == [held.healing_id]


def test_held_rows_of_other_tables_are_left_alone(
    sqlite_events: EventStore, outbox: StateStore, duckdb_warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    others = OutboxItem(
        "run-1:history:check_results", "history:nba_orchestration.check_results", {"rows": []}, START
    )
    outbox.outbox_add(others)

    tracker_for(sqlite_events, duckdb_warehouse, outbox, settings, Clock()).flush()

    assert [item.id for item in outbox.outbox_pending()] == ["run-1:history:check_results"]


# --- Emulators: Firestore event store + outbox, BigQuery warehouse --------------------------------


@pytest.mark.bigquery
def test_bigquery_unreachable_holds_the_row_and_the_next_run_writes_it_exactly_once(
    emulator_client: bigquery.Client, bigquery_table: str, tmp_path: Path, settings: Settings
) -> None:
    from resilience.google_clients import bigquery_client
    from tests.bigquery_emulator import lease_port

    path = tmp_path / "state.sqlite"
    clock = Clock()
    with contextlib.ExitStack() as leases:
        port = lease_port(leases)  # leased, never listened on: nothing answers there
        dead = _bigquery_warehouse(
            bigquery_client("test-project", f"http://127.0.0.1:{port}"), write_timeout=1.0
        )
        with (
            contextlib.closing(SQLiteEventStore(path)) as events,
            contextlib.closing(open_state_store(f"sqlite://{path}", "test")) as outbox,
        ):
            during = record(tracker_for(events, dead, outbox, settings, clock))
            assert held_ids(outbox) == [during.healing_id]
            dead.close()

    clock.advance(minutes=30)
    with (
        contextlib.closing(SQLiteEventStore(path)) as events,
        contextlib.closing(open_state_store(f"sqlite://{path}", "test")) as outbox,
    ):
        tracker = tracker_for(events, _bigquery_warehouse(emulator_client), outbox, settings, clock)
        after = record(tracker)
        clock.advance(minutes=1)
        last = record(tracker)
        assert held_ids(outbox) == []

    assert bigquery_ids(emulator_client) == [during.healing_id, after.healing_id, last.healing_id]


@pytest.mark.bigquery
def test_rows_bigquery_rejects_are_held_until_the_table_takes_them(
    emulator_client: bigquery.Client,
    bigquery_table: str,
    sqlite_events: EventStore,
    outbox: StateStore,
    settings: Settings,
) -> None:
    from google.cloud import bigquery as bq

    # A table someone created without the metadata column: insert_rows_json answers per-row errors.
    emulator_client.create_dataset("nba_orchestration", exists_ok=True)
    narrow = [bq.SchemaField("healing_id", "STRING"), bq.SchemaField("timestamp", "TIMESTAMP")]
    emulator_client.create_table(bq.Table(f"test-project.{TABLE}", schema=narrow))
    clock = Clock()
    tracker = tracker_for(sqlite_events, _bigquery_warehouse(emulator_client), outbox, settings, clock)

    rejected = record(tracker)

    [item] = [i for i in outbox.outbox_pending() if i.channel == HELD]
    assert item.id == rejected.healing_id
    report = tracker.flush()
    assert "no such field" in report.error

    emulator_client.delete_table(TABLE)  # fixed: the tracker creates it from the catalog again
    clock.advance(minutes=5)
    accepted = record(tracker)

    assert bigquery_ids(emulator_client) == [rejected.healing_id, accepted.healing_id]
    assert held_ids(outbox) == []


@pytest.mark.firestore
@pytest.mark.bigquery
def test_production_stores_record_a_heal_in_firestore_and_bigquery(
    firestore_emulator: FirestoreEmulator,
    emulator_client: bigquery.Client,
    bigquery_table: str,
    settings: Settings,
) -> None:
    stores = _firestore_stores(firestore_emulator)
    events, outbox = stores.open_events(), stores.open_state()
    try:
        tracker = tracker_for(events, _bigquery_warehouse(emulator_client), outbox, settings, Clock())
        event = record(tracker)
        tracker.record_event(event)

        assert events.recent("stalled_batch", START) == [event]
        assert outbox.outbox_pending() == []
    finally:
        events.close()
        outbox.close()
    [row] = list(emulator_client.query(f"SELECT * FROM `{TABLE}`").result())
    assert row["healing_id"] == event.healing_id
    assert json.loads(row["before_state"]) == {"completed": 94, "expected": 100}
    assert json.loads(row["metadata"])["check_fingerprint"] == "canary.phase5_predictions@duckdb:///demo"


@pytest.mark.firestore
def test_a_warehouse_outage_with_a_firestore_outbox_delivers_once(
    firestore_emulator: FirestoreEmulator, duckdb_warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    stores = _firestore_stores(firestore_emulator)
    events, outbox = stores.open_events(), stores.open_state()
    clock = Clock()
    flaky = FlakyWarehouse(duckdb_warehouse)
    try:
        tracker = tracker_for(events, flaky, outbox, settings, clock)
        flaky.down = True
        during = record(tracker)
        assert held_ids(outbox) == [during.healing_id]
        flaky.down = False
        clock.advance(minutes=1)
        after = record(tracker)
        record_again = tracker.flush()
        assert held_ids(outbox) == []
    finally:
        events.close()
        outbox.close()
    assert record_again.written == []
    assert [row["healing_id"] for row in duckdb_rows(duckdb_warehouse)] == [
        during.healing_id,
        after.healing_id,
    ]


# --- Pattern levels, each at its threshold and one below -----------------------------------------


def _store_heals(
    events: EventStore, minutes_ago: Sequence[float], *, failed: int = 0, healing_type: str = "stalled_batch"
) -> None:
    """One heal per entry, ``minutes_ago`` before START; the first ``failed`` of them failed."""
    for number, minutes in enumerate(minutes_ago):
        at = START - dt.timedelta(minutes=minutes)
        events.add(
            heal(healing_type, at, success=number >= failed, healing_id=f"heal_{healing_type}_{number:03d}")
        )


def _spread(count: int) -> list[float]:
    """``count`` heals more than an hour apart, all within the last day: never yellow on their own."""
    return [90.0 + 120.0 * number for number in range(count)]


def test_yellow_fires_at_three_heals_within_the_hour_and_not_at_two(
    events: EventStore, settings: Settings
) -> None:
    _store_heals(events, [5, 40])
    assert detect(events, "stalled_batch", START, settings) is None

    _store_heals(events, [60], healing_type="other")  # another type does not count
    events.add(
        heal(at=START - dt.timedelta(minutes=60), healing_id="heal_third")
    )  # exactly an hour old: counts

    finding = detect(events, "stalled_batch", START, settings)
    assert finding is not None
    assert finding.level is PatternLevel.YELLOW
    assert (finding.count_short, finding.count_long) == (3, 3)


def test_an_event_just_outside_the_hour_does_not_make_yellow(events: EventStore, settings: Settings) -> None:
    _store_heals(events, [5, 40, 60 + 1 / 60])

    finding, seen = assess(events, "stalled_batch", START, settings)

    assert finding.level is None
    assert (finding.count_short, len(seen)) == (2, 3)


def test_red_fires_at_ten_heals_within_the_day_and_not_at_nine(
    events: EventStore, settings: Settings
) -> None:
    _store_heals(events, _spread(9))
    assert detect(events, "stalled_batch", START, settings) is None

    events.add(heal(at=START - dt.timedelta(hours=23, minutes=59), healing_id="heal_tenth"))

    finding = detect(events, "stalled_batch", START, settings)
    assert finding is not None
    assert finding.level is PatternLevel.RED
    assert (finding.count_short, finding.count_long) == (0, 10)


def test_critical_fires_above_the_failure_rate_with_enough_heals_and_not_at_it(
    events: EventStore, settings: Settings
) -> None:
    _store_heals(events, _spread(5), failed=1)  # 1 of 5 = 20%: at the rate, not above it
    assert detect(events, "stalled_batch", START, settings) is None

    events.add(heal(at=START - dt.timedelta(hours=20), success=False, healing_id="heal_sixth"))  # 2 of 6

    finding = detect(events, "stalled_batch", START, settings)
    assert finding is not None
    assert finding.level is PatternLevel.CRITICAL
    assert finding.failure_share == pytest.approx(2 / 6)


def test_critical_needs_its_minimum_number_of_heals(events: EventStore, settings: Settings) -> None:
    _store_heals(events, _spread(4), failed=4)  # every heal failed, but only 4 of the 5 needed

    finding, _ = assess(events, "stalled_batch", START, settings)

    assert finding.level is None
    assert finding.failure_share == 1.0


def test_the_most_severe_level_wins(events: EventStore, settings: Settings) -> None:
    _store_heals(events, [1, 2, 3, *_spread(7)])  # yellow and red at once
    red = detect(events, "stalled_batch", START, settings)
    assert red is not None and red.level is PatternLevel.RED

    events.add(heal(at=START - dt.timedelta(minutes=4), success=False, healing_id="heal_f1"))
    events.add(heal(at=START - dt.timedelta(minutes=6), success=False, healing_id="heal_f2"))
    events.add(heal(at=START - dt.timedelta(minutes=7), success=False, healing_id="heal_f3"))  # 3 of 13

    critical = detect(events, "stalled_batch", START, settings)
    assert critical is not None and critical.level is PatternLevel.CRITICAL
    assert critical.yellow and critical.red


def test_heals_older_than_the_windows_or_after_now_are_left_out(
    events: EventStore, settings: Settings
) -> None:
    _store_heals(events, [-5, -1, 24 * 60 + 1, 5, 6])

    finding, seen = assess(events, "stalled_batch", START, settings)

    assert finding.level is None
    assert len(seen) == 2


def test_windows_and_counts_come_from_the_settings(sqlite_events: EventStore, settings: Settings) -> None:
    patterns = dataclasses.replace(settings.healing.patterns, yellow_count=2, yellow_window_minutes=10)
    tighter = dataclasses.replace(settings, healing=dataclasses.replace(settings.healing, patterns=patterns))
    _store_heals(sqlite_events, [1, 9])

    finding = detect(sqlite_events, "stalled_batch", START, tighter)

    assert finding is not None and finding.level is PatternLevel.YELLOW


# --- Payloads -----------------------------------------------------------------------------------


def test_a_yellow_payload_warns_to_the_healing_route_with_counts_and_the_five_latest(
    sqlite_events: EventStore, settings: Settings
) -> None:
    _store_heals(sqlite_events, [1, 2, 3, 4, 5, 6])
    finding, seen = assess(sqlite_events, "stalled_batch", START, settings)

    payload = finding_payload(finding, seen, "sqlite:///state.sqlite")

    assert payload["id"] == "healing.pattern.stalled_batch"
    assert payload["suite"] == "healing"
    assert payload["outcome"] == "warn"
    assert payload["target"] == "sqlite:///state.sqlite"
    assert payload["as_of"] == "2026-01-15"
    assert "alert_channel" not in payload
    assert channels_for(payload, settings.alerts) == ("nba-alerts",)
    assert set(payload["metrics"]) == {"count_1h", "count_24h", "failure_share"}
    assert payload["metrics"]["count_1h"]["value"] == 6
    assert payload["metrics"]["count_1h"]["outcome"] == "warn"
    assert payload["metrics"]["failure_share"]["value"] == 0.0
    message = payload["message"]
    assert "6 in the last 1 h, 6 in the last 24 h; 0 of 6 failed" in message
    assert message.count("• ") == 5
    assert "2026-01-15 16:59 UTC: batch stalled 18 min at 94% (succeeded)" in message
    assert "16:54" not in message  # the sixth newest is left out
    json.dumps(payload, allow_nan=False)


def test_a_critical_payload_fails_to_the_critical_channel(
    sqlite_events: EventStore, settings: Settings
) -> None:
    _store_heals(sqlite_events, _spread(5), failed=2)
    finding, seen = assess(sqlite_events, "stalled_batch", START, settings)

    payload = finding_payload(finding, seen, "t", critical_channel="app-error-alerts")

    assert payload["outcome"] == "failed"
    assert payload["critical"] is True
    assert channels_for(payload, settings.alerts) == ("app-error-alerts",)
    assert payload["metrics"]["failure_share"] | {"value": None} == {
        "title": "share of stalled_batch heals that failed in the last 24 h",
        "value": None,
        "thresholds": {"fail_above": 0.2, "min_events": 5},
        "outcome": "failed",
    }
    assert "(FAILED)" in payload["message"]


def test_a_red_payload_fails_to_the_healing_route(sqlite_events: EventStore, settings: Settings) -> None:
    _store_heals(sqlite_events, _spread(10))
    finding, seen = assess(sqlite_events, "stalled_batch", START, settings)

    payload = finding_payload(finding, seen, "t")

    assert (payload["outcome"], payload["critical"]) == ("failed", False)
    assert channels_for(payload, settings.alerts) == ("nba-alerts",)
    assert payload["metrics"]["count_24h"]["outcome"] == "failed"


def test_no_pattern_gives_a_passed_payload(sqlite_events: EventStore, settings: Settings) -> None:
    _store_heals(sqlite_events, [5])
    finding, seen = assess(sqlite_events, "stalled_batch", START, settings)

    payload = finding_payload(finding, seen, "t")

    assert payload["outcome"] == "passed"
    assert all(metric["outcome"] == "passed" for metric in payload["metrics"].values())
    assert "• " not in payload["message"]


# --- Alerts ------------------------------------------------------------------------------------


def test_the_alerts_callable_gets_one_payload_per_record(
    sqlite_events: EventStore, outbox: StateStore, duckdb_warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    received: list[list[dict[str, Any]]] = []
    clock = Clock()
    tracker = tracker_for(sqlite_events, duckdb_warehouse, outbox, settings, clock, received.append)

    for _ in range(3):
        record(tracker)
        clock.advance(minutes=1)
    record(tracker, "retry_scraper")

    assert [len(batch) for batch in received] == [1, 1, 1, 1]
    assert [(b[0]["id"], b[0]["outcome"]) for b in received] == [
        ("healing.pattern.stalled_batch", "passed"),
        ("healing.pattern.stalled_batch", "passed"),
        ("healing.pattern.stalled_batch", "warn"),
        ("healing.pattern.retry_scraper", "passed"),
    ]
    assert received[0][0]["target"] == sqlite_events.location


def test_an_alerts_failure_is_raised_after_the_event_is_recorded(
    sqlite_events: EventStore, outbox: StateStore, duckdb_warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    def broken(payloads: list[dict[str, Any]]) -> None:
        raise KeyError("suite 'healing' has no route")

    tracker = tracker_for(sqlite_events, duckdb_warehouse, outbox, settings, Clock(), broken)

    with pytest.raises(HealingRecordError, match="pattern check or its alert failed") as raised:
        record(tracker)

    assert raised.value.in_event_store and raised.value.in_warehouse
    assert len(duckdb_rows(duckdb_warehouse)) == 1


def test_wired_to_record_run_yellow_alerts_nba_alerts_once_and_critical_goes_to_app_error_alerts(
    sqlite_events: EventStore, outbox: StateStore, duckdb_warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    clock = Clock()
    runs = iter(range(1, 1000))
    problems: list[str] = []

    with FakeSlack() as slack:
        environ = {
            "SLACK_WEBHOOK_URL_WARNING": slack.url("warning"),
            "SLACK_WEBHOOK_URL_ERROR": slack.url("error"),
        }

        def alerts(payloads: list[dict[str, Any]]) -> object:
            result = record_run(
                payloads,
                settings=settings,
                store=outbox,
                warehouse=duckdb_warehouse,
                run_id=f"healing-{next(runs)}",
                started=clock(),
                now=clock(),
                fallback_as_of=None,
                report_hint="resilience healing analyze",
                environ=environ,
            )
            problems.extend(result.problems)
            return result

        tracker = tracker_for(sqlite_events, duckdb_warehouse, outbox, settings, clock, alerts)
        for _ in range(2):
            record(tracker)
            clock.advance(minutes=5)
        assert slack.received("warning") == []

        record(tracker)  # third within the hour: yellow
        warnings = slack.received("warning")
        assert len(warnings) == 1
        assert "healing.pattern.stalled_batch" in json.dumps(warnings)

        for _ in range(2):  # still yellow, within the cool-down: no repeat
            clock.advance(minutes=5)
            record(tracker)
        assert len(slack.received("warning")) == 1
        assert slack.received("error") == []

        clock.advance(minutes=5)
        record(tracker, success=False)  # 1 of 6 failed: not above 20%
        assert slack.received("error") == []
        clock.advance(minutes=5)
        record(tracker, success=False)  # 2 of 7: critical

        errors = slack.received("error")
        assert len(errors) == 1
        assert "healing.pattern.stalled_batch" in json.dumps(errors)
        assert len(slack.received("warning")) == 1
        clock.advance(minutes=5)
        record(tracker, success=False)  # still critical: no repeat
        assert len(slack.received("error")) == 1
        assert slack.attempts("warning") + slack.attempts("error") == 2

    assert problems == []
    assert len(duckdb_rows(duckdb_warehouse)) == 8
