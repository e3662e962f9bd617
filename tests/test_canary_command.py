"""``pytest -m canary`` end to end, as the scheduler and an on-call engineer run it (a real subprocess)."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from resilience.canary.catalog import CANARIES
from resilience.demo import DEFAULT_DEMO_DATE
from tests.demo_fixtures import DemoFactory
from tests.subprocess_env import clean_environment, read_json_lines, run_pytest

REPO = Path(__file__).resolve().parent.parent
YESTERDAY = (DEFAULT_DEMO_DATE - dt.timedelta(days=1)).isoformat()


def run_canaries_command(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    environment = clean_environment()
    environment.update(env or {})
    return run_pytest("-m", "canary", *args, env=environment, timeout=timeout)


def test_a_clean_demo_passes_and_writes_every_report(demo_path: Path, tmp_path: Path) -> None:
    results, html, junit = tmp_path / "results.jsonl", tmp_path / "canary.html", tmp_path / "junit.xml"
    done = run_canaries_command(
        f"--warehouse=duckdb://{demo_path}",
        f"--resilience-json={results}",
        f"--html={html}",
        "--self-contained-html",
        f"--junitxml={junit}",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The SQL canaries plus the prediction-batch canary (no batches in this test's state store: passes).
    assert f"{len(CANARIES) + 1} passed" in done.stdout
    assert f"as of {DEFAULT_DEMO_DATE.isoformat()}" in done.stdout
    records = read_json_lines(results)
    assert sorted(str(r["id"]) for r in records) == sorted(
        [*(spec.id for spec in CANARIES), "stalled_batches"]
    )
    for record in records:
        assert {"id", "phase", "outcome", "metrics", "query_ids", "duration_seconds"} <= set(record)
        assert record["outcome"] in ("passed", "warn")
        for metric in record["metrics"].values():  # type: ignore[union-attr]
            assert isinstance(metric["value"], int | float) and metric["thresholds"]
    assert html.exists() and junit.exists()


def test_a_fault_fails_the_run_and_says_why(demo_factory: DemoFactory, tmp_path: Path) -> None:
    demo = demo_factory(faults=("null_player_names",))
    results = tmp_path / "results.jsonl"
    done = run_canaries_command(f"--warehouse=duckdb://{demo}", f"--resilience-json={results}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"phase2_raw: data bad on {YESTERDAY}: rows with NULL player_name = " in done.stdout
    assert "(fail > 0)" in done.stdout
    outcomes = {r["id"]: r["outcome"] for r in read_json_lines(results)}
    assert outcomes["phase2_raw"] == "failed"
    assert [cid for cid, outcome in outcomes.items() if outcome == "failed"] == ["phase2_raw"]


def test_an_unreachable_warehouse_is_an_error_for_every_canary_never_a_pass(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    missing = tmp_path / "nowhere.duckdb"
    done = run_canaries_command(
        f"--resilience-json={results}", env={"RESILIENCE_WAREHOUSE": f"duckdb://{missing}"}
    )
    assert done.returncode == 1
    assert f"{len(CANARIES)} errors" in done.stdout
    assert (
        f"check broken: DuckDB warehouse file {missing} does not exist (target from RESILIENCE_WAREHOUSE)"
        in done.stdout
    )
    # Every warehouse canary is broken; the batch canary reads the state store, not the warehouse.
    outcomes = {r["id"]: r["outcome"] for r in read_json_lines(results)}
    assert outcomes.pop("stalled_batches") == "passed"
    assert set(outcomes.values()) == {"error"}


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--as-of=2026-13-01"], {}, "--as-of: '2026-13-01' is not a date; write YYYY-MM-DD"),
        ([], {"RESILIENCE_AS_OF": "yesterday"}, "RESILIENCE_AS_OF: 'yesterday' is not a date"),
        (
            [],
            {"RESILIENCE_WAREHOUSE": "postgres://x"},
            "RESILIENCE_WAREHOUSE: 'postgres://x' is not a warehouse target",
        ),
        (
            ["--warehouse=duckdb://relative.duckdb"],
            {},
            "--warehouse: 'duckdb://relative.duckdb' is not a DuckDB target",
        ),
    ],
)
def test_a_bad_argument_is_a_usage_error_naming_the_value(
    args: list[str], env: dict[str, str], expected: str
) -> None:
    done = run_canaries_command(*args, env=env)
    assert done.returncode == 4, done.stdout + done.stderr
    assert expected in done.stderr


def test_a_bad_settings_file_is_a_usage_error_naming_file_key_and_value(tmp_path: Path) -> None:
    settings = tmp_path / "bad.toml"
    good = (REPO / "resilience.toml").read_text(encoding="utf-8")
    settings.write_text(
        good.replace(
            "mean_points_active = { fail_below = 8 }", "mean_points_active = { fail_below = -8 }", 1
        ),
        encoding="utf-8",
    )
    done = run_canaries_command(env={"RESILIENCE_CONFIG": str(settings)})
    assert done.returncode == 4
    assert (
        f"RESILIENCE_CONFIG: {settings}: canaries.phase3_analytics.rules.mean_points_active.fail_below = -8"
        in done.stderr
    )


def test_under_xdist_every_check_is_recorded_once_by_the_controller(demo_path: Path, tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    done = run_canaries_command(
        "-n", "2", f"--warehouse=duckdb://{demo_path}", f"--resilience-json={results}"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ids = [str(r["id"]) for r in read_json_lines(results)]
    assert sorted(ids) == sorted([*(spec.id for spec in CANARIES), "stalled_batches"])


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP endpoint that accepts connections and never answers: a hung warehouse."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def test_a_hung_warehouse_is_stopped_by_the_timeout_and_reported_as_error(
    silent_server: str, tmp_path: Path
) -> None:
    results = tmp_path / "results.jsonl"
    done = run_canaries_command(
        "--timeout=5",
        "-k",
        "phase2",
        f"--resilience-json={results}",
        "--as-of=2026-01-15",
        env={"RESILIENCE_WAREHOUSE": f"bigquery://test-project?endpoint={silent_server}"},
        timeout=90,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 error" in done.stdout
    assert "Timeout" in done.stdout
    [record] = read_json_lines(results)
    assert record["id"] == "phase2_raw" and record["outcome"] == "error"
    assert "Timeout" in str(record["message"])
