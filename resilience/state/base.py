"""The state store contract, its error, and the one function that opens a store from a URL.

A store keeps what must survive between runs of the suite: alert lifecycle state, the outbox of
messages not yet delivered, and run heartbeats. ``sqlite:///ABS/PATH.sqlite`` (the default, one file
under ``Settings.state_dir``) or ``firestore://PROJECT`` in production. Only the chosen backend's
module is imported, so the google-cloud packages load only for Firestore.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, urlsplit

from resilience.state.model import AlertState, Heartbeat, OutboxItem

__all__ = [
    "DELIVERED_RETENTION",
    "StateStore",
    "StateStoreError",
    "StateTarget",
    "default_state_url",
    "open_state_store",
    "parse_state_url",
]

#: How long a delivered outbox id is remembered, so that a retried run cannot send the message again.
DELIVERED_RETENTION = dt.timedelta(days=30)
#: An error text longer than this is cut: it is kept for a person to read, and a Firestore document
#: must stay under 1 MiB whatever a webhook answered.
ERROR_TEXT_LIMIT = 2000
DEFAULT_STATE_FILE = "state.sqlite"

# Project ids are 6-30 lowercase letters, digits and hyphens (older ones may carry a "domain:" prefix).
_PROJECT_ID = re.compile(r"^(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_DATABASE_ID = re.compile(r"^(?:\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$")
_FORMS = "sqlite:///ABSOLUTE/PATH.sqlite or firestore://PROJECT[?database=NAME]"


class StateStoreError(Exception):
    """A state store could not do something; the message names the store (its location) and what failed."""

    def __init__(self, location: str, operation: str, reason: str) -> None:
        # All three go to Exception so the error survives pickling (xdist, multiprocessing).
        super().__init__(location, operation, reason)
        self.location = location
        self.operation = operation
        self.reason = reason

    def __str__(self) -> str:
        return f"state store {self.location}: could not {self.operation}: {self.reason}"


class StateStore(Protocol):
    """Where alert state, the outbox and heartbeats live. Opened by :func:`open_state_store`, then injected.

    Every method raises :class:`StateStoreError` when the store fails.
    """

    #: Printable, never holds credentials.
    location: str

    def load_alert_states(self, fingerprints: Iterable[str]) -> dict[str, AlertState]:
        """The stored state of each fingerprint that has one; unknown fingerprints are left out."""
        ...

    def save_alert_states(self, states: Iterable[AlertState]) -> None:
        """Upsert by fingerprint, atomically as a batch (the last of duplicate fingerprints wins)."""
        ...

    def outbox_add(self, item: OutboxItem) -> bool:
        """Queue ``item``; False, and no change, if its id is queued or was delivered already."""
        ...

    def outbox_pending(self, limit: int = 100) -> list[OutboxItem]:
        """Undelivered items, oldest ``created_at`` first."""
        ...

    def outbox_delivered(self, item_id: str) -> None:
        """Remove the item; its id is remembered for :data:`DELIVERED_RETENTION` so it is never re-queued."""
        ...

    def outbox_failed(self, item_id: str, error: str) -> None:
        """Count one more failed attempt and keep ``error``; an id no longer queued is ignored."""
        ...

    def record_heartbeat(self, heartbeat: Heartbeat) -> None:
        """Record one finished run; recording the same suite and run id again replaces it."""
        ...

    def heartbeats(self, suite: str, limit: int = 20) -> list[Heartbeat]:
        """The suite's latest runs, newest ``finished_at`` first."""
        ...

    def suites_with_heartbeats(self) -> list[str]:
        """Every suite that recorded a heartbeat, sorted."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class StateTarget:
    """A parsed state store URL."""

    kind: Literal["sqlite", "firestore"]
    path: Path | None = None
    project: str | None = None
    #: None means the ``(default)`` database.
    database: str | None = None

    def describe(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite://{self.path}"
        return f"firestore://{self.project}" + (f"?database={self.database}" if self.database else "")


def parse_state_url(value: str, source: str) -> StateTarget:
    """Parse ``sqlite:///ABS/PATH.sqlite`` or ``firestore://PROJECT[?database=NAME]``.

    ``source`` names where the value came from (``RESILIENCE_STATE``, a settings key), so that the
    :class:`ValueError` says what to fix.
    """
    parts = urlsplit(value)
    if parts.fragment:
        raise ValueError(f"{source}: {value!r} is not a state store URL (no '#' part); write {_FORMS}")
    if parts.scheme == "sqlite":
        if parts.netloc or not parts.path.startswith("/") or parts.path.endswith("/"):
            raise ValueError(
                f"{source}: {value!r} is not a SQLite state store; write sqlite:///ABSOLUTE/PATH.sqlite"
            )
        if parts.query:
            raise ValueError(f"{source}: {value!r}: a SQLite state store takes no options")
        return StateTarget(kind="sqlite", path=Path(parts.path))
    if parts.scheme == "firestore":
        project = parts.netloc
        if not _PROJECT_ID.match(project) or parts.path not in ("", "/"):
            raise ValueError(
                f"{source}: {value!r} is not a Firestore state store; write firestore://PROJECT "
                "(a Google Cloud project id: 6-30 lowercase letters, digits and hyphens)"
            )
        options = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(options) - {"database"})
        if unknown or len(options.get("database", [])) > 1 or (parts.query and not options):
            raise ValueError(
                f"{source}: {value!r} has unknown or repeated option(s) {', '.join(unknown) or parts.query}; "
                "the only option is ?database=NAME"
            )
        database = options.get("database", [None])[0]
        if database is not None and not _DATABASE_ID.match(database):
            raise ValueError(
                f"{source}: {value!r} names the database {database!r}, which is not a Firestore database id "
                "(4-63 lowercase letters, digits and hyphens, or (default))"
            )
        return StateTarget(
            kind="firestore", project=project, database=None if database == "(default)" else database
        )
    raise ValueError(f"{source}: {value!r} is not a state store URL; write {_FORMS}")


def default_state_url(state_dir: Path) -> str:
    """The default store: one SQLite file in ``Settings.state_dir``."""
    return f"sqlite://{(state_dir / DEFAULT_STATE_FILE).resolve()}"


def open_state_store(url: str, source: str) -> StateStore:
    """Open the one state store a run uses; callers receive it, they never open their own.

    A malformed ``url`` raises :class:`ValueError` naming it and ``source``; a store that cannot be
    reached or created raises :class:`StateStoreError`.
    """
    target = parse_state_url(url, source)
    if target.kind == "sqlite":
        from resilience.state.sqlite_store import SQLiteStateStore

        assert target.path is not None
        return SQLiteStateStore(target.path)
    from resilience.state.firestore_store import FirestoreStateStore

    return FirestoreStateStore(firestore_client_for(target, url, source), location=target.describe())


# Shared by the stores: how values are checked and written the same way in both.


def utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC (model values are always aware, see resilience.state.model)."""
    return value.astimezone(dt.UTC)


