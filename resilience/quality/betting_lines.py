"""Betting lines: prop coverage of rostered players, BettingPros freshness, line features in phase 4.

Two queries: the schedule says which recent dates had final games (and whether games are on today);
then one query joins, per date, the gamebook roster, the BettingPros points lines and the feature
store over those dates, with the age of the newest line computed in SQL. Normal prop coverage is
35-50% of rostered players: production's test demanded 90% and failed on every healthy day.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence

from resilience.context import evaluation_time
from resilience.outcomes import Outcome, Threshold, judge, worst
from resilience.quality.queries import (
    COUNT,
    PERCENT,
    NotMeasured,
    QualityCheck,
    QualityQuery,
    QueryRun,
    Unit,
    check_result,
    describe,
    not_evaluated,
    run_query,
    span_text,
    summarize,
)
from resilience.results import CheckResult, RuleResult
from resilience.settings import Settings
from resilience.warehouse.base import Warehouse

COVERAGE = QualityCheck("betting_line_coverage", 2, "Rostered players have a points line")
FRESHNESS = QualityCheck("bettingpros_freshness", 2, "BettingPros points lines are fresh")
LINE_FEATURES = QualityCheck("line_features_present", 4, "Players with a line have line features")
BETTING_LINE_CHECKS: tuple[QualityCheck, ...] = (COVERAGE, FRESHNESS, LINE_FEATURES)

HOURS = Unit(suffix=" h")
#: Positions (0-based) in the feature store's ``features`` array: vegas line and the has-line flag.
VEGAS_LINE_FEATURE = 25
HAS_LINE_FEATURE = 28

SCHEDULE_COLUMNS = ("final_games", "scheduled_games")
#: A check's outcome, message and rules, before they are put in a CheckResult.
Judged = tuple[Outcome, str, tuple[RuleResult, ...]]

LINE_COLUMNS = (
    "rostered_players",
    "rostered_with_line",
    "lined_players",
    "lined_without_feature_row",
    "lined_rows_lacking_features",
    "newest_line_age_seconds",
)


def schedule_sql(settings: Settings) -> str:
    """Regular-season and playoff games per date; All-Star and exhibition rows are not pipeline work."""
    return (
        "SELECT game_date AS measured_date,\n"
        "  COUNTIF((is_regular_season OR is_playoffs) AND game_status = 3) AS final_games,\n"
        "  COUNTIF(is_regular_season OR is_playoffs) AS scheduled_games\n"
        f"FROM `{settings.tables['schedule']}`\n"
        "WHERE game_date BETWEEN @window_start AND @window_end\n"
        "GROUP BY measured_date"
    )


def lines_sql(settings: Settings) -> str:
    """Per date: rostered players, who of them has a points line, and whether lined players' feature
    rows carry the line (``features[25]`` vegas line set, ``features[28]`` has-line flag = 1)."""
    lacking = (
        f"COALESCE(features[SAFE_OFFSET({HAS_LINE_FEATURE})], 0) != 1 "
        f"OR COALESCE(features[SAFE_OFFSET({VEGAS_LINE_FEATURE})], 0) = 0"
    )
    return f"""WITH lines AS (
  SELECT game_date, player_lookup, MAX(processed_at) AS processed_at
  FROM `{settings.tables["props"]}`
  WHERE game_date BETWEEN @window_start AND @window_end
    AND market_type = @market_type AND player_lookup IS NOT NULL
  GROUP BY game_date, player_lookup
),
roster AS (
  SELECT DISTINCT game_date, player_lookup
  FROM `{settings.tables["gamebook"]}`
  WHERE game_date BETWEEN @window_start AND @window_end AND player_lookup IS NOT NULL
),
feature_rows AS (
  SELECT game_date, player_lookup, COUNTIF({lacking}) AS rows_lacking
  FROM `{settings.tables["features"]}`
  WHERE game_date BETWEEN @window_start AND @window_end
  GROUP BY game_date, player_lookup
),
players AS (
  SELECT game_date, player_lookup FROM roster
  UNION DISTINCT
  SELECT game_date, player_lookup FROM lines
)
SELECT players.game_date AS measured_date,
  COUNTIF(roster.player_lookup IS NOT NULL) AS rostered_players,
  COUNTIF(roster.player_lookup IS NOT NULL AND lines.player_lookup IS NOT NULL) AS rostered_with_line,
  COUNTIF(lines.player_lookup IS NOT NULL) AS lined_players,
  COUNTIF(lines.player_lookup IS NOT NULL AND feature_rows.player_lookup IS NULL)
    AS lined_without_feature_row,
  SUM(IF(lines.player_lookup IS NOT NULL, COALESCE(feature_rows.rows_lacking, 0), 0))
    AS lined_rows_lacking_features,
  TIMESTAMP_DIFF(@evaluated_at, MAX(lines.processed_at), SECOND) AS newest_line_age_seconds
