"""The local BigQuery emulator (local-bigquery) for integration tests, and a loader of demo data into it.

The emulator is installed by ``scripts/setup-bigquery-emulator.sh`` into its own venv (it needs
Python >= 3.13, the project may run on 3.11); this module only starts and stops it. Recipe and known
limits: /work/shared/notes/emulators.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from google.cloud import bigquery

from resilience.google_clients import bigquery_client
from resilience.warehouse.base import BigQueryOptions
from resilience.warehouse.bigquery_backend import BigQueryWarehouse, json_value
from tests.emulator_support import PORT_LEASE_DIR, lease_free_port, log_tail

REPO_ROOT = Path(__file__).resolve().parent.parent
INSTALL_DIR = REPO_ROOT / ".resilience" / "emulators" / "bigquery"
SETUP_SCRIPT = REPO_ROOT / "scripts" / "setup-bigquery-emulator.sh"
SCHEMA_DIR = REPO_ROOT / "schemas"
PROJECT = "test-project"
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
#: Leases on ports, shared by every test process on the machine (xdist workers, parallel sessions).


class EmulatorNotInstalled(Exception):
    """The emulator's venv is missing; the message says how to install it."""


class EmulatorDidNotStart(Exception):
    """The emulator exited or did not answer in time; the message ends with its log."""


@dataclass(frozen=True)
class EmulatorInstall:
    """Where setup-bigquery-emulator.sh put the emulator and the HOME holding its DuckDB extensions."""

    executable: Path
    home: Path

    @classmethod
    def find(cls, install_dir: Path = INSTALL_DIR) -> EmulatorInstall:
        install = cls(executable=install_dir / "venv" / "bin" / "local-bigquery", home=install_dir / "home")
        stamp = install_dir / "installed.stamp"
        if not install.executable.exists() or not stamp.exists():
            raise EmulatorNotInstalled(
                f"the local BigQuery emulator is not installed in {install_dir}: run `make test`, "
                f"or {SETUP_SCRIPT.relative_to(REPO_ROOT)} on its own, then rerun the tests"
            )
        return install


@dataclass(frozen=True)
class BigQueryEmulator:
    """A running emulator: point the real BigQuery client at ``endpoint``."""

    endpoint: str
    project: str
    log_path: Path

    def client(self) -> bigquery.Client:
        return bigquery_client(self.project, endpoint=self.endpoint)


def lease_port(stack: contextlib.ExitStack, lease_dir: Path = PORT_LEASE_DIR) -> int:
    """A port leased for this emulator until ``stack`` closes (see tests/emulator_support.py)."""
    return lease_free_port(stack, lease_dir, EmulatorDidNotStart)


def _answers(endpoint: str, project: str) -> bool:
    try:
        with urllib.request.urlopen(
            f"{endpoint}/bigquery/v2/projects/{project}/datasets", timeout=2
        ) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_emulator(
    install: EmulatorInstall,
    workdir: Path,
    *,
    project: str = PROJECT,
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> Iterator[BigQueryEmulator]:
    """Start ``local-bigquery serve`` with its data and log in ``workdir``; stop it on exit.

    Raises :class:`EmulatorDidNotStart`, with the tail of the emulator's log, if it exits or does not
    answer within ``startup_timeout`` seconds.
    """
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "local-bigquery.log"
    with contextlib.ExitStack() as stack:
        port, grpc_port = lease_port(stack), lease_port(stack)
        endpoint = f"http://127.0.0.1:{port}"
        command = [
            str(install.executable),
            "serve",
            # The emulator's defaults are 0.0.0.0 and /data: never expose it, never share its data.
            "--host", "127.0.0.1",
            "--port", str(port),
            "--grpc-port", str(grpc_port),
            "--project", project,
            "--data-dir", str(data_dir),
        ]  # fmt: skip
        # Only the emulator gets the isolated HOME, where its DuckDB finds the extensions it would
        # otherwise download at run time.
        environment = {**os.environ, "HOME": str(install.home)}
        log_file = stack.enter_context(log_path.open("ab"))
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=environment)
        stack.callback(_stop, process)
        deadline = time.monotonic() + startup_timeout
        # A foreign server already on the port would answer too; only our own log proves the port is ours.
        bound = f"Uvicorn running on {endpoint}"
        while True:
            if process.poll() is not None:
                raise EmulatorDidNotStart(
                    f"local-bigquery exited with status {process.returncode} before answering on {endpoint}; "
                    f"the end of {log_path}:\n{log_tail(log_path)}"
                )
            if bound in log_path.read_text(encoding="utf-8", errors="replace") and _answers(
                endpoint, project
            ):
                break
            if time.monotonic() > deadline:
                raise EmulatorDidNotStart(
                    f"local-bigquery did not answer on {endpoint} within {startup_timeout:g} s; "
                    f"the end of {log_path}:\n{log_tail(log_path)}"
                )
            time.sleep(0.1)
        yield BigQueryEmulator(endpoint=endpoint, project=project, log_path=log_path)


