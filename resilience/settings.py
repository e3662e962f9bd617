"""``resilience.toml``: every threshold, table, model, schedule and channel, resolved once into frozen values.

A bad value stops the run with one :class:`SettingsError` line naming the file, the key and the value;
the pytest plugin turns it into ``pytest.UsageError`` and the CLI into exit status 64.
"""

from __future__ import annotations

import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from resilience.alerts.config import AlertSettings, parse_alerts
from resilience.canary.catalog import CANARIES
from resilience.canary.model import CanarySpec
from resilience.gate.config import Phase2GateSettings, parse_phase2_gate
from resilience.healing_settings import HealingSettings, parse_healing
from resilience.outcomes import Threshold
from resilience.quality.config import (
    BettingLineSettings,
    PredictionQualitySettings,
    parse_betting_lines,
    parse_prediction_quality,
)
from resilience.schemas import load_catalog
from resilience.settings_reader import SettingsError, TomlTable, threshold_from

__all__ = [
    "CanarySettings",
    "Channel",
    "ModelFamily",
    "Settings",
    "SettingsError",
    "SuiteSchedule",
    "load_settings",
]
from resilience.warehouse.base import BigQueryOptions

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SETTINGS_PATH = REPO_ROOT / "resilience.toml"
_PARAM = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_TABLE_KEYS = (
    "schedule",
    "gamebook",
    "analytics",
    "features",
    "predictions",
    "signals",
    "grading",
    "props",
    "check_results",
    "healing_events",
)


RUNBOOK_DIR = REPO_ROOT / "docs" / "runbooks"


def runbook_page(check_id: str, directory: Path = RUNBOOK_DIR) -> str:
    """The first of the check id and its dotted prefixes that has a page in ``docs/runbooks``."""
    parts = check_id.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if (directory / f"{name}.md").exists():
            return name
    return "index"


@dataclass(frozen=True)
class CanarySettings:
    thresholds: Mapping[str, Threshold]
    params: Mapping[str, int | float | str]
    runbook: str


@dataclass(frozen=True)
class ModelFamily:
    name: str
    min_mean_edge: float


@dataclass(frozen=True)
class Channel:
    name: str
    webhook_env: str


@dataclass(frozen=True)
class SuiteSchedule:
    name: str
    interval_minutes: int


@dataclass(frozen=True)
class Settings:
    source: Path
    timezone: str
    demo_warehouse: Path
    reports_dir: Path
    state_dir: Path
    bigquery: BigQueryOptions
    tables: Mapping[str, str]
    champion_model: str
    champion_family: ModelFamily
    metric_params: Mapping[str, int | float | str]
    canaries: Mapping[str, CanarySettings]
    suites: Mapping[str, SuiteSchedule]
    channels: Mapping[str, Channel]
    runbook_base_url: str
    phase2_gate: Phase2GateSettings
    betting_lines: BettingLineSettings
    prediction_quality: PredictionQualitySettings
    alerts: AlertSettings
    healing: HealingSettings

    def query_params(self) -> dict[str, int | float | str]:
        """The named parameters every metric query may use (besides its date window)."""
        return {**self.metric_params, "champion_model": self.champion_model}

    def runbook_url(self, check_id: str) -> str:
        """The runbook page of a check: its canary's ``runbook`` setting, else ``docs/runbooks/<page>.md``
        where page is the check id or its nearest dotted prefix that has a page (gate.phase2.null_points
        -> gate.phase2)."""
        page = self.canaries[check_id].runbook if check_id in self.canaries else ""
        if "://" in page:
            return page
        return f"{self.runbook_base_url.rstrip('/')}/{page or runbook_page(check_id)}.md"


