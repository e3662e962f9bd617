"""BigQueryWarehouse: parameter typing and labels without a server, the rest against local-bigquery.

Tests marked ``bigquery`` run the real google-cloud-bigquery client against the emulator started by
the ``bigquery_emulator`` fixture; nothing there mocks a query result. The emulator reports 0 bytes
processed, so nothing here asserts on cost.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import pytest
from google.cloud import bigquery

from resilience.demo import build_demo
from resilience.warehouse.base import BigQueryOptions, ParamValue, QueryError, WarehouseConfigError
from resilience.warehouse.bigquery_backend import (
    CHECK_QUERY_LABEL,
    BigQueryWarehouse,
    RejectedRow,
    RowsRejectedError,
    job_labels,
    json_value,
    label_value,
    query_parameter,
    rejected_rows,
)
from resilience.warehouse.duckdb_backend import DuckDBWarehouse
from tests.bigquery_emulator import (
    SCHEMA_DIR,
    BigQueryEmulator,
    EmulatorDidNotStart,
    EmulatorInstall,
    EmulatorNotInstalled,
    lease_port,
    load_duckdb_into_bigquery,
    running_emulator,
)

LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
EASTERN = dt.timezone(dt.timedelta(hours=-5))


# --- without a server ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected_type", "expected_value"),
    [
        (True, "BOOL", True),
        (False, "BOOL", False),
        (0, "INT64", 0),
        (2**53 + 1, "INT64", 2**53 + 1),
        (0.25, "FLOAT64", 0.25),
        ("Luka Dončić", "STRING", "Luka Dončić"),
        (dt.date(2025, 11, 5), "DATE", dt.date(2025, 11, 5)),
        (
            dt.datetime(2025, 11, 5, 19, 30, tzinfo=EASTERN),
            "TIMESTAMP",
            dt.datetime(2025, 11, 6, 0, 30, tzinfo=dt.UTC),
        ),
        (dt.datetime(2025, 11, 5, 19, 30), "TIMESTAMP", dt.datetime(2025, 11, 5, 19, 30, tzinfo=dt.UTC)),
    ],
    ids=["true", "false", "zero", "big-int", "float", "string", "date", "aware-datetime", "naive-datetime"],
)
def test_a_parameter_is_typed_from_its_python_value(
    value: Any, expected_type: str, expected_value: Any
) -> None:
    parameter = query_parameter("p", value)

    assert (parameter.name, parameter.type_) == ("p", expected_type)
    assert parameter.value == expected_value
    assert type(parameter.value) is type(expected_value)


def test_an_unsupported_parameter_type_names_the_parameter() -> None:
    with pytest.raises(TypeError, match=r"@line is a Decimal"):
        query_parameter("line", decimal.Decimal("24.5"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query_label", "expected"),
    [
        ("games_yesterday", "games_yesterday"),
        ("Canary: Games / Yesterday", "canary_games_yesterday"),
        ("props-freshness.odds_api", "props-freshness_odds_api"),
        ("  ", ""),
    ],
)
def test_a_query_label_becomes_a_valid_label_value(query_label: str, expected: str) -> None:
    assert label_value(query_label) == expected


def test_a_long_query_label_is_cut_to_63_characters_and_stays_distinct() -> None:
    prefix = "gate:" + "prediction_accuracy_" * 4
    first, second = label_value(prefix + "points"), label_value(prefix + "rebounds")

    assert LABEL_VALUE.fullmatch(first)
    assert LABEL_VALUE.fullmatch(second)
    assert len(first) == 63
    assert first != second


def test_the_check_query_label_joins_the_configured_labels_and_wins() -> None:
    labels = job_labels({"suite": "resilience", CHECK_QUERY_LABEL: "stale"}, "Gate: Grading")

    assert labels == {"suite": "resilience", CHECK_QUERY_LABEL: "gate_grading"}


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"Suite": "x"}, r"label key 'Suite'"),
        ({"suite": "Has Spaces"}, r"suite='Has Spaces'"),
        ({f"k{i}": "v" for i in range(64)}, r"64 configured, at most 63"),
    ],
)
def test_labels_bigquery_would_refuse_are_rejected_when_the_warehouse_is_built(
    labels: Mapping[str, str], message: str
) -> None:
    client = mock.create_autospec(bigquery.Client, instance=True)
    with pytest.raises(WarehouseConfigError, match=message):
        BigQueryWarehouse(client, BigQueryOptions(labels=labels))


def test_the_job_config_carries_labels_byte_cap_timeout_and_parameters() -> None:
    client = mock.create_autospec(bigquery.Client, instance=True)
    warehouse = BigQueryWarehouse(
        client,
        BigQueryOptions(job_timeout_seconds=45, maximum_bytes_billed=10**9, labels={"suite": "canary"}),
    )

    config = warehouse.job_config({"game_date": dt.date(2025, 11, 5)}, label="Games Yesterday")

    assert config.labels == {"suite": "canary", CHECK_QUERY_LABEL: "games_yesterday"}
    assert config.maximum_bytes_billed == 10**9
    assert int(config.job_timeout_ms) == 45_000  # the client hands it back as a string
    assert config.use_query_cache is None  # BigQuery's default applies
    assert [(p.name, p.type_) for p in config.query_parameters] == [("game_date", "DATE")]


def test_rows_that_only_stopped_are_not_blamed() -> None:
    answer = [
        {"index": 0, "errors": [{"reason": "stopped", "location": "", "message": ""}]},
        {"index": 1, "errors": [{"reason": "invalid", "location": "points", "message": "Cannot convert"}]},
    ]

    assert rejected_rows(answer) == [RejectedRow(1, "points", "invalid", "Cannot convert")]


def test_an_insert_refused_without_a_named_row_is_still_a_failure() -> None:
    answer = [{"index": 0, "errors": [{"reason": "stopped", "location": "", "message": ""}]}]

    assert [row.reason for row in rejected_rows(answer)] == ["stopped"]


def test_values_are_made_json_safe_for_bigquery() -> None:
    row = {
        "line": decimal.Decimal("24.5"),
        "game_date": dt.date(2025, 11, 5),
        "tip_off": dt.datetime(2025, 11, 6, 0, 30, tzinfo=dt.UTC),
        "features": (1.0, None),
        "detail": {"at": dt.date(2025, 1, 1)},
    }

    assert json_value(row) == {
        "line": "24.5",
        "game_date": "2025-11-05",
        "tip_off": "2025-11-06T00:30:00+00:00",
        "features": [1.0, None],
        "detail": {"at": "2025-01-01"},
    }


# --- against the emulator -----------------------------------------------------------------------


class RecordingClient:
    """The real client, recording what the warehouse passes to ``query`` and ``QueryJob.result``."""

    def __init__(self, client: bigquery.Client) -> None:
        self._client = client
        self.query_calls: list[dict[str, Any]] = []
        self.result_calls: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, sql: str, **kwargs: Any) -> bigquery.QueryJob:
        self.query_calls.append(kwargs)
        job = self._client.query(sql, **kwargs)
        real_result = job.result

        def result(**result_kwargs: Any) -> Any:
            self.result_calls.append(result_kwargs)
            return real_result(**result_kwargs)

        job.result = result  # type: ignore[method-assign, assignment]
        return job


@pytest.fixture(scope="module")
def emulator_client(bigquery_emulator: BigQueryEmulator) -> Iterator[bigquery.Client]:
    client = bigquery_emulator.client()
    yield client
    client.close()


@pytest.fixture
def warehouse(emulator_client: bigquery.Client) -> BigQueryWarehouse:
    # Not closed: the client is shared by the module.
    return BigQueryWarehouse(emulator_client, BigQueryOptions(job_timeout_seconds=30))


@pytest.fixture
def dataset(emulator_client: bigquery.Client) -> Iterator[str]:
    """The name of a dataset of this test's own (created by ensure_table), removed afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    emulator_client.delete_dataset(name, delete_contents=True, not_found_ok=True)


