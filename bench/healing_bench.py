"""Healing analysis benchmark: ``analyze`` over 1,000,000 events on the DuckDB default (goal: under 2 s).

The events are generated inside DuckDB (range() and hashing, no Python rows): five healing types of
unequal frequency, skewed trigger reasons, about 8% failed heals (one type fails far more often), one
type rising over the last month, timestamps spread over 90 days. ``analyze`` runs through
DuckDBWarehouse exactly as the command does (BigQuery-dialect SQL, translated, with parameters).
The CSV export rate is printed for information; it has no goal.

    python bench/healing_bench.py [--events 1000000] [--repeat 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from healing.analyze import analyze, export_csv  # noqa: E402
from resilience.schemas import TableSchema, bigquery_fields, load_catalog  # noqa: E402
from resilience.warehouse import QueryParams, QueryResult  # noqa: E402
from resilience.warehouse.duckdb_backend import DuckDBWarehouse  # noqa: E402

TABLE = "nba_orchestration.healing_events"
GOAL_SECONDS = 2.0
DAYS = 90
#: The end of the generated history (UTC); the analysis window is the 90 days before it.
HISTORY_END = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

# (type, share of events in %, failure rate in per mille); shares add up to 100.
TYPES = (
    ("batch_completion", 45, 60),
    ("coordinator_restart", 20, 60),
    ("phase_retrigger", 15, 60),
    ("cache_rebuild", 12, 250),
    ("stale_lock_release", 8, 60),
)
# Each type's reasons, most frequent first; a reason's rank is drawn with shares 50/25/12/8/5.
REASONS = {
    "batch_completion": (
        "batch stalled at >= 90% completion for 15 min",
        "coordinator missed completion callback",
        "worker pubsub ack timeout",
        "firestore completed_players array at 1000-element cap",
        "duplicate completion message",
    ),
    "coordinator_restart": (
        "coordinator health check failed",
        "coordinator out of memory",
        "cold start after scale to zero",
        "deploy rolled coordinator mid-batch",
        "unknown",
    ),
    "phase_retrigger": (
        "phase 3 completion missing after 2 h",
        "phase 4 feature store empty for game date",
        "orchestrator pubsub message lost",
        "schedule changed after phase 2",
        "manual request",
    ),
    "cache_rebuild": (
        "player_daily_cache miss rate > 5%",
        "cache_date behind game_date",
        "composite factors stale",
        "shot zone analysis empty",
        "team defense zone analysis empty",
    ),
    "stale_lock_release": (
        "run lock older than 30 min",
        "firestore lease expired",
        "scheduler overlap",
        "lock owner revision gone",
        "unknown",
    ),
}
RANK_SHARES = (50, 25, 12, 8, 5)


def _case(selector: str, arms: list[tuple[int, str]], otherwise: str) -> str:
    """``CASE WHEN selector < bound THEN value ...`` over cumulative bounds."""
    whens = " ".join(f"WHEN {selector} < {bound} THEN {value}" for bound, value in arms)
    return f"CASE {whens} ELSE {otherwise} END"


def generation_sql(events: int) -> str:
    """One INSERT ... SELECT over range(): every column derived from hashes of the row number."""
    type_arms, bound = [], 0
    for name, share, _ in TYPES:
        bound += share
        type_arms.append((bound, f"'{name}'"))
    rank_arms, bound = [], 0
    for rank, share in enumerate(RANK_SHARES):
        bound += share
        rank_arms.append((bound, str(rank)))
    failure_arms = " ".join(f"WHEN '{name}' THEN {per_mille}" for name, _, per_mille in TYPES)
    reasons = ", ".join(
        f"('{name}', {rank}, '{reason}')"
        for name, listed in REASONS.items()
        for rank, reason in enumerate(listed)
    )
    span_us = DAYS * 86_400 * 1_000_000
    end = HISTORY_END.strftime("%Y-%m-%d %H:%M:%S")
    return f"""
