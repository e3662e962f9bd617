"""Issue 4's end-to-end contract: consecutive real `pytest -m canary` runs against a Slack stand-in.

One demo warehouse is broken and mended between runs with SQL (a fault appears, persists, changes,
clears) while Slack answers 429, then 500 for a whole run, then recovers. The webhook must receive
exactly the expected messages, once each, and the history table must hold every result.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from resilience.canary.catalog import CANARIES
from resilience.demo import DEFAULT_DEMO_DATE
from tests.slack_server import FakeSlack
from tests.subprocess_env import clean_environment, run_pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
YESTERDAY = (DEFAULT_DEMO_DATE - dt.timedelta(days=1)).isoformat()
GAMEBOOK = "nba_raw.nbac_gamebook_player_stats"
ANALYTICS = "nba_analytics.player_game_summary"
HOOK = "canary"
# Every canary test of a run: the SQL catalog's, plus the prediction-batch canary (checks/canaries).
CANARY_CHECKS = len(CANARIES) + 1


class Pipeline:
    """The demo warehouse, broken and mended in place so one file keeps the whole history."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with duckdb.connect(str(path)) as connection:
            # The session's shared demo also receives other tests' run history: start this one empty.
            connection.execute("DELETE FROM nba_orchestration.check_results")
            connection.execute(
                f"CREATE TABLE main.gamebook_backup AS SELECT * FROM {GAMEBOOK} WHERE game_date = ?",
                [YESTERDAY],
            )
            connection.execute(
                f"CREATE TABLE main.analytics_backup AS SELECT * FROM {ANALYTICS} WHERE game_date = ?",
                [YESTERDAY],
            )

    def run_sql(self, sql: str) -> None:
        with duckdb.connect(str(self.path)) as connection:
            connection.execute(sql.replace("{yesterday}", f"DATE '{YESTERDAY}'"))

    def blank_names(self) -> None:
        self.run_sql(
            f"UPDATE {GAMEBOOK} SET player_name = NULL WHERE game_date = {{yesterday}} "
            "AND player_status <> 'active' AND hash(player_lookup) % 3 = 0"
        )

    def drop_two_games(self) -> None:
        for table in (GAMEBOOK, ANALYTICS):
            self.run_sql(
                f"DELETE FROM {table} WHERE game_date = {{yesterday}} AND game_id IN (SELECT DISTINCT "
                f"game_id FROM {GAMEBOOK} WHERE game_date = {{yesterday}} ORDER BY game_id LIMIT 2)"
            )

    def mend(self) -> None:
        for table, backup in ((GAMEBOOK, "main.gamebook_backup"), (ANALYTICS, "main.analytics_backup")):
            self.run_sql(
                f"DELETE FROM {table} WHERE game_date = {{yesterday}}; "
                f"INSERT INTO {table} SELECT * FROM {backup}"
            )

    def history(self) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.path), read_only=True) as connection:
            return connection.execute(
                "SELECT run_id, check_id, outcome FROM nba_orchestration.check_results "
                "ORDER BY recorded_at, check_id"
            ).fetchall()


