"""Prediction batches, the stall rule, the stalled_batches check and the clean-up job, on both stores.

Store tests run against SQLite in tmp_path and against Google's Firestore emulator (the Firestore half
carries ``@pytest.mark.firestore``, each test on a project id of its own). The healing tracker is
another module's: these tests pass a small recorder with its ``record`` signature that keeps the
events it was given.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime as dt
import io
import json
import multiprocessing
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from healing.cleanup import HEALING_TYPE, CleanupResult, run_cleanup, stall_cause
from healing.cleanup_cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_cleanup_parser, run_cleanup_command
from healing.model import HealingEvent, new_healing_id
from resilience.batches import BatchStore, PredictionBatch, completion, is_stalled, open_batch_store
from resilience.batches.check import stalled_batches_result
from resilience.batches.demo import seed_batches
from resilience.batches.sqlite_store import SQLiteBatchStore
from resilience.healing_settings import CleanupSettings
from resilience.outcomes import Outcome
from resilience.settings import Settings
from resilience.state import StateStoreError

if TYPE_CHECKING:
    from tests.firestore_emulator import FirestoreEmulator

NOW = dt.datetime(2026, 2, 5, 23, 30, 0, 250000, tzinfo=dt.UTC)
GAME_DATE = "2026-02-05"
#: The production rule, as in resilience.toml.
RULE = CleanupSettings(created_within_hours=24, stalled_after_minutes=15, min_completion=0.9, max_batches=50)


# --- helpers --------------------------------------------------------------------------------------


def batch(
    batch_id: str,
    *,
    done: int = 95,
    expected: int = 100,
    idle_minutes: float = 22,
    age_hours: float = 2,
    failed: Mapping[str, str] | None = None,
    counter: int = 0,
    **changes: Any,
) -> PredictionBatch:
    """A batch ``done`` of ``expected`` through (by array unless ``counter``), last updated
    ``idle_minutes`` before NOW, created ``age_hours`` before NOW."""
    failures = dict(failed) if failed is not None else {"playerfail1": "no features"}
    made = PredictionBatch(
        batch_id=batch_id,
        game_date=GAME_DATE,
        expected_players=expected,
        created_at=NOW - dt.timedelta(hours=age_hours),
        updated_at=NOW - dt.timedelta(minutes=idle_minutes),
        start_time=NOW - dt.timedelta(hours=age_hours),
        completed_players=tuple(f"player{number:03d}" for number in range(done)),
        failed_players=tuple(failures),
        failure_reasons=failures,
        predictions_by_player={f"player{number:03d}": 4 for number in range(done)},
        total_predictions=4 * done,
        completed_count=counter,
        correlation_id=f"corr-{batch_id}",
    )
    return dataclasses.replace(made, **changes)


@dataclasses.dataclass
class Recorder:
    """Test double of ``HealingTracker.record``: builds the event and keeps it."""

    events: list[HealingEvent] = dataclasses.field(default_factory=list)
    fail_with: Exception | None = None

    def __call__(
        self,
        healing_type: str,
        trigger_reason: str,
        action_taken: str,
        before_state: Mapping[str, Any],
        after_state: Mapping[str, Any],
        success: bool,
        metadata: Mapping[str, Any],
        check_fingerprint: str | None = None,
    ) -> HealingEvent:
        if self.fail_with is not None:
            raise self.fail_with
        event = HealingEvent(
            healing_id=new_healing_id(NOW),
            timestamp=NOW,
            healing_type=healing_type,
            trigger_reason=trigger_reason,
            action_taken=action_taken,
            before_state=before_state,
            after_state=after_state,
            success=success,
            metadata=metadata,
            check_fingerprint=check_fingerprint,
        )
        self.events.append(event)
        return event


@dataclasses.dataclass
class Backend:
    """Opens batch stores on one place (a SQLite file, a Firestore project), each its own connection."""

    name: str
    opener: Callable[[], BatchStore]
    #: The SQLite file's path or the Firestore project.
    where: str
    #: The Firestore emulator's host, for other processes.
    host: str = ""
    opened: list[BatchStore] = dataclasses.field(default_factory=list)

    def open(self) -> BatchStore:
        store = self.opener()
        self.opened.append(store)
        return store


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.firestore)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "state" / "state.sqlite"
        made = Backend("sqlite", lambda: SQLiteBatchStore(path), str(path))
    else:
        from resilience.batches.firestore_store import FirestoreBatchStore

        emulator: FirestoreEmulator = request.getfixturevalue("firestore_emulator")
        project = emulator.unique_project()
        made = Backend(
            "firestore", lambda: FirestoreBatchStore(emulator.client(project)), project, emulator.host
        )
    yield made
    for store in made.opened:
        store.close()


@pytest.fixture
def store(backend: Backend) -> BatchStore:
    return backend.open()


def with_cleanup(settings: Settings, **changes: Any) -> Settings:
    healing = dataclasses.replace(
        settings.healing, cleanup=dataclasses.replace(settings.healing.cleanup, **changes)
    )
    return dataclasses.replace(settings, healing=healing)


# --- the model ------------------------------------------------------------------------------------


def test_completion_reads_the_counter_when_populated_and_the_array_while_it_is_zero() -> None:
    assert completion(batch("b", done=90, counter=0)) == 0.9
    assert completion(batch("b", done=10, counter=90)) == 0.9
    assert completion(batch("b", done=95, counter=89)) == 0.89


def test_a_batch_expecting_nobody_is_never_judged_complete_enough_to_heal(settings: Settings) -> None:
    empty = batch("b", done=0, expected=0, failed={})
    assert completion(empty) == 0.0
    assert not is_stalled(empty, NOW, settings.healing.cleanup)


def test_a_batch_with_a_naive_datetime_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="updated_at must be timezone-aware"):
        batch("b", updated_at=dt.datetime(2026, 2, 5, 12, 0))


# --- the stores -----------------------------------------------------------------------------------


def test_a_batch_round_trips_every_field_in_utc(store: BatchStore) -> None:
    eastern = dt.timezone(dt.timedelta(hours=-5))
    original = batch(
        "batch_2026-02-05_1738790000",
        failed={"alpha": "no features", "beta": "timeout"},
        counter=97,
        created_at=dt.datetime(2026, 2, 5, 16, 0, 0, 123456, tzinfo=eastern),
        completion_time=NOW,
        is_complete=True,
        auto_completed=True,
        auto_completion_reason="2 of 100 players failed",
        stall_completed=True,
        stall_reason="coordinator: stalled 10 min",
        dataset_prefix="test_",
    )
    store.put(original)

    loaded = store.get(original.batch_id)

    assert loaded == original
    assert loaded is not None and loaded.created_at.tzinfo == dt.UTC
    assert store.get("batch_missing") is None


def test_the_stall_rule_edges_on_the_store(store: BatchStore, settings: Settings) -> None:
    # Default rule: created within 24 h, >= 90% complete, no update for >= 15 min, not complete/claimed.
    cases = {
        "at_90_percent": (batch("at_90_percent", done=90, age_hours=5), True),
        "at_89_percent": (batch("at_89_percent", done=89, age_hours=5), False),
        "idle_15_min": (batch("idle_15_min", idle_minutes=15, age_hours=4), True),
        "idle_14_min": (batch("idle_14_min", idle_minutes=14, age_hours=4), False),
        "idle_14m59s": (batch("idle_14m59s", idle_minutes=14 + 59 / 60, age_hours=4), False),
        "created_23h_ago": (batch("created_23h_ago", age_hours=23), True),
        "created_25h_ago": (batch("created_25h_ago", age_hours=25), False),
        "complete": (batch("complete", is_complete=True, completion_time=NOW, age_hours=3), False),
        "claimed_by_cleanup": (batch("claimed_by_cleanup", auto_completed=True, age_hours=3), False),
        "claimed_by_coordinator": (batch("claimed_by_coordinator", stall_completed=True, age_hours=3), False),
        "counter_at_90": (batch("counter_at_90", done=10, counter=90, age_hours=2), True),
        "counter_at_89_array_95": (batch("counter_at_89_array_95", done=95, counter=89, age_hours=2), False),
        "array_at_95_counter_off": (batch("array_at_95_counter_off", done=95, counter=0, age_hours=1), True),
    }
    for made, _ in cases.values():
        store.put(made)

    stalled = store.stalled(NOW, settings.healing.cleanup)

    expected = [name for name, (_, stalls) in cases.items() if stalls]
    # Oldest first: by created_at.
    expected.sort(key=lambda name: (cases[name][0].created_at, name))  # oldest first, then by id
    assert [found.batch_id for found in stalled] == expected
    assert all(is_stalled(found, NOW, settings.healing.cleanup) for found in stalled)


def test_incomplete_lists_every_open_batch_in_the_window_oldest_first(store: BatchStore) -> None:
    store.put(batch("newer", age_hours=1, idle_minutes=1, done=10))
    store.put(batch("older", age_hours=3))
    store.put(batch("done", age_hours=2, is_complete=True))
    store.put(batch("too_old", age_hours=30))

    found = store.incomplete(NOW - dt.timedelta(hours=24))

    assert [item.batch_id for item in found] == ["older", "newer"]


def test_complete_if_unchanged_completes_once_and_returns_the_after_state(store: BatchStore) -> None:
    seen = batch("stalled")
    store.put(seen)

    healed = store.complete_if_unchanged("stalled", seen.updated_at, "1 of 100 players failed", NOW)

    assert healed is not None
    assert healed == dataclasses.replace(
        seen,
        is_complete=True,
        completion_time=NOW,
        auto_completed=True,
        auto_completion_reason="1 of 100 players failed",
        updated_at=NOW,
    )
    assert store.get("stalled") == healed
    # A second healer holding the same read gets nothing.
    assert store.complete_if_unchanged("stalled", seen.updated_at, "again", NOW) is None
    assert store.complete_if_unchanged("stalled", NOW, "again", NOW) is None  # complete and claimed
    assert store.get("stalled") == healed


def test_complete_if_unchanged_refuses_a_batch_changed_after_it_was_read(store: BatchStore) -> None:
    seen = batch("stalled")
    store.put(seen)
    # A late worker reports one more player after the clean-up read the batch.
    changed = dataclasses.replace(
        seen,
        completed_players=(*seen.completed_players, "lateplayer"),
        updated_at=NOW - dt.timedelta(seconds=5),
    )
    store.put(changed)

    assert store.complete_if_unchanged("stalled", seen.updated_at, "reason", NOW) is None
    assert store.get("stalled") == changed


@pytest.mark.parametrize(
    "changes",
    [
        {"is_complete": True},
        {"auto_completed": True, "auto_completion_reason": "someone else"},
        {"stall_completed": True, "stall_reason": "coordinator"},
    ],
    ids=["complete", "claimed_by_a_healer", "claimed_by_the_coordinator"],
)
def test_complete_if_unchanged_refuses_a_complete_or_claimed_batch(
    store: BatchStore, changes: dict[str, Any]
) -> None:
    claimed = batch("stalled", **changes)
    store.put(claimed)

    assert store.complete_if_unchanged("stalled", claimed.updated_at, "reason", NOW) is None
    assert store.get("stalled") == claimed


def test_complete_if_unchanged_of_a_missing_batch_does_nothing(store: BatchStore) -> None:
    assert store.complete_if_unchanged("absent", NOW, "reason", NOW) is None
    assert store.get("absent") is None


def test_a_closed_sqlite_store_fails_with_its_location(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = SQLiteBatchStore(path)
    store.close()

    with pytest.raises(
        StateStoreError, match=r"state store sqlite://.*state\.sqlite \(table prediction_batches\)"
    ):
        store.stalled(NOW, RULE)


@pytest.mark.parametrize("batches_first", [False, True], ids=["state_store_first", "batch_store_first"])
def test_the_batch_table_lives_in_the_state_stores_file_whichever_opens_it_first(
    tmp_path: Path, batches_first: bool
) -> None:
    from resilience.state import Heartbeat, open_state_store

    path = tmp_path / "state.sqlite"
    if batches_first:
        batches = open_batch_store(f"sqlite://{path}", "test")
        state = open_state_store(f"sqlite://{path}", "test")
    else:
        state = open_state_store(f"sqlite://{path}", "test")
        batches = open_batch_store(f"sqlite://{path}", "test")
    batches.put(batch("b"))
    state.record_heartbeat(Heartbeat("canary", "run-1", NOW, NOW, "passed", {"passed": 1}))
    state.close()
    batches.close()

    again = open_batch_store(f"sqlite://{path}", "test")
    assert again.get("b") == batch("b")
    again.close()
    reopened = open_state_store(f"sqlite://{path}", "test")
    assert reopened.suites_with_heartbeats() == ["canary"]
    reopened.close()


def test_open_batch_store_refuses_what_it_cannot_open(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="RESILIENCE_STATE: 'postgres://x' is not a state store URL"):
        open_batch_store("postgres://x", "RESILIENCE_STATE")
    with pytest.raises(ValueError, match=r"healing.batches_collection: 'prediction batches'"):
        open_batch_store(f"sqlite://{tmp_path}/s.sqlite", "test", collection="prediction batches")
    with pytest.raises(ValueError, match="database 'other'"):
        open_batch_store("firestore://nba-props-platform?database=other", "RESILIENCE_STATE")


@pytest.mark.firestore
def test_open_batch_store_reads_the_collection_from_settings_on_firestore(
    firestore_emulator: FirestoreEmulator, settings: Settings
) -> None:
    from tests.firestore_emulator import emulator_host

    project = firestore_emulator.unique_project()
    with emulator_host(firestore_emulator.host):
        store = open_batch_store(f"firestore://{project}", "test", settings.healing.batches_collection)
    try:
        store.put(batch("batch_2026-02-05_1738790000"))
        assert store.location == f"firestore://{project}/prediction_batches"
        raw = firestore_emulator.client(project).collection("prediction_batches")
        document = raw.document("batch_2026-02-05_1738790000").get().to_dict()
        assert document is not None
        assert document["failed_players"] == ["playerfail1"]
        assert document["failure_reasons"] == {"playerfail1": "no features"}
        assert document["completed_count"] == 0
    finally:
        store.close()


@pytest.mark.firestore
def test_a_production_document_without_the_optional_fields_reads_as_their_absence(
    firestore_emulator: FirestoreEmulator, settings: Settings
) -> None:
    from resilience.batches.firestore_store import FirestoreBatchStore

    project = firestore_emulator.unique_project()
    client = firestore_emulator.client(project)
    client.collection("prediction_batches").document("batch_2026-02-05_1").set(
        {
            "batch_id": "batch_2026-02-05_1",
            "game_date": GAME_DATE,
            "expected_players": 10,
            "completed_players": [f"p{number}" for number in range(9)],
            "failed_players": ["p9"],
            "predictions_by_player": {},
            "total_predictions": 36,
            "is_complete": False,
            "created_at": NOW - dt.timedelta(hours=1),
            "updated_at": NOW - dt.timedelta(minutes=30),
        }
    )
    store = FirestoreBatchStore(firestore_emulator.client(project))
    try:
        (found,) = store.stalled(NOW, settings.healing.cleanup)
        assert (found.completed_count, found.auto_completed, found.failure_reasons) == (0, False, {})
        assert (
            stall_cause(found, NOW)
            == "1 of 10 players failed (1 x 'no reason recorded'); 9 completed, stalled 30 min"
        )
    finally:
        store.close()


@pytest.mark.firestore
def test_a_malformed_document_makes_listing_fail_with_its_id(
    firestore_emulator: FirestoreEmulator, settings: Settings
) -> None:
    from resilience.batches.firestore_store import FirestoreBatchStore

    project = firestore_emulator.unique_project()
    firestore_emulator.client(project).collection("prediction_batches").document("bad").set(
        {"game_date": GAME_DATE, "created_at": NOW - dt.timedelta(hours=1), "is_complete": False}
    )
    store = FirestoreBatchStore(firestore_emulator.client(project))
    try:
        with pytest.raises(StateStoreError, match="document 'bad': KeyError"):
            store.stalled(NOW, settings.healing.cleanup)
        result = stalled_batches_result(store, settings, NOW, target=store.location)
        assert result.outcome is Outcome.ERROR
        assert result.message.startswith("check broken: state store firestore://")
    finally:
        store.close()


# --- the clean-up ---------------------------------------------------------------------------------


def test_cleanup_heals_each_stalled_batch_with_exactly_one_event_naming_the_cause(
    store: BatchStore, settings: Settings
) -> None:
    failures = {"p1": "no features", "p2": "no features", "p3": "timeout"}
    store.put(batch("first", done=139, expected=142, failed=failures, age_hours=3, idle_minutes=22))
    store.put(batch("second", done=95, failed={"p9": "no points line"}, age_hours=2, idle_minutes=40))
    store.put(batch("healthy", done=60, age_hours=1, idle_minutes=1))
    recorder = Recorder()

    report = run_cleanup(store, recorder, settings, NOW, check_fingerprint="stalled_batches@batches")

    assert [entry.batch_id for entry in report.healed] == ["first", "second"]
    assert [event.metadata["batch_id"] for event in recorder.events] == ["first", "second"]
    first = recorder.events[0]
    cause = "3 of 142 players failed (2 x 'no features', 1 x 'timeout'); 139 completed, stalled 22 min"
    assert report.healed[0].reason == cause
    assert first.healing_type == HEALING_TYPE == "stalled_batch_completion"
    assert first.success is True
    assert first.check_fingerprint == "stalled_batches@batches"
    # The trigger is the general cause, so recurring causes aggregate; the batch is in the metadata.
    assert (
        first.trigger_reason
        == "prediction batch stalled short of complete; most failed players: 'no features'"
    )
    assert recorder.events[1].trigger_reason.endswith("'no points line'")
    assert first.metadata["completion"] == pytest.approx(139 / 142, abs=1e-4)
    assert first.before_state["is_complete"] is False and first.after_state["is_complete"] is True
    assert first.after_state["auto_completion_reason"] == cause
    assert first.metadata["failure_reasons"] == {"no features": 2, "timeout": 1}
    json.dumps(first.to_row())  # before/after/metadata are machine-readable
    stored = store.get("first")
    assert stored is not None and stored.is_complete and stored.auto_completed
    assert stored.auto_completion_reason == cause
    assert report.healed[0].healing_id == first.healing_id
    healthy = store.get("healthy")
    assert healthy is not None and not healthy.is_complete
    # The next run finds nothing left to do.
    again = run_cleanup(store, recorder, settings, NOW + dt.timedelta(minutes=15))
    assert again.entries == () and len(recorder.events) == 2
    assert again.summary().endswith("no stalled prediction batch.")


def test_a_dry_run_changes_nothing_and_records_nothing(store: BatchStore, settings: Settings) -> None:
    stalled = [batch(f"b{number}", age_hours=3 - number * 0.1) for number in range(3)]
    for made in stalled:
        store.put(made)
    recorder = Recorder()

    report = run_cleanup(store, recorder, settings, NOW, dry_run=True)

    assert [entry.result for entry in report.entries] == [CleanupResult.WOULD_HEAL] * 3
    assert recorder.events == []
    assert [store.get(made.batch_id) for made in stalled] == stalled
    assert "would be completed" in report.summary() and "Nothing was changed" in report.summary()
    assert "(dry run)" in report.to_table()


def test_max_batches_bounds_a_run_to_the_oldest(store: BatchStore, settings: Settings) -> None:
    for number in range(5):
        store.put(batch(f"b{number}", age_hours=5 - number))  # b0 is the oldest
    recorder = Recorder()

    report = run_cleanup(store, recorder, settings, NOW, max_batches=2)

    assert [entry.batch_id for entry in report.healed] == ["b0", "b1"]
    assert len(recorder.events) == 2
    assert (report.stalled_found, report.left_for_next_run) == (5, 3)
    assert "3 more stalled batch(es) left for the next run (at most 2 a run)" in report.summary()
    # The settings' max_batches is the default bound.
    bounded = run_cleanup(store, recorder, with_cleanup(settings, max_batches=1), NOW)
    assert [entry.batch_id for entry in bounded.healed] == ["b2"]


def test_a_batch_changed_after_listing_is_skipped_without_an_event(
    store: BatchStore, settings: Settings
) -> None:
    store.put(batch("racing", age_hours=3))
    store.put(batch("quiet", age_hours=2))

    class CoordinatorStepsIn:
        """The coordinator's stall path claims ``racing`` right after the clean-up listed it."""

        location = store.location

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def stalled(self, now: dt.datetime, rule: Any) -> list[PredictionBatch]:
            listed = store.stalled(now, rule)
            store.put(
                batch(
                    "racing",
                    age_hours=3,
                    stall_completed=True,
                    is_complete=True,
                    updated_at=now - dt.timedelta(seconds=1),
                )
            )
            return listed

    recorder = Recorder()
    report = run_cleanup(CoordinatorStepsIn(), recorder, settings, NOW)

    assert [(entry.batch_id, entry.result) for entry in report.entries] == [
        ("racing", CleanupResult.SKIPPED),
        ("quiet", CleanupResult.HEALED),
    ]
    assert report.skipped[0].detail == "completed by the coordinator's stall path"
    assert [event.metadata["batch_id"] for event in recorder.events] == ["quiet"]
    assert report.ok


