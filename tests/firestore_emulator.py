"""Google's Firestore emulator for integration tests: find it, start it on a leased port, stop it.

Installed on the machine image by the Debian package ``google-cloud-cli-firestore-emulator`` (on a
laptop: ``gcloud components install cloud-firestore-emulator``); it cannot be installed from the
registries a test run may reach, so a missing emulator fails the tests that need it, with that advice.
Recipe and measured behaviour: /work/shared/notes/emulators.md.

The google client switches to the emulator when FIRESTORE_EMULATOR_HOST is set, and reads it once,
when a client is built. :func:`emulator_host` sets it around that moment only, so no other test sees
it in ``os.environ``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from google.cloud import firestore

from resilience.google_clients import firestore_client
from tests.emulator_support import PORT_LEASE_DIR, lease_free_port
from tests.emulator_support import log_tail as _log_tail

SCRIPT_ENV = "FIRESTORE_EMULATOR_SCRIPT"
HOST_ENV = "FIRESTORE_EMULATOR_HOST"
DEBIAN_SCRIPT = Path("/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator")
SDK_RELATIVE_SCRIPT = Path("platform/cloud-firestore-emulator/cloud_firestore_emulator")
PROJECT = "test-project"
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
#: The same lease folder as tests/bigquery_emulator.py, so the two emulators never share a port.


class EmulatorNotInstalled(Exception):
    """The emulator's start script is missing; the message says how to install it."""


class EmulatorDidNotStart(Exception):
    """The emulator exited or did not answer in time; the message ends with its log."""


def find_start_script() -> Path:
    """``cloud_firestore_emulator`` from $FIRESTORE_EMULATOR_SCRIPT, the Debian package, or gcloud's SDK."""
    candidates: list[Path] = []
    if os.environ.get(SCRIPT_ENV):
        candidates.append(Path(os.environ[SCRIPT_ENV]))
    candidates.append(DEBIAN_SCRIPT)
    gcloud = shutil.which("gcloud")
    if gcloud:
        # gcloud lives in SDK_ROOT/bin; components are installed under SDK_ROOT/platform.
        candidates.append(Path(gcloud).resolve().parent.parent / SDK_RELATIVE_SCRIPT)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise EmulatorNotInstalled(
        "the Firestore emulator is not installed (looked for "
        + ", ".join(str(candidate) for candidate in candidates)
        + "): install the Debian package google-cloud-cli-firestore-emulator (needs Java 17+), or run "
        f"`gcloud components install cloud-firestore-emulator`, or point {SCRIPT_ENV} at its "
        "cloud_firestore_emulator script"
    )


@contextlib.contextmanager
def emulator_host(host: str) -> Iterator[None]:
    """FIRESTORE_EMULATOR_HOST=``host`` for the ``with`` block only: build clients inside it."""
    previous = os.environ.get(HOST_ENV)
    os.environ[HOST_ENV] = host
    try:
        yield
    finally:
        if previous is None:
            del os.environ[HOST_ENV]
        else:
            os.environ[HOST_ENV] = previous


@dataclass(frozen=True)
class FirestoreEmulator:
    """A running emulator on ``host`` (``127.0.0.1:PORT``); any project id works on it."""

    host: str
    project: str
    log_path: Path

    def client(self, project: str | None = None) -> firestore.Client:
        """A real client talking to this emulator (anonymous credentials), for ``project``."""
        with emulator_host(self.host):
            return firestore_client(project or self.project)

    def unique_project(self) -> str:
        """A project id no other test uses: its documents start empty, no reset needed."""
        return f"test-{uuid.uuid4().hex[:12]}"

    def reset(self, project: str | None = None) -> None:
        """Delete every document of ``project``'s default database."""
        url = (
            f"http://{self.host}/emulator/v1/projects/{project or self.project}/databases/(default)/documents"
        )
        with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=30) as reply:
            if reply.status != 200:
                raise RuntimeError(f"DELETE {url} answered {reply.status}")


def lease_port(stack: contextlib.ExitStack, lease_dir: Path = PORT_LEASE_DIR) -> int:
    """A port leased for this emulator until ``stack`` closes (see tests/emulator_support.py)."""
    return lease_free_port(stack, lease_dir, EmulatorDidNotStart)


def _answers_ok(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=2) as reply:
            return bool(reply.status == 200 and reply.read().strip() == b"Ok")
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    # The start script is a bash wrapper that runs java as a child, without exec: signal the whole
    # process group (its own session), or java would outlive the test run.
    if process.poll() is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    # Whatever of the group ignored SIGTERM (or is still shutting down) goes now.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def running_emulator(
    script: Path,
    workdir: Path,
    *,
    project: str = PROJECT,
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> Iterator[FirestoreEmulator]:
    """Start the emulator with its log in ``workdir``; stop it (and its java child) on exit.

    Raises :class:`EmulatorDidNotStart`, with the tail of the log, if it exits or does not answer
    ``GET /`` with ``Ok`` within ``startup_timeout`` seconds.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "firestore-emulator.log"
    with contextlib.ExitStack() as stack:
        port = lease_port(stack)
        host = f"127.0.0.1:{port}"
        # The default host is localhost, which may resolve to ::1 only: bind the address we call.
        command = [str(script), "start", "--host=127.0.0.1", f"--port={port}"]
        environment = {key: value for key, value in os.environ.items() if key != HOST_ENV}
        log_file = stack.enter_context(log_path.open("ab"))
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
        stack.callback(_stop, process)
        deadline = time.monotonic() + startup_timeout
        # A foreign server already on the port would answer too; only our own log proves it is ours.
        bound = f"API endpoint: http://{host}"
        while True:
            if process.poll() is not None:
                raise EmulatorDidNotStart(
                    f"the Firestore emulator exited with status {process.returncode} before answering on "
                    f"{host}; the end of {log_path}:\n{_log_tail(log_path)}"
                )
            if bound in log_path.read_text(encoding="utf-8", errors="replace") and _answers_ok(host):
                break
            if time.monotonic() > deadline:
                raise EmulatorDidNotStart(
                    f"the Firestore emulator did not answer on {host} within {startup_timeout:g} s; "
                    f"the end of {log_path}:\n{_log_tail(log_path)}"
                )
            time.sleep(0.1)
        yield FirestoreEmulator(host=host, project=project, log_path=log_path)
