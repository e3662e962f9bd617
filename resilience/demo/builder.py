"""Build the demo warehouse: a DuckDB file shaped like the production BigQuery datasets.

"Today" is ``as_of`` (an Eastern business date) at about 11:30 am: yesterday's games are final
and graded, today's games are scheduled with features, lines, predictions and signals, and later
dates exist only in the schedule. Every timestamp is derived from the game dates, never from
the wall clock (except ``demo_build_info.built_at``), so the same inputs give the same rows.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from resilience.demo.boxscores import League, PlayedGame, analytics_row, gamebook_row, secondary_row
from resilience.demo.calendar import EASTERN, GameKind, Season, build_season, eastern_to_utc, season_year_for
from resilience.demo.faults import Stage, apply_faults, check_preconditions, resolve_faults
from resilience.demo.loader import StagedTables
from resilience.demo.market import GameMarket, bettingpros_rows, odds_api_rows, open_market
from resilience.demo.predictions import (
    PlayerHistory,
    Prediction,
    RunTimes,
    feature_rows,
    grading_rows,
    is_early_season,
    prediction_rows,
)
from resilience.demo.roster import build_rosters
from resilience.demo.schema import SCHEMAS_DIR, TableSchema, create_warehouse, load_schemas
from resilience.demo.signals import publish_signals

DEFAULT_DEMO_DATE = date(2026, 1, 15)  # a Thursday in mid-season, a month before the All-Star break


def _source_digest() -> str:
    """A digest of what decides a demo's contents: this package's code and the table catalog."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted([*package.glob("*.py"), *SCHEMAS_DIR.glob("*.json")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


# A default demo built by other code or for other tables is rebuilt (context.ensure_demo_warehouse).
BUILDER_VERSION = f"demo-builder/2+{_source_digest()}"
BUILD_INFO = "nba_orchestration.demo_build_info"
_BACKFILLED_DAYS = 6  # predictions of a season's first days were written later by a backfill
_BACKFILL_AFTER = 14


@dataclass(frozen=True)
class DemoBuild:
    """What ``build_demo`` built (or what ``read_build_info`` found in a file)."""

    path: Path
    as_of: date
    seed: int
    faults: tuple[str, ...]
    row_counts: Mapping[str, int] = field(repr=False)
    seconds: float
    seasons: int = 1