def test_a_heal_whose_event_cannot_be_recorded_is_a_failure(store: BatchStore, settings: Settings) -> None:
    store.put(batch("b"))

    report = run_cleanup(store, Recorder(fail_with=RuntimeError("healing_events is down")), settings, NOW)

    (entry,) = report.failed
    assert "completed, but its healing event could not be recorded: RuntimeError: healing_events is down" in (
        entry.detail
    )
    assert not report.ok
    assert "FAILED 1" in report.summary()


def test_a_completion_the_store_refuses_is_recorded_as_a_failed_heal(
    tmp_path: Path, settings: Settings
) -> None:
    class BrokenWrites(SQLiteBatchStore):
        def complete_if_unchanged(self, *args: Any, **kwargs: Any) -> PredictionBatch | None:
            raise StateStoreError(self.location, "complete prediction batch 'b'", "disk I/O error")

    store = BrokenWrites(tmp_path / "state.sqlite")
    store.put(batch("b"))
    recorder = Recorder()

    report = run_cleanup(store, recorder, settings, NOW)

    (entry,) = report.failed
    assert "could not complete it" in entry.detail and "disk I/O error" in entry.detail
    (event,) = recorder.events
    assert event.success is False and event.metadata["error"].endswith("disk I/O error")
    assert store.get("b") == batch("b")
    store.close()


