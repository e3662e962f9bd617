"""The default state store: one SQLite file (stdlib sqlite3), safe for several processes at once.

WAL mode lets readers run beside a writer; every write is one ``BEGIN IMMEDIATE`` transaction, so
two writers queue on the file lock (for up to the busy timeout) instead of failing or interleaving.
Datetimes are stored as ISO-8601 UTC text with microseconds, which sorts in time order; mappings and
tuples as JSON text.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path

from resilience.state.base import (
    DELIVERED_RETENTION,
    StateStoreError,
    check_limit,
    error_text,
    metric_values,
    payload_from_json,
    payload_json,
    utc,
)
from resilience.state.model import AlertState, Heartbeat, OutboxItem
from resilience.state.sqlite_file import BUSY_TIMEOUT_SECONDS, SQLiteFile

__all__ = ["SCHEMA_VERSION", "SQLiteStateStore"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE alert_states (
    fingerprint TEXT PRIMARY KEY,
    check_id TEXT NOT NULL,
    target TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    last_sent TEXT,
    last_outcome TEXT NOT NULL,
    last_band TEXT NOT NULL,
    count INTEGER NOT NULL,
    recent_outcomes TEXT NOT NULL,
    flapping INTEGER NOT NULL,
    last_values TEXT NOT NULL
);
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL
);
CREATE INDEX outbox_by_age ON outbox (created_at, id);
CREATE TABLE outbox_delivered (
    id TEXT PRIMARY KEY,
    delivered_at TEXT NOT NULL
);
CREATE INDEX outbox_delivered_by_age ON outbox_delivered (delivered_at);
CREATE TABLE heartbeats (
    suite TEXT NOT NULL,
    run_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    counts TEXT NOT NULL,
    PRIMARY KEY (suite, run_id)
);
CREATE INDEX heartbeats_by_suite ON heartbeats (suite, finished_at DESC);
"""


