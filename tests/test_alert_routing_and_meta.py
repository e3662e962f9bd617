"""Routing, missing webhooks, the dead-man's switch, and a run whose state lives in Firestore."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from resilience.alerts.deadman import judge_suite, suite_health
from resilience.alerts.routing import channels_for
from resilience.settings import Settings
from resilience.state.base import open_state_store
from resilience.state.model import Heartbeat
from tests.firestore_emulator import FirestoreEmulator, emulator_host
from tests.subprocess_env import clean_environment, run_pytest

REPO = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 1, 15, 15, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"id": "phase2_raw", "suite": "canary", "outcome": "failed"}, ("canary-alerts",)),
        ({"id": "gate.phase2.verdict", "suite": "gate", "outcome": "warn"}, ("nba-alerts",)),
        (
            {"id": "x", "suite": "canary", "outcome": "failed", "alert_channel": "#nba-alerts"},
            ("nba-alerts",),
        ),
        (
            {"id": "x", "suite": "gate", "outcome": "failed", "critical": True},
            ("nba-alerts", "app-error-alerts"),
        ),
        ({"id": "x", "suite": "gate", "outcome": "warn", "critical": True}, ("nba-alerts",)),
        (
            {"id": "meta.heartbeat.canary", "suite": "meta", "outcome": "failed", "critical": True},
            ("app-error-alerts",),
        ),
    ],
)
def test_each_check_is_routed_by_suite_marker_and_criticality(
    settings: Settings, payload: dict[str, object], expected: tuple[str, ...]
) -> None:
    assert channels_for(payload, settings.alerts) == expected


def test_a_suite_without_a_route_is_an_error_not_a_fallback(settings: Settings) -> None:
    with pytest.raises(KeyError, match="suite 'postdeploy' has no route"):
        channels_for({"id": "x", "suite": "postdeploy", "outcome": "failed"}, settings.alerts)


def beat(minutes_ago: float, outcome: str = "passed") -> Heartbeat:
    finished = NOW - dt.timedelta(minutes=minutes_ago)
    return Heartbeat(
        "canary", f"run-{minutes_ago}", finished - dt.timedelta(seconds=5), finished, outcome, {outcome: 11}
    )


@pytest.mark.parametrize(
    ("beats", "outcome", "message"),
    [
        ([beat(10)], "passed", "last canary run finished 10 min ago (passed)"),
        ([beat(59)], "passed", "59 min ago"),
        (
            [beat(61)],
            "failed",
            "canary has not completed a run since 2026-01-15 13:59 UTC (61 min ago; expected every 30 min)",
        ),
        ([], "failed", "no completed canary run is recorded in"),
        (
            [beat(5, "error"), beat(35, "error"), beat(65, "error")],
            "failed",
            "the last 3 canary runs all ended in ERROR",
        ),
        ([beat(5, "error"), beat(35, "error"), beat(65, "failed")], "passed", "(error)"),
        (
            [beat(5, "failed")] * 3,
            "passed",
            "(failed)",
        ),  # failing data is the canaries' job, not the switch's
    ],
)
def test_the_dead_mans_switch_judges_silence_and_broken_runs(
    settings: Settings, beats: list[Heartbeat], outcome: str, message: str
) -> None:
    result = judge_suite("canary", 30, beats, settings, NOW, "sqlite:///state")
    assert result.outcome.value == outcome
    assert message in result.message


def test_suite_health_reads_every_scheduled_suite_from_the_store(settings: Settings, tmp_path: Path) -> None:
    store = open_state_store(f"sqlite://{tmp_path / 'state.sqlite'}", "test")
    store.record_heartbeat(beat(10))
    health = suite_health(store, settings, NOW)
    store.close()
    assert set(health) == set(settings.suites)
    assert health["canary"].outcome.value == "passed"
    assert health["gate"].outcome.value == "failed"


def run_suite(
    marker: str, state_url: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = clean_environment()
    environment["RESILIENCE_STATE"] = state_url
    environment.update(env or {})
    return run_pytest("-m", marker, *extra, env=environment)


def test_pytest_m_meta_fails_until_every_scheduled_suite_has_run(demo_path: Path, tmp_path: Path) -> None:
    state = f"sqlite://{tmp_path / 'state.sqlite'}"
    silent = run_suite("meta", state)
    assert silent.returncode == 1
    assert "no completed canary run is recorded" in silent.stdout
    assert "no completed gate run is recorded" in silent.stdout
    assert "no completed healing run is recorded" in silent.stdout
    for marker in ("canary", "gate"):
        assert run_suite(marker, state, f"--warehouse=duckdb://{demo_path}").returncode == 0
    environment = clean_environment()
    environment["RESILIENCE_STATE"] = state
    job = subprocess.run(
        [sys.executable, "-m", "healing.cli", f"--warehouse=duckdb://{demo_path}", "cleanup"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert job.returncode == 0, job.stdout + job.stderr
    alive = run_suite("meta", state)
    assert alive.returncode == 0, alive.stdout
    assert "3 passed" in alive.stdout


def test_the_clean_up_job_also_watches_the_dead_mans_switch(demo_path: Path, tmp_path: Path) -> None:
    environment = clean_environment()
    environment["RESILIENCE_STATE"] = f"sqlite://{tmp_path / 'state.sqlite'}"
    job = subprocess.run(
        [sys.executable, "-m", "healing.cli", f"--warehouse=duckdb://{demo_path}", "cleanup"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert job.returncode == 0, job.stdout + job.stderr
    # Nothing has run yet: the job's own alert run reports every scheduled suite as silent (dry run here).
    assert "meta.heartbeat.canary" in job.stdout
    assert "no completed canary run is recorded" in job.stdout


def test_a_routed_channel_without_a_webhook_is_reported_and_never_rerouted(
    demo_path: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.duckdb"
    shutil.copy(demo_path, broken)
    with duckdb.connect(str(broken)) as connection:
        connection.execute(
            "UPDATE nba_raw.nbac_gamebook_player_stats SET team_abbr = NULL "
            "WHERE game_date = DATE '2026-01-14' AND hash(player_lookup) % 4 = 0"
        )
    state = tmp_path / "state.sqlite"
    # A webhook for #nba-alerts only: the canary channel is routed to but has none.
    done = run_suite(
        "canary",
        f"sqlite://{state}",
        f"--warehouse=duckdb://{broken}",
        "--alert-delivery-required",
        env={"SLACK_WEBHOOK_URL_WARNING": "http://127.0.0.1:9/services/T0/B0/never-used"},
    )
    assert done.returncode == 1
    assert "PROBLEM alerts: #canary-alerts" in done.stdout
    assert "SLACK_WEBHOOK_URL_CANARY_ALERTS" in done.stdout
    store = open_state_store(f"sqlite://{state}", "test")
    pending = store.outbox_pending()
    store.close()
    assert [item.channel for item in pending] == ["#canary-alerts"]


@pytest.mark.firestore
def test_a_run_keeps_its_alert_state_and_heartbeat_in_firestore(
    firestore_emulator: FirestoreEmulator, demo_path: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.duckdb"
    shutil.copy(demo_path, broken)
    with duckdb.connect(str(broken)) as connection:
        connection.execute(
            "DELETE FROM nba_predictions.daily_prediction_signals WHERE game_date = DATE '2026-01-15'"
        )
    project = "run-state-test"
    env = {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host}
    first = run_suite("canary", f"firestore://{project}", f"--warehouse=duckdb://{broken}", env=env)
    assert first.returncode == 1
    assert "alerts: dry run" in first.stdout
    second = run_suite("canary", f"firestore://{project}", f"--warehouse=duckdb://{broken}", env=env)
    assert second.returncode == 1
    # The second run remembers the first: nothing new to say inside the cool-down.
    assert "0 message(s) shown below" in second.stdout
    with emulator_host(firestore_emulator.host):
        store = open_state_store(f"firestore://{project}", "test")
        beats = store.heartbeats("canary")
        states = store.load_alert_states(["phase6_publishing@" + f"duckdb://{broken}"])
        store.close()
    assert len(beats) == 2
    assert states[f"phase6_publishing@duckdb://{broken}"].count == 2
    assert dataclasses.asdict(beats[0])["outcome"] == "failed"