def test_the_cause_says_when_players_never_reported_or_all_did() -> None:
    silent = batch("b", done=92, failed={})
    assert (
        stall_cause(silent, NOW)
        == "8 of 100 players never reported (no failure recorded); 92 completed, stalled 22 min"
    )
    finished = batch("b", done=100, failed={})
    assert stall_cause(finished, NOW).startswith(
        "all 100 players reported but the batch was never marked complete"
    )
    mixed = batch("b", done=93, failed={"a": "timeout"})
    assert (
        stall_cause(mixed, NOW)
        == "1 of 100 players failed (1 x 'timeout'); 93 completed, 6 never reported, stalled 22 min"
    )
    many = batch("b", done=90, failed={f"p{n}": f"reason {n % 6}" for n in range(10)})
    assert "x other reasons" in stall_cause(many, NOW)


def test_the_report_renders_a_table_and_a_summary(store: BatchStore, settings: Settings) -> None:
    store.put(batch("batch_2026-02-05_1738780000", failed={"p1": "timeout"}))

    report = run_cleanup(store, Recorder(), settings, NOW)

    table = report.to_table().splitlines()
    assert table[0].startswith("batch clean-up at 2026-02-05 23:30 UTC on ")
    assert table[1].split() == ["batch", "game", "date", "done", "stalled", "result", "reason"]
    assert table[3].split()[:6] == ["batch_2026-02-05_1738780000", GAME_DATE, "95%", "22", "min", "healed"]
    assert table[-1] == "1 healed"
    summary = report.summary()
    assert summary.startswith(
        "Batch clean-up at 2026-02-05 23:30 UTC: completed 1 stalled prediction batch: "
    )
    assert "1 x 'timeout'" in summary and "\n" not in summary