@pytest.mark.bigquery
def test_named_parameters_of_every_type_round_trip(warehouse: BigQueryWarehouse) -> None:
    params: dict[str, ParamValue] = {
        "flag": True,
        "count": 2**40,
        "ratio": 0.125,
        "name": "Nikola Jokić's line",
        "game_date": dt.date(2025, 11, 5),
        "tip_off": dt.datetime(2025, 11, 5, 19, 30, 15, 250000, tzinfo=EASTERN),
        "naive": dt.datetime(2025, 11, 5, 12, 0),
    }
    sql = """
        SELECT @flag AS flag, @count AS count, @ratio AS ratio, @name AS name, @game_date AS game_date,
               @tip_off AS tip_off, @naive AS naive,
               @count + 1 AS count_plus_one,
               DATE_ADD(@game_date, INTERVAL 1 DAY) AS next_day,
               @tip_off = TIMESTAMP '2025-11-06 00:30:15.25+00' AS tip_off_in_utc
    """

    result = warehouse.query(sql, params, label="round trip")

    assert result.rows == [
        {
            "flag": True,
            "count": 2**40,
            "ratio": 0.125,
            "name": "Nikola Jokić's line",
            "game_date": dt.date(2025, 11, 5),
            "tip_off": dt.datetime(2025, 11, 6, 0, 30, 15, 250000, tzinfo=dt.UTC),
            "naive": dt.datetime(2025, 11, 5, 12, 0, tzinfo=dt.UTC),
            "count_plus_one": 2**40 + 1,
            "next_day": dt.date(2025, 11, 6),
            "tip_off_in_utc": True,
        }
    ]
    assert result.query_id
    assert result.labels == {CHECK_QUERY_LABEL: "round_trip"}
    assert isinstance(result.bytes_processed, int)


