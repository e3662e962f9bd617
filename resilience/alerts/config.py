"""The ``[alerts]`` settings: cool-down, flapping, dead-man's switch, state store and routing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from resilience.settings_reader import TomlTable

#: Routing keys besides suite names: where FAILED/ERROR of checks marked critical also go.
CRITICAL_ROUTE = "critical"


@dataclass(frozen=True)
class AlertSettings:
    cooldown_hours: float
    flapping_window: int
    flapping_changes: int
    dead_after_intervals: int
    broken_runs: int
    state_path: Path
    #: suite name (or "critical") -> channel key of [channels]
    routing: Mapping[str, str]


def parse_alerts(table: TomlTable, base: Path, channels: Mapping[str, object]) -> AlertSettings:
    cooldown = table.take("cooldown_hours", (int, float))
    if cooldown <= 0:
        raise table.error("cooldown_hours", cooldown, "a number of hours > 0")
    numbers = {}
    for name in ("flapping_window", "flapping_changes", "dead_after_intervals", "broken_runs"):
        value = table.take(name, int)
        if value < 1:
            raise table.error(name, value, "a whole number >= 1")
        numbers[name] = value
    if numbers["flapping_changes"] >= numbers["flapping_window"]:
        raise table.error(
            "flapping_changes",
            numbers["flapping_changes"],
            f"fewer than flapping_window ({numbers['flapping_window']}): min > max",
        )
    state = base / table.take("state", str)
    routing_table = table.sub("routing")
    routing: dict[str, str] = {}
    for suite, channel in routing_table.items():
        if not isinstance(channel, str) or channel.lstrip("#") not in channels:
            raise routing_table.error(
                suite, channel, f"a channel of [channels] ({', '.join(sorted(channels))})"
            )
        routing[suite] = channel.lstrip("#")
    if CRITICAL_ROUTE not in routing:
        raise table.error("routing", routing, f"a '{CRITICAL_ROUTE}' entry: where critical failures go")
    table.done()
    return AlertSettings(
        float(cooldown),
        numbers["flapping_window"],
        numbers["flapping_changes"],
        numbers["dead_after_intervals"],
        numbers["broken_runs"],
        state,
        routing,
    )
