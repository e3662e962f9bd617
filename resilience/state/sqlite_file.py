"""One SQLite file opened the way every SQLite store here opens it: safe for several processes at once.

WAL mode lets readers run beside a writer; every write is one ``BEGIN IMMEDIATE`` transaction, so two
writers queue on the file lock (for up to the busy timeout) instead of failing or interleaving. The
state store, the batch store and the healing event store each compose a :class:`SQLiteFile` (they may
share one file on disk, each with its own tables) and keep their own schema and rows.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from resilience.state.base import StateStoreError

__all__ = ["BUSY_TIMEOUT_SECONDS", "SQLiteFile"]

BUSY_TIMEOUT_SECONDS = 30.0


class SQLiteFile:
    """An open SQLite file (created with its folder if missing) whose failures raise ``error_type``.

    ``location`` names the store in every error. :meth:`write` and :meth:`read` turn the exceptions in
    ``wrapped`` into ``error_type`` (reads also those in ``undecodable``: a row, written by something
    else, that does not decode), with ``describe(error)`` as the reason. ``require_wal`` refuses a file
    that stays out of WAL mode. One instance may be shared by threads: the connection is behind a lock.
    """

    def __init__(
        self,
        path: Path,
        *,
        location: str | None = None,
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
        error_type: type[StateStoreError] = StateStoreError,
        wrapped: tuple[type[Exception], ...] = (sqlite3.Error,),
        undecodable: tuple[type[Exception], ...] = (),
        describe: Callable[[Exception], str] = str,
        require_wal: bool = True,
    ) -> None:
        self.location = f"sqlite://{path}" if location is None else location
        self._error_type = error_type
        self._wrapped = wrapped
        self._read_wrapped = wrapped + undecodable
        self._describe = describe
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: the module opens no transactions of its own; each write says
            # BEGIN IMMEDIATE, taking the write lock before reading what it will change.
            self.connection = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as error:
            raise error_type(self.location, "open the database", str(error)) from error
        try:
            self._prepare(busy_timeout, require_wal)
        except BaseException:
            self.connection.close()
            raise

    def _prepare(self, busy_timeout: float, require_wal: bool) -> None:
        try:
            self.connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            # Safe with WAL: a power cut may lose the last commits, never corrupt the file.
            self.connection.execute("PRAGMA synchronous = NORMAL")
            mode = self._switch_to_wal(busy_timeout)
        except sqlite3.Error as error:
            raise self._error_type(self.location, "open the database", str(error)) from error
        if require_wal and mode.lower() != "wal":
            # WAL needs shared memory, which network file systems lack; the rollback journal would
            # make concurrent runs fail with "database is locked" instead of waiting.
            raise self._error_type(
                self.location,
                "switch to WAL mode",
                f"the journal mode stayed {mode!r} (a network file system?)",
            )

    def _switch_to_wal(self, busy_timeout: float) -> str:
        # A no-op when the file is WAL already (another store sharing it switched it).
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                (mode,) = self.connection.execute("PRAGMA journal_mode = WAL").fetchone()
                return str(mode)
            except sqlite3.OperationalError as error:
                # Switching a new file to WAL needs it alone for a moment, and SQLite answers BUSY at
                # once, without its busy handler, while another process does the same: wait here.
                if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.005, 0.05))

    def create(self, operation: str, create: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``create`` (the store's schema) in one write; on any failure close the file and re-raise."""
        try:
            with self.write(operation) as connection:
                create(connection)
        except BaseException:
            self.close()
            raise

    @contextlib.contextmanager
    def write(self, operation: str) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed when the block ends, rolled back if it raises."""
        with self._lock:
            try:
                self.connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise self._error_type(self.location, operation, str(error)) from error
            try:
                yield self.connection
                self.connection.execute("COMMIT")
            except BaseException as error:
                with contextlib.suppress(sqlite3.Error):
                    self.connection.execute("ROLLBACK")
                if isinstance(error, self._wrapped):
                    raise self._error_type(self.location, operation, self._describe(error)) from error
                raise

    @contextlib.contextmanager
    def read(self, operation: str) -> Iterator[sqlite3.Connection]:
        """The connection, alone, for reads: its failures and undecodable rows raise ``error_type``."""
        with self._lock:
            try:
                yield self.connection
            except self._read_wrapped as error:
                raise self._error_type(self.location, operation, self._describe(error)) from error

    def close(self) -> None:
        with self._lock:
            self.connection.close()
