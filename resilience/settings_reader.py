"""Reading one TOML table with errors that name the file, the key and the value.

Shared by every part of the suite that owns a section of ``resilience.toml``, so each section is
parsed next to the code that uses it and every bad value reads the same way.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from resilience.outcomes import Threshold, format_number


class SettingsError(ValueError):
    """A settings value is wrong. ``str()`` is the whole message: file, key, value, what is expected."""


class TomlTable:
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

    def sub(self, name: str, default_empty: bool = False) -> TomlTable:
        if name not in self.raw and default_empty:
            return TomlTable(self.source, self.key(name), {})
        return TomlTable(self.source, self.key(name), self.take(name, dict, expected="a table"))

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


def threshold_from(
    table: TomlTable, title: str, lowest: float = 0.0, highest: float | None = None
) -> Threshold:
    """A :class:`Threshold` from ``{fail_below = .., warn_below = .., fail_above = .., warn_above = ..}``.

    Rejects negative bounds, warn bounds outside fail bounds, a lower bound above an upper one, and
    a bound that can never fire given the metric's range [``lowest``, ``highest``].
    """
    bounds: dict[str, float | None] = {}
    for name in ("fail_below", "warn_below", "fail_above", "warn_above"):
        value = table.take(name, (int, float), None)
        if value is not None and value < 0:
            raise table.error(name, value, "a threshold >= 0 (no metric here can be negative)")
        bounds[name] = None if value is None else float(value)
    per_game = table.take("per_game", bool, False)
    table.done()
    threshold = Threshold(per_game=per_game, **bounds)
    check_consistent(table, threshold, title, lowest, highest)
    return threshold


def check_consistent(
    table: TomlTable, t: Threshold, title: str, lowest: float, highest: float | None
) -> None:
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
    if t.fail_below is not None and t.fail_below <= lowest:
        raise bad(
            f"fail_below {format_number(t.fail_below)} can never fail: {title} is never below "
            f"{format_number(lowest)}"
        )
    if t.fail_above is not None and highest is not None and t.fail_above >= highest:
        raise bad(
            f"fail_above {format_number(t.fail_above)} can never fail: {title} is at most "
            f"{format_number(highest)}"
        )
    # ... and one that always fails is as useless: it would page every run until someone turned it off.
    if t.fail_below is not None and highest is not None and t.fail_below > highest:
        raise bad(
            f"fail_below {format_number(t.fail_below)} always fails: {title} is at most "
            f"{format_number(highest)}"
        )