@dataclass
class _Day:
    """The rows of one game date, generated together so every table tells the same story."""

    staged: StagedTables
    season: Season
    as_of: date
    seed: int
    rngs: Mapping[str, random.Random]

    def write(self, day: date, played: list[PlayedGame], history: PlayerHistory) -> None:
        is_past = day < self.as_of
        markets = [open_market(game, self.rngs["market"]) for game in played]
        if is_past:
            self._box_scores(day, markets)
        self._lines(day, markets, is_past)
        kind = played[0].game.kind
        early = is_early_season(day, self.season.opening_night, kind)
        created = str(eastern_to_utc(day, 5, 45) + timedelta(seconds=self.rngs["features"].randrange(300)))
        self.staged.add(
            "nba_predictions.ml_feature_store_v2",
            feature_rows(day, markets, history, early, created, self.rngs["features"]),
        )
        backfilled_on = None
        opening = self.season.opening_night
        first_days = kind is GameKind.REGULAR and (day - opening).days < _BACKFILLED_DAYS
        if first_days and (self.as_of - opening).days > _BACKFILL_AFTER:
            backfilled_on = opening + timedelta(days=_BACKFILL_AFTER)
        # Filled while the prediction rows are staged; graded below once staging has consumed them.
        active: list[Prediction] = []
        runs = RunTimes.for_date(day, backfilled_on)
        self.staged.add(
            "nba_predictions.player_prop_predictions",
            prediction_rows(day, markets, self.seed, runs, self.rngs["models"], active),
        )
        # Pre-game phases finish on the game date; post-game phases the next morning.
        phases = [
            ("phase4_precompute", day, 6, 0),
            ("phase5_predictions", day, 7, 0),
            ("phase6_publishing", day, 11, 15),
        ]
        if is_past:
            self.staged.add("nba_predictions.prediction_accuracy", grading_rows(day, active))
            after = day + timedelta(days=1)
            phases = [("phase2_raw", after, 3, 30), ("phase3_analytics", after, 5, 0), *phases]
        self.staged.add(
            "nba_orchestration.phase_completions",
            [(day, phase, str(eastern_to_utc(on, hour, minute))) for phase, on, hour, minute in phases],
        )

    def _box_scores(self, day: date, markets: list[GameMarket]) -> None:
        rng = self.rngs["processing"]
        next_day = day + timedelta(days=1)
        gamebook: list[tuple[object, ...]] = []
        secondary: list[tuple[object, ...]] = []
        analytics: list[tuple[object, ...]] = []
        for index, market in enumerate(markets):
            game = market.game.game
            # Gamebook PDFs are parsed overnight; the analytics processor runs after them.
            gamebook_at = str(
                eastern_to_utc(next_day, 2, 0) + timedelta(minutes=4 * index, seconds=rng.randrange(180))
            )
            analytics_at = str(
                eastern_to_utc(next_day, 4, 30) + timedelta(seconds=20 * index + rng.randrange(20))
            )
            live_at = str(game.tipoff_utc + timedelta(hours=2, minutes=50 + rng.randrange(30)))
            source = (
                f"nba-com/gamebooks-data/{day.isoformat()}/{day:%Y%m%d}-{game.away}{game.home}/gamebook.json"
            )
            for team in market.game.teams:
                for player_game in team.players:
                    prop = market.points.get(player_game.player.player_lookup)
                    line = prop.line if prop else None
                    gamebook.append(gamebook_row(game, team, player_game, source, gamebook_at))
                    analytics.append(analytics_row(game, team, player_game, line, analytics_at))
                    if player_game.played:
                        secondary.append(secondary_row(game, team, player_game, live_at))
        self.staged.add("nba_raw.nbac_gamebook_player_stats", gamebook)
        self.staged.add("nba_raw.nbac_player_boxscores", secondary)
        self.staged.add("nba_analytics.player_game_summary", analytics)

    def _lines(self, day: date, markets: list[GameMarket], is_past: bool) -> None:
        rng = self.rngs["market"]
        morning = eastern_to_utc(day, 9, 0)
        for index, market in enumerate(markets):
            # BettingPros is scraped game by game between 7 and 10 am Eastern.
            scraped = str(
                eastern_to_utc(day, 7, 0) + timedelta(minutes=12 * index, seconds=rng.randrange(600))
            )
            self.staged.add("nba_raw.bettingpros_player_points_props", bettingpros_rows(market, scraped, rng))
            self.staged.add(
                "nba_raw.odds_api_player_points_props", odds_api_rows(market, morning, is_past, rng)
            )


def _tipoff_text(tipoff: datetime) -> str:
    local = tipoff.astimezone(EASTERN)
    hour = local.hour % 12 or 12
    return f"{hour}:{local.minute:02d} {'am' if local.hour < 12 else 'pm'} ET"


def _schedule_rows(
    season: Season, as_of: date, scores: Mapping[str, tuple[int, int]], rng: random.Random
) -> list[tuple[object, ...]]:
    scraped = str(eastern_to_utc(as_of, 5, 0))
    rows: list[tuple[object, ...]] = []
    for game in season.games:
        final = game.game_date < as_of
        home_score: int | None = None
        away_score: int | None = None
        if final:
            if game.game_id in scores:
                home_score, away_score = scores[game.game_id]
            else:  # exhibition games have no box scores in the warehouse
                base = 160 if game.kind is GameKind.ALL_STAR else 100
                winner, loser = base + rng.randint(8, 30), base + rng.randint(-5, 7)
                home_score, away_score = (winner, loser) if game.home_wins else (loser, winner)
        code = f"{game.game_date:%Y%m%d}/{game.away}{game.home}"
        rows.append((
            game.game_id, code, game.game_date, str(game.tipoff_utc),
            3 if final else 1, "Final" if final else _tipoff_text(game.tipoff_utc), game.home, game.away,
            home_score, away_score, game.season_year, game.kind is GameKind.REGULAR,
            game.kind is GameKind.PLAYOFF, game.kind is GameKind.ALL_STAR, scraped,
        ))  # fmt: skip
    return rows