def _canary(table: TomlTable, spec: CanarySpec, derived: Mapping[str, Threshold]) -> CanarySettings:
    params: dict[str, int | float | str] = {}
    for name in spec.params:
        value = table.take(name, int, expected="a whole number >= 1")
        if value < 1:
            raise table.error(name, value, "a whole number >= 1")
        params[name] = value
    runbook = table.take("runbook", str, "")
    rules_table = table.sub("rules", default_empty=bool(derived))
    thresholds: dict[str, Threshold] = {}
    for rule in spec.rules:
        if rule.name in rules_table.raw:
            thresholds[rule.name] = threshold_from(
                rules_table.sub(rule.name), rule.title, rule.lowest, rule.highest
            )
        elif rule.name in derived:
            thresholds[rule.name] = derived[rule.name]
        else:
            raise SettingsError(
                f"{table.source}: {rules_table.key(rule.name)} is missing (no threshold for '{rule.title}')"
            )
    rules_table.done()
    table.done()
    return CanarySettings(thresholds, params, runbook)


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate the settings file (default ``resilience.toml`` at the repository root)."""
    source = (path or DEFAULT_SETTINGS_PATH).resolve()
    try:
        document = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{source}: settings file not found") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{source}: not valid TOML ({error})") from None
    root = TomlTable(source, "", document)
    base = source.parent

    suite = root.sub("suite")
    timezone = suite.take("timezone", str)
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise suite.error("timezone", timezone, "an IANA time zone such as America/New_York") from None
    demo = base / suite.take("demo_warehouse", str)
    reports = base / suite.take("reports_dir", str)
    state = base / suite.take("state_dir", str)
    runbooks = suite.take("runbook_base_url", str)
    suite.done()

    warehouse = root.sub("warehouse")
    timeout = warehouse.take("job_timeout_seconds", (int, float))
    if timeout <= 0:
        raise warehouse.error("job_timeout_seconds", timeout, "a number of seconds > 0")
    write_timeout = warehouse.take("write_timeout_seconds", (int, float))
    if write_timeout <= 0:
        raise warehouse.error("write_timeout_seconds", write_timeout, "a number of seconds > 0")
    max_bytes = warehouse.take("maximum_bytes_billed", int)
    if max_bytes <= 0:
        raise warehouse.error("maximum_bytes_billed", max_bytes, "a whole number of bytes > 0")
    location = warehouse.take("location", str, None)
    labels_table = warehouse.sub("labels", default_empty=True)
    labels = {}
    for key, value in labels_table.items():
        if not isinstance(value, str) or not _LABEL.match(key) or not _LABEL.match(value or "a"):
            raise labels_table.error(key, value, "a BigQuery label: lowercase letters, digits, _ or -")
        labels[key] = value
    warehouse.done()

    known_tables = load_catalog()
    tables_table = root.sub("tables")
    tables: dict[str, str] = {}
    for key in _TABLE_KEYS:
        name = tables_table.take(key, str)
        if name not in known_tables:
            raise tables_table.error(
                key, name, f"a table of the suite's schema catalog ({', '.join(sorted(known_tables))})"
            )
        tables[key] = name
    tables_table.done()

    models = root.sub("models")
    champion = models.take("champion", str)
    families_table = models.sub("families")
    families: dict[str, ModelFamily] = {}
    for name, _ in list(families_table.raw.items()):
        family = families_table.sub(name)
        edge = family.take("min_mean_edge", (int, float))
        if edge <= 0:
            raise family.error("min_mean_edge", edge, "a number > 0")
        family.done()
        families[name] = ModelFamily(name, float(edge))
    models.done()
    # The longest family name that prefixes the model id: catboost_v9 is a catboost model.
    matches = sorted((f for f in families if champion.startswith(f)), key=len, reverse=True)
    if not matches:
        raise models.error(
            "champion",
            champion,
            f"a model id starting with a family of models.families ({', '.join(sorted(families))})",
        )
    champion_family = families[matches[0]]

    params_table = root.sub("metric_params")
    metric_params: dict[str, int | float | str] = {}
    for key, value in params_table.items():
        if not isinstance(value, int | float | str) or isinstance(value, bool):
            raise params_table.error(key, value, "a number or a string")
        metric_params[key] = value
    used = {name for spec in CANARIES for metric in spec.metrics() for name in _PARAM.findall(metric.sql)}
    missing = sorted(used - set(metric_params) - {"champion_model"})
    if missing:
        raise SettingsError(
            f"{source}: metric_params.{missing[0]} is missing (a canary query uses @{missing[0]})"
        )

    canaries_table = root.sub("canaries")
    derived = {"edge_collapse": {"mean_edge": Threshold(fail_below=champion_family.min_mean_edge)}}
    canaries = {
        spec.id: _canary(canaries_table.sub(spec.id), spec, derived.get(spec.id, {})) for spec in CANARIES
    }
    canaries_table.done()

    suites_table = root.sub("suites")
    suites: dict[str, SuiteSchedule] = {}
    for name, _ in list(suites_table.raw.items()):
        entry = suites_table.sub(name)
        minutes = entry.take("interval_minutes", int)
        if minutes < 1:
            raise entry.error("interval_minutes", minutes, "a whole number of minutes >= 1")
        entry.done()
        suites[name] = SuiteSchedule(name, minutes)

    gate_table = root.sub("gate")
    phase2_gate = parse_phase2_gate(gate_table.sub("phase2"))
    gate_table.done()
    betting_lines = parse_betting_lines(root.sub("betting_lines"))
    prediction_quality = parse_prediction_quality(root.sub("prediction_quality"))

    channels_table = root.sub("channels")
    channels: dict[str, Channel] = {}
    for name, _ in list(channels_table.raw.items()):
        entry = channels_table.sub(name)
        env = entry.take("webhook_env", str)
        if not _ENV_NAME.match(env):
            raise entry.error("webhook_env", env, "an environment variable name such as SLACK_WEBHOOK_URL_X")
        entry.done()
        channels[name] = Channel(name if name.startswith("#") else f"#{name}", env)
    alerts = parse_alerts(
        root.sub("alerts"), base, {name.lstrip("#"): channel for name, channel in channels.items()}
    )
    unrouted = sorted(set(suites) - set(alerts.routing))
    if unrouted:
        raise SettingsError(
            f"{source}: alerts.routing.{unrouted[0]} is missing: suite {unrouted[0]!r} has no channel"
        )
    healing = parse_healing(root.sub("healing"))
    root.done()

    return Settings(
        source=source,
        timezone=timezone,
        demo_warehouse=demo,
        reports_dir=reports,
        state_dir=state,
        bigquery=BigQueryOptions(float(timeout), float(write_timeout), max_bytes, location, labels),
        tables=tables,
        champion_model=champion,
        champion_family=champion_family,
        metric_params=metric_params,
        canaries=canaries,
        suites=suites,
        channels=channels,
        runbook_base_url=runbooks,
        phase2_gate=phase2_gate,
        betting_lines=betting_lines,
        prediction_quality=prediction_quality,
        alerts=alerts,
        healing=healing,
    )
