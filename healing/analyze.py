"""What the healing events say over a time window: how many heals, how well they work, and what to fix.

Every number comes from aggregate queries run in the warehouse (GROUP BY over
``nba_orchestration.healing_events``, the window and the type as named parameters); Python only
divides the counts it gets back and words the recommendations. :func:`export_csv` is the one place
that reads events themselves, in chunks, for people who want the rows.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import enum
import itertools
import os
import re
import textwrap
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resilience.schemas import load_catalog
from resilience.warehouse import QueryError, QueryParams, Warehouse

#: Rows per export query: a few MB of Python objects at a time, and few queries over a large table.
EXPORT_CHUNK_ROWS = 50_000
#: Days of the per-day table shown in the terminal; ``--json`` and ``--export`` carry every day.
RENDERED_DAYS = 14


class RecommendationKind(enum.StrEnum):
    FAILING_HEALS = "failing_heals"
    RISING_FREQUENCY = "rising_frequency"
    RECURRING_REASON = "recurring_reason"


@dataclass(frozen=True)
class RecommendationRules:
    """When each recommendation fires. Shares are whole percents so that the edges compare exactly."""

    #: A trigger_reason behind at least this many heals ...
    recurring_min_heals: int = 5
    #: ... and at least this share of its type's heals is a cause to fix, not a symptom to keep healing.
    recurring_min_share_pct: int = 30
    #: Heals per day in the last third of the window more than this factor times the first two thirds' ...
    rising_factor: int = 2
    #: ... counted only when the last third holds at least this many heals of the type.
    rising_min_recent: int = 5
    #: A type whose heals succeed less often than this ...
    failing_below_pct: int = 80
    #: ... over at least this many heals is not fixing what it claims to fix.
    failing_min_heals: int = 5
    top_reasons: int = 5


DEFAULT_RULES = RecommendationRules()


@dataclass(frozen=True)
class Totals:
    events: int
    succeeded: int
    failed: int
    #: None when there were no heals: a rate over nothing is not 100%.
    success_rate: float | None


@dataclass(frozen=True)
class TypeSummary:
    healing_type: str
    events: int
    success_rate: float
    succeeded: int
    failed: int
    #: Heals in the last third of the window (what the rising-frequency rule compares).
    recent_events: int


@dataclass(frozen=True)
class ReasonCount:
    trigger_reason: str
    events: int


@dataclass(frozen=True)
class DayCount:
    """Heals on one business day (the settings' time zone, not UTC)."""

    day: dt.date
    events: int
    failed: int


@dataclass(frozen=True)
class Recommendation:
    kind: RecommendationKind
    healing_type: str
    text: str
    trigger_reason: str | None = None


@dataclass(frozen=True)
class HealingAnalysis:
    """The answer of :func:`analyze`; ``table_exists`` is False when no heal was ever recorded there."""

    table: str
    target: str
    start: dt.datetime
    end: dt.datetime
    timezone: str
    healing_type: str | None
    table_exists: bool
    totals: Totals
    by_type: tuple[TypeSummary, ...]
    top_reasons: tuple[ReasonCount, ...]
    #: Every business day the window touches, in order, days without heals included.
    per_day: tuple[DayCount, ...]
    first_at: dt.datetime | None
    last_at: dt.datetime | None
    #: Where the window's last third begins (the rising-frequency rule's split).
    recent_start: dt.datetime
    recommendations: tuple[Recommendation, ...] = field(default=())


# --- the queries --------------------------------------------------------------------------------
# Three queries, one per grain of the answer: per type (with the total as ROLLUP's extra row), per
# trigger reason, per day. Each is one scan of the few columns it needs. Folding them into one
# GROUPING SETS query would save two scans of a table that holds a few heals a day in production, at
# the price of one statement that mixes three shapes of row and is hard to read or test; a
# fourth query for the rising-frequency rule is avoided by counting the window's last third in the
# per-type query.


def _filters(table: str, healing_type: str | None) -> str:
    """FROM and WHERE shared by every query: the time window always, the type when one was asked for.

    Two variants rather than ``(@healing_type IS NULL OR ...)``: a query parameter cannot be NULL
    through the warehouse contract (BigQuery needs a type for it).
    """
    where = f"FROM `{table}` WHERE `timestamp` >= @start AND `timestamp` < @end"
    return where + (" AND healing_type = @healing_type" if healing_type is not None else "")


def by_type_sql(table: str, healing_type: str | None) -> str:
    return f"""
SELECT
  healing_type,
  GROUPING(healing_type) AS is_total,
  COUNT(*) AS events,
  COUNTIF(success) AS succeeded,
  COUNTIF(NOT success) AS failed,
  COUNTIF(`timestamp` >= @recent_start) AS recent_events,
  MIN(`timestamp`) AS first_at,
  MAX(`timestamp`) AS last_at
{_filters(table, healing_type)}
GROUP BY ROLLUP (healing_type)
"""


def reasons_sql(table: str, healing_type: str | None) -> str:
    """The top reasons overall, and each (type, reason) the recurring rule picks, in one statement.

    Both are filtered in the warehouse (QUALIFY), so the answer is a handful of rows however many
    distinct reasons the window holds.
    """
    filters = _filters(table, healing_type)
    return f"""
SELECT
  'top' AS part,
  CAST(NULL AS STRING) AS healing_type,
  trigger_reason,
  COUNT(*) AS events,
  CAST(NULL AS INT64) AS type_events
{filters}
GROUP BY trigger_reason
QUALIFY ROW_NUMBER() OVER (ORDER BY COUNT(*) DESC, trigger_reason) <= @top_reasons
UNION ALL
SELECT
  'recurring' AS part,
  healing_type,
  trigger_reason,
  COUNT(*) AS events,
  SUM(COUNT(*)) OVER (PARTITION BY healing_type) AS type_events
{filters}
GROUP BY healing_type, trigger_reason
QUALIFY COUNT(*) >= @recurring_min_heals
  AND 100 * COUNT(*) >= @recurring_min_share_pct * SUM(COUNT(*)) OVER (PARTITION BY healing_type)
"""


#: Width of the buckets the per-day query counts in first. Every time zone's UTC offset is a whole
#: multiple of 15 minutes, so no bucket straddles a local midnight.
DAY_BUCKET_SECONDS = 15 * 60


def per_day_sql(table: str, healing_type: str | None) -> str:
    # Counted first in 15-minute buckets of plain integer arithmetic (microseconds: UNIX_SECONDS
    # becomes a rounded, not truncated, cast on DuckDB), then the few thousand buckets
    # are put on their local day with TIMESTAMP_TRUNC(..., DAY, zone): converting every event to the
    # time zone costs 8x more on DuckDB (ICU per row). TIMESTAMP_TRUNC gives the instant of the local
    # midnight on both engines; DATE(ts, zone) would read better, but its DuckDB translation depends
    # on the session's time zone.
    return f"""
SELECT
  TIMESTAMP_TRUNC(TIMESTAMP_SECONDS(bucket * {DAY_BUCKET_SECONDS}), DAY, @timezone) AS day_start,
  SUM(events) AS events,
  SUM(failed) AS failed
FROM (
  SELECT
    DIV(UNIX_MICROS(`timestamp`), {DAY_BUCKET_SECONDS * 1_000_000}) AS bucket,
    COUNT(*) AS events,
    COUNTIF(NOT success) AS failed
  {_filters(table, healing_type)}
  GROUP BY bucket
)
GROUP BY day_start
ORDER BY day_start
"""


def _as_utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a timestamp, got {value!r}")
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def _rate(succeeded: int, events: int) -> float | None:
    return succeeded / events if events else None


def recent_start_of(start: dt.datetime, end: dt.datetime) -> dt.datetime:
    """Where the window's last third begins."""
    return start + (end - start) * 2 / 3


def analyze(
    warehouse: Warehouse,
    table: str,
    start: dt.datetime,
    end: dt.datetime,
    healing_type: str | None,
    *,
    timezone: str = "America/New_York",
    rules: RecommendationRules = DEFAULT_RULES,
) -> HealingAnalysis:
    """Analyze the heals in ``[start, end)`` (aware datetimes), of one type or all.

    Raises :class:`QueryError` when a query fails, unless the table does not exist: then the answer
    has ``table_exists=False`` and zero totals (nothing was ever healed there).
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("analyze: start and end must be timezone-aware")
    if end <= start:
        raise ValueError(f"analyze: end {end.isoformat()} is not after start {start.isoformat()}")
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    recent_start = recent_start_of(start, end)
    params: dict[str, bool | int | float | str | dt.date | dt.datetime] = {
        "start": start,
        "end": end,
        "recent_start": recent_start,
        "timezone": timezone,
        "top_reasons": rules.top_reasons,
        "recurring_min_heals": rules.recurring_min_heals,
        "recurring_min_share_pct": rules.recurring_min_share_pct,
    }
    if healing_type is not None:
        params["healing_type"] = healing_type
    empty = HealingAnalysis(
        table=table,
        target=warehouse.target,
        start=start,
        end=end,
        timezone=timezone,
        healing_type=healing_type,
        table_exists=True,
        totals=Totals(0, 0, 0, None),
        by_type=(),
        top_reasons=(),
        per_day=_fill_days({}, start, end, timezone),
        first_at=None,
        last_at=None,
        recent_start=recent_start,
    )
    try:
        type_rows = _run(warehouse, by_type_sql(table, healing_type), params, "healing analyze by type")
    except QueryError:
        # The first query tells a missing table from a broken one; the later ones need not ask again.
        if _table_missing(warehouse, table):
            return dataclasses.replace(empty, table_exists=False)
        raise
    reason_rows = _run(warehouse, reasons_sql(table, healing_type), params, "healing analyze reasons")
    day_rows = _run(warehouse, per_day_sql(table, healing_type), params, "healing analyze per day")

    totals = Totals(0, 0, 0, None)
    first_at = last_at = None
    by_type: list[TypeSummary] = []
    for row in type_rows:
        events, succeeded, failed = int(row["events"]), int(row["succeeded"]), int(row["failed"])
        if row["is_total"]:
            totals = Totals(events, succeeded, failed, _rate(succeeded, events))
            first_at, last_at = _as_utc(row["first_at"]), _as_utc(row["last_at"])
        else:
            by_type.append(
                TypeSummary(
                    str(row["healing_type"]),
                    events,
                    succeeded / events,
                    succeeded,
                    failed,
                    int(row["recent_events"]),
                )
            )
    if totals.events == 0:
        return empty
    by_type.sort(key=lambda summary: (-summary.events, summary.healing_type))

    top_reasons = sorted(
        (
            ReasonCount(str(row["trigger_reason"]), int(row["events"]))
            for row in reason_rows
            if row["part"] == "top"
        ),
        key=lambda reason: (-reason.events, reason.trigger_reason),
    )
    recurring = sorted(
        (
            (
                str(row["healing_type"]),
                str(row["trigger_reason"]),
                int(row["events"]),
                int(row["type_events"]),
            )
            for row in reason_rows
            if row["part"] == "recurring"
        ),
        key=lambda item: (item[0], -item[2], item[1]),
    )
    zone = zoneinfo.ZoneInfo(timezone)
    counts_by_day: dict[dt.date, tuple[int, int]] = {}
    for row in day_rows:
        day_start = _as_utc(row["day_start"])
        assert day_start is not None
        counts_by_day[day_start.astimezone(zone).date()] = (int(row["events"]), int(row["failed"]))

    analysis = dataclasses.replace(
        empty,
        totals=totals,
        by_type=tuple(by_type),
        top_reasons=tuple(top_reasons),
        per_day=_fill_days(counts_by_day, start, end, timezone),
        first_at=first_at,
        last_at=last_at,
    )
    return dataclasses.replace(analysis, recommendations=recommend(analysis, recurring, rules))


_PARAMETER = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")


def _run(warehouse: Warehouse, sql: str, params: QueryParams, label: str) -> Sequence[Mapping[str, Any]]:
    """Run one query with only the parameters it names (each job then shows exactly what it used)."""
    used = set(_PARAMETER.findall(sql))
    return warehouse.query(sql, {k: v for k, v in params.items() if k in used}, label=label).rows


def _table_missing(warehouse: Warehouse, table: str) -> bool:
    try:
        return warehouse.describe_table(table) is None
    except QueryError:
        return False


def _fill_days(
    counts: Mapping[dt.date, tuple[int, int]], start: dt.datetime, end: dt.datetime, timezone: str
) -> tuple[DayCount, ...]:
    """Every business day from the window's first to its last, zero where the warehouse had no heals."""
    zone = zoneinfo.ZoneInfo(timezone)
    day = start.astimezone(zone).date()
    last = (end - dt.timedelta(microseconds=1)).astimezone(zone).date()
    days = []
    while day <= last:
        events, failed = counts.get(day, (0, 0))
        days.append(DayCount(day, events, failed))
        day += dt.timedelta(days=1)
    return tuple(days)


# --- recommendations ----------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _per_day(count: int, span: dt.timedelta) -> float:
    return count / (span / dt.timedelta(days=1))


def export_command(analysis: HealingAnalysis, healing_type: str) -> str:
    """The command that exports one type's heals of this window (to the minute, end rounded up)."""
    zone = zoneinfo.ZoneInfo(analysis.timezone)
    start = analysis.start.astimezone(zone)
    end = analysis.end.astimezone(zone)
    if end.second or end.microsecond:
        end = end.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return (
        f'`healing analyze --type {healing_type} --start "{start:%Y-%m-%d %H:%M}" '
        f'--end "{end:%Y-%m-%d %H:%M}" --export heals.csv`'
    )


def recommend(
    analysis: HealingAnalysis,
    recurring: Iterable[tuple[str, str, int, int]],
    rules: RecommendationRules = DEFAULT_RULES,
) -> tuple[Recommendation, ...]:
    """The recommendations the counts call for: failing heals first, then rising, then recurring causes.

    ``recurring`` holds (type, reason, heals, type's heals) for each pair the warehouse kept.
    """
    found: list[Recommendation] = []
    for summary in analysis.by_type:
        # Whole-number comparison: 4 of 5 is exactly 80% and must not fire.
        if (
            summary.events >= rules.failing_min_heals
            and 100 * summary.succeeded < rules.failing_below_pct * summary.events
        ):
            found.append(
                Recommendation(
                    RecommendationKind.FAILING_HEALS,
                    summary.healing_type,
                    f"{summary.healing_type} heals are failing: {summary.succeeded:,} of "
                    f"{summary.events:,} succeeded ({_pct(summary.success_rate)}, below "
                    f"{rules.failing_below_pct}%). The automatic fix is not fixing: read the failed "
                    f"heals' after_state ({export_command(analysis, summary.healing_type)}), repair "
                    "what they left broken by hand, and fix or switch off that healer until it works.",
                )
            )
    recent_span = analysis.end - analysis.recent_start
    earlier_span = analysis.recent_start - analysis.start
    since = local_time(analysis.recent_start, analysis.timezone)
    for summary in analysis.by_type:
        recent, earlier = summary.recent_events, summary.events - summary.recent_events
        # recent / recent_span > factor * earlier / earlier_span, multiplied out to stay exact.
        rising = recent * earlier_span > rules.rising_factor * earlier * recent_span
        if recent >= rules.rising_min_recent and rising:
            found.append(
                Recommendation(
                    RecommendationKind.RISING_FREQUENCY,
                    summary.healing_type,
                    f"{summary.healing_type} heals are rising: {recent:,} since {since} "
                    f"({_per_day(recent, recent_span):,.1f}/day) against {earlier:,} in the two thirds "
                    f"of the window before ({_per_day(earlier, earlier_span):,.1f}/day). Find what "
                    f"changed around {since} (a deploy, an upstream source, the schedule) and fix it "
                    "before healing becomes the normal path.",
                )
            )
    for healing_type, reason, events, type_events in recurring:
        found.append(
            Recommendation(
                RecommendationKind.RECURRING_REASON,
                healing_type,
                f"heal the cause, not the symptom: {events:,} of {type_events:,} {healing_type} heals "
                f"({_pct(events / type_events)}) were triggered by {reason!r}. Fix what keeps causing "
                f"it upstream; the heal only hides it. Each case's before_state is in "
                f"{export_command(analysis, healing_type)}.",
                trigger_reason=reason,
            )
        )
    return tuple(found)


# --- output -------------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def to_json(analysis: HealingAnalysis) -> dict[str, Any]:
    """The analysis as JSON-able values: instants in UTC ISO 8601, days as local ISO dates."""
    return {
        "table": analysis.table,
        "target": analysis.target,
        "table_exists": analysis.table_exists,
        "start": _iso(analysis.start),
        "end": _iso(analysis.end),
        "timezone": analysis.timezone,
        "healing_type": analysis.healing_type,
        "totals": {
            "events": analysis.totals.events,
            "succeeded": analysis.totals.succeeded,
            "failed": analysis.totals.failed,
            "success_rate": analysis.totals.success_rate,
        },
        "first_at": _iso(analysis.first_at),
        "last_at": _iso(analysis.last_at),
        "by_type": [
            {
                "healing_type": summary.healing_type,
                "events": summary.events,
                "succeeded": summary.succeeded,
                "failed": summary.failed,
                "success_rate": summary.success_rate,
                "recent_events": summary.recent_events,
            }
            for summary in analysis.by_type
        ],
        "top_reasons": [
            {"trigger_reason": reason.trigger_reason, "events": reason.events}
            for reason in analysis.top_reasons
        ],
        "per_day": [
            {"day": day.day.isoformat(), "events": day.events, "failed": day.failed}
            for day in analysis.per_day
        ],
        "recent_start": _iso(analysis.recent_start),
        "recommendations": [
            {
                "kind": recommendation.kind.value,
                "healing_type": recommendation.healing_type,
                "trigger_reason": recommendation.trigger_reason,
                "text": recommendation.text,
            }
            for recommendation in analysis.recommendations
        ],
    }


def local_time(value: dt.datetime, timezone: str) -> str:
    return value.astimezone(zoneinfo.ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")


def describe_window(analysis: HealingAnalysis) -> str:
    """``[TYPE ]healing events between START and END`` in the business time zone."""
    kind = f"{analysis.healing_type} " if analysis.healing_type else ""
    return f"{kind}healing events {_between(analysis)}"


def _between(analysis: HealingAnalysis) -> str:
    zone = analysis.timezone
    return f"between {local_time(analysis.start, zone)} and {local_time(analysis.end, zone)}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


_COMMAND = re.compile(r"`[^`]+`")
_GLUE = "\x00"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Lines of a table: the first column left-aligned, the others right-aligned, two spaces apart."""
    widths = [max(len(line[column]) for line in (header, *rows)) for column in range(len(header))]
    return [
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in (header, *rows)
    ]


def render(analysis: HealingAnalysis) -> str:
    """The analysis for a terminal: a headline, then aligned tables, then what to do."""
    where = f"{analysis.table} on {analysis.target}"
    if not analysis.table_exists:
        return (
            f"no healing events: {where} does not exist, so no heal was ever recorded there\n"
            f"  0 heals {_between(analysis)}"
        )
    totals = analysis.totals
    if totals.events == 0:
        return f"no {describe_window(analysis)} in {where}"
    zone = analysis.timezone
    assert totals.success_rate is not None and analysis.first_at and analysis.last_at
    lines = [
        f"{describe_window(analysis)} ({where})",
        f"  {totals.events:,} heals: {totals.succeeded:,} succeeded, {totals.failed:,} failed "
        f"({_pct(totals.success_rate)} success); first {local_time(analysis.first_at, zone)}, "
        f"last {local_time(analysis.last_at, zone)}",
        "",
    ]
    lines += _table(
        ("by type", "heals", "failed", "success"),
        [(s.healing_type, f"{s.events:,}", f"{s.failed:,}", _pct(s.success_rate)) for s in analysis.by_type],
    )
    lines += [
        "",
        *_table(
            ("top trigger reasons", "heals", "share"),
            [
                (_clip(r.trigger_reason, 60), f"{r.events:,}", _pct(r.events / totals.events))
                for r in analysis.top_reasons
            ],
        ),
    ]
    shown = analysis.per_day[-RENDERED_DAYS:]
    hidden = len(analysis.per_day) - len(shown)
    lines += [
        "",
        *_table(
            (f"day ({zone})", "heals", "failed"),
            [(d.day.isoformat(), f"{d.events:,}", f"{d.failed:,}") for d in shown],
        ),
    ]
    if hidden:
        lines.append(f"({hidden} earlier days not shown; --json lists every day)")
    lines += ["", "recommendations" if analysis.recommendations else "recommendations: none"]
    for recommendation in analysis.recommendations:
        label = f"- [{recommendation.kind.value}] "
        # A command stays on one line, however long, so that it can be copied and run.
        glued = _COMMAND.sub(lambda match: match.group(0).replace(" ", _GLUE), recommendation.text)
        wrapped = textwrap.wrap(
            glued,
            width=100,
            initial_indent=label,
            subsequent_indent=" " * len(label),
            break_on_hyphens=False,
            break_long_words=False,
        )
        lines += [line.replace(_GLUE, " ") for line in wrapped]
    return "\n".join(lines)


# --- export -------------------------------------------------------------------------------------


def _csv_text(value: Any) -> str:
    return "" if value is None else str(value)


def _csv_bool(value: Any) -> str:
    return "" if value is None else "true" if value else "false"


def _csv_timestamp(value: Any) -> str:
    """UTC ISO 8601, as :meth:`HealingEvent.to_row` writes it."""
    moment = _as_utc(value)
    return "" if moment is None else moment.isoformat()


def _csv_writer_for(column_type: str) -> Callable[[Any], str]:
    """How one column's values are written: chosen once per column, not per value (1M rows add up)."""
    return {"BOOL": _csv_bool, "TIMESTAMP": _csv_timestamp}.get(column_type, _csv_text)


def export_csv(
    warehouse: Warehouse,
    table: str,
    start: dt.datetime,
    end: dt.datetime,
    healing_type: str | None,
    path: Path,
    *,
    chunk_rows: int = EXPORT_CHUNK_ROWS,
) -> int:
    """Write one CSV row per event in ``[start, end)``, every column, ordered by time; return the count.

    Rows are read in chunks of ``chunk_rows`` (keyset pagination on timestamp and healing_id), so
    memory stays flat however large the window. The file appears only when complete. A table that
    does not exist gives a file with the catalog's header and no rows.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be 1 or more")
    live = warehouse.describe_table(table)
    if live is None:
        fields = load_catalog()[table].fields if table in load_catalog() else ()
    else:
        fields = live.fields
    columns = [f.name for f in fields]
    writers = [(f.name, _csv_writer_for(f.type)) for f in fields]
    written = 0
    # Written next to the target and renamed when complete: a failed export leaves no half file.
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with part.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            if live is not None:
                for rows in _event_chunks(warehouse, table, columns, start, end, healing_type, chunk_rows):
                    writer.writerows([write(row[name]) for name, write in writers] for row in rows)
                    written += len(rows)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return written


def _event_chunks(
    warehouse: Warehouse,
    table: str,
    columns: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    healing_type: str | None,
    chunk_rows: int,
) -> Iterable[Sequence[Mapping[str, Any]]]:
    """The events of the window in (timestamp, healing_id) order, ``chunk_rows`` per query.

    Keyset pagination: each query starts at the last key of the one before, so none re-reads what
    came before it (OFFSET would). It starts *at* that key (>=) and drops the rows already written
    there, so duplicate rows (a retried streaming insert) are neither lost nor written twice.
    """
    params: dict[str, bool | int | float | str | dt.date | dt.datetime] = {
        "start": start.astimezone(dt.UTC),
        "end": end.astimezone(dt.UTC),
    }
    if healing_type is not None:
        params["healing_type"] = healing_type
    select = ", ".join(f"`{name}`" for name in columns)
    after = " AND (`timestamp` > @after_at OR (`timestamp` = @after_at AND healing_id >= @after_id))"
    already_at_key = 0
    for chunk_number in itertools.count(1):
        sql = (
            f"SELECT {select} {_filters(table, healing_type)}{after if chunk_number > 1 else ''} "
            f"ORDER BY `timestamp`, healing_id LIMIT {chunk_rows + already_at_key}"
        )
        rows = warehouse.query(sql, params, label=f"healing export chunk {chunk_number}").rows
        fresh = rows[already_at_key:]
        if fresh:
            yield fresh
        if len(fresh) < chunk_rows:
            return
        last = (rows[-1]["timestamp"], rows[-1]["healing_id"])
        already_at_key = sum(1 for _ in _trailing(rows, last))
        params["after_at"], params["after_id"] = last


def _trailing(rows: Sequence[Mapping[str, Any]], key: tuple[Any, Any]) -> Iterable[Mapping[str, Any]]:
    """The rows at the end of ``rows`` whose (timestamp, healing_id) equals ``key``."""
    for row in reversed(rows):
        if (row["timestamp"], row["healing_id"]) != key:
            return
        yield row