def payload_json(item: OutboxItem, location: str) -> str:
    """The item's payload as strict JSON (Slack accepts nothing else), or a StateStoreError saying why not."""
    try:
        return json.dumps(item.payload, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise StateStoreError(
            location, f"add outbox item {item.id!r}", f"its payload is not JSON ({error})"
        ) from error


def payload_from_json(text: str) -> dict[str, Any]:
    payload = json.loads(text)
    if not isinstance(payload, dict):
        raise ValueError(f"an outbox payload must be a JSON object, found {type(payload).__name__}")
    return payload


def error_text(error: str) -> str:
    return error if len(error) <= ERROR_TEXT_LIMIT else error[: ERROR_TEXT_LIMIT - 1] + "…"


def metric_values(raw: Mapping[str, Any]) -> dict[str, float | None]:
    """Metric values as read back: a store may return 3 for 3.0."""
    return {name: None if value is None else float(value) for name, value in raw.items()}


def check_limit(limit: int) -> None:
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")


def firestore_client_for(
    target: StateTarget, url: str, source: str, error_type: type[StateStoreError] = StateStoreError
) -> Any:
    """The Firestore client a store URL names, for every store that lives in Firestore.

    Built by resilience.google_clients, the one place clients are built; its firestore_client has no
    database parameter yet, so a URL naming another database is refused rather than misread.
    """
    if target.database is not None:
        raise ValueError(
            f"{source}: {url!r} names the Firestore database {target.database!r}, but "
            "resilience.google_clients.firestore_client builds clients for the (default) database only"
        )
    from google.auth.exceptions import GoogleAuthError

    from resilience.google_clients import firestore_client

    assert target.project is not None
    try:
        return firestore_client(target.project)
    except GoogleAuthError as error:  # no application default credentials
        raise error_type(target.describe(), "build the Firestore client", str(error)) from error