# --- the check ------------------------------------------------------------------------------------


def test_the_check_passes_and_says_how_many_incomplete_batches_it_looked_at(
    store: BatchStore, settings: Settings
) -> None:
    store.put(batch("busy", done=50, idle_minutes=1))
    store.put(batch("finished", is_complete=True))

    result = stalled_batches_result(store, settings, NOW, target=store.location)

    assert (result.check_id, result.phase, result.outcome) == ("stalled_batches", 5, Outcome.PASSED)
    assert result.message.startswith("no prediction batch stalled: looked at 1 incomplete batch(es)")
    assert result.dates == (dt.date(2026, 2, 5),)  # 18:30 Eastern


def test_the_check_fails_naming_each_stalled_batch_its_completion_and_idle_minutes(
    store: BatchStore, settings: Settings
) -> None:
    store.put(batch("stuck_a", done=94, age_hours=3, idle_minutes=22))
    store.put(batch("stuck_b", done=10, counter=91, age_hours=2, idle_minutes=47))
    store.put(batch("busy", done=50, idle_minutes=1))

    result = stalled_batches_result(store, settings, NOW, target="demo")

    assert result.outcome is Outcome.FAILED
    assert result.message.startswith(
        "data bad: 2 prediction batch(es) stalled: stuck_a (94% complete, 22 min since update), "
        "stuck_b (91% complete, 47 min since update); out of 3 incomplete batch(es)"
    )
    assert result.rules[0].value == 2.0


