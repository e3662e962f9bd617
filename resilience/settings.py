"""``resilience.toml``: every threshold, table, model, schedule and channel, resolved once into frozen values.

A bad value stops the run with one :class:`SettingsError` line naming the file, the key and the value;
the pytest plugin turns it into ``pytest.UsageError`` and the CLI into exit status 64.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resilience.canary.catalog import CANARIES
from resilience.canary.model import CanarySpec, Rule
from resilience.outcomes import Threshold, format_number
from resilience.schemas import load_catalog
from resilience.warehouse.base import BigQueryOptions

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SETTINGS_PATH = REPO_ROOT / "resilience.toml"
_PARAM = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_TABLE_KEYS = ("schedule", "gamebook", "analytics", "features", "predictions", "signals", "grading", "props")


class SettingsError(ValueError):
    """A settings value is wrong. ``str()`` is the whole message: file, key, value, what is expected."""


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

    def query_params(self) -> dict[str, int | float | str]:
        """The named parameters every metric query may use (besides its date window)."""
        return {**self.metric_params, "champion_model": self.champion_model}

    def runbook_url(self, canary_id: str) -> str:
        page = self.canaries[canary_id].runbook if canary_id in self.canaries else ""
        return page if "://" in page else f"{self.runbook_base_url.rstrip('/')}/{page or canary_id}"


class _Table:
    """One TOML table being read: takes known keys, and at the end complains about any left over."""

    def __init__(self, source: Path, path: str, raw: Any) -> None:
        self.source, self.path = source, path
        if not isinstance(raw, dict):
            raise self.error("", raw, "a table")
        self.raw: dict[str, Any] = dict(raw)

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, value: Any, expected: str) -> SettingsError:
        where = self.key(name) if name else (self.path or "(top level)")
        return SettingsError(f"{self.source}: {where} = {value!r}: expected {expected}")

    def take(self, name: str, kind: type | tuple[type, ...], default: Any = ..., expected: str = "") -> Any:
        if name not in self.raw:
            if default is ...:
                near = difflib.get_close_matches(name, list(self.raw), n=1)
                if near:
                    raise SettingsError(
                        f"{self.source}: unknown key {self.key(near[0])} (value "
                        f"{self.raw[near[0]]!r}); did you mean {name}?"
                    )
                raise SettingsError(f"{self.source}: {self.key(name)} is missing")
            return default
        value = self.raw.pop(name)
        # TOML booleans are ints to isinstance; a threshold of `true` must not pass as 1.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.error(name, value, expected or _kind_name(kind))
        if not isinstance(value, kind):
            raise self.error(name, value, expected or _kind_name(kind))
        return value

    def sub(self, name: str, default_empty: bool = False) -> _Table:
        if name not in self.raw and default_empty:
            return _Table(self.source, self.key(name), {})
        return _Table(self.source, self.key(name), self.take(name, dict, expected="a table"))

    def items(self) -> list[tuple[str, Any]]:
        pairs = list(self.raw.items())
        self.raw.clear()
        return pairs

    def done(self) -> None:
        if self.raw:
            name = sorted(self.raw)[0]
            raise SettingsError(f"{self.source}: unknown key {self.key(name)} (value {self.raw[name]!r})")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {
        int: "a whole number",
        float: "a number",
        str: "a string",
        dict: "a table",
        bool: "true or false",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _threshold(table: _Table, rule: Rule) -> Threshold:
    bounds: dict[str, float | None] = {}
    for name in ("fail_below", "warn_below", "fail_above", "warn_above"):
        value = table.take(name, (int, float), None)
        if value is not None and value < 0:
            raise table.error(name, value, "a threshold >= 0 (no metric here can be negative)")
        bounds[name] = None if value is None else float(value)
    per_game = table.take("per_game", bool, False)
    table.done()
    threshold = Threshold(per_game=per_game, **bounds)
    _check_consistent(table, threshold, rule)
    return threshold


def _check_consistent(table: _Table, t: Threshold, rule: Rule) -> None:
    def bad(message: str) -> SettingsError:
        return SettingsError(f"{table.source}: {table.path} = {{{t.describe()}}}: {message}")

    if not t.bounds():
        raise bad("no bound set; give fail_below or fail_above")
    if t.fail_below is not None and t.warn_below is not None and t.warn_below < t.fail_below:
        raise bad("warn_below is under fail_below, so the warning could never come first")
    if t.fail_above is not None and t.warn_above is not None and t.warn_above > t.fail_above:
        raise bad("warn_above is over fail_above, so the warning could never come first")
    lows = [b for b in (t.fail_below, t.warn_below) if b is not None]
    highs = [b for b in (t.fail_above, t.warn_above) if b is not None]
    if lows and highs and max(lows) > min(highs):
        raise bad("min > max: the lower bound is above the upper bound, so every value would fail")
    if t.per_game:
        return
    # Lesson 3 of production: a check whose threshold can never fire passed for weeks through an outage.
    if t.fail_below is not None and t.fail_below <= rule.lowest:
        raise bad(
            f"fail_below {format_number(t.fail_below)} can never fail: {rule.title} is never below "
            f"{format_number(rule.lowest)}"
        )
    if t.fail_above is not None and rule.highest is not None and t.fail_above >= rule.highest:
        raise bad(
            f"fail_above {format_number(t.fail_above)} can never fail: {rule.title} is at most "
            f"{format_number(rule.highest)}"
        )


def _canary(table: _Table, spec: CanarySpec, derived: Mapping[str, Threshold]) -> CanarySettings:
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
            thresholds[rule.name] = _threshold(rules_table.sub(rule.name), rule)
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
    root = _Table(source, "", document)
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

    channels_table = root.sub("channels")
    channels: dict[str, Channel] = {}
    for name, _ in list(channels_table.raw.items()):
        entry = channels_table.sub(name)
        env = entry.take("webhook_env", str)
        if not _ENV_NAME.match(env):
            raise entry.error("webhook_env", env, "an environment variable name such as SLACK_WEBHOOK_URL_X")
        entry.done()
        channels[name] = Channel(name if name.startswith("#") else f"#{name}", env)
    root.done()

    return Settings(
        source=source,
        timezone=timezone,
        demo_warehouse=demo,
        reports_dir=reports,
        state_dir=state,
        bigquery=BigQueryOptions(float(timeout), max_bytes, location, labels),
        tables=tables,
        champion_model=champion,
        champion_family=champion_family,
        metric_params=metric_params,
        canaries=canaries,
        suites=suites,
        channels=channels,
        runbook_base_url=runbooks,
    )
