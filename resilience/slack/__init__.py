"""Slack alerts: the platform-neutral alert model, the Block Kit formatter and the webhook sender.

The layers stay apart so each is tested alone: :mod:`resilience.slack.model` says what happened,
:mod:`resilience.slack.blockkit` says how Slack (or a terminal) shows it, and
:mod:`resilience.slack.sender` delivers it and says exactly why when it cannot.
"""

from resilience.slack.model import AlertKind, AlertMessage, AlertSection, MetricLine

__all__ = ["AlertKind", "AlertMessage", "AlertSection", "MetricLine"]