def test_the_check_is_broken_when_the_store_fails(tmp_path: Path, settings: Settings) -> None:
    store = SQLiteBatchStore(tmp_path / "state.sqlite")
    store.close()

    result = stalled_batches_result(store, settings, NOW, target=store.location)

    assert result.outcome is Outcome.ERROR
    assert result.message.startswith("check broken: state store sqlite://")


# --- the demo -------------------------------------------------------------------------------------


def test_demo_seeding_is_deterministic_and_only_the_stalled_ones_stall(
    tmp_path: Path, settings: Settings
) -> None:
    stores = [SQLiteBatchStore(tmp_path / f"{name}.sqlite") for name in ("one", "two")]
    seeded = [seed_batches(store, NOW, stalled=3, healthy=4, seed=7) for store in stores]

    assert seeded[0] == seeded[1]
    assert len(seeded[0]) == 7 and len({made.batch_id for made in seeded[0]}) == 7
    stalled_ids = {made.batch_id for made in seeded[0][4:]}
    assert {found.batch_id for found in stores[0].stalled(NOW, settings.healing.cleanup)} == stalled_ids
    for made in seeded[0][4:]:
        assert 0.9 <= completion(made) < 1 and made.failed_players
        assert set(made.failed_players) == set(made.failure_reasons)
        assert 20 <= (NOW - made.updated_at).total_seconds() / 60 <= 60
    in_progress = [made for made in seeded[0][:4] if not made.is_complete]
    assert len(in_progress) == 2 and all(
        made.updated_at == NOW - dt.timedelta(minutes=1) for made in in_progress
    )
    assert all(made.game_date == "2026-02-05" for made in seeded[0])
    assert (
        seed_batches(SQLiteBatchStore(tmp_path / "three.sqlite"), NOW, stalled=3, healthy=4, seed=8)
        != seeded[0]
    )
    report = run_cleanup(stores[0], Recorder(), settings, NOW)
    assert {entry.batch_id for entry in report.healed} == stalled_ids
    for store in stores:
        store.close()