FROM players
LEFT JOIN roster
  ON roster.game_date = players.game_date AND roster.player_lookup = players.player_lookup
LEFT JOIN lines
  ON lines.game_date = players.game_date AND lines.player_lookup = players.player_lookup
LEFT JOIN feature_rows
  ON feature_rows.game_date = players.game_date AND feature_rows.player_lookup = players.player_lookup
GROUP BY measured_date"""


def planned_sql(settings: Settings) -> tuple[str, ...]:
    """Every SQL text these checks issue (for the partition-filter guard)."""
    return schedule_sql(settings), lines_sql(settings)


def _everything(
    runs: Sequence[QueryRun], dates: Sequence[dt.date], as_of: dt.date, outcome: Outcome, message: str
) -> dict[str, CheckResult]:
    return {
        check.check_id: check_result(check, (as_of,) if check is FRESHNESS else dates, runs, outcome, message)
        for check in BETTING_LINE_CHECKS
    }


def evaluate_betting_lines(
    warehouse: Warehouse, settings: Settings, as_of: dt.date, now: dt.datetime | None = None
) -> Mapping[str, CheckResult]:
    """Judge the three betting-line checks for business date ``as_of``. Never raises."""
    config = settings.betting_lines
    evaluated_at = evaluation_time(as_of, settings.timezone, now)
    schedule = run_query(
        warehouse,
        QualityQuery(
            "betting_lines_schedule",
            schedule_sql(settings),
            {"window_start": as_of - dt.timedelta(days=config.search_days), "window_end": as_of},
            SCHEDULE_COLUMNS,
        ),
    )
    if schedule.error is not None:
        return _everything((schedule,), (), as_of, Outcome.ERROR, f"check broken: {schedule.error}")
    try:
        game_days = sorted(
            day for day in schedule.by_date if day < as_of and schedule.count("final_games", (day,)) > 0
        )
        final_dates = tuple(game_days[-config.game_dates :])
        games_today = schedule.count("scheduled_games", (as_of,))
    except NotMeasured as error:
        return _everything((schedule,), (), as_of, Outcome.ERROR, f"check broken: {error}")
    if not final_dates and not games_today:
        message = (
            f"nothing expected: no final regular-season or playoff games in the {config.search_days} days "
            f"before {as_of.isoformat()} and none scheduled that day"
        )
        return _everything((schedule,), (), as_of, Outcome.PASSED, message)

    # Lines for a date are scraped on or before it, so a line older than max age belongs to a date
    # before this one: the window holds the newest line whenever it is young enough to pass.
    oldest_fresh = evaluated_at - dt.timedelta(hours=config.max_bettingpros_age_hours)
    freshness_start = oldest_fresh.astimezone(zoneinfo.ZoneInfo(settings.timezone)).date()
    freshness_start -= dt.timedelta(days=1)
    window_start = min((*final_dates, freshness_start))
    lines = run_query(
        warehouse,
        QualityQuery(
            "betting_lines_props",
            lines_sql(settings),
            {
                "window_start": window_start,
                "window_end": as_of,
                "market_type": config.market_type,
                "evaluated_at": evaluated_at,
            },
            LINE_COLUMNS,
        ),
    )
    runs = (schedule, lines)
    if lines.error is not None:
        return _everything(runs, final_dates, as_of, Outcome.ERROR, f"check broken: {lines.error}")
    freshness_days = [window_start + dt.timedelta(days=n) for n in range((as_of - window_start).days + 1)]
    results: dict[str, CheckResult] = {}
    for check in BETTING_LINE_CHECKS:
        try:
            if check is COVERAGE:
                judged = _coverage(settings, as_of, final_dates, schedule, lines)
            elif check is FRESHNESS:
                judged = _freshness(settings, as_of, games_today, freshness_days, lines)
            else:
                judged = _line_features(settings, as_of, final_dates, lines)
        except NotMeasured as error:
            judged = Outcome.ERROR, f"check broken: {error}", ()
        dates = (as_of,) if check is FRESHNESS else final_dates
        results[check.check_id] = check_result(check, dates, runs, *judged)
    return results


def _nothing_before(settings: Settings, as_of: dt.date) -> Judged:
    days = settings.betting_lines.search_days
    message = (
        f"nothing expected: no final regular-season or playoff games in the {days} days "
        f"before {as_of.isoformat()}"
    )
    return Outcome.PASSED, message, ()


def _coverage(
    settings: Settings, as_of: dt.date, final_dates: Sequence[dt.date], schedule: QueryRun, lines: QueryRun
) -> Judged:
    if not final_dates:
        return _nothing_before(settings, as_of)
    threshold = settings.betting_lines.coverage
    rules = []
    for day in final_dates:
        rostered = lines.count("rostered_players", (day,))
        lined = lines.count("rostered_with_line", (day,))
        name, title = f"coverage_{day:%Y_%m_%d}", "betting-line coverage"
        if rostered == 0:
            # No roster at all is data bad (phase 2 did not land), not a broken check.
            finals = int(schedule.count("final_games", (day,)))
            detail = f"no gamebook rows on {day.isoformat()} for its {finals} final games"
            rules.append(RuleResult(name, title, None, threshold, Outcome.FAILED, detail))
            continue
        share = lined / rostered
        detail = f"{int(lined)} of {int(rostered)} rostered players on {day.isoformat()}"
        rules.append(RuleResult(name, title, share, threshold, judge(share, threshold), detail))
    outcome = worst(rule.outcome for rule in rules)
    alerting = [day for day, rule in zip(final_dates, rules, strict=True) if rule.outcome.is_alerting]
    if outcome is Outcome.PASSED:
        shares = sorted(rule.value for rule in rules if rule.value is not None)
        values = PERCENT.text(shares[0]) + (f"..{PERCENT.text(shares[-1])}" if len(shares) > 1 else "")
        message = (
            f"passed on {span_text(final_dates)}: betting-line coverage = {values} of rostered players "
            f"({PERCENT.bounds(threshold)})"
        )
    else:
        message = summarize(outcome, span_text(alerting), [(rule, describe(rule, PERCENT)) for rule in rules])
    return outcome, message, tuple(rules)


def _freshness(
    settings: Settings, as_of: dt.date, games_today: float, days: Sequence[dt.date], lines: QueryRun
) -> Judged:
    config = settings.betting_lines
    if not games_today:
        message = f"nothing expected: no regular-season or playoff games scheduled on {as_of.isoformat()}"
        return Outcome.PASSED, message, ()
    threshold = Threshold(fail_above=config.max_bettingpros_age_hours)
    title = f"age of the newest BettingPros {config.market_type} line"
    ages = [age for day in days if (age := lines.value("newest_line_age_seconds", day)) is not None]
    if ages:
        hours = min(ages) / 3600.0
        rule = RuleResult("newest_line_age_hours", title, hours, threshold, judge(hours, threshold))
    elif lines.count("lined_players", days):
        raise NotMeasured(f"processed_at is NULL on every {config.market_type} line of {span_text(days)}")
    else:
        detail = f"no {config.market_type} lines for games on {span_text(days)}"
        rule = RuleResult("newest_line_age_hours", title, None, threshold, Outcome.FAILED, detail)
    message = summarize(rule.outcome, as_of.isoformat(), [(rule, describe(rule, HOURS))])
    return rule.outcome, message, (rule,)


def _line_features(
    settings: Settings, as_of: dt.date, final_dates: Sequence[dt.date], lines: QueryRun
) -> Judged:
    if not final_dates:
        return _nothing_before(settings, as_of)
    span = span_text(final_dates)
    lined = lines.count("lined_players", final_dates)
    if lined < 1:
        return Outcome.SKIPPED, not_evaluated(lined, "players with a points line", span, 1), ()
    lacking = {day: lines.count("lined_rows_lacking_features", (day,)) for day in final_dates}
    absent = {day: lines.count("lined_without_feature_row", (day,)) for day in final_dates}
    missing = sum(lacking.values()) + sum(absent.values())
    threshold = settings.betting_lines.missing_line_features

    def per_day(counts: Mapping[dt.date, float]) -> str:
        bad = [f"{day.isoformat()}: {int(n)}" for day, n in counts.items() if n]
        return f" ({', '.join(bad)})" if bad else ""

    detail = (
        f"of {int(lined)} players with a points line, {int(sum(lacking.values()))} feature rows lack the "
        f"vegas line or has-line flag{per_day(lacking)} and {int(sum(absent.values()))} players have no "
        f"feature row{per_day(absent)}"
    )
    title = "lined players without line features"
    rule = RuleResult("missing_line_features", title, missing, threshold, judge(missing, threshold), detail)
    bad_days = [day for day in final_dates if lacking[day] or absent[day]]
    where = span_text(bad_days) if rule.outcome.is_alerting and bad_days else span
    message = summarize(rule.outcome, where, [(rule, describe(rule, COUNT))])
    return rule.outcome, message, (rule,)
