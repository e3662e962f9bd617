"""What a run is about: which settings, which warehouse, which business date, and where each came from.

Resolved once (by the pytest plugin or the CLI), from the command line, then the environment, then
the defaults. Every error names the value and its source.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import zoneinfo
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from resilience.settings import Settings, SettingsError, load_settings
from resilience.warehouse import WarehouseConfigError, WarehouseTarget, parse_target

ENV_WAREHOUSE = "RESILIENCE_WAREHOUSE"
ENV_CONFIG = "RESILIENCE_CONFIG"
ENV_AS_OF = "RESILIENCE_AS_OF"


class ContextError(ValueError):
    """A run cannot start: the message names the bad value and where it came from."""


@dataclass(frozen=True)
class RunContext:
    settings: Settings
    target: WarehouseTarget
    target_source: str
    #: None until resolved against the warehouse (the demo's own date may be the default).
    as_of: dt.date | None
    as_of_source: str

    @property
    def is_default_demo(self) -> bool:
        return self.target_source == "default" and self.target.path == self.settings.demo_warehouse


def business_today(timezone: str, now: dt.datetime | None = None) -> dt.date:
    """Today's date where the business runs (US Eastern), not UTC: production's UTC dates were a day off."""
    moment = now or dt.datetime.now(dt.UTC)
    return moment.astimezone(zoneinfo.ZoneInfo(timezone)).date()


def parse_date(value: str, source: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ContextError(f"{source}: {value!r} is not a date; write YYYY-MM-DD") from None


def resolve_context(
    *,
    config: str | None = None,
    warehouse: str | None = None,
    as_of: str | None = None,
    environ: Mapping[str, str] | None = None,
    option_names: Mapping[str, str] | None = None,
) -> RunContext:
    """Resolve settings, target and date. ``option_names`` says how the caller spells its options."""
    env = os.environ if environ is None else environ
    names = {
        "config": "--resilience-config",
        "warehouse": "--warehouse",
        "as_of": "--as-of",
        **(option_names or {}),
    }

    if config:
        config_path, config_source = Path(config), names["config"]
    elif env.get(ENV_CONFIG):
        config_path, config_source = Path(env[ENV_CONFIG]), ENV_CONFIG
    else:
        config_path, config_source = None, "default"
    try:
        settings = load_settings(config_path)
    except SettingsError as error:
        prefix = "" if config_source == "default" else f"{config_source}: "
        raise ContextError(f"{prefix}{error}") from None

    if warehouse:
        raw_target, target_source = warehouse, names["warehouse"]
    elif env.get(ENV_WAREHOUSE):
        raw_target, target_source = env[ENV_WAREHOUSE], ENV_WAREHOUSE
    else:
        raw_target, target_source = f"duckdb://{settings.demo_warehouse}", "default"
    try:
        target = parse_target(raw_target, target_source)
    except WarehouseConfigError as error:
        raise ContextError(str(error)) from None

    if as_of:
        day, day_source = parse_date(as_of, names["as_of"]), names["as_of"]
    elif env.get(ENV_AS_OF):
        day, day_source = parse_date(env[ENV_AS_OF], ENV_AS_OF), ENV_AS_OF
    else:
        day, day_source = None, "default"
    return RunContext(settings, target, target_source, day, day_source)


def resolve_as_of(context: RunContext, demo_date: dt.date | None) -> tuple[dt.date, str]:
    """The business date of the run: explicit, else the demo's own date, else today in US Eastern."""
    if context.as_of is not None:
        return context.as_of, context.as_of_source
    if demo_date is not None:
        return demo_date, "the date the demo warehouse was built for"
    return business_today(context.settings.timezone), f"today in {context.settings.timezone}"


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialize the demo build across xdist workers and concurrent runs on one machine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_demo_warehouse(context: RunContext) -> dt.date | None:
    """Build the default demo warehouse if it is missing; return the date a demo file was built for."""
    from resilience.demo import build_demo, demo_is_current, read_build_info

    path = context.target.path
    if path is None:
        return None
    if context.is_default_demo:
        with _file_lock(path.with_name(path.name + ".lock")):
            # Rebuilt when the builder or the table catalog changed since: an old file lacks new tables.
            if not path.exists() or not demo_is_current(path):
                build_demo(path)
    if not path.exists():
        return None
    info = read_build_info(path)
    return info.as_of if info else None


#: When a past business date is judged, freshness is measured as if at this hour (Eastern) of that date:
#: the morning's runs have finished by then, and a backfill or a demo is not "stale" for being old.
EVALUATION_HOUR = 12


def evaluation_time(as_of: dt.date, timezone: str, now: dt.datetime | None = None) -> dt.datetime:
    """The moment ages are measured from: now, or noon of ``as_of`` in ``timezone`` if that is earlier."""
    moment = now or dt.datetime.now(dt.UTC)
    noon = dt.datetime.combine(as_of, dt.time(EVALUATION_HOUR), zoneinfo.ZoneInfo(timezone))
    return min(moment, noon).astimezone(dt.UTC)
