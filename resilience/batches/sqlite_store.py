"""Prediction batches in a table of the state store's SQLite file (the demo, tests, a laptop).

The same discipline as :mod:`resilience.state.sqlite_store`: WAL mode so readers run beside a writer,
every write one ``BEGIN IMMEDIATE`` transaction so two processes queue on the file lock (for up to
the busy timeout) instead of interleaving. Datetimes are ISO-8601 UTC text with microseconds (sorts in
time order); arrays and maps are JSON text. The table is created if missing and is separate from the
state store's own tables, so either may open the file first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

from resilience.batches.model import PredictionBatch
from resilience.batches.store import created_after, stalled_among
from resilience.healing_settings import CleanupSettings
from resilience.state.base import utc
from resilience.state.sqlite_file import BUSY_TIMEOUT_SECONDS, SQLiteFile

__all__ = ["SQLiteBatchStore"]

_COLUMNS = (
    "batch_id",
    "game_date",
    "expected_players",
    "completed_players",
    "failed_players",
    "failure_reasons",
    "predictions_by_player",
    "total_predictions",
    "is_complete",
    "start_time",
    "completion_time",
    "created_at",
    "updated_at",
    "completed_count",
    "auto_completed",
    "auto_completion_reason",
    "stall_completed",
    "stall_reason",
    "correlation_id",
    "dataset_prefix",
)


def _schema(table: str) -> tuple[str, ...]:
    return (
        f"""CREATE TABLE IF NOT EXISTS {table} (
    batch_id TEXT PRIMARY KEY,
    game_date TEXT NOT NULL,
    expected_players INTEGER NOT NULL,
    completed_players TEXT NOT NULL,
    failed_players TEXT NOT NULL,
    failure_reasons TEXT NOT NULL,
    predictions_by_player TEXT NOT NULL,
    total_predictions INTEGER NOT NULL,
    is_complete INTEGER NOT NULL,
    start_time TEXT,
    completion_time TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    completed_count INTEGER NOT NULL,
    auto_completed INTEGER NOT NULL,
    auto_completion_reason TEXT,
    stall_completed INTEGER NOT NULL,
    stall_reason TEXT,
    correlation_id TEXT,
    dataset_prefix TEXT
)""",
        f"CREATE INDEX IF NOT EXISTS {table}_open_by_age ON {table} (is_complete, created_at, batch_id)",
    )


def _text(value: dt.datetime | None) -> str | None:
    return None if value is None else utc(value).isoformat(timespec="microseconds")


def _time(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def _row(batch: PredictionBatch) -> tuple[Any, ...]:
    return (
        batch.batch_id,
        batch.game_date,
        batch.expected_players,
        json.dumps(list(batch.completed_players)),
        json.dumps(list(batch.failed_players)),
        json.dumps(dict(batch.failure_reasons), sort_keys=True),
        json.dumps(dict(batch.predictions_by_player), sort_keys=True),
        batch.total_predictions,
        int(batch.is_complete),
        _text(batch.start_time),
        _text(batch.completion_time),
        _text(batch.created_at),
        _text(batch.updated_at),
        batch.completed_count,
        int(batch.auto_completed),
        batch.auto_completion_reason,
        int(batch.stall_completed),
        batch.stall_reason,
        batch.correlation_id,
        batch.dataset_prefix,
    )


def _batch(row: sqlite3.Row) -> PredictionBatch:
    created_at, updated_at = _time(row["created_at"]), _time(row["updated_at"])
    assert created_at is not None and updated_at is not None  # NOT NULL columns
    return PredictionBatch(
        batch_id=row["batch_id"],
        game_date=row["game_date"],
        expected_players=int(row["expected_players"]),
        created_at=created_at,
        updated_at=updated_at,
        start_time=_time(row["start_time"]),
        completed_players=tuple(json.loads(row["completed_players"])),
        failed_players=tuple(json.loads(row["failed_players"])),
        failure_reasons={str(k): str(v) for k, v in json.loads(row["failure_reasons"]).items()},
        predictions_by_player={str(k): int(v) for k, v in json.loads(row["predictions_by_player"]).items()},
        total_predictions=int(row["total_predictions"]),
        is_complete=bool(row["is_complete"]),
        completion_time=_time(row["completion_time"]),
        completed_count=int(row["completed_count"]),
        auto_completed=bool(row["auto_completed"]),
        auto_completion_reason=row["auto_completion_reason"],
        stall_completed=bool(row["stall_completed"]),
        stall_reason=row["stall_reason"],
        correlation_id=row["correlation_id"],
        dataset_prefix=row["dataset_prefix"],
    )


class SQLiteBatchStore:
    """A :class:`~resilience.batches.store.BatchStore` in ``table`` of one SQLite file (created if missing).

    One instance may be shared by threads (its connection is guarded by a lock); other processes open
    their own instance on the same file.
    """

    def __init__(
        self, path: Path, *, table: str = "prediction_batches", busy_timeout: float = BUSY_TIMEOUT_SECONDS
    ) -> None:
        self.path = path
        self.table = table
        # ValueError and friends: a row that does not decode, written by something else.
        self._file = SQLiteFile(
            path,
            location=f"sqlite://{path} (table {table})",
            busy_timeout=busy_timeout,
            wrapped=(sqlite3.Error, ValueError, KeyError, TypeError),
            describe=_describe,
        )
        self.location = self._file.location
        self._file.connection.row_factory = sqlite3.Row
        self._file.create(f"create the {self.table} table", self._create_table)

    def _create_table(self, connection: sqlite3.Connection) -> None:
        for statement in _schema(self.table):
            connection.execute(statement)

    def _select(self, where: str) -> str:
        return f"SELECT {', '.join(_COLUMNS)} FROM {self.table} WHERE {where}"

    def put(self, batch: PredictionBatch) -> None:
        with self._file.write(f"write prediction batch {batch.batch_id!r}") as connection:
            connection.execute(
                f"INSERT OR REPLACE INTO {self.table} ({', '.join(_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(_COLUMNS))})",
                _row(batch),
            )

    def get(self, batch_id: str) -> PredictionBatch | None:
        with self._file.read(f"read prediction batch {batch_id!r}") as connection:
            row = connection.execute(self._select("batch_id = ?"), (batch_id,)).fetchone()
            return None if row is None else _batch(row)

    def incomplete(self, created_after: dt.datetime) -> list[PredictionBatch]:
        with self._file.read("list incomplete prediction batches") as connection:
            rows = connection.execute(
                self._select("is_complete = 0 AND created_at >= ?") + " ORDER BY created_at, batch_id",
                (_text(created_after),),
            ).fetchall()
            return [_batch(row) for row in rows]

    def stalled(self, now: dt.datetime, rule: CleanupSettings) -> list[PredictionBatch]:
        return stalled_among(self.incomplete(created_after(now, rule)), now, rule)

    def complete_if_unchanged(
        self, batch_id: str, seen_updated_at: dt.datetime, reason: str, now: dt.datetime
    ) -> PredictionBatch | None:
        with self._file.write(f"complete prediction batch {batch_id!r}") as connection:
            # BEGIN IMMEDIATE holds the write lock from here: nobody changes the row between this
            # read and the update below.
            row = connection.execute(self._select("batch_id = ?"), (batch_id,)).fetchone()
            if row is None:
                return None
            current = _batch(row)
            if current.updated_at != seen_updated_at or current.is_complete or current.claimed:
                return None
            healed = dataclasses.replace(
                current,
                is_complete=True,
                completion_time=now,
                auto_completed=True,
                auto_completion_reason=reason,
                updated_at=now,
            )
            connection.execute(
                f"UPDATE {self.table} SET is_complete = 1, completion_time = ?, auto_completed = 1,"
                " auto_completion_reason = ?, updated_at = ? WHERE batch_id = ?",
                (_text(now), reason, _text(now), batch_id),
            )
            return healed

    def close(self) -> None:
        self._file.close()


def _describe(error: Exception) -> str:
    return str(error) if isinstance(error, sqlite3.Error) else f"{type(error).__name__}: {error}"
