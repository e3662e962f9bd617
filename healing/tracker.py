"""The healing tracker: every automatic fix is recorded in two places, then checked for a pattern.

Production recorded heals in some code paths and not others, with Python reprs for the states. Here
every healer calls :meth:`HealingTracker.record`, which writes the event

1. to the event store (Firestore ``healing_events/{healing_id}`` in production, a table of the
   SQLite state file by default), which the pattern detector reads, and
2. to the warehouse table ``settings.tables["healing_events"]`` (BigQuery, DuckDB by default), the
   audit trail analysts query.

The two writes are independent. A warehouse that refuses or is down costs nothing: the row waits in
the state store's outbox (channel ``history:<table>``, item id = the healing id) and is written
first by the next :meth:`~HealingTracker.record` or :meth:`~HealingTracker.flush`. The healing id is
the idempotency key everywhere: the event store refuses a second copy, the warehouse insert skips
(DuckDB) or de-duplicates (BigQuery insert ids) a row it holds, and the outbox never re-queues an id
it delivered. So nothing recorded is lost and nothing is written twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from healing.event_store import EventStore
from healing.model import HealingEvent, new_healing_id
from healing.patterns import assess, finding_payload
from resilience.alerts.config import CRITICAL_ROUTE
from resilience.alerts.dispatch import HISTORY_PREFIX
from resilience.history import WritableWarehouse
from resilience.schemas import bigquery_fields, load_catalog
from resilience.settings import Settings
from resilience.state.base import StateStore
from resilience.state.model import OutboxItem

__all__ = ["HELD_ROWS_LIMIT", "FlushReport", "HealingRecordError", "HealingTracker"]

logger = logging.getLogger(__name__)

#: Outbox items read per flush; held healing rows beyond this (behind Slack messages) wait for the next.
HELD_ROWS_LIMIT = 1000
KEY_COLUMN = "healing_id"

AlertsCallable = Callable[[list[dict[str, Any]]], object]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class HealingRecordError(Exception):
    """Recording a heal did not fully succeed. ``event`` is the event as built; ``problems`` say what failed.

    ``in_event_store`` and ``in_warehouse`` (written, or held in the outbox for it) say where the
    event is. Calling :meth:`HealingTracker.record_event` again with ``event`` is safe: the healing
    id keeps every store from taking it twice.
    """

    def __init__(
        self, event: HealingEvent, problems: Sequence[str], *, in_event_store: bool, in_warehouse: bool
    ) -> None:
        super().__init__(event, tuple(problems), in_event_store, in_warehouse)
        self.event = event
        self.problems = tuple(problems)
        self.in_event_store = in_event_store
        self.in_warehouse = in_warehouse

    def __str__(self) -> str:
        return f"healing event {self.event.healing_id} ({self.event.healing_type}): " + "; ".join(
            self.problems
        )


@dataclass
class FlushReport:
    """What one replay of held warehouse rows did."""

    #: Healing ids written to the warehouse (or found there already) and removed from the outbox.
    written: list[str] = field(default_factory=list)
    #: Healing ids still held, because the warehouse refused them again.
    held: list[str] = field(default_factory=list)
    #: Why the warehouse refused them ("" when nothing failed).
    error: str = ""


class HealingTracker:
    """Records heals in the event store and the warehouse, and checks each heal's type for a pattern.

    ``outbox`` is the run's state store: warehouse rows wait there while the warehouse is down.
    ``warehouse`` None means no warehouse is configured: rows wait in the outbox until one is.
    ``alerts`` receives, after every record, a list holding one check payload of the healed type's
    pattern (see :func:`healing.patterns.finding_payload`); wire it to
    :func:`resilience.alerts.record_run.record_run` so the alert lifecycle decides what is news.
    ``target`` names what the pattern checks are about in alerts (default: the event store).
    """

    def __init__(
        self,
        events: EventStore,
        warehouse: WritableWarehouse | None,
        outbox: StateStore,
        settings: Settings,
        *,
        alerts: AlertsCallable | None = None,
        clock: Callable[[], dt.datetime] = _now,
        target: str | None = None,
    ) -> None:
        self.events = events
        self.warehouse = warehouse
        self.outbox = outbox
        self.settings = settings
        self.table = settings.tables["healing_events"]
        #: The outbox channel of held rows; record_run's history rows use the same prefix.
        self.channel = f"{HISTORY_PREFIX}{self.table}"
        self.target = target or events.location
        self._alerts = alerts
        self._clock = clock
        self._table_ready = False

    def record(
        self,
        healing_type: str,
        trigger_reason: str,
        action_taken: str,
        before_state: Mapping[str, Any],
        after_state: Mapping[str, Any],
        success: bool,
        metadata: Mapping[str, Any] | None = None,
        check_fingerprint: str | None = None,
    ) -> HealingEvent:
        """Record one heal, now, under a new healing id; return the event. See :meth:`record_event`."""
        now = self._clock()
        event = HealingEvent(
            healing_id=new_healing_id(now),
            timestamp=now,
            healing_type=healing_type,
            trigger_reason=trigger_reason,
            action_taken=action_taken,
            before_state=dict(before_state),
            after_state=dict(after_state),
            success=success,
            metadata=dict(metadata or {}),
            check_fingerprint=check_fingerprint,
        )
        return self.record_event(event)

    def record_event(self, event: HealingEvent) -> HealingEvent:
        """Record ``event`` (a retry with the same healing id is recorded once); return it.

        In order: rows held from earlier calls are written to the warehouse; the event goes to the
        event store; its row goes to the warehouse, or to the outbox if the warehouse fails in any
        way (that is not an error: it is logged and written later); then the event's type is checked
        for a pattern and the payload handed to ``alerts``.

        Raises :class:`HealingRecordError`, after everything else was attempted, when

        - the event store failed: the event is still in the warehouse (or held for it), and the
          pattern check was skipped, since it reads that store;
        - the warehouse failed and the outbox could not hold the row either: the warehouse copy
          exists nowhere, so call ``record_event(error.event)`` again once the state store is back;
        - the pattern check or the ``alerts`` callable failed: the event itself is recorded.

        ``error.in_event_store`` / ``error.in_warehouse`` tell which; ``__cause__`` is the first failure.
        """
        problems: list[str] = []
        causes: list[BaseException] = []
        try:
            self.flush()
        except Exception as error:  # the outbox could not be read: held rows stay held, none is lost
            logger.warning("healing: held warehouse rows not replayed: %s", _reason(error))

        in_event_store = True
        try:
            if not self.events.add(event):
                logger.info("healing: event %s was in %s already", event.healing_id, self.events.location)
        except Exception as error:
            in_event_store = False
            problems.append(f"not stored in {self.events.location}: {_reason(error)}")
            causes.append(error)

        in_warehouse = self._write_or_hold(event, problems, causes)

        if in_event_store:
            try:
                self.check_pattern(event.healing_type)
            except Exception as error:
                problems.append(f"recorded, but the pattern check or its alert failed: {_reason(error)}")
                causes.append(error)
        if problems:
            raise HealingRecordError(
                event, problems, in_event_store=in_event_store, in_warehouse=in_warehouse
            ) from causes[0]
        return event

    def _write_or_hold(self, event: HealingEvent, problems: list[str], causes: list[BaseException]) -> bool:
        row = event.to_row()
        try:
            self._write_rows([row])
            return True
        except Exception as refused:  # driver, network, schema, rejected rows: whatever it was, keep the row
            reason = _reason(refused)
        item = OutboxItem(
            id=event.healing_id,
            channel=self.channel,
            # "key" lets any replayer (record_run replays every held history item) skip a row the
            # warehouse has already, so whoever writes it first, it is written once.
            payload={"table": self.table, "rows": [row], "key": KEY_COLUMN},
            created_at=self._clock(),
        )
        try:
            queued = self.outbox.outbox_add(item)
        except Exception as error:
            problems.append(
                f"{self.table} refused it ({reason}) and the outbox {self.outbox.location} could not "
                f"hold it ({_reason(error)}): it is not in the warehouse"
            )
            causes.append(error)
            return False
        if queued:
            logger.warning(
                "healing: %s refused event %s (%s); held in %s for the next write",
                self.table,
                event.healing_id,
                reason,
                self.outbox.location,
            )
        else:
            # Held already, or delivered before: the warehouse has it or will, once.
            logger.info("healing: event %s is held or was delivered already", event.healing_id)
        return True

    def _write_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if self.warehouse is None:
            raise RuntimeError("no writable warehouse is configured")
        try:
            if not self._table_ready:
                schema = load_catalog()[self.table]
                self.warehouse.ensure_table(self.table, bigquery_fields(schema), schema.partition_column)
                self._table_ready = True
            self.warehouse.insert_rows(self.table, rows, key=KEY_COLUMN)
        except Exception:
            # The table may have been dropped or never created: make sure of it again next time.
            self._table_ready = False
            raise

    def flush(self) -> FlushReport:
        """Write the rows held in the outbox for this tracker's table, oldest first, in one insert.

        A warehouse that refuses them again is not an error: they stay held (their attempt count
        goes up) and the report says why. Raises :class:`~resilience.state.StateStoreError` only if
        the outbox itself cannot be read.
        """
        report = FlushReport()
        items = [
            item for item in self.outbox.outbox_pending(limit=HELD_ROWS_LIMIT) if item.channel == self.channel
        ]
        if not items:
            return report
        rows = [dict(row) for item in items for row in item.payload["rows"]]
        try:
            self._write_rows(rows)
        except Exception as error:
            report.error = _reason(error)
            report.held = [item.id for item in items]
            for item in items:
                self.outbox.outbox_failed(item.id, report.error)
            logger.warning(
                "healing: %d held row(s) still refused by %s: %s", len(items), self.table, report.error
            )
            return report
        for item in items:
            # Should this fail after the insert, the row is written again next time, and the key
            # keeps the warehouse from taking it twice.
            self.outbox.outbox_delivered(item.id)
            report.written.append(item.id)
        logger.info("healing: %d held row(s) written to %s", len(items), self.table)
        return report

    def check_pattern(self, healing_type: str) -> dict[str, Any]:
        """Judge ``healing_type`` now, hand the payload to ``alerts`` (if any), and return it.

        Also useful on its own, e.g. from a scheduled job: a type that stopped healing gets its
        "passed" payload, and with it a "resolved" alert, only when someone checks it.
        """
        finding, seen = assess(self.events, healing_type, self._clock(), self.settings)
        payload = finding_payload(
            finding, seen, self.target, critical_channel=self.settings.alerts.routing[CRITICAL_ROUTE]
        )
        if finding.level is not None:
            logger.warning("healing: %s pattern for %s", finding.level.value, healing_type)
        if self._alerts is not None:
            self._alerts([payload])
        return payload
