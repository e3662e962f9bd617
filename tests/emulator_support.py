"""What both emulator fixtures (BigQuery, Firestore) need: port leases and a readable log tail.

Standard library only, so importing it costs neither DuckDB nor the Google clients.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import tempfile
from pathlib import Path
from typing import IO

#: One lease folder for every emulator, so the two kinds never share a port.
PORT_LEASE_DIR = Path(tempfile.gettempdir()) / "resilience-emulator-ports"


def lease_free_port(stack: contextlib.ExitStack, lease_dir: Path, error_type: type[Exception]) -> int:
    """A free local port that no other test process on this machine will lease until ``stack`` closes.

    The OS only says a port is free now; two xdist workers asking at once can both be told the same
    one, and gRPC servers bind with SO_REUSEPORT, so a shared gRPC port would not even fail. An
    exclusive flock on ``PORT.lock`` settles it, and the kernel drops the lock if the process dies.
    """
    lease_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        handle: IO[str] = open(lease_dir / f"{port}.lock", "w")  # noqa: SIM115 - held until the stack closes
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        stack.callback(handle.close)
        return port
    raise error_type(f"found no free port to lease in {lease_dir} after 100 tries")


def log_tail(log_path: Path, lines: int = 40) -> str:
    """The last ``lines`` of an emulator's log, for the failure message when it does not come up."""
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"
