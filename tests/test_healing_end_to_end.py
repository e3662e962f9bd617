"""Issue 5's contract end to end: stalled batches seeded by the demo are found by the canary, healed
through the fixture, re-checked, the alert resolved, and `healing analyze` shows the events."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.slack_server import FakeSlack
from tests.subprocess_env import clean_environment

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_stalled_batches_are_found_healed_rechecked_resolved_and_analyzed(
    tmp_path: Path, slack: FakeSlack
) -> None:
    demo = tmp_path / "demo.duckdb"
    env = clean_environment()
    env["RESILIENCE_STATE"] = f"sqlite://{tmp_path / 'state.sqlite'}"
    env["SLACK_WEBHOOK_URL_CANARY_ALERTS"] = slack.url("canary")
    env["SLACK_WEBHOOK_URL_WARNING"] = slack.url("warning")
    env["SLACK_WEBHOOK_URL_ERROR"] = slack.url("error")
    built = run(
        ["resilience.cli", "demo", "build", f"--out={demo}", "--fault=stalled_batches", "--date=2025-11-05"],
        env,
    )
    assert built.returncode == 0, built.stderr
    assert "seeded 7 prediction batches (3 stalled)" in built.stdout
    canary = [
        "pytest",
        "-m",
        "canary",
        "-p",
        "no:cacheprovider",
        f"--warehouse=duckdb://{demo}",
        "--alert-delivery-required",
    ]

    healed = run(canary, env)
    assert healed.returncode == 0, healed.stdout + healed.stderr  # healed and re-checked: WARN, not FAILED
    assert "1 warn" in healed.stdout
    [warned] = slack.received("canary")
    assert "stalled_batches" in json.dumps(warned)
    assert "healed and re-checked" in json.dumps(warned)

    clean = run(canary, env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    _, resolved = slack.received("canary")
    assert "resolved" in json.dumps(resolved).lower()
    assert "stalled_batches" in json.dumps(resolved)

    analyzed = run(["healing.cli", f"--warehouse=duckdb://{demo}", "analyze", "--json"], env)
    assert analyzed.returncode == 0, analyzed.stderr
    analysis = json.loads(analyzed.stdout)
    assert analysis["totals"]["events"] == 3
    assert analysis["totals"]["succeeded"] == 3
    assert [row["healing_type"] for row in analysis["by_type"]] == ["stalled_batch_completion"]

    export = tmp_path / "events.csv"
    exported = run(["healing.cli", f"--warehouse=duckdb://{demo}", "analyze", f"--export={export}"], env)
    assert exported.returncode == 0, exported.stderr
    rows = export.read_text(encoding="utf-8").splitlines()
    assert len(rows) == 1 + 3
    assert all("stalled_batches@" in row for row in rows[1:])  # each heal names the check it answered

    nothing_left = run(["healing.cli", f"--warehouse=duckdb://{demo}", "cleanup", "--dry-run"], env)
    assert nothing_left.returncode == 0, nothing_left.stderr
    assert "no stalled prediction batch" in nothing_left.stdout