@pytest.mark.bigquery
def test_a_syntax_error_becomes_a_query_error_naming_the_label(warehouse: BigQueryWarehouse) -> None:
    with pytest.raises(QueryError) as raised:
        warehouse.query("SELEC 1", {}, label="broken canary")

    error = raised.value
    assert error.label == "broken canary"
    assert error.target == "bigquery://test-project"
    assert "Syntax error" in error.reason
    assert "\n" not in error.reason
    assert "http" not in error.reason
    assert error.query_id
    assert str(error).startswith("query 'broken canary' on bigquery://test-project failed: Syntax error")


@pytest.mark.bigquery
def test_a_missing_table_becomes_a_query_error_naming_the_label(
    warehouse: BigQueryWarehouse, dataset: str
) -> None:
    with pytest.raises(QueryError, match=r"query 'gate: grading' .* failed: Not found") as raised:
        warehouse.query(f"SELECT COUNT(*) AS n FROM `{dataset}.no_such_table`", {}, label="gate: grading")

    assert raised.value.query_id


@pytest.mark.bigquery
def test_labels_byte_cap_and_timeouts_reach_the_job(emulator_client: bigquery.Client) -> None:
    recording = RecordingClient(emulator_client)
    options = BigQueryOptions(
        job_timeout_seconds=12.5, maximum_bytes_billed=5 * 1024**3, labels={"suite": "resilience"}
    )
    warehouse = BigQueryWarehouse(recording, options)  # type: ignore[arg-type]

    result = warehouse.query("SELECT @n AS n", {"n": 1}, label="Canary: Props Freshness")

    # What the warehouse handed to the client...
    [query_call] = recording.query_calls
    config: bigquery.QueryJobConfig = query_call["job_config"]
    assert config.labels == {"suite": "resilience", CHECK_QUERY_LABEL: "canary_props_freshness"}
    assert config.maximum_bytes_billed == 5 * 1024**3
    assert int(config.job_timeout_ms) == 12_500
    assert query_call["timeout"] == 12.5
    assert [call["timeout"] for call in recording.result_calls] == [12.5]
    # ...and what the job looks like on the server afterwards.
    configuration = emulator_client.get_job(result.query_id).to_api_repr()["configuration"]
    assert configuration["labels"] == {"suite": "resilience", CHECK_QUERY_LABEL: "canary_props_freshness"}
    assert configuration["query"]["maximumBytesBilled"] == str(5 * 1024**3)
    assert configuration["jobTimeoutMs"] == "12500"
    assert "useQueryCache" not in configuration["query"]


@pytest.mark.bigquery
def test_a_query_slower_than_the_timeout_becomes_a_query_error(emulator_client: bigquery.Client) -> None:
    warehouse = BigQueryWarehouse(emulator_client, BigQueryOptions(job_timeout_seconds=0.5))
    # About 2 s on the emulator (which runs the query inside the jobs.insert call).
    slow = """
        SELECT COUNT(*) AS n
        FROM UNNEST(GENERATE_ARRAY(1, 12000)) AS a CROSS JOIN UNNEST(GENERATE_ARRAY(1, 12000)) AS b
        WHERE MOD(a * b, 7) = 3
    """

    with pytest.raises(QueryError, match=r"query 'slow' .* failed: no answer within 0.5 s"):
        warehouse.query(slow, {}, label="slow")