# --- the command ----------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="healing")
    add_cleanup_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["cleanup", *argv])


def run_command(
    store: BatchStore, settings: Settings, recorder: Recorder, *argv: str
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_cleanup_command(
        parse(*argv), settings=settings, store=store, record=recorder, now=NOW, out=out, err=err
    )
    return code, out.getvalue(), err.getvalue()


def test_the_command_exits_0_after_healing_and_prints_table_and_summary(
    tmp_path: Path, settings: Settings
) -> None:
    store = SQLiteBatchStore(tmp_path / "state.sqlite")
    store.put(batch("b1", age_hours=3))
    store.put(batch("b2", age_hours=2))
    recorder = Recorder()

    dry = run_command(store, settings, recorder, "--dry-run")
    assert dry[0] == EXIT_OK and "would heal" in dry[1] and recorder.events == []

    code, out, err = run_command(store, settings, recorder, "--max-batches", "1")
    assert (code, err) == (EXIT_OK, "")
    assert "1 healed; 1 more left for the next run (at most 1 a run)" in out
    assert "Batch clean-up at 2026-02-05 23:30 UTC: completed 1 stalled prediction batch" in out
    assert run_command(store, settings, recorder)[0] == EXIT_OK
    assert len(recorder.events) == 2
    store.close()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "healing cleanup: --max-batches must be >= 1, got 0\n"),
        ("-3", "healing cleanup: --max-batches must be >= 1, got -3\n"),
        ("abc", "healing cleanup: --max-batches: 'abc' is not a whole number; write N >= 1\n"),
    ],
)
def test_a_bad_max_batches_is_a_usage_error_naming_its_value(
    tmp_path: Path, settings: Settings, value: str, message: str
) -> None:
    store = SQLiteBatchStore(tmp_path / "state.sqlite")
    store.put(batch("b"))

    code, out, err = run_command(store, settings, Recorder(), f"--max-batches={value}")

    assert (code, out, err) == (EXIT_USAGE, "", message)
    assert store.get("b") == batch("b")
    store.close()