def _text(value: dt.datetime) -> str:
    return utc(value).isoformat(timespec="microseconds")


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SQLiteStateStore:
    """A :class:`~resilience.state.base.StateStore` in one SQLite file, created with its folder if missing.

    One instance may be shared by threads (its connection is guarded by a lock); other processes
    open their own instance on the same file.
    """

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.path = path
        self._clock = clock
        # ValueError on reads: a row that does not decode (JSON, datetime) was written by something else.
        self._file = SQLiteFile(path, busy_timeout=busy_timeout, undecodable=(ValueError,))
        self.location = self._file.location
        self._file.create("create the schema", self._create_schema)

    def _create_schema(self, connection: sqlite3.Connection) -> None:
        connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = connection.execute("SELECT max(version) FROM schema_version").fetchone()
        version = row[0] if row else None
        if version is None:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        elif version > SCHEMA_VERSION:
            raise StateStoreError(
                self.location,
                "open the database",
                f"it has schema version {version}, newer than this code's {SCHEMA_VERSION}: upgrade",
            )

    def load_alert_states(self, fingerprints: Iterable[str]) -> dict[str, AlertState]:
        wanted = list(dict.fromkeys(fingerprints))
        states: dict[str, AlertState] = {}
        with self._file.read("load alert states") as connection:
            # Chunks stay under SQLite's limit on bound parameters (999 in older builds).
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows = connection.execute(
                    "SELECT fingerprint, check_id, target, first_seen, last_seen, last_sent, last_outcome,"
                    " last_band, count, recent_outcomes, flapping, last_values FROM alert_states"
                    f" WHERE fingerprint IN ({', '.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
                for row in rows:
                    states[row[0]] = AlertState(
                        fingerprint=row[0],
                        check_id=row[1],
                        target=row[2],
                        first_seen=_time(row[3]),
                        last_seen=_time(row[4]),
                        last_sent=None if row[5] is None else _time(row[5]),
                        last_outcome=row[6],
                        last_band=row[7],
                        count=int(row[8]),
                        recent_outcomes=tuple(json.loads(row[9])),
                        flapping=bool(row[10]),
                        last_values=metric_values(json.loads(row[11])),
                    )
        return states

    def save_alert_states(self, states: Iterable[AlertState]) -> None:
        rows = [
            (
                state.fingerprint,
                state.check_id,
                state.target,
                _text(state.first_seen),
                _text(state.last_seen),
                None if state.last_sent is None else _text(state.last_sent),
                state.last_outcome,
                state.last_band,
                state.count,
                json.dumps(list(state.recent_outcomes)),
                int(state.flapping),
                json.dumps(dict(state.last_values)),
            )
            for state in states
        ]
        with self._file.write("save alert states") as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO alert_states (fingerprint, check_id, target, first_seen, last_seen,"
                " last_sent, last_outcome, last_band, count, recent_outcomes, flapping, last_values)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def outbox_add(self, item: OutboxItem) -> bool:
        payload = payload_json(item, self.location)
        with self._file.write(f"add outbox item {item.id!r}") as connection:
            cursor = connection.execute(
                "INSERT INTO outbox (id, channel, payload, created_at, attempts, last_error)"
                " SELECT ?, ?, ?, ?, ?, ?"
                " WHERE NOT EXISTS (SELECT 1 FROM outbox_delivered WHERE id = ?)"
                " ON CONFLICT (id) DO NOTHING",
                (
                    item.id,
                    item.channel,
                    payload,
                    _text(item.created_at),
                    item.attempts,
                    error_text(item.last_error),
                    item.id,
                ),
            )
            return cursor.rowcount == 1

    def outbox_pending(self, limit: int = 100) -> list[OutboxItem]:
        check_limit(limit)
        with self._file.read("read the outbox") as connection:
            rows = connection.execute(
                "SELECT id, channel, payload, created_at, attempts, last_error FROM outbox"
                " ORDER BY created_at, id LIMIT ?",
                (limit,),
            ).fetchall()
            return [
                OutboxItem(
                    id=row[0],
                    channel=row[1],
                    payload=payload_from_json(row[2]),
                    created_at=_time(row[3]),
                    attempts=int(row[4]),
                    last_error=row[5],
                )
                for row in rows
            ]

    def outbox_delivered(self, item_id: str) -> None:
        now = self._clock()
        with self._file.write(f"mark outbox item {item_id!r} delivered") as connection:
            connection.execute("DELETE FROM outbox WHERE id = ?", (item_id,))
            connection.execute(
                "INSERT OR REPLACE INTO outbox_delivered (id, delivered_at) VALUES (?, ?)",
                (item_id, _text(now)),
            )
            connection.execute(
                "DELETE FROM outbox_delivered WHERE delivered_at < ?", (_text(now - DELIVERED_RETENTION),)
            )

    def outbox_failed(self, item_id: str, error: str) -> None:
        with self._file.write(f"record a failed delivery of outbox item {item_id!r}") as connection:
            connection.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                (error_text(error), item_id),
            )

    def record_heartbeat(self, heartbeat: Heartbeat) -> None:
        with self._file.write(
            f"record the heartbeat of {heartbeat.suite} run {heartbeat.run_id!r}"
        ) as connection:
            connection.execute(
                "INSERT OR REPLACE INTO heartbeats (suite, run_id, started_at, finished_at, outcome, counts)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    heartbeat.suite,
                    heartbeat.run_id,
                    _text(heartbeat.started_at),
                    _text(heartbeat.finished_at),
                    heartbeat.outcome,
                    json.dumps(dict(heartbeat.counts)),
                ),
            )

    def heartbeats(self, suite: str, limit: int = 20) -> list[Heartbeat]:
        check_limit(limit)
        with self._file.read(f"read the heartbeats of {suite}") as connection:
            rows = connection.execute(
                "SELECT suite, run_id, started_at, finished_at, outcome, counts FROM heartbeats"
                " WHERE suite = ? ORDER BY finished_at DESC, run_id DESC LIMIT ?",
                (suite, limit),
            ).fetchall()
            return [
                Heartbeat(
                    suite=row[0],
                    run_id=row[1],
                    started_at=_time(row[2]),
                    finished_at=_time(row[3]),
                    outcome=row[4],
                    counts={name: int(number) for name, number in json.loads(row[5]).items()},
                )
                for row in rows
            ]

    def suites_with_heartbeats(self) -> list[str]:
        with self._file.read("list the suites with heartbeats") as connection:
            rows = connection.execute("SELECT DISTINCT suite FROM heartbeats ORDER BY suite").fetchall()
            return [row[0] for row in rows]

    def close(self) -> None:
        self._file.close()
