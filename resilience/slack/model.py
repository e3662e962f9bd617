"""The alert model: what one suite run has to tell a channel, with no Slack markup in it.

The builder fills it from check results and the alert lifecycle; the formatters in
:mod:`resilience.slack.blockkit` turn it into a Block Kit payload or terminal text. Every string
here is plain data as people read it: escaping is the formatter's job.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: Outcomes a section can carry. "error" is a broken check (could not measure), "failed" bad data.
SECTION_OUTCOMES = frozenset({"failed", "error", "warn", "passed"})
#: Keys of :attr:`AlertMessage.counts`; "broken" counts checks whose outcome is ERROR.
COUNT_KEYS = ("failed", "broken", "warned", "passed")


class AlertKind(enum.Enum):
    """Why this check is in the message now (decided by the alert lifecycle)."""

    NEW = "new"
    REPEAT = "repeat"
    CHANGED = "changed"
    RESOLVED = "resolved"
    FLAPPING = "flapping"


@dataclass(frozen=True)
class MetricLine:
    """One measured value and its bounds, already formatted for people: ``"12"``, ``"fail < 40"``."""

    name: str
    value: str
    threshold: str


@dataclass(frozen=True)
class AlertSection:
    """One check's part of a message.

    ``message`` is the check's one-line finding; ``change`` says what is different since the last
    alert ("new", "value 12 -> 31", "failing for 6 h, 12 runs").
    """

    check_id: str
    outcome: str
    kind: AlertKind
    title: str
    message: str
    metrics: tuple[MetricLine, ...] = ()
    change: str = ""
    runbook_url: str = ""
    target: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in SECTION_OUTCOMES:
            raise ValueError(
                f"alert section {self.check_id!r}: outcome {self.outcome!r} is not one of "
                f"{', '.join(sorted(SECTION_OUTCOMES))}"
            )
        if self.outcome == "passed" and self.kind is not AlertKind.RESOLVED:
            raise ValueError(
                f"alert section {self.check_id!r}: a passed check is only reported as resolved, "
                f"not {self.kind.value}"
            )
        # A list would make the frozen section mutable (and unhashable) behind its back.
        object.__setattr__(self, "metrics", tuple(self.metrics))


@dataclass(frozen=True)
class AlertMessage:
    """Everything one suite run sends to one channel."""

    channel: str
    suite: str
    run_id: str
    as_of: str
    target: str
    counts: Mapping[str, int]
    sections: tuple[AlertSection, ...]
    report_hint: str = ""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.counts) - set(COUNT_KEYS))
        if unknown:
            raise ValueError(
                f"alert message for {self.channel}: unknown count key(s) {', '.join(unknown)} "
                f"(expected {', '.join(COUNT_KEYS)})"
            )
        counts = {key: int(self.counts.get(key, 0)) for key in COUNT_KEYS}
        negative = [key for key, value in counts.items() if value < 0]
        if negative:
            raise ValueError(f"alert message for {self.channel}: negative count for {', '.join(negative)}")
        # Every key present and read-only, so formatters never guess a missing count.
        object.__setattr__(self, "counts", MappingProxyType(counts))
        object.__setattr__(self, "sections", tuple(self.sections))
