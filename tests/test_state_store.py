"""The state store contract, run against both stores: SQLite in tmp_path and Firestore on the emulator.

Every behavioural test is parametrized over the two; the Firestore half carries
``@pytest.mark.firestore`` and runs the real google-cloud-firestore client against Google's emulator
(``firestore_emulator`` fixture), each test on a project id of its own, so none sees another's data.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import json
import multiprocessing
import random
import sqlite3
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from resilience.state import (
    AlertState,
    Heartbeat,
    OutboxItem,
    StateStore,
    StateStoreError,
    StateTarget,
    default_state_url,
    open_state_store,
    parse_state_url,
)
from resilience.state.base import DELIVERED_RETENTION

if TYPE_CHECKING:
    from tests.firestore_emulator import FirestoreEmulator

START = dt.datetime(2026, 1, 15, 12, 0, 0, 123456, tzinfo=dt.UTC)
EASTERN = zoneinfo.ZoneInfo("America/New_York")
Clock = Callable[[], dt.datetime]


@dataclasses.dataclass
class Backend:
    """Opens stores on one place (a SQLite file, a Firestore project), each with its own connection."""

    name: str
    opener: Callable[[Clock | None], StateStore]
    opened: list[StateStore] = dataclasses.field(default_factory=list)

    def open(self, clock: Clock | None = None) -> StateStore:
        store = self.opener(clock)
        self.opened.append(store)
        return store


def _sqlite_backend(path: Path) -> Backend:
    from resilience.state.sqlite_store import SQLiteStateStore

    def opener(clock: Clock | None) -> StateStore:
        return SQLiteStateStore(path) if clock is None else SQLiteStateStore(path, clock=clock)

    return Backend("sqlite", opener)


def _firestore_backend(emulator: FirestoreEmulator) -> Backend:
    from resilience.state.firestore_store import FirestoreStateStore

    project = emulator.unique_project()

    def opener(clock: Clock | None) -> StateStore:
        client = emulator.client(project)
        return FirestoreStateStore(client) if clock is None else FirestoreStateStore(client, clock=clock)

    return Backend("firestore", opener)


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.firestore)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        made = _sqlite_backend(tmp_path / "state" / "state.sqlite")
    else:
        made = _firestore_backend(request.getfixturevalue("firestore_emulator"))
    yield made
    for store in made.opened:
        store.close()


@pytest.fixture
def store(backend: Backend) -> StateStore:
    return backend.open()


def alert_state(
    fingerprint: str = "phase2_rows@nba_raw.nbac_gamebook_player_stats", **changes: Any
) -> AlertState:
    check_id, _, target = fingerprint.partition("@")
    state = AlertState(
        fingerprint=fingerprint,
        check_id=check_id,
        target=target,
        first_seen=START,
        last_seen=START + dt.timedelta(hours=1, microseconds=1),
        last_sent=START + dt.timedelta(minutes=30),
        last_outcome="failed",
        last_band="failed:rows<fail_below",
        count=3,
        recent_outcomes=("passed", "warn", "failed", "failed"),
        flapping=True,
        last_values={"rows": 12.0, "null_names": None, "mean_minutes": 17.25},
    )
    return dataclasses.replace(state, **changes)


def outbox_item(item_id: str = "run-1:#canary-alerts", **changes: Any) -> OutboxItem:
    item = OutboxItem(
        id=item_id,
        channel="#canary-alerts",
        payload={"text": "phase 2: 12 rows (need ≥ 40)", "blocks": [{"type": "section"}]},
        created_at=START,
    )
    return dataclasses.replace(item, **changes)


def heartbeat(suite: str, run_id: str, finished_minutes: int, **changes: Any) -> Heartbeat:
    finished = START + dt.timedelta(minutes=finished_minutes)
    beat = Heartbeat(
        suite=suite,
        run_id=run_id,
        started_at=finished - dt.timedelta(seconds=42, microseconds=5),
        finished_at=finished,
        outcome="warn",
        counts={"passed": 20, "warn": 1, "failed": 0, "error": 0},
    )
    return dataclasses.replace(beat, **changes)


# --- alert states ---------------------------------------------------------------------------------


def test_alert_states_round_trip_every_field_with_utc_datetimes(backend: Backend) -> None:
    in_eastern = alert_state(
        first_seen=START.astimezone(EASTERN),
        last_seen=(START.replace(microsecond=999_999) + dt.timedelta(days=2)).astimezone(EASTERN),
    )
    never_sent = alert_state(
        "phase5_rows@nba_predictions.player_prop_predictions",
        last_sent=None,
        last_band="",
        count=0,
        last_outcome="passed",
        recent_outcomes=(),
        flapping=False,
        last_values={},
    )
    backend.open().save_alert_states([in_eastern, never_sent])

    loaded = backend.open().load_alert_states([in_eastern.fingerprint, never_sent.fingerprint])

    assert loaded == {in_eastern.fingerprint: in_eastern, never_sent.fingerprint: never_sent}
    state = loaded[in_eastern.fingerprint]
    assert state.last_sent is not None
    assert all(moment.tzinfo == dt.UTC for moment in (state.first_seen, state.last_seen, state.last_sent))
    assert type(state.first_seen) is dt.datetime
    assert state.last_seen.microsecond == 999_999
    assert isinstance(state.recent_outcomes, tuple)
    assert state.last_values == {"rows": 12.0, "null_names": None, "mean_minutes": 17.25}
    assert all(value is None or type(value) is float for value in state.last_values.values())


def test_loading_returns_only_the_fingerprints_that_have_a_state(store: StateStore) -> None:
    store.save_alert_states([alert_state("a@t1"), alert_state("b@t2")])

    loaded = store.load_alert_states(["b@t2", "never-seen@t3", "b@t2"])

    assert list(loaded) == ["b@t2"]
    assert store.load_alert_states([]) == {}


def test_fingerprints_with_slashes_dots_and_reserved_shapes_are_kept_apart(store: StateStore) -> None:
    awkward = ["a@gs://bucket/x", "a@gs:%2F%2Fbucket%2Fx", ".@.", "__x@y__", "a@ü/é #?&", "a@b.c"]
    store.save_alert_states(
        [alert_state(fingerprint, count=number) for number, fingerprint in enumerate(awkward)]
    )

    loaded = store.load_alert_states(awkward)

    assert {fingerprint: state.count for fingerprint, state in loaded.items()} == {
        fingerprint: number for number, fingerprint in enumerate(awkward)
    }


def test_saving_a_fingerprint_again_replaces_its_state(store: StateStore) -> None:
    store.save_alert_states([alert_state(), alert_state("other@t")])
    updated = alert_state(count=4, last_outcome="error", recent_outcomes=("failed",) * 12, last_values={})

    store.save_alert_states([updated])

    assert store.load_alert_states([updated.fingerprint, "other@t"]) == {
        updated.fingerprint: updated,
        "other@t": alert_state("other@t"),
    }


def test_the_last_of_duplicate_fingerprints_in_one_save_wins(store: StateStore) -> None:
    store.save_alert_states([alert_state(count=1), alert_state(count=2), alert_state(count=3)])

    assert store.load_alert_states([alert_state().fingerprint])[alert_state().fingerprint].count == 3


def test_more_states_than_one_firestore_batch_are_all_saved(store: StateStore) -> None:
    many = [alert_state(f"check_{number}@table", count=number) for number in range(620)]

    store.save_alert_states(many)

    loaded = store.load_alert_states(state.fingerprint for state in many)
    assert len(loaded) == 620
    assert loaded["check_619@table"].count == 619


# --- outbox ---------------------------------------------------------------------------------------


def test_outbox_item_round_trips_with_its_payload_exactly(store: StateStore) -> None:
    payload = {
        "text": "Zero-data day ✗ — «nba_raw»",
        "blocks": [{"type": "table", "rows": [[{"text": "a"}, {"text": "b"}], [1, 2.5, None, True]]}],
        "unfurl_links": False,
        "nested": {"": "empty key", "count": 10**12},
    }
    item = outbox_item(
        payload=payload, created_at=START.astimezone(EASTERN), attempts=2, last_error="HTTP 500"
    )

    assert store.outbox_add(item) is True

    (pending,) = store.outbox_pending()
    assert pending == item
    assert pending.created_at.tzinfo == dt.UTC
    assert json.dumps(pending.payload) == json.dumps(payload)


def test_adding_an_id_that_is_queued_returns_false_and_changes_nothing(store: StateStore) -> None:
    first = outbox_item()
    assert store.outbox_add(first) is True

    assert (
        store.outbox_add(outbox_item(payload={"text": "other"}, created_at=START + dt.timedelta(hours=1)))
        is False
    )

    assert store.outbox_pending() == [first]


def test_pending_items_come_oldest_first_up_to_the_limit(store: StateStore) -> None:
    minutes = [5, 1, 4, 2, 3]
    for minute in minutes:
        store.outbox_add(
            outbox_item(f"run-{minute}:#nba-alerts", created_at=START + dt.timedelta(minutes=minute))
        )

    assert [item.id for item in store.outbox_pending()] == [
        f"run-{minute}:#nba-alerts" for minute in range(1, 6)
    ]
    assert [item.id for item in store.outbox_pending(limit=2)] == ["run-1:#nba-alerts", "run-2:#nba-alerts"]
    assert store.outbox_pending(limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        store.outbox_pending(limit=-1)


def test_a_failed_delivery_counts_an_attempt_and_keeps_the_error(store: StateStore) -> None:
    store.outbox_add(outbox_item())

    store.outbox_failed(outbox_item().id, "HTTP 429: rate limited")
    store.outbox_failed(outbox_item().id, "HTTP 503: unavailable")

    (pending,) = store.outbox_pending()
    assert (pending.attempts, pending.last_error) == (2, "HTTP 503: unavailable")


def test_a_failed_delivery_of_an_id_no_longer_queued_is_ignored(store: StateStore) -> None:
    store.outbox_failed("never-queued", "HTTP 500")

    assert store.outbox_pending() == []


def test_a_very_long_error_is_cut(store: StateStore) -> None:
    store.outbox_add(outbox_item())

    store.outbox_failed(outbox_item().id, "<html>" + "x" * 100_000)

    (pending,) = store.outbox_pending()
    assert pending.last_error.startswith("<html>xxx")
    assert len(pending.last_error) == 2000


def test_a_delivered_item_leaves_the_outbox_and_cannot_be_queued_again(store: StateStore) -> None:
    store.outbox_add(outbox_item("run-1:#a"))
    store.outbox_add(outbox_item("run-1:#b", created_at=START + dt.timedelta(seconds=1)))

    store.outbox_delivered("run-1:#a")

    assert [item.id for item in store.outbox_pending()] == ["run-1:#b"]
    assert store.outbox_add(outbox_item("run-1:#a")) is False
    assert [item.id for item in store.outbox_pending()] == ["run-1:#b"]


def test_an_id_marked_delivered_before_it_was_queued_is_remembered(store: StateStore) -> None:
    store.outbox_delivered("sent-by-another-run")

    assert store.outbox_add(outbox_item("sent-by-another-run")) is False
    assert store.outbox_pending() == []


def test_a_payload_that_is_not_json_is_refused_with_the_store_location(store: StateStore) -> None:
    with pytest.raises(StateStoreError, match="not JSON") as raised:
        store.outbox_add(outbox_item(payload={"when": START}))
    assert raised.value.location == store.location
    with pytest.raises(StateStoreError, match="not JSON"):
        store.outbox_add(outbox_item(payload={"ratio": float("nan")}))
    assert store.outbox_pending() == []


def _add_in_threads(backend: Backend, item_ids: list[str], writers: int) -> dict[str, int]:
    """Every writer, on its own store, adds every id (each in its own order) at the same moment."""
    stores = [backend.open() for _ in range(writers)]
    barrier = threading.Barrier(writers)
    added: dict[str, int] = dict.fromkeys(item_ids, 0)
    lock = threading.Lock()

    def write(store: StateStore, seed: int) -> None:
        order = list(item_ids)
        random.Random(seed).shuffle(order)
        barrier.wait()
        for item_id in order:
            if store.outbox_add(outbox_item(item_id)):
                with lock:
                    added[item_id] += 1

    with concurrent.futures.ThreadPoolExecutor(writers) as pool:
        for future in [pool.submit(write, store, seed) for seed, store in enumerate(stores)]:
            future.result()
    return added


def test_writers_racing_to_add_the_same_id_succeed_exactly_once(backend: Backend) -> None:
    item_ids = [f"run-{number}:#canary-alerts" for number in range(6)]

    added = _add_in_threads(backend, item_ids, writers=3)

    assert added == dict.fromkeys(item_ids, 1)
    assert sorted(item.id for item in backend.open().outbox_pending()) == sorted(item_ids)


# --- heartbeats -----------------------------------------------------------------------------------


def test_heartbeats_come_newest_first_per_suite(store: StateStore) -> None:
    for minutes in (30, 0, 90, 60):
        store.record_heartbeat(heartbeat("canary", f"canary-{minutes}", minutes))
    store.record_heartbeat(heartbeat("drift", "drift-1", 120))

    assert [beat.run_id for beat in store.heartbeats("canary")] == [
        "canary-90",
        "canary-60",
        "canary-30",
        "canary-0",
    ]
    assert [beat.run_id for beat in store.heartbeats("canary", limit=2)] == ["canary-90", "canary-60"]
    assert [beat.run_id for beat in store.heartbeats("drift")] == ["drift-1"]
    assert store.heartbeats("gate") == []


def test_heartbeat_round_trips_every_field(backend: Backend) -> None:
    beat = heartbeat(
        "gate", "gate/2026-01-15T12:00", 5, started_at=START.astimezone(EASTERN), outcome="error"
    )
    backend.open().record_heartbeat(beat)

    (loaded,) = backend.open().heartbeats("gate")

    assert loaded == beat
    assert loaded.started_at.tzinfo == dt.UTC
    assert dict(loaded.counts) == {"passed": 20, "warn": 1, "failed": 0, "error": 0}


def test_recording_a_run_again_replaces_its_heartbeat(store: StateStore) -> None:
    store.record_heartbeat(heartbeat("canary", "run-7", 0, outcome="error"))

    store.record_heartbeat(heartbeat("canary", "run-7", 1, outcome="passed"))

    assert [(beat.run_id, beat.outcome) for beat in store.heartbeats("canary")] == [("run-7", "passed")]


def test_suites_with_heartbeats_lists_each_suite_once_sorted(store: StateStore) -> None:
    assert store.suites_with_heartbeats() == []
    for number, suite in enumerate(["gate", "canary", "drift", "canary", "gate", "canary"]):
        store.record_heartbeat(heartbeat(suite, f"run-{number}", number))

    assert store.suites_with_heartbeats() == ["canary", "drift", "gate"]


# --- failures -------------------------------------------------------------------------------------


def test_a_sqlite_path_that_is_a_folder_fails_with_the_location(tmp_path: Path) -> None:
    folder = tmp_path / "state.sqlite"
    folder.mkdir()

    with pytest.raises(StateStoreError) as raised:
        open_state_store(f"sqlite://{folder}", "RESILIENCE_STATE")

    assert raised.value.location == f"sqlite://{folder}"
    assert str(raised.value).startswith(f"state store sqlite://{folder}: could not open the database: ")


def test_a_closed_sqlite_store_fails_with_the_location(tmp_path: Path) -> None:
    store = open_state_store(f"sqlite://{tmp_path}/state.sqlite", "test")
    store.close()

    with pytest.raises(StateStoreError, match=r"could not load alert states: .*closed"):
        store.load_alert_states(["a@b"])


@pytest.mark.firestore
def test_an_unreachable_firestore_fails_every_call_in_bounded_time_with_the_location() -> None:
    from resilience.google_clients import firestore_client
    from resilience.state.firestore_store import FirestoreStateStore
    from tests.firestore_emulator import emulator_host, lease_port

    with contextlib.ExitStack() as leases:
        port = lease_port(leases)  # leased and never listened on: nothing answers there
        with emulator_host(f"127.0.0.1:{port}"):
            client = firestore_client("unreachable-project")
        store = FirestoreStateStore(client, timeout=0.5)
        calls: list[Callable[[], object]] = [
            lambda: store.load_alert_states(["a@b"]),
            lambda: store.save_alert_states([alert_state()]),
            lambda: store.outbox_add(outbox_item()),
            lambda: store.outbox_pending(),
            lambda: store.outbox_delivered("x"),
            lambda: store.outbox_failed("x", "e"),
            lambda: store.record_heartbeat(heartbeat("canary", "r", 0)),
            lambda: store.heartbeats("canary"),
            lambda: store.suites_with_heartbeats(),
        ]
        try:
            for call in calls:
                began = time.monotonic()
                with pytest.raises(StateStoreError) as raised:
                    call()
                assert time.monotonic() - began < 10
                assert str(raised.value).startswith("state store firestore://unreachable-project: could not ")
        finally:
            store.close()


# --- SQLite specifics -----------------------------------------------------------------------------


def test_sqlite_store_creates_its_folder_in_wal_mode_with_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "state.sqlite"

    store = open_state_store(f"sqlite://{path}", "RESILIENCE_STATE")
    store.close()

    assert store.location == f"sqlite://{path}"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [(1,)]


def test_a_sqlite_file_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    open_state_store(f"sqlite://{path}", "test").close()
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("UPDATE schema_version SET version = 99")

    with pytest.raises(StateStoreError, match="schema version 99, newer than"):
        open_state_store(f"sqlite://{path}", "test")


def test_sqlite_forgets_delivered_ids_after_the_retention(tmp_path: Path) -> None:
    backend = _sqlite_backend(tmp_path / "state.sqlite")
    long_ago = START - DELIVERED_RETENTION - dt.timedelta(days=1)
    backend.open(clock=lambda: long_ago).outbox_delivered("old-run:#a")
    store = backend.open(clock=lambda: START)
    store.outbox_delivered("recent-run:#a")

    assert store.outbox_add(outbox_item("old-run:#a")) is True
    assert store.outbox_add(outbox_item("recent-run:#a")) is False
    for opened in backend.opened:
        opened.close()


def _add_from_process(path: str, item_ids: list[str], start_at: float, seed: int) -> list[str]:
    from resilience.state.sqlite_store import SQLiteStateStore

    time.sleep(max(0.0, start_at - time.time()))
    order = list(item_ids)
    random.Random(seed).shuffle(order)
    store = SQLiteStateStore(Path(path))  # opened at the same moment: the schema is created in a race too
    try:
        added = [item_id for item_id in order if store.outbox_add(outbox_item(item_id))]
        store.save_alert_states([alert_state(f"check@process-{seed}-{number}") for number in range(50)])
        return added
    finally:
        store.close()


def test_sqlite_processes_racing_on_a_new_file_add_each_id_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "state.sqlite"
    item_ids = [f"run-{number}:#canary-alerts" for number in range(40)]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(3, mp_context=context) as pool:
        start_at = time.time() + 1.5  # after the spawned interpreters have started
        futures = [pool.submit(_add_from_process, str(path), item_ids, start_at, seed) for seed in range(3)]
        added = [item_id for future in futures for item_id in future.result()]

    assert sorted(added) == sorted(item_ids)
    store = open_state_store(f"sqlite://{path}", "test")
    fingerprints = [f"check@process-{seed}-{number}" for seed in range(3) for number in range(50)]
    assert len(store.load_alert_states(fingerprints)) == 150
    store.close()


# --- Firestore specifics --------------------------------------------------------------------------


@pytest.mark.firestore
def test_firestore_documents_sit_where_the_contract_says(firestore_emulator: FirestoreEmulator) -> None:
    from resilience.state.firestore_store import FirestoreStateStore

    project = firestore_emulator.unique_project()
    store = FirestoreStateStore(firestore_emulator.client(project), clock=lambda: START)
    store.save_alert_states([alert_state("rows@nba_raw/x")])
    store.outbox_add(outbox_item("run-1:#a"))
    store.outbox_add(outbox_item("run-1:#b"))
    store.outbox_delivered("run-1:#b")
    store.record_heartbeat(heartbeat("canary", "run-1", 0))
    store.close()

    client = firestore_emulator.client(project)
    try:
        assert [ref.id for ref in client.collection("resilience_alert_states").list_documents()] == [
            "rows@nba_raw%2Fx"
        ]
        assert [ref.id for ref in client.collection("resilience_outbox").list_documents()] == ["run-1:%23a"]
        delivered = client.collection("resilience_outbox_delivered").document("run-1:%23b").get().to_dict()
        assert delivered == {
            "id": "run-1:#b",
            "delivered_at": START,
            "expire_at": START + DELIVERED_RETENTION,
        }
        assert [ref.id for ref in client.collection("resilience_heartbeats").list_documents()] == [
            "canary__run-1"
        ]
    finally:
        client.close()  # type: ignore[no-untyped-call]  # google-cloud-core leaves it unannotated


@pytest.mark.firestore
def test_open_state_store_reaches_firestore_and_reset_empties_it(
    firestore_emulator: FirestoreEmulator,
) -> None:
    from tests.firestore_emulator import emulator_host

    project = firestore_emulator.unique_project()
    with emulator_host(firestore_emulator.host):
        store = open_state_store(f"firestore://{project}", "RESILIENCE_STATE")
    try:
        assert store.location == f"firestore://{project}"
        store.record_heartbeat(heartbeat("canary", "run-1", 0))
        assert store.suites_with_heartbeats() == ["canary"]

        firestore_emulator.reset(project)

        assert store.suites_with_heartbeats() == []
    finally:
        store.close()


def test_a_missing_emulator_names_the_package_and_the_gcloud_component(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tests.firestore_emulator as emulator_module

    monkeypatch.setattr(emulator_module, "DEBIAN_SCRIPT", tmp_path / "absent" / "cloud_firestore_emulator")
    monkeypatch.delenv(emulator_module.SCRIPT_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(emulator_module.EmulatorNotInstalled) as raised:
        emulator_module.find_start_script()

    assert "google-cloud-cli-firestore-emulator" in str(raised.value)
    assert "gcloud components install cloud-firestore-emulator" in str(raised.value)


def test_an_emulator_that_exits_at_once_is_reported_with_its_status(tmp_path: Path) -> None:
    from tests.firestore_emulator import EmulatorDidNotStart, running_emulator

    script = tmp_path / "cloud_firestore_emulator"
    script.write_text("#!/bin/sh\necho 'java: not found'\nexit 127\n")
    script.chmod(0o755)

    with (
        pytest.raises(EmulatorDidNotStart, match=r"exited with status 127(.|\n)*java: not found"),
        running_emulator(script, tmp_path / "work", startup_timeout=10),
    ):
        pass


def test_document_ids_are_url_safe_distinct_and_never_reserved() -> None:
    from resilience.state.firestore_store import document_id

    assert document_id("phase2_rows@nba_raw.gamebook") == "phase2_rows@nba_raw.gamebook"
    assert document_id("run-1:#canary-alerts") == "run-1:%23canary-alerts"
    assert document_id("a/b") == "a%2Fb"
    assert document_id(".") == "%2E"
    assert document_id("..") == "%2E."
    assert document_id("__name__") == "%5F_name__"
    keys = ["a/b", "a%2Fb", ".", "%2E", "__x__", "%5F_x__", "_x__", "é"]
    assert len({document_id(key) for key in keys}) == len(keys)
    with pytest.raises(ValueError, match="empty"):
        document_id("")


# --- URLs and model -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "sqlite:///var/lib/resilience/state.sqlite",
            StateTarget("sqlite", path=Path("/var/lib/resilience/state.sqlite")),
        ),
        ("firestore://nba-props-platform", StateTarget("firestore", project="nba-props-platform")),
        ("firestore://nba-props-platform/", StateTarget("firestore", project="nba-props-platform")),
        (
            "firestore://nba-props-platform?database=(default)",
            StateTarget("firestore", project="nba-props-platform"),
        ),
        (
            "firestore://nba-props-platform?database=resilience",
            StateTarget("firestore", project="nba-props-platform", database="resilience"),
        ),
    ],
)
def test_state_urls_parse(url: str, expected: StateTarget) -> None:
    assert parse_state_url(url, "RESILIENCE_STATE") == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "state.sqlite",
        "sqlite://relative/state.sqlite",
        "sqlite:relative.sqlite",
        "sqlite:///var/lib/resilience/",
        "sqlite:///tmp/state.sqlite?mode=ro",
        "firestore://",
        "firestore://Nba_Props",
        "firestore://nba-props-platform/collection",
        "firestore://nba-props-platform?databse=x",
        "firestore://nba-props-platform?database=a&database=b",
        "firestore://nba-props-platform?database=Bad_Name",
        "firestore://nba-props-platform#frag",
        "postgres://host/db",
    ],
)
def test_malformed_state_urls_name_the_value_and_its_source(url: str) -> None:
    with pytest.raises(ValueError, match=r"^RESILIENCE_STATE: ") as raised:
        open_state_store(url, "RESILIENCE_STATE")
    assert repr(url) in str(raised.value)


def test_a_named_firestore_database_is_refused_until_the_client_builder_takes_one() -> None:
    with pytest.raises(ValueError, match=r"RESILIENCE_STATE: .*'resilience'.*\(default\) database only"):
        open_state_store("firestore://nba-props-platform?database=resilience", "RESILIENCE_STATE")


def test_the_default_url_is_a_sqlite_file_in_the_state_folder(tmp_path: Path) -> None:
    assert default_state_url(tmp_path / "state") == f"sqlite://{tmp_path}/state/state.sqlite"


def test_importing_the_package_loads_neither_backend() -> None:
    import subprocess
    import sys

    code = (
        "import sys, resilience.state; "
        "loaded = [m for m in sys.modules if m.startswith(('google', 'sqlite3', 'resilience.state.'))]; "
        "print(sorted(loaded))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "['resilience.state.base', 'resilience.state.model']"


def test_model_values_refuse_naive_datetimes_and_empty_keys() -> None:
    with pytest.raises(ValueError, match=r"AlertState.first_seen must be timezone-aware"):
        alert_state(first_seen=dt.datetime(2026, 1, 15, 12))
    with pytest.raises(ValueError, match=r"OutboxItem.created_at must be timezone-aware"):
        outbox_item(created_at=dt.datetime(2026, 1, 15, 12))
    with pytest.raises(ValueError, match=r"Heartbeat.run_id must not be empty"):
        heartbeat("canary", "", 0)
