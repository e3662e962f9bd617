"""Outcomes and thresholds: the one place that decides PASSED / WARN / FAILED / ERROR.

Canaries, gates and alerts all call :func:`judge` and :func:`worst`; nothing else compares a value
with a threshold, so one rule (fail is tested before warn, a value that was not measured never passes)
holds everywhere.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace


class Outcome(enum.Enum):
    """What a check concluded. ERROR means "check broken" (could not measure), FAILED "data bad"."""

    PASSED = "passed"
    #: Deliberately not evaluated (the sample is below the rule's minimum size); shown as a pytest skip.
    SKIPPED = "skipped"
    WARN = "warn"
    FAILED = "failed"
    ERROR = "error"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def is_alerting(self) -> bool:
        return self in (Outcome.WARN, Outcome.FAILED, Outcome.ERROR)


_SEVERITY = {Outcome.PASSED: 0, Outcome.SKIPPED: 0, Outcome.WARN: 1, Outcome.FAILED: 2, Outcome.ERROR: 3}


def worst(outcomes: Iterable[Outcome]) -> Outcome:
    """The most severe outcome; a check or run with nothing in it passed (SKIPPED only if all skipped)."""
    collected = list(outcomes)
    if not collected:
        return Outcome.PASSED
    if all(outcome is Outcome.SKIPPED for outcome in collected):
        return Outcome.SKIPPED
    return max(collected, key=lambda outcome: (outcome.severity, outcome is not Outcome.SKIPPED))


@dataclass(frozen=True)
class Threshold:
    """Bounds on one metric. ``fail_below=40`` means a value under 40 fails; warn bounds sit inside.

    With ``per_game`` every bound is multiplied by the number of games expected on the dates
    measured, so a one-game Finals night and a 15-game night are judged alike.
    """

    fail_below: float | None = None
    warn_below: float | None = None
    fail_above: float | None = None
    warn_above: float | None = None
    per_game: bool = False

    def scaled(self, games: int) -> Threshold:
        if not self.per_game:
            return self

        def times(bound: float | None) -> float | None:
            return None if bound is None else bound * games

        return replace(
            self,
            fail_below=times(self.fail_below),
            warn_below=times(self.warn_below),
            fail_above=times(self.fail_above),
            warn_above=times(self.warn_above),
            per_game=False,
        )

    def describe(self) -> str:
        """``fail < 40, warn < 60`` — the form every message uses."""
        parts = []
        for label, bound, sign in (
            ("fail", self.fail_below, "<"),
            ("fail", self.fail_above, ">"),
            ("warn", self.warn_below, "<"),
            ("warn", self.warn_above, ">"),
        ):
            if bound is not None:
                parts.append(f"{label} {sign} {format_number(bound)}")
        text = ", ".join(parts) or "no bounds"
        return text + (" per game" if self.per_game else "")

    def bounds(self) -> dict[str, float]:
        """The bounds that are set, for JSON output."""
        named = {
            "fail_below": self.fail_below,
            "warn_below": self.warn_below,
            "fail_above": self.fail_above,
            "warn_above": self.warn_above,
        }
        return {name: bound for name, bound in named.items() if bound is not None}


def judge(value: float | None, threshold: Threshold) -> Outcome:
    """Decide one metric's outcome. A missing or NaN value is ERROR: not measured, so it cannot pass."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Outcome.ERROR
    if threshold.fail_below is not None and value < threshold.fail_below:
        return Outcome.FAILED
    if threshold.fail_above is not None and value > threshold.fail_above:
        return Outcome.FAILED
    if threshold.warn_below is not None and value < threshold.warn_below:
        return Outcome.WARN
    if threshold.warn_above is not None and value > threshold.warn_above:
        return Outcome.WARN
    return Outcome.PASSED


def format_number(value: float | None) -> str:
    """Numbers as a person reads them: 40 not 40.0, 0.873 not 0.87301234."""
    if value is None:
        return "NULL"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}".rstrip("0").rstrip(".")
