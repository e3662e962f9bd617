"""Settings are loaded once and every bad value stops the run with one line naming file, key and value."""

from pathlib import Path

import pytest

from resilience.settings import DEFAULT_SETTINGS_PATH, SettingsError, load_settings

GOOD = DEFAULT_SETTINGS_PATH.read_text(encoding="utf-8")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "resilience.toml"
    path.write_text(text, encoding="utf-8")
    return path


def edited(tmp_path: Path, old: str, new: str) -> Path:
    assert old in GOOD, f"test setup: {old!r} is not in resilience.toml"
    return write(tmp_path, GOOD.replace(old, new, 1))


def error_of(path: Path) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_the_checked_in_settings_load_and_cover_every_canary() -> None:
    settings = load_settings()
    assert settings.tables["gamebook"] == "nba_raw.nbac_gamebook_player_stats"
    assert settings.canaries["phase2_raw"].thresholds["rows"].fail_below == 20
    assert settings.canaries["phase2_raw"].thresholds["rows"].per_game is True
    assert settings.canaries["phase3_analytics"].thresholds["mean_minutes_active"].fail_below == 15
    assert settings.canaries["phase1_scrapers"].params["lookback_days"] == 3
    assert settings.champion_model == "catboost_v9"


def test_the_edge_collapse_floor_follows_the_champions_family(tmp_path: Path) -> None:
    assert load_settings().canaries["edge_collapse"].thresholds["mean_edge"].fail_below == 1.2
    path = edited(tmp_path, 'champion = "catboost_v9"', 'champion = "lightgbm_v3"')
    assert load_settings(path).canaries["edge_collapse"].thresholds["mean_edge"].fail_below == 1.4


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "[canaries.phase2_raw.rules]\n",
            "[canaries.phase2_raw.rules]\nrow = { fail_below = 40 }\n",
            "unknown key canaries.phase2_raw.rules.row",
        ),
        ("timezone =", "time_zone =", "unknown key suite.time_zone"),
        (
            "mean_minutes_active = { fail_below = 15 }",
            'mean_minutes_active = { fail_below = "15" }',
            "canaries.phase3_analytics.rules.mean_minutes_active.fail_below = '15': expected a whole number"
            " or a number",
        ),
        (
            "games = { fail_below = 1 }",
            "games = { fail_below = -2 }",
            "fail_below = -2: expected a threshold >= 0",
        ),
        (
            "low_quality_rows = { fail_above = 100, warn_above = 50 }",
            "low_quality_rows = { fail_above = 50, warn_above = 100 }",
            "warn_above is over fail_above",
        ),
        (
            "mean_quality = { fail_below = 70 }",
            "mean_quality = { fail_below = 70, fail_above = 60 }",
            "min > max",
        ),
        (
            'gamebook = "nba_raw.nbac_gamebook_player_stats"',
            'gamebook = "nba_raw.gamebook"',
            "tables.gamebook = 'nba_raw.gamebook': expected a table of the suite's schema catalog",
        ),
        (
            "mean_points_active = { fail_below = 8 }",
            "mean_points_active = { fail_below = 0 }",
            "fail_below 0 can never fail",
        ),
        (
            "cache_miss_share = { fail_above = 0.05 }",
            "cache_miss_share = { fail_above = 1 }",
            "fail_above 1 can never fail",
        ),
        ("null_team_abbr = { fail_above = 0 }\n", "", "canaries.phase2_raw.rules.null_team_abbr is missing"),
        ("lookback_days = 14", "lookback_days = 0", "analytics_duplicates.lookback_days = 0"),
        ('timezone = "America/New_York"', 'timezone = "Eastern"', "suite.timezone = 'Eastern'"),
        ('champion = "catboost_v9"', 'champion = "prophet_v1"', "models.champion = 'prophet_v1'"),
        ("low_quality_score = 70", "", "metric_params.low_quality_score is missing"),
        (
            "mean_minutes_active = { fail_below = 15 }",
            "mean_minutes_active = { fail_below = true }",
            "fail_below = True",
        ),
        ('SLACK_WEBHOOK_URL_WARNING"', 'slack warning"', "channels.nba-alerts.webhook_env = 'slack warning'"),
    ],
)
def test_a_bad_value_is_named_with_its_file_and_key(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert expected in error_of(edited(tmp_path, old, new))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("null_player_name = 0.3", "null_player_name = 1.3", "gate.phase2.deductions.null_player_name = 1.3"),
        (
            "max_mean_age_hours = 12",
            "max_mean_age_hours = 36",
            "gate.phase2.max_mean_age_hours = 36: expected at most",
        ),
        ("warning_score = 0.7", "warning_score = 1", "gate.phase2.warning_score = 1"),
        ('canary = "canary-alerts"', 'canary = "canary-alert"', "alerts.routing.canary = 'canary-alert'"),
        ("flapping_changes = 4", "flapping_changes = 12", "alerts.flapping_changes = 12"),
        ("cooldown_hours = 4", "cooldown_hours = 0", "alerts.cooldown_hours = 0"),
        ('canary = "canary-alerts"\n', "", "alerts.routing.canary is missing: suite 'canary' has no channel"),
        ("write_timeout_seconds = 30", "write_timeout_seconds = -1", "warehouse.write_timeout_seconds = -1"),
        (
            "quality_ready_share = { fail_below = 0.6 }",
            "quality_ready_share = { fail_below = 1.2 }",
            "fail_below 1.2 always fails: share of quality-ready rows is at most 1",
        ),
    ],
)
def test_a_bad_gate_alert_or_warehouse_value_is_named(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert expected in error_of(edited(tmp_path, old, new))


def test_a_file_that_is_not_toml_says_so(tmp_path: Path) -> None:
    assert "not valid TOML" in error_of(write(tmp_path, "[suite\n"))


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    assert "settings file not found" in error_of(tmp_path / "resilience.toml")


def test_relative_paths_are_read_from_the_settings_files_folder(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.demo_warehouse == tmp_path / ".resilience" / "demo.duckdb"
    assert settings.reports_dir == tmp_path / "reports"