@pytest.fixture
def pipeline(demo_path: Path, tmp_path: Path) -> Pipeline:
    copy = tmp_path / "pipeline.duckdb"
    shutil.copy(demo_path, copy)
    return Pipeline(copy)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def canary_run(
    pipeline: Pipeline, slack: FakeSlack, state: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    env = clean_environment()
    env.update({"RESILIENCE_STATE": f"sqlite://{state}", "SLACK_WEBHOOK_URL_CANARY_ALERTS": slack.url(HOOK)})
    return run_pytest(
        "-m", "canary", "--alert-delivery-required", f"--warehouse=duckdb://{pipeline.path}", *extra, env=env
    )


def sections(payload: dict[str, Any]) -> str:
    return json.dumps(payload["blocks"])


def test_a_scripted_week_of_runs_sends_exactly_the_expected_messages(
    pipeline: Pipeline, slack: FakeSlack, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"

    first = canary_run(pipeline, slack, state)  # healthy: nothing to say
    assert first.returncode == 0, first.stdout + first.stderr
    assert slack.attempts(HOOK) == 0

    pipeline.blank_names()  # the fault appears; Slack rate-limits once
    slack.script(HOOK, [("rate_limited", 1), "ok"])
    appeared = canary_run(pipeline, slack, state)
    assert appeared.returncode == 1
    assert slack.attempts(HOOK) == 2
    [new] = slack.received(HOOK)
    assert "phase2_raw" in sections(new)
    assert "rows with NULL player_name" in sections(new)

    persisted = canary_run(pipeline, slack, state)  # same failure, same band, inside the cool-down
    assert persisted.returncode == 1
    assert len(slack.received(HOOK)) == 1

    pipeline.drop_two_games()  # the failure changes band and a new one appears; Slack is down all run
    slack.script(HOOK, [("server_error", 500)] * 4)
    changed = canary_run(pipeline, slack, state)
    assert changed.returncode == 1
    assert len(slack.received(HOOK)) == 1
    assert "not delivered, will retry next run" in changed.stdout
    assert "1 queued for the next run" in changed.stdout

    pipeline.mend()  # the data is fixed; Slack recovers: the held message first, then the resolution
    recovered = canary_run(pipeline, slack, state)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    _, held, resolved = slack.received(HOOK)
    assert "analytics_coverage" in sections(held)
    assert "missing from the gamebook" in sections(held)
    assert "resolved" in sections(resolved).lower()
    assert "phase2_raw" in sections(resolved)
    assert "analytics_coverage" in sections(resolved)
    assert "(1 from earlier runs)" in recovered.stdout

    quiet = canary_run(pipeline, slack, state)  # healthy again: nothing more
    assert quiet.returncode == 0
    assert len(slack.received(HOOK)) == 3

    history = pipeline.history()
    runs = sorted({run_id for run_id, _, _ in history})
    assert len(runs) == 6
    assert len(history) == 6 * CANARY_CHECKS
    outcomes = {(run_id, check_id): outcome for run_id, check_id, outcome in history}
    assert outcomes[(runs[1], "phase2_raw")] == "failed"
    assert outcomes[(runs[4], "phase2_raw")] == "passed"


def test_under_xdist_the_controller_alone_sends_one_message_per_channel(
    pipeline: Pipeline, slack: FakeSlack, tmp_path: Path
) -> None:
    pipeline.blank_names()
    pipeline.drop_two_games()
    done = canary_run(pipeline, slack, tmp_path / "state.sqlite", "-n", "2")
    assert done.returncode == 1, done.stdout + done.stderr
    [message] = slack.received(HOOK)
    assert "phase2_raw" in sections(message)
    assert "analytics_coverage" in sections(message)
    assert len(pipeline.history()) == CANARY_CHECKS


def test_webhook_urls_never_reach_the_terminal_or_the_reports(
    pipeline: Pipeline, slack: FakeSlack, tmp_path: Path
) -> None:
    pipeline.blank_names()
    slack.script(HOOK, ["channel_is_archived"])
    html, junit = tmp_path / "report.html", tmp_path / "junit.xml"
    done = canary_run(
        pipeline,
        slack,
        tmp_path / "state.sqlite",
        f"--html={html}",
        "--self-contained-html",
        f"--junitxml={junit}",
    )
    assert done.returncode == 1
    assert "channel_is_archived" in done.stdout
    assert "SLACK_WEBHOOK_URL_CANARY_ALERTS" in done.stdout
    secret = slack.url(HOOK)
    path = secret.split("/services/", 1)[1]
    for text in (
        done.stdout,
        done.stderr,
        html.read_text(encoding="utf-8"),
        junit.read_text(encoding="utf-8"),
    ):
        assert secret not in text
        assert path not in text


def test_without_any_webhook_the_alerts_are_printed_as_a_dry_run(pipeline: Pipeline, tmp_path: Path) -> None:
    pipeline.blank_names()
    env = clean_environment()
    env["RESILIENCE_STATE"] = f"sqlite://{tmp_path / 'state.sqlite'}"
    done = run_pytest("-m", "canary", f"--warehouse=duckdb://{pipeline.path}", env=env)
    assert done.returncode == 1
    assert "alerts: dry run, no Slack webhook configured" in done.stdout
    assert "phase2_raw" in done.stdout.split("alerts: dry run", 1)[1]
