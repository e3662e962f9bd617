"""The ``[healing]`` settings: where healing is recorded, pattern levels, and the batch clean-up rule."""

from __future__ import annotations

from dataclasses import dataclass

from resilience.settings_reader import TomlTable


@dataclass(frozen=True)
class PatternSettings:
    yellow_count: int
    yellow_window_minutes: int
    red_count: int
    red_window_hours: int
    critical_failure_rate: float
    critical_window_hours: int
    critical_min_events: int


@dataclass(frozen=True)
class CleanupSettings:
    created_within_hours: int
    stalled_after_minutes: int
    min_completion: float
    max_batches: int


@dataclass(frozen=True)
class HealingSettings:
    events_collection: str
    batches_collection: str
    patterns: PatternSettings
    cleanup: CleanupSettings


def _whole(table: TomlTable, name: str) -> int:
    value: int = table.take(name, int)
    if value < 1:
        raise table.error(name, value, "a whole number >= 1")
    return value


def _share(table: TomlTable, name: str) -> float:
    value = table.take(name, (int, float))
    if not 0 < value < 1:
        raise table.error(name, value, "a share between 0 and 1")
    return float(value)


def parse_healing(table: TomlTable) -> HealingSettings:
    events = table.take("events_collection", str)
    batches = table.take("batches_collection", str)
    patterns_table = table.sub("patterns")
    patterns = PatternSettings(
        _whole(patterns_table, "yellow_count"),
        _whole(patterns_table, "yellow_window_minutes"),
        _whole(patterns_table, "red_count"),
        _whole(patterns_table, "red_window_hours"),
        _share(patterns_table, "critical_failure_rate"),
        _whole(patterns_table, "critical_window_hours"),
        _whole(patterns_table, "critical_min_events"),
    )
    if patterns.red_count <= patterns.yellow_count:
        raise patterns_table.error(
            "red_count", patterns.red_count, f"more than yellow_count ({patterns.yellow_count}): min > max"
        )
    patterns_table.done()
    cleanup_table = table.sub("cleanup")
    cleanup = CleanupSettings(
        _whole(cleanup_table, "created_within_hours"),
        _whole(cleanup_table, "stalled_after_minutes"),
        _share(cleanup_table, "min_completion"),
        _whole(cleanup_table, "max_batches"),
    )
    cleanup_table.done()
    table.done()
    return HealingSettings(events, batches, patterns, cleanup)