def _generate(staged: StagedTables, seasons: Sequence[Season], as_of: date, seed: int) -> None:
    rngs = {
        name: random.Random(f"{seed}-{name}")
        for name in ("games", "market", "features", "models", "processing", "exhibition")
    }
    league = League(build_rosters(seed), rngs["games"])
    history = PlayerHistory()
    for season in seasons:
        league.new_season()
        history.new_season()
        scores: dict[str, tuple[int, int]] = {}
        writer = _Day(staged, season, as_of, seed, rngs)
        for day in season.game_days():
            if day > as_of:
                break
            played = [league.play(game) for game in season.box_score_games_on(day)]
            writer.write(day, played, history)
            if day < as_of:
                for game in played:
                    history.record(game)
                    scores[game.game.game_id] = (game.home.score, game.away.score)
        staged.add("nba_raw.nbac_schedule", _schedule_rows(season, as_of, scores, rngs["exhibition"]))


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _count_rows(connection: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> dict[str, int]:
    counts = {}
    for table in tables:
        row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


def _base_tables(schemas: Mapping[str, TableSchema]) -> list[str]:
    return sorted(name for name, schema in schemas.items() if not schema.is_view)


def build_demo(
    out: Path,
    as_of: date = DEFAULT_DEMO_DATE,
    seed: int = 7,
    faults: Sequence[str] = (),
    seasons: int = 1,
) -> DemoBuild:
    """Write a new demo warehouse to ``out`` (atomically) and describe what was built.

    ``seasons`` seasons of history end at ``as_of``. Unknown fault names, or faults that need
    game days this ``as_of`` lacks, raise ``ValueError`` before anything is written.
    """
    started = time.perf_counter()
    chosen = resolve_faults(faults)
    if seasons < 1:
        raise ValueError(f"seasons must be at least 1, got {seasons}")
    out = Path(out)
    tmp = out.with_suffix(".tmp")
    if tmp == out:
        raise ValueError(f"{out}: the output must not end in .tmp (the build is staged there)")
    last_year = season_year_for(as_of)
    season_list = [build_season(year) for year in range(last_year - seasons + 1, last_year + 1)]
    check_preconditions(
        chosen, as_of, lambda day: len(build_season(season_year_for(day)).box_score_games_on(day))
    )
    schemas = load_schemas()
    out.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (tmp, _wal(tmp)):
        _remove(leftover)
    try:
        with tempfile.TemporaryDirectory(prefix="demo-build-") as staging:
            connection = duckdb.connect(str(tmp))
            try:
                create_warehouse(connection, schemas)
                staged = StagedTables(Path(staging), schemas)
                _generate(staged, season_list, as_of, seed)
                staged.load(connection)
                apply_faults(connection, chosen, as_of, seed, Stage.BEFORE_SIGNALS)
                publish_signals(connection)
                apply_faults(connection, chosen, as_of, seed, Stage.AFTER_SIGNALS)
                seconds = round(time.perf_counter() - started, 3)
                connection.execute(
                    f"INSERT INTO {BUILD_INFO} VALUES (?, ?, ?, CAST(? AS TIMESTAMPTZ), ?, ?, ?)",
                    [
                        as_of,
                        seed,
                        ",".join(chosen),
                        str(datetime.now(UTC)),
                        BUILDER_VERSION,
                        seasons,
                        seconds,
                    ],
                )
                row_counts = _count_rows(connection, _base_tables(schemas))
                connection.execute("CHECKPOINT")
            finally:
                connection.close()
        # A WAL left by an older file at `out` would be replayed into the new one.
        _remove(_wal(out))
        os.replace(tmp, out)
    except BaseException:
        _remove(tmp)
        _remove(_wal(tmp))
        raise
    return DemoBuild(out, as_of, seed, chosen, row_counts, seconds, seasons)


def demo_is_current(path: Path) -> bool:
    """Whether ``path`` was built by this builder from this table catalog."""
    with duckdb.connect(str(path), read_only=True) as connection:
        found = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema || '.' || table_name = ?",
            [BUILD_INFO],
        ).fetchone()
        if not found or not found[0]:
            return False
        row = connection.execute(f"SELECT builder_version FROM {BUILD_INFO} LIMIT 1").fetchone()
    return row is not None and row[0] == BUILDER_VERSION


def read_build_info(path: Path) -> DemoBuild | None:
    """What a demo file says about itself; None when it has no build-info table (or no row)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    connection = duckdb.connect(str(path), read_only=True)
    try:
        present = connection.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'nba_orchestration' AND table_name = 'demo_build_info'"
        ).fetchone()
        if not present or present[0] == 0:
            return None
        row = connection.execute(
            f"SELECT built_for, seed, faults, seasons, build_seconds FROM {BUILD_INFO} LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        built_for, seed, faults, seasons, seconds = row
        tables = connection.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()
        row_counts = _count_rows(connection, [table for (table,) in tables])
    finally:
        connection.close()
    return DemoBuild(
        path=path,
        as_of=built_for,
        seed=int(seed),
        faults=tuple(name for name in (faults or "").split(",") if name),
        row_counts=row_counts,
        seconds=float(seconds or 0.0),
        seasons=int(seasons or 1),
    )