def test_the_command_exits_1_when_a_heal_failed_or_the_store_is_down(
    tmp_path: Path, settings: Settings
) -> None:
    store = SQLiteBatchStore(tmp_path / "state.sqlite")
    store.put(batch("b"))
    code, out, _ = run_command(
        store, settings, Recorder(fail_with=RuntimeError("tracker down")), "--max-batches", "5"
    )
    assert code == EXIT_FAILED and "failed" in out
    store.close()

    code, out, err = run_command(store, settings, Recorder())
    assert (code, out) == (EXIT_FAILED, "")
    assert err.startswith("healing cleanup: could not list the stalled batches: state store sqlite://")


# --- two clean-up processes racing ------------------------------------------------------------------


RACE_BATCHES = 100


def _clean_up_in_process(kind: str, where: str, host: str, events_path: str, start_at: float) -> int:
    """One clean-up process: its own store and settings; each event it records is one line in its file."""
    from resilience.settings import load_settings

    if kind == "sqlite":
        store: BatchStore = SQLiteBatchStore(Path(where))
    else:
        from resilience.batches.firestore_store import FirestoreBatchStore
        from resilience.google_clients import firestore_client
        from tests.firestore_emulator import emulator_host

        with emulator_host(host):
            store = FirestoreBatchStore(firestore_client(where))
    recorder = Recorder()
    try:
        time.sleep(max(0.0, start_at - time.time()))
        report = run_cleanup(store, recorder, load_settings(), NOW, max_batches=RACE_BATCHES)
    finally:
        store.close()
    with open(events_path, "w", encoding="utf-8") as events:
        for event in recorder.events:
            events.write(json.dumps(event.to_row()) + "\n")
    assert not report.failed, report.to_table()
    return len(report.healed)