def _schema_documents(schema_dir: Path) -> dict[str, Mapping[str, Any]]:
    # The raw JSON, not resilience.schemas: its field list drops RECORD sub-fields and descriptions,
    # and the emulator must get the very schema the production tables have.
    documents: dict[str, Mapping[str, Any]] = {}
    for path in sorted(schema_dir.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        documents[document["table"]] = document
    return documents


_UTC_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_LOCAL_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


def _duckdb_select_list(
    source: duckdb.DuckDBPyConnection, dataset: str, table: str, fields: Sequence[Mapping[str, Any]]
) -> str:
    """A select list reading the columns of ``fields`` in forms BigQuery's JSON load takes unchanged.

    Timestamps are formatted by DuckDB itself: turning a TIMESTAMPTZ into a Python datetime needs
    pytz, which the project does not depend on, and a string in UTC leaves nothing to interpret.
    """
    data_types = dict(
        source.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = ? AND table_name = ?",
            [dataset, table],
        ).fetchall()
    )
    items: list[str] = []
    for field in fields:
        column, data_type = str(field["name"]), str(data_types.get(field["name"], ""))
        # DATETIME has no zone, so no "Z"; a naive DuckDB timestamp loaded as TIMESTAMP is taken as
        # UTC, as BigQuery takes one written without a zone.
        pattern = _LOCAL_ISO_FORMAT if str(field["type"]).upper() == "DATETIME" else _UTC_ISO_FORMAT
        if data_type == "TIMESTAMP WITH TIME ZONE":
            items.append(f"strftime(timezone('UTC', \"{column}\"), '{pattern}') AS \"{column}\"")
        elif data_type.startswith("TIMESTAMP"):
            items.append(f'strftime("{column}", \'{pattern}\') AS "{column}"')
        else:
            items.append(f'"{column}"')
    return ", ".join(items)


def load_duckdb_into_bigquery(
    duckdb_path: Path,
    client: bigquery.Client,
    tables: Sequence[str] | None = None,
    *,
    schema_dir: Path = SCHEMA_DIR,
    timeout: float = 120.0,
) -> dict[str, int]:
    """Copy tables of a DuckDB demo warehouse into BigQuery (the emulator), schemas from ``schema_dir``.

    Tables are recreated DAY-partitioned on their partition column and filled with a JSON load job;
    ``view_of`` entries become BigQuery views (local-bigquery supports views) over their base table,
    which is copied too. Returns the number of rows copied per table, views counting their base.
    """
    documents = _schema_documents(schema_dir)
    wanted = list(documents) if tables is None else list(tables)
    unknown = sorted(set(wanted) - set(documents))
    if unknown:
        raise ValueError(f"no schema in {schema_dir} for {', '.join(unknown)}")
    views = {name: str(documents[name]["view_of"]) for name in wanted if documents[name].get("view_of")}
    base_tables = sorted({name for name in wanted if name not in views} | set(views.values()))
    missing_bases = sorted(set(base_tables) - set(documents))
    if missing_bases:
        raise ValueError(f"views over tables with no schema in {schema_dir}: {', '.join(missing_bases)}")

    # The caller owns the client, so this warehouse is never closed here.
    warehouse = BigQueryWarehouse(client, BigQueryOptions(job_timeout_seconds=timeout))
    copied: dict[str, int] = {}
    with contextlib.closing(duckdb.connect(str(duckdb_path), read_only=True)) as source:
        for table in base_tables:
            document = documents[table]
            fields = document["fields"]
            # Recreated, not appended to: loading the same demo twice must not double it.
            client.delete_table(table, not_found_ok=True)
            warehouse.ensure_table(table, fields, document.get("partition_column"))
            dataset, name = table.split(".")
            columns = [str(field["name"]) for field in fields]
            select_list = _duckdb_select_list(source, dataset, name, fields)
            cursor = source.execute(f'SELECT {select_list} FROM "{dataset}"."{name}"')
            rows = [
                {column: json_value(value) for column, value in zip(columns, row, strict=True)}
                for row in cursor.fetchall()
            ]
            if rows:
                job_config = bigquery.LoadJobConfig(
                    schema=[bigquery.SchemaField.from_api_repr(dict(field)) for field in fields],
                    # APPEND into the table just recreated: the emulator turns every REQUIRED column
                    # NULLABLE on a WRITE_TRUNCATE load, which would read as schema drift.
                    write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
                )
                client.load_table_from_json(rows, table, job_config=job_config).result(timeout=timeout)
            copied[table] = len(rows)
    for view, base in sorted(views.items()):
        client.create_dataset(view.split(".")[0], exists_ok=True)
        client.delete_table(view, not_found_ok=True)
        definition = bigquery.Table(f"{client.project}.{view}")
        definition.view_query = f"SELECT * FROM `{base}`"
        client.create_table(definition)
        copied[view] = copied[base]
    return copied
