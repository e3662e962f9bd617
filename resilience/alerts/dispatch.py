"""Delivery through the durable outbox: nothing is lost when Slack is down, nothing is sent twice.

Every message is written to the state store's outbox before it is sent and removed once Slack
accepted it. Messages left from earlier runs go first, oldest first; after a transient failure on a
channel, later messages for that channel wait, so the order people read them in is kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from resilience.slack.blockkit import to_block_kit
from resilience.slack.model import AlertMessage
from resilience.slack.sender import SlackConfigError, SlackDeliveryError, redact
from resilience.state.base import StateStore
from resilience.state.model import OutboxItem

#: Outbox items whose channel starts with this hold result-history rows, not Slack messages.
HISTORY_PREFIX = "history:"


class Sender(Protocol):
    def send(self, channel: str, payload: dict[str, Any]) -> None: ...


@dataclass
class DeliveryReport:
    """What delivery did this run; ``problems`` are lines for the terminal summary."""

    sent: list[str] = field(default_factory=list)
    replayed: list[str] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.queued or self.problems)


def _attempt(
    item: OutboxItem, sender: Sender, store: StateStore, report: DeliveryReport, blocked: set[str]
) -> bool:
    if item.channel in blocked:
        report.queued.append(item.id)
        return False
    try:
        sender.send(item.channel, dict(item.payload))
    except SlackConfigError as error:
        store.outbox_failed(item.id, redact(str(error)))
        report.problems.append(f"{item.channel}: {redact(str(error))} (message kept in the outbox)")
        blocked.add(item.channel)
        return False
    except SlackDeliveryError as error:
        store.outbox_failed(item.id, redact(str(error)))
        report.queued.append(item.id)
        report.problems.append(f"{item.channel}: not delivered, will retry next run: {redact(str(error))}")
        blocked.add(item.channel)
        return False
    store.outbox_delivered(item.id)
    return True


def deliver(
    messages: Sequence[AlertMessage], *, store: StateStore, sender: Sender, run_id: str, now: dt.datetime
) -> DeliveryReport:
    """Replay the outbox, then queue and send this run's messages (one per channel)."""
    report = DeliveryReport()
    blocked: set[str] = set()
    for item in store.outbox_pending(limit=500):
        if item.channel.startswith(HISTORY_PREFIX):
            continue
        if _attempt(item, sender, store, report, blocked):
            report.replayed.append(item.id)
    for message in messages:
        item = OutboxItem(
            id=f"{run_id}:{message.channel}",
            channel=message.channel,
            payload=to_block_kit(message),
            created_at=now,
        )
        if not store.outbox_add(item):
            continue  # already queued or delivered under this id: never twice
        if _attempt(item, sender, store, report, blocked):
            report.sent.append(item.id)
    return report