GAME_FIELDS: Sequence[Mapping[str, Any]] = [
    {"name": "game_date", "type": "DATE", "mode": "REQUIRED"},
    {"name": "player", "type": "STRING", "mode": "REQUIRED"},
    {"name": "points", "type": "INT64", "mode": "NULLABLE"},
    {"name": "minutes", "type": "FLOAT64", "mode": "NULLABLE"},
    {"name": "started", "type": "BOOL", "mode": "NULLABLE"},
    {"name": "tip_off", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "final_buzzer", "type": "TIMESTAMP", "mode": "NULLABLE"},
]


@pytest.mark.bigquery
def test_insert_rows_names_the_table_row_and_field_of_a_bad_row(
    warehouse: BigQueryWarehouse, emulator_client: bigquery.Client, dataset: str
) -> None:
    table = f"{dataset}.games"
    warehouse.ensure_table(table, GAME_FIELDS, "game_date")
    good = {"game_date": dt.date(2025, 11, 4), "player": "a", "points": 20}

    with pytest.raises(RowsRejectedError) as raised:
        warehouse.insert_rows(table, [good, {"game_date": "2025-11-04", "player": "b", "points": "many"}])

    error = raised.value
    assert error.table == table
    assert [(row.index, row.field) for row in error.rejected] == [(1, "points")]
    assert str(error).startswith(
        f"writing to {table} failed: 1 of 2 rows rejected, none written: row 1 field 'points'"
    )
    warehouse.insert_rows(table, [good])
    assert warehouse.query(f"SELECT COUNT(*) AS n FROM `{table}`", {}, label="count").rows == [{"n": 1}]


@pytest.mark.bigquery
def test_ensure_table_is_idempotent_and_partitions_by_day(
    warehouse: BigQueryWarehouse, emulator_client: bigquery.Client, dataset: str
) -> None:
    table = f"{dataset}.games"
    warehouse.ensure_table(table, GAME_FIELDS, "game_date")
    warehouse.insert_rows(table, [{"game_date": dt.date(2025, 11, 4), "player": "a"}])

    warehouse.ensure_table(table, GAME_FIELDS, "game_date")
    warehouse.ensure_table(f"{dataset}.unpartitioned", GAME_FIELDS, None)

    created = emulator_client.get_table(table)
    assert [field.name for field in created.schema] == [field["name"] for field in GAME_FIELDS]
    assert created.time_partitioning is not None
    assert (created.time_partitioning.type_, created.time_partitioning.field) == ("DAY", "game_date")
    assert warehouse.query(f"SELECT COUNT(*) AS n FROM `{table}`", {}, label="count").rows == [{"n": 1}]
    assert emulator_client.get_table(f"{dataset}.unpartitioned").time_partitioning is None


DIALECT_ROWS: Sequence[Mapping[str, Any]] = [
    {"game_date": dt.date(2025, 11, d), "player": p, "points": pts, "minutes": mins, "started": st,
     "tip_off": dt.datetime(2025, 11, d, 0, 30, tzinfo=dt.UTC),
     "final_buzzer": dt.datetime(2025, 11, d, 2, 30 + extra, tzinfo=dt.UTC)}
    for d, p, pts, mins, st, extra in [
        (1, "jokic", 31, 36.5, True, 0),
        (1, "murray", 18, 34.0, True, 0),
        (2, "jokic", 27, 35.0, True, 12),
        (3, "braun", None, None, False, 5),
        (4, "braun", 9, 22.25, False, 0),
        (4, "jokic", 40, 41.0, True, 29),
        (5, "murray", 22, 33.5, True, 3),
        (9, "jokic", 12, 20.0, True, 0),  # outside the window
    ]
]  # fmt: skip

DIALECT_SQL = """
SELECT
  COUNT(*) AS games,
  COUNTIF(points >= 20) AS big_games,
  COUNT(DISTINCT player) AS players,
  AVG(IF(started, points, NULL)) AS starter_points,
  SAFE_DIVIDE(SUM(points), SUM(minutes)) AS points_per_minute,
  SAFE_DIVIDE(SUM(points), SUM(IF(player = 'nobody', 1, 0))) AS divided_by_zero,
  MAX(TIMESTAMP_DIFF(final_buzzer, tip_off, MINUTE)) AS longest_game_minutes,
  COUNTIF(game_date >= DATE_SUB(@as_of, INTERVAL 1 DAY)) AS last_two_days
FROM `{dataset}.games`
WHERE game_date BETWEEN DATE_SUB(@as_of, INTERVAL 4 DAY) AND @as_of
"""


