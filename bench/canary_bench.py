"""Canary benchmark: the engine's in-process time against a lower bound, at season and 10x size.

The lower bound runs the same aggregates, one scan per table over the same dates, as native DuckDB
SQL with literal dates: no translation, no parameters, no Python evaluation. The engine's overhead
is the ratio between the two (goal: within 1.2x). The whole ``pytest -m canary`` process is timed at
season size too (goal: under 2 s).

    python bench/canary_bench.py [--repeat 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import sqlglot

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from resilience.canary.catalog import CANARIES  # noqa: E402
from resilience.canary.engine import plan_queries, run_canaries  # noqa: E402
from resilience.demo import DEFAULT_DEMO_DATE, build_demo  # noqa: E402
from resilience.settings import load_settings  # noqa: E402
from resilience.warehouse.duckdb_backend import DuckDBWarehouse  # noqa: E402


def native_queries(as_of: dt.date) -> list[str]:
    """The planned queries as plain DuckDB SQL with their parameters written in as literals."""
    settings = load_settings()
    queries = []
    for planned in plan_queries(CANARIES, settings, as_of):
        sql = planned.sql
        for name, value in planned.params.items():
            literal = f"DATE '{value.isoformat()}'" if isinstance(value, dt.date) else repr(value)
            sql = sql.replace(f"@{name}", literal)
        queries.append(sqlglot.transpile(sql, read="bigquery", write="duckdb")[0])
    return queries


def timed(repeat: int, action: object) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), min(samples)


def bench_size(path: Path, repeat: int) -> dict[str, float]:
    settings = load_settings()
    warehouse = DuckDBWarehouse(path)
    run_canaries(warehouse, settings, DEFAULT_DEMO_DATE)  # warm the file cache and the SQL cache
    engine_median, engine_best = timed(repeat, lambda: run_canaries(warehouse, settings, DEFAULT_DEMO_DATE))
    warehouse.close()

    connection = duckdb.connect(str(path), read_only=True)
    queries = native_queries(DEFAULT_DEMO_DATE)
    for query in queries:
        connection.execute(query).fetchall()
    bound_median, bound_best = timed(repeat, lambda: [connection.execute(q).fetchall() for q in queries])
    connection.close()
    return {
        "engine_median": engine_median,
        "engine_best": engine_best,
        "bound_median": bound_median,
        "bound_best": bound_best,
    }


def whole_process(path: Path, repeat: int) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESILIENCE_", "SLACK_"))}
    # A state store of its own: the timed runs record alert state and heartbeats like a real run does.
    env["RESILIENCE_STATE"] = f"sqlite://{path.parent / 'bench-state.sqlite'}"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "canary",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--warehouse=duckdb://{path}",
    ]

    def once() -> None:
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"pytest -m canary failed:\n{done.stdout}\n{done.stderr}")

    once()
    return timed(repeat, once)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build the warehouses here and reuse them")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="canary-bench-"))
    folder.mkdir(parents=True, exist_ok=True)

    print(f"canary benchmark, {os.cpu_count()} CPUs, median (best) of {args.repeat} runs")
    for label, seasons in (("season", 1), ("10x", 10)):
        path = folder / f"bench-{label}.duckdb"
        if not path.exists():
            built = build_demo(path, DEFAULT_DEMO_DATE, seasons=seasons)
            rows = sum(built.row_counts.values())
            print(
                f"  built {label}: {rows:,} rows, {path.stat().st_size / 1e6:.0f} MB, {built.seconds:.1f} s"
            )
        figures = bench_size(path, args.repeat)
        ratio = figures["engine_median"] / figures["bound_median"]
        print(
            f"  {label:6} engine {ms(figures['engine_median'])} ({ms(figures['engine_best'])})"
            f"   lower bound {ms(figures['bound_median'])} ({ms(figures['bound_best'])})"
            f"   ratio {ratio:.2f}x (goal <= 1.20x)"
        )
        if seasons == 1:
            median, best = whole_process(path, max(3, args.repeat // 2))
            print(f"  season whole `pytest -m canary` process {median:.2f} s ({best:.2f}) (goal < 2 s)")


if __name__ == "__main__":
    main()
