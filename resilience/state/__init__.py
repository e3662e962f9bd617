"""State that survives between runs: alert lifecycles, the outbox of undelivered messages, heartbeats.

``open_state_store("sqlite:///ABS/PATH.sqlite" | "firestore://PROJECT", source)`` opens one; see
:mod:`resilience.state.base` for the contract. Importing this package loads neither sqlite3 nor the
google-cloud packages: the chosen backend is imported when it is opened.
"""

from __future__ import annotations

from resilience.state.base import (
    StateStore,
    StateStoreError,
    StateTarget,
    default_state_url,
    open_state_store,
    parse_state_url,
)
from resilience.state.model import AlertState, Heartbeat, OutboxItem

__all__ = [
    "AlertState",
    "Heartbeat",
    "OutboxItem",
    "StateStore",
    "StateStoreError",
    "StateTarget",
    "default_state_url",
    "open_state_store",
    "parse_state_url",
]