INSERT INTO {TABLE}
WITH drawn AS (
  SELECT
    i,
    {_case("hash(i, 'type') % 100", type_arms[:-1], type_arms[-1][1])} AS healing_type,
    {_case("hash(i, 'reason') % 100", rank_arms[:-1], rank_arms[-1][1])} AS reason_rank,
    hash(i, 'ok') % 1000 AS ok_draw,
    (hash(i, 'time') % {span_us})::BIGINT AS age_us,
    hash(i, 'players') % 40 AS missing
  FROM range({events}) AS t(i)
), timed AS (
  SELECT
    *,
    -- phase_retrigger heals triple over the last month: a third of them are squeezed into it.
    TIMESTAMPTZ '{end}+00' - to_microseconds(
      CASE WHEN healing_type = 'phase_retrigger' AND i % 3 = 0 THEN age_us % {span_us // 3} ELSE age_us END
    ) AS ts
  FROM drawn
)
SELECT
  'heal_' || strftime(ts AT TIME ZONE 'UTC', '%Y%m%dT%H%M%SZ') || '_' || substr(md5(i::VARCHAR), 1, 12),
  ts,
  timed.healing_type,
  reasons.reason,
  CASE timed.healing_type
    WHEN 'batch_completion' THEN 'marked batch complete'
    WHEN 'coordinator_restart' THEN 'restarted coordinator revision'
    WHEN 'phase_retrigger' THEN 'republished phase completion message'
    WHEN 'cache_rebuild' THEN 'rebuilt player_daily_cache for game date'
    ELSE 'released lock'
  END,
  '{{"completed_players": ' || (400 - missing) || ', "expected_players": 400}}',
  '{{"completed_players": 400, "expected_players": 400, "is_complete": true}}',
  ok_draw >= (CASE timed.healing_type {failure_arms} END),
  '{{"batch_id": "batch_' || strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d') || '_' || epoch(ts)::BIGINT
    || '", "source": "healing_bench", "check_fingerprint": "' || substr(md5(reasons.reason), 1, 16) || '"}}'
FROM timed
JOIN (VALUES {reasons}) AS reasons(healing_type, reason_rank, reason)
  ON reasons.healing_type = timed.healing_type AND reasons.reason_rank = timed.reason_rank
"""


def build(path: Path, events: int) -> float:
    """Write the events to ``path``, built under another name and renamed: --keep never reuses half a file."""
    started = time.perf_counter()
    part = path.with_name(path.name + ".part")
    part.unlink(missing_ok=True)
    warehouse = DuckDBWarehouse(part, read_only=False, create=True)
    warehouse.ensure_table(TABLE, bigquery_fields(load_catalog()[TABLE]), None)
    warehouse.close()
    connection = duckdb.connect(str(part))
    connection.execute(generation_sql(events))
    connection.execute("CHECKPOINT")
    connection.close()
    part.rename(path)
    return time.perf_counter() - started


class TimedWarehouse:
    """Passes queries on to DuckDBWarehouse and keeps each one's time by label."""

    def __init__(self, inner: DuckDBWarehouse) -> None:
        self.inner = inner
        self.seconds: dict[str, list[float]] = {}
        self.target, self.dialect = inner.target, inner.dialect

    def query(self, sql: str, params: QueryParams, *, label: str) -> QueryResult:
        started = time.perf_counter()
        result = self.inner.query(sql, params, label=label)
        self.seconds.setdefault(label, []).append(time.perf_counter() - started)
        return result

    def describe_table(self, table: str) -> TableSchema | None:
        return self.inner.describe_table(table)

    def close(self) -> None:
        self.inner.close()


def timed(repeat: int, action: Callable[[], object]) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), min(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build the warehouse here and reuse it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="healing-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"healing-{args.events}.duckdb"

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"healing analyze benchmark, {os.cpu_count()} CPUs (load average {load}), "
        f"median (best) of {args.repeat} runs"
    )
    if not path.exists():
        seconds = build(path, args.events)
        size = path.stat().st_size / 1e6
        print(f"  generated {args.events:,} events over {DAYS} days in {seconds:.1f} s ({size:.0f} MB)")

    warehouse = TimedWarehouse(DuckDBWarehouse(path))
    start, end = HISTORY_END - dt.timedelta(days=DAYS), HISTORY_END
    analysis = analyze(warehouse, TABLE, start, end, None)  # warm the file cache and the SQL cache
    failed_share = analysis.totals.failed / max(analysis.totals.events, 1)
    fired = ", ".join(f"{r.kind.value} {r.healing_type}" for r in analysis.recommendations) or "none"
    print(
        f"  window holds {analysis.totals.events:,} events, {failed_share:.1%} failed, "
        f"{len(analysis.by_type)} types, {len(analysis.per_day)} days; recommendations: {fired}"
    )
    median, best = timed(args.repeat, lambda: analyze(warehouse, TABLE, start, end, None))
    verdict = "within" if median < GOAL_SECONDS else "OVER"
    goal = f"goal < {GOAL_SECONDS:g} s: {verdict}"
    print(f"  analyze, all types   {median * 1000:8.1f} ms ({best * 1000:.1f})  {goal}")
    for label, samples in warehouse.seconds.items():
        name = label.removeprefix("healing analyze ")
        if name != label:
            print(f"    {name:<10} {statistics.median(samples) * 1000:8.1f} ms")
    one_type = analysis.by_type[0].healing_type
    median, best = timed(args.repeat, lambda: analyze(warehouse, TABLE, start, end, one_type))
    print(
        f"  analyze, one type    {median * 1000:8.1f} ms ({best * 1000:.1f})  --type {one_type} (information)"
    )

    csv_path = folder / "healing-export.csv"
    started = time.perf_counter()
    rows = export_csv(warehouse, TABLE, start, end, None, csv_path)
    seconds = time.perf_counter() - started
    print(
        f"  export --export CSV  {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s, "
        f"{csv_path.stat().st_size / 1e6:.0f} MB  (information)"
    )
    csv_path.unlink()
    warehouse.close()


if __name__ == "__main__":
    main()