@pytest.mark.bigquery
def test_a_bigquery_dialect_aggregate_gives_the_same_answer_on_bigquery_and_duckdb(
    warehouse: BigQueryWarehouse, dataset: str, tmp_path: Path
) -> None:
    warehouse.ensure_table(f"{dataset}.games", GAME_FIELDS, "game_date")
    warehouse.insert_rows(f"{dataset}.games", DIALECT_ROWS)
    duckdb_path = tmp_path / "dialect.duckdb"
    with duckdb.connect(str(duckdb_path)) as connection:
        connection.execute(
            f"CREATE SCHEMA {dataset}; CREATE TABLE {dataset}.games (game_date DATE NOT NULL, "
            "player VARCHAR NOT NULL, points BIGINT, minutes DOUBLE, started BOOLEAN, "
            "tip_off TIMESTAMPTZ, final_buzzer TIMESTAMPTZ)"
        )
        for row in DIALECT_ROWS:
            connection.execute(
                f"INSERT INTO {dataset}.games VALUES ($game_date, $player, $points, $minutes, $started, "
                "$tip_off, $final_buzzer)",
                dict(row),
            )
    duckdb_warehouse = DuckDBWarehouse(duckdb_path)
    sql, params = DIALECT_SQL.format(dataset=dataset), {"as_of": dt.date(2025, 11, 5)}

    on_bigquery = warehouse.query(sql, params, label="dialect").rows
    on_duckdb = duckdb_warehouse.query(sql, params, label="dialect").rows
    duckdb_warehouse.close()

    expected = {
        "games": 7,
        "big_games": 4,
        "players": 3,
        "starter_points": pytest.approx((31 + 18 + 27 + 40 + 22) / 5),
        "points_per_minute": pytest.approx(147 / 202.25),
        "divided_by_zero": None,
        "longest_game_minutes": 149,
        "last_two_days": 3,
    }
    assert on_bigquery == [expected]
    assert on_duckdb == [expected]


@pytest.mark.bigquery
def test_countif_over_no_rows_is_zero_on_bigquery_and_duckdb(
    warehouse: BigQueryWarehouse, dataset: str, tmp_path: Path
) -> None:
    warehouse.ensure_table(f"{dataset}.games", GAME_FIELDS, "game_date")
    duckdb_path = tmp_path / "empty.duckdb"
    with duckdb.connect(str(duckdb_path)) as connection:
        connection.execute(f"CREATE SCHEMA {dataset}; CREATE TABLE {dataset}.games (points BIGINT)")
    sql = f"SELECT COUNTIF(points >= 20) AS big_games FROM `{dataset}.games`"

    on_bigquery = warehouse.query(sql, {}, label="empty").rows
    duckdb_warehouse = DuckDBWarehouse(duckdb_path)
    on_duckdb = duckdb_warehouse.query(sql, {}, label="empty").rows
    duckdb_warehouse.close()

    assert on_bigquery == [{"big_games": 0}]
    assert on_duckdb == [{"big_games": 0}]


@pytest.fixture(scope="module")
def short_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build_demo(path, as_of=dt.date(2025, 11, 5))
    return path


def _fingerprint_sql(table: str, fields: Sequence[Mapping[str, Any]]) -> str:
    """One aggregate per column that would differ if a value were lost, shifted or rounded.

    COUNT(IF()) rather than COUNTIF: on an empty table DuckDB's COUNT_IF gives NULL where BigQuery
    gives 0 unless the translation rewrites it (it does), and this test is about the copy, not the dialect.
    """
    aggregates = ["COUNT(*) AS row_count"]
    for field in fields:
        name, kind = field["name"], field["type"]
        if field.get("mode") == "REPEATED" or kind in ("RECORD", "STRUCT", "JSON"):
            aggregates.append(f"COUNT(IF({name} IS NULL, 1, NULL)) AS {name}__nulls")
        elif kind in ("INT64", "INTEGER", "NUMERIC", "FLOAT64", "FLOAT"):
            aggregates.append(f"SUM({name}) AS {name}__sum")
        elif kind == "TIMESTAMP":
            # As microseconds: DuckDB hands out TIMESTAMPTZ values only with pytz installed.
            aggregates.append(
                f"MIN(UNIX_MICROS({name})) AS {name}__min, MAX(UNIX_MICROS({name})) AS {name}__max"
            )
        elif kind in ("DATE", "DATETIME"):
            aggregates.append(f"MIN({name}) AS {name}__min, MAX({name}) AS {name}__max")
        elif kind in ("BOOL", "BOOLEAN"):
            aggregates.append(f"COUNT(IF({name}, 1, NULL)) AS {name}__true")
        else:
            aggregates.append(f"COUNT(DISTINCT {name}) AS {name}__distinct")
    return f"SELECT {', '.join(aggregates)} FROM `{table}`"