@pytest.mark.slow
def test_two_cleanup_processes_racing_heal_every_batch_exactly_once(backend: Backend, tmp_path: Path) -> None:
    seeder = backend.open()
    for number in range(RACE_BATCHES):
        seeder.put(
            batch(f"race_{number:03d}", age_hours=10 - number * 0.05, failed={f"p{number}": "timeout"})
        )
    paths = [tmp_path / f"events-{number}.jsonl" for number in range(2)]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        start_at = time.time() + 2.0  # after both spawned interpreters have imported everything
        futures = [
            pool.submit(_clean_up_in_process, backend.name, backend.where, backend.host, str(path), start_at)
            for path in paths
        ]
        healed_counts = [future.result(timeout=300) for future in futures]

    events = [json.loads(line) for path in paths for line in path.read_text(encoding="utf-8").splitlines()]
    healed_ids = [json.loads(event["metadata"])["batch_id"] for event in events]
    assert len(events) == RACE_BATCHES == sum(healed_counts)
    assert sorted(healed_ids) == [f"race_{number:03d}" for number in range(RACE_BATCHES)]
    assert all(event["success"] and event["healing_type"] == HEALING_TYPE for event in events)
    remaining = seeder.stalled(NOW, RULE)
    assert remaining == []
    for number in range(RACE_BATCHES):
        stored = seeder.get(f"race_{number:03d}")
        assert stored is not None and stored.is_complete and stored.auto_completed