def _comparable(value: Any) -> Any:
    if isinstance(value, float | decimal.Decimal):
        return pytest.approx(float(value), rel=1e-9)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value


@pytest.mark.bigquery
def test_load_duckdb_into_bigquery_copies_the_demo_faithfully(
    short_demo: Path, emulator_client: bigquery.Client, warehouse: BigQueryWarehouse
) -> None:
    copied = load_duckdb_into_bigquery(short_demo, emulator_client)

    documents = [json.loads(path.read_text()) for path in sorted(SCHEMA_DIR.glob("*.json"))]
    assert set(copied) == {document["table"] for document in documents}
    duckdb_warehouse = DuckDBWarehouse(short_demo)
    try:
        for document in documents:
            sql = _fingerprint_sql(document["table"], document["fields"])
            [on_duckdb] = duckdb_warehouse.query(sql, {}, label="fingerprint").rows
            [on_bigquery] = warehouse.query(sql, {}, label="fingerprint").rows
            assert on_duckdb["row_count"] == copied[document["table"]]
            assert {key: _comparable(value) for key, value in on_bigquery.items()} == {
                key: _comparable(value) for key, value in on_duckdb.items()
            }, document["table"]
    finally:
        duckdb_warehouse.close()
    assert emulator_client.get_table("nba_reference.nba_schedule").table_type == "VIEW"


@pytest.mark.bigquery
def test_loading_the_same_tables_twice_does_not_duplicate_rows(
    short_demo: Path, emulator_client: bigquery.Client, warehouse: BigQueryWarehouse
) -> None:
    tables = ["nba_raw.nbac_schedule", "nba_reference.nba_schedule"]
    first = load_duckdb_into_bigquery(short_demo, emulator_client, tables)
    second = load_duckdb_into_bigquery(short_demo, emulator_client, tables)

    count = warehouse.query("SELECT COUNT(*) AS n FROM `nba_reference.nba_schedule`", {}, label="count")
    assert first == second
    assert count.rows == [{"n": first["nba_raw.nbac_schedule"]}]


# --- the emulator helper itself -----------------------------------------------------------------


def test_a_missing_emulator_install_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(EmulatorNotInstalled, match=r"run `make test`, or scripts/setup-bigquery-emulator.sh"):
        EmulatorInstall.find(tmp_path / "nowhere")


def _fake_emulator(tmp_path: Path, script: str) -> EmulatorInstall:
    executable = tmp_path / "venv" / "bin" / "local-bigquery"
    executable.parent.mkdir(parents=True)
    executable.write_text(f"#!/bin/sh\n{script}\n")
    executable.chmod(0o755)
    return EmulatorInstall(executable=executable, home=tmp_path)


def test_an_emulator_that_exits_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    install = _fake_emulator(tmp_path, 'echo "ERROR: no extension icu for HOME=$HOME"; exit 3')

    with (
        pytest.raises(EmulatorDidNotStart, match=r"exited with status 3") as raised,
        running_emulator(install, tmp_path / "run"),
    ):
        pass

    assert f"ERROR: no extension icu for HOME={tmp_path}" in str(raised.value)


def test_an_emulator_that_never_answers_is_stopped_and_reported(tmp_path: Path) -> None:
    install = _fake_emulator(tmp_path, 'echo "starting $*"; exec sleep 60')

    with (
        pytest.raises(
            EmulatorDidNotStart, match=r"did not answer on http://127.0.0.1:\d+ within 0.5 s"
        ) as raised,
        running_emulator(install, tmp_path / "run", startup_timeout=0.5),
    ):
        pass

    assert "starting serve --host 127.0.0.1 --port" in str(raised.value)
    assert "--project test-project --data-dir" in str(raised.value)


def test_leased_ports_are_not_leased_twice_until_released(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        ports = [lease_port(stack, tmp_path) for _ in range(20)]
        assert len(set(ports)) == 20
        with contextlib.ExitStack() as other:
            assert lease_port(other, tmp_path) not in ports
