"""Schema alignment: the suite's SQL uses only catalog columns with fitting types; the demo warehouse and
the BigQuery emulator describe the catalog exactly; every kind of drift is reported as exactly itself."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from google.cloud import bigquery

from resilience.canary.catalog import CANARIES
from resilience.canary.engine import plan_queries
from resilience.gate.phase2 import gate_queries
from resilience.outcomes import Outcome
from resilience.quality import betting_lines, prediction_quality
from resilience.schema_alignment import (
    SchemaMismatch,
    check_table_schema,
    check_usage,
    columns_used,
    compare_table,
    tables_to_check,
    type_compatible,
)
from resilience.schemas import FieldSchema, TableSchema, bigquery_fields, load_catalog
from resilience.settings import Settings
from resilience.warehouse.base import BigQueryOptions, ParamValue, QueryError
from resilience.warehouse.bigquery_backend import BigQueryWarehouse
from resilience.warehouse.duckdb_backend import DuckDBWarehouse
from tests.bigquery_emulator import BigQueryEmulator
from tests.subprocess_env import clean_environment, read_json_lines, run_pytest

REPO = Path(__file__).resolve().parent.parent
CATALOG = load_catalog()
#: A short season is enough: schemas do not depend on the date, and it builds in about a second.
SHORT_DEMO_DATE = dt.date(2025, 11, 5)
AS_OF_DATES = [SHORT_DEMO_DATE, dt.date(2026, 1, 15), dt.date(2026, 2, 16), dt.date(2025, 7, 1)]
SUMMARY = "nba_analytics.player_game_summary"
SCHEDULE_VIEW = "nba_reference.nba_schedule"

# ---- every query the suite issues ---------------------------------------------------------------

PlannedSql = tuple[str, str, Mapping[str, ParamValue]]
QueryPlanner = Callable[[Settings, dt.date], Sequence[PlannedSql]]


def example_params(settings: Settings, as_of: dt.date) -> dict[str, ParamValue]:
    """Values of the right types for the parameters of the planners that return SQL only.

    A parameter missing here is untyped: a column compared with it is only checked to exist.
    """
    noon = dt.datetime.combine(as_of, dt.time(12), dt.UTC)
    return {
        **settings.query_params(),
        "window_start": as_of - dt.timedelta(days=7),
        "window_end": as_of,
        "game_date": as_of,
        "evaluated_at": noon,
        "market_type": settings.betting_lines.market_type,
        "premium_min_confidence": settings.prediction_quality.premium_min_confidence,
        "premium_min_edge": settings.prediction_quality.premium_min_edge,
        "high_edge_min_edge": settings.prediction_quality.high_edge_min_edge,
    }


def canary_queries(settings: Settings, as_of: dt.date) -> Sequence[PlannedSql]:
    return [(query.label, query.sql, query.params) for query in plan_queries(CANARIES, settings, as_of)]


def gate_and_quality_queries(settings: Settings, as_of: dt.date) -> Sequence[PlannedSql]:
    params = example_params(settings, as_of)
    texts = {
        **gate_queries(settings),
        **{f"betting_lines_{n}": sql for n, sql in enumerate(betting_lines.planned_sql(settings))},
        **{f"prediction_quality_{n}": sql for n, sql in enumerate(prediction_quality.planned_sql(settings))},
    }
    return [(label, sql, params) for label, sql in texts.items()]


#: Every family of queries the suite issues. A new kind of check adds its planner here, so its SQL is
#: checked against the catalog before it ever runs.
QUERY_PLANNERS: dict[str, QueryPlanner] = {
    "canaries": canary_queries,
    "gate and quality": gate_and_quality_queries,
}


@pytest.mark.parametrize("as_of", AS_OF_DATES, ids=str)
@pytest.mark.parametrize("family", sorted(QUERY_PLANNERS))
def test_every_query_uses_only_catalog_columns_with_fitting_types(
    settings: Settings, family: str, as_of: dt.date
) -> None:
    planned = QUERY_PLANNERS[family](settings, as_of)
    assert planned, f"the {family} planner planned nothing"
    for label, sql, params in planned:
        assert check_usage(sql, CATALOG, params) == [], f"{label}:\n{sql}"


def test_every_canary_table_is_read_through_its_catalog_columns(settings: Settings) -> None:
    for label, sql, params in canary_queries(settings, SHORT_DEMO_DATE):
        used = columns_used(sql, params)
        assert used, label
        for table, columns in used.items():
            assert table in CATALOG, label
            assert set(columns) <= set(CATALOG[table].columns), label


# ---- the checker itself -------------------------------------------------------------------------

GAMEBOOK = "nba_raw.nbac_gamebook_player_stats"
DAY: dict[str, ParamValue] = {"day": SHORT_DEMO_DATE}


def test_an_unknown_column_is_reported_with_the_closest_name() -> None:
    sql = f"SELECT COUNTIF(player_nam IS NULL) AS n FROM `{GAMEBOOK}` WHERE game_date = @day"
    assert check_usage(sql, CATALOG, DAY) == [
        f"{GAMEBOOK}.player_nam: no such column in schemas/{GAMEBOOK}.json (did you mean player_name?)"
    ]


def test_a_string_column_summed_is_reported() -> None:
    sql = f"SELECT SUM(g.team_abbr) AS n FROM `{GAMEBOOK}` AS g WHERE g.game_date = @day"
    assert check_usage(sql, CATALOG, DAY) == [
        f"{GAMEBOOK}.team_abbr is STRING in schemas/{GAMEBOOK}.json but used as numeric"
    ]


def test_a_misspelt_table_is_reported_with_the_closest_name() -> None:
    sql = "SELECT COUNT(*) AS n FROM `nba_raw.nbac_gamebook_player_stat` WHERE game_date = @day"
    assert check_usage(sql, CATALOG, DAY) == [
        "table nba_raw.nbac_gamebook_player_stat is not in the schema catalog (schemas/) "
        "(did you mean nba_raw.nbac_gamebook_player_stats?)"
    ]


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("COUNTIF(points)", "points is INT64 in schemas/{file} but used as boolean"),
        ("COUNTIF(player_status = 3)", "player_status is STRING in schemas/{file} but used as numeric"),
        ("COUNTIF(points = 'none')", "points is INT64 in schemas/{file} but used as string"),
        ("COUNTIF(processed_at = @day)", "processed_at is TIMESTAMP in schemas/{file} but used as date"),
        (
            "AVG(IF(points > 0, player_name, NULL))",
            "player_name is STRING in schemas/{file} but used as numeric",
        ),
        ("MAX(CONCAT(points, 'x'))", "points is INT64 in schemas/{file} but used as string"),
    ],
)
def test_a_column_used_against_its_type_is_reported(expression: str, problem: str) -> None:
    sql = f"SELECT {expression} AS n FROM `{GAMEBOOK}` WHERE game_date = @day"
    assert check_usage(sql, CATALOG, DAY) == [f"{GAMEBOOK}.{problem.format(file=GAMEBOOK + '.json')}"]


def test_an_array_column_can_be_unnested_and_indexed_but_not_summed() -> None:
    features = "nba_predictions.ml_feature_store_v2"
    fine = (
        f"SELECT SUM(value) AS total, MAX(features[SAFE_OFFSET(25)]) AS line "
        f"FROM `{features}`, UNNEST(features) AS value WHERE game_date = @day"
    )
    summed = f"SELECT SUM(features) AS total FROM `{features}` WHERE game_date = @day"
    assert check_usage(fine, CATALOG, DAY) == []
    assert check_usage(summed, CATALOG, DAY) == [
        f"{features}.features is FLOAT64 REPEATED in schemas/{features}.json but used as numeric"
    ]


def test_aliases_ctes_and_subqueries_resolve_to_the_table_and_its_uses() -> None:
    sql = f"""
        WITH box AS (SELECT game_id AS gid, points, MAX(processed_at) AS loaded FROM `{GAMEBOOK}`
                     WHERE game_date = @day GROUP BY gid, points)
        SELECT b.gid AS game, SUM(b.points) AS total,
               TIMESTAMP_DIFF(@now, MAX(b.loaded), SECOND) AS age
        FROM box AS b
        WHERE EXISTS (SELECT 1 FROM `{SUMMARY}` AS s
                      WHERE s.game_id = b.gid AND s.is_dnp AND s.game_date = @day)
        GROUP BY game
    """
    params: dict[str, ParamValue] = {**DAY, "now": dt.datetime(2025, 11, 5, tzinfo=dt.UTC)}
    assert columns_used(sql, params) == {
        GAMEBOOK: {
            "game_id": {"any"},
            "points": {"any", "numeric"},
            "processed_at": {"any", "timestamp"},
            "game_date": {"date"},
        },
        SUMMARY: {"game_id": {"any"}, "is_dnp": {"boolean"}, "game_date": {"date"}},
    }


def test_an_unqualified_column_of_a_join_is_placed_by_the_catalog_or_reported() -> None:
    join = (
        f"FROM `{SUMMARY}` AS s JOIN `{GAMEBOOK}` AS g ON s.game_id = g.game_id "
        "WHERE s.game_date = @day AND g.game_date = @day"
    )
    only_in_summary = f"SELECT SUM(minutes_played) AS m {join}"
    in_both = f"SELECT COUNT(DISTINCT game_id) AS n, MAX(game_id) AS last, MAX(x.points) AS p {join}"

    assert columns_used(only_in_summary, DAY, catalog=CATALOG)[SUMMARY]["minutes_played"] == {"numeric"}
    with pytest.raises(ValueError, match="column minutes_played could be in any of"):
        columns_used(only_in_summary, DAY)
    assert check_usage(in_both, CATALOG, DAY) == [
        f"column game_id could be in any of {SUMMARY}, {GAMEBOOK}: qualify it with its table",
        "column x.points belongs to no table its query reads",
    ]


def test_a_using_column_is_a_use_of_both_tables() -> None:
    sql = (
        f"SELECT COUNT(DISTINCT game_id) AS n FROM `{SUMMARY}` AS s JOIN `{GAMEBOOK}` AS g USING (game_id) "
        "WHERE s.game_date = @day AND g.game_date = @day"
    )
    used = columns_used(sql, DAY)
    assert used[SUMMARY]["game_id"] == used[GAMEBOOK]["game_id"] == {"any"}
    assert check_usage(sql, CATALOG, DAY) == []


@pytest.mark.parametrize(
    ("field_type", "mode", "usage", "compatible"),
    [
        ("INT64", "NULLABLE", "numeric", True),
        ("INTEGER", "REQUIRED", "numeric", True),
        ("NUMERIC", "NULLABLE", "numeric", True),
        ("FLOAT64", "NULLABLE", "numeric", True),
        ("STRING", "NULLABLE", "numeric", False),
        ("BOOL", "NULLABLE", "boolean", True),
        ("BOOLEAN", "NULLABLE", "boolean", True),
        ("INT64", "NULLABLE", "boolean", False),
        ("STRING", "NULLABLE", "string", True),
        ("DATE", "REQUIRED", "date", True),
        ("DATETIME", "NULLABLE", "date", True),
        ("TIMESTAMP", "NULLABLE", "date", False),
        ("TIMESTAMP", "NULLABLE", "timestamp", True),
        ("FLOAT64", "REPEATED", "array", True),
        ("FLOAT64", "NULLABLE", "array", False),
        ("FLOAT64", "REPEATED", "numeric", False),
        ("FLOAT64", "REPEATED", "any", True),
        ("GEOGRAPHY", "NULLABLE", "any", True),
    ],
)
def test_type_compatibility(field_type: str, mode: str, usage: str, compatible: bool) -> None:
    assert type_compatible(field_type, mode, usage) is compatible


def test_an_unknown_usage_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown column usage 'integer'"):
        type_compatible("INT64", "NULLABLE", "integer")


# ---- compare_table ------------------------------------------------------------------------------


def with_field(schema: TableSchema, name: str, **changes: str) -> TableSchema:
    fields = tuple(dataclasses.replace(f, **changes) if f.name == name else f for f in schema.fields)
    return dataclasses.replace(schema, fields=fields)


def without_field(schema: TableSchema, name: str) -> TableSchema:
    return dataclasses.replace(schema, fields=tuple(f for f in schema.fields if f.name != name))


def kinds(mismatches: Sequence[SchemaMismatch]) -> list[tuple[str | None, str, str | None, str | None]]:
    return [(m.column, m.kind, m.expected, m.actual) for m in mismatches]


def test_a_table_with_extra_columns_and_legacy_type_names_matches() -> None:
    expected = CATALOG[SUMMARY]
    legacy = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}
    live = dataclasses.replace(
        expected,
        fields=(
            *(
                dataclasses.replace(f, type=legacy.get(f.type, f.type), name=f.name.upper())
                for f in expected.fields
            ),
            FieldSchema("added_last_week", "STRING"),
        ),
    )
    assert compare_table(expected, live) == []


def test_each_kind_of_drift_is_reported_with_what_to_do() -> None:
    expected = CATALOG[SUMMARY]
    live = with_field(
        with_field(without_field(expected, "rebounds"), "points", type="STRING"), "game_id", mode="NULLABLE"
    )

    mismatches = compare_table(expected, live)

    assert kinds(mismatches) == [
        ("game_id", "mode_change", "REQUIRED", "NULLABLE"),
        ("points", "type_change", "INT64", "STRING"),
        ("rebounds", "missing_column", "INT64 NULLABLE", None),
    ]
    by_column = {m.column: m.message for m in mismatches}
    assert by_column["game_id"] == (
        f"{SUMMARY}.game_id is NULLABLE in the warehouse but REQUIRED in schemas/{SUMMARY}.json: "
        "NULLs can now arrive where checks assume none; restore NOT NULL or relax the schema"
    )
    assert by_column["points"].startswith(
        f"{SUMMARY}.points is STRING in the warehouse but INT64 in schemas/{SUMMARY}.json: "
    )
    assert by_column["rebounds"].startswith(
        f"{SUMMARY}.rebounds (INT64 NULLABLE) is missing from the warehouse"
    )
    assert all("\n" not in m.message for m in mismatches)


def test_a_missing_table_is_one_mismatch() -> None:
    [mismatch] = compare_table(CATALOG[SCHEDULE_VIEW], None)
    assert kinds([mismatch]) == [(None, "missing_table", "view", None)]
    assert mismatch.message.startswith(f"view {SCHEDULE_VIEW} does not exist: create it from schemas/")


def test_a_views_modes_are_compared_only_where_an_array_is_involved() -> None:
    expected = CATALOG[SCHEDULE_VIEW]
    relaxed = dataclasses.replace(
        expected, fields=tuple(dataclasses.replace(f, mode="NULLABLE") for f in expected.fields)
    )
    assert compare_table(expected, relaxed) == []
    repeated = with_field(expected, "game_status", mode="REPEATED")
    assert kinds(compare_table(expected, repeated)) == [
        ("game_status", "mode_change", "REQUIRED", "REPEATED")
    ]


def test_the_live_check_covers_every_named_table_and_the_tables_behind_its_views(settings: Settings) -> None:
    tables = tables_to_check(settings.tables.values(), CATALOG)
    assert set(settings.tables.values()) <= set(tables)
    assert "nba_raw.nbac_schedule" in tables
    assert tables == sorted(set(tables))


# ---- the demo warehouse -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from resilience.demo import build_demo

    return build_demo(tmp_path_factory.mktemp("schema-demo") / "demo.duckdb", SHORT_DEMO_DATE).path


@pytest.fixture
def demo_copy(short_demo: Path, tmp_path: Path) -> Path:
    """A writable copy of the short demo, to break."""
    return Path(shutil.copy(short_demo, tmp_path / "demo.duckdb"))


def describe_all(path: Path) -> dict[str, TableSchema | None]:
    warehouse = DuckDBWarehouse(path)
    try:
        return {table: warehouse.describe_table(table) for table in CATALOG}
    finally:
        warehouse.close()


def test_the_clean_demo_matches_the_catalog_exactly(short_demo: Path) -> None:
    for table, actual in describe_all(short_demo).items():
        expected = CATALOG[table]
        assert actual is not None, table
        assert compare_table(expected, actual) == [], table
        if expected.view_of:
            # A view cannot declare NOT NULL: its columns are all NULLABLE, names and types exact.
            assert [(f.name, f.type) for f in actual.fields] == [(f.name, f.type) for f in expected.fields]
        else:
            assert actual.fields == expected.fields, table


@pytest.mark.parametrize(
    ("ddl", "expected"),
    [
        (
            f"ALTER TABLE {SUMMARY} DROP COLUMN rebounds",
            [("rebounds", "missing_column", "INT64 NULLABLE", None)],
        ),
        (
            f"ALTER TABLE {SUMMARY} ALTER COLUMN points TYPE VARCHAR",
            [("points", "type_change", "INT64", "STRING")],
        ),
        (
            f"ALTER TABLE {SUMMARY} ALTER COLUMN minutes_played TYPE DOUBLE",
            [("minutes_played", "type_change", "NUMERIC", "FLOAT64")],
        ),
        (
            f"ALTER TABLE {SUMMARY} ALTER COLUMN game_id DROP NOT NULL",
            [("game_id", "mode_change", "REQUIRED", "NULLABLE")],
        ),
        (
            f"ALTER TABLE {SUMMARY} ALTER COLUMN points SET NOT NULL",
            [("points", "mode_change", "NULLABLE", "REQUIRED")],
        ),
        (f"ALTER TABLE {SUMMARY} ADD COLUMN steals BIGINT", []),
    ],
    ids=["dropped column", "string type", "float type", "nullable", "required", "added column"],
)
def test_a_changed_demo_table_is_reported_as_exactly_that_mismatch(
    demo_copy: Path, ddl: str, expected: list[tuple[str, str, str | None, str | None]]
) -> None:
    warehouse = DuckDBWarehouse(demo_copy, read_only=False, create=True)
    try:
        if "SET NOT NULL" in ddl:
            warehouse.execute_script(f"UPDATE {SUMMARY} SET points = 0 WHERE points IS NULL")
        warehouse.execute_script(ddl)
        actual = warehouse.describe_table(SUMMARY)
    finally:
        warehouse.close()
    assert kinds(compare_table(CATALOG[SUMMARY], actual)) == expected


def test_a_dropped_demo_view_is_a_missing_table(demo_copy: Path) -> None:
    warehouse = DuckDBWarehouse(demo_copy, read_only=False, create=True)
    try:
        warehouse.execute_script(f"DROP VIEW {SCHEDULE_VIEW}")
        assert warehouse.describe_table(SCHEDULE_VIEW) is None
        result = check_table_schema(warehouse, CATALOG[SCHEDULE_VIEW])
    finally:
        warehouse.close()
    assert (result.check_id, result.phase, result.outcome) == (f"schema.{SCHEDULE_VIEW}", 0, Outcome.FAILED)
    assert result.message.startswith(f"1 mismatch(es): view {SCHEDULE_VIEW} does not exist")


def test_the_live_check_passes_on_a_matching_table_and_errors_when_it_cannot_look(short_demo: Path) -> None:
    warehouse = DuckDBWarehouse(short_demo)
    passed = check_table_schema(warehouse, CATALOG[SUMMARY])
    warehouse.close()
    broken = check_table_schema(warehouse, CATALOG[SUMMARY])

    assert passed.outcome is Outcome.PASSED, passed.message
    assert broken.outcome is Outcome.ERROR
    assert broken.message.startswith(f"check broken: query 'describe {SUMMARY}' on duckdb://")


def test_describe_table_rejects_a_name_without_a_dataset(short_demo: Path) -> None:
    warehouse = DuckDBWarehouse(short_demo)
    try:
        with pytest.raises(QueryError, match=r"not a table name of the form dataset\.table"):
            warehouse.describe_table("player_game_summary")
    finally:
        warehouse.close()


# ---- `pytest -m schema` end to end --------------------------------------------------------------


def run_schema_checks(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = clean_environment()
    environment.update(env or {})
    return run_pytest("-m", "schema", *args, env=environment, timeout=180)


def expected_check_ids(settings: Settings) -> list[str]:
    return [f"schema.{table}" for table in tables_to_check(settings.tables.values(), CATALOG)]


def read_results(path: Path) -> dict[str, dict[str, object]]:
    return {str(record["id"]): record for record in read_json_lines(path)}


def test_pytest_m_schema_passes_on_the_demo(demo_copy: Path, settings: Settings, tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    done = run_schema_checks(f"--warehouse=duckdb://{demo_copy}", f"--resilience-json={results}")

    assert done.returncode == 0, done.stdout + done.stderr
    ids = expected_check_ids(settings)
    assert f"{len(ids)} passed" in done.stdout
    recorded = read_results(results)
    assert sorted(recorded) == ids
    assert {record["outcome"] for record in recorded.values()} == {"passed"}
    assert {record["phase"] for record in recorded.values()} == {0}


def test_pytest_m_schema_fails_naming_the_drifted_column(demo_copy: Path, tmp_path: Path) -> None:
    warehouse = DuckDBWarehouse(demo_copy, read_only=False, create=True)
    warehouse.execute_script(f"ALTER TABLE {SUMMARY} DROP COLUMN minutes_played")
    warehouse.close()
    results = tmp_path / "results.jsonl"

    done = run_schema_checks(f"--warehouse=duckdb://{demo_copy}", f"--resilience-json={results}")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed" in done.stdout
    assert (
        f"schema.{SUMMARY}: 1 mismatch(es): {SUMMARY}.minutes_played (NUMERIC NULLABLE) is missing"
        in done.stdout
    )
    outcomes = {check_id: record["outcome"] for check_id, record in read_results(results).items()}
    assert [check_id for check_id, outcome in outcomes.items() if outcome != "passed"] == [
        f"schema.{SUMMARY}"
    ]


# ---- BigQuery (the local emulator) --------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator_client(bigquery_emulator: BigQueryEmulator) -> Iterator[bigquery.Client]:
    client = bigquery_emulator.client()
    yield client
    client.close()  # type: ignore[no-untyped-call]  # google-cloud-core leaves it unannotated


@pytest.fixture
def bigquery_warehouse(emulator_client: bigquery.Client) -> BigQueryWarehouse:
    # Not closed: the client is shared by the module.
    return BigQueryWarehouse(emulator_client, BigQueryOptions(job_timeout_seconds=30))


@pytest.fixture
def prefix(emulator_client: bigquery.Client) -> Iterator[str]:
    """A prefix for this test's own datasets (``<prefix>_nba_raw``), removed afterwards."""
    name = f"t{uuid.uuid4().hex[:10]}"
    yield name
    for dataset in emulator_client.list_datasets():
        if dataset.dataset_id.startswith(f"{name}_"):
            emulator_client.delete_dataset(dataset.dataset_id, delete_contents=True, not_found_ok=True)


def create_view(client: bigquery.Client, view: str, base: str) -> None:
    client.create_dataset(view.split(".")[0], exists_ok=True)
    definition = bigquery.Table(f"{client.project}.{view}")
    definition.view_query = f"SELECT * FROM `{base}`"
    client.create_table(definition)


def create_from_catalog(
    warehouse: BigQueryWarehouse, client: bigquery.Client, rename: Callable[[str], str] = str
) -> None:
    """Every catalog table (and view) in BigQuery, under ``rename(table)``: tables first, views over them."""
    for schema in CATALOG.values():
        if not schema.view_of:
            warehouse.ensure_table(rename(schema.table), bigquery_fields(schema), schema.partition_column)
    for schema in CATALOG.values():
        if schema.view_of:
            create_view(client, rename(schema.table), rename(schema.view_of))


@pytest.mark.bigquery
def test_describe_table_round_trips_the_catalog_on_bigquery(
    bigquery_warehouse: BigQueryWarehouse, emulator_client: bigquery.Client, prefix: str
) -> None:
    def rename(table: str) -> str:
        return f"{prefix}_{table}"

    create_from_catalog(bigquery_warehouse, emulator_client, rename)

    for table, expected in CATALOG.items():
        actual = bigquery_warehouse.describe_table(rename(table))
        assert actual is not None, table
        assert compare_table(dataclasses.replace(expected, table=rename(table)), actual) == [], table
        assert [(f.name, f.type) for f in actual.fields] == [(f.name, f.type) for f in expected.fields]
        if not expected.view_of:
            assert actual.fields == expected.fields, table
            assert actual.partition_column == expected.partition_column, table


@pytest.mark.bigquery
def test_an_altered_bigquery_table_is_reported(bigquery_warehouse: BigQueryWarehouse, prefix: str) -> None:
    expected = CATALOG[SUMMARY]
    altered_table = f"{prefix}_{SUMMARY}"
    altered = with_field(
        with_field(without_field(expected, "assists"), "points", type="FLOAT"),
        "player_lookup",
        mode="NULLABLE",
    )
    bigquery_warehouse.ensure_table(altered_table, bigquery_fields(altered), expected.partition_column)

    mismatches = compare_table(
        dataclasses.replace(expected, table=altered_table), bigquery_warehouse.describe_table(altered_table)
    )

    assert kinds(mismatches) == [
        ("player_lookup", "mode_change", "REQUIRED", "NULLABLE"),
        ("points", "type_change", "INT64", "FLOAT64"),
        ("assists", "missing_column", "INT64 NULLABLE", None),
    ]
    assert bigquery_warehouse.describe_table(f"{prefix}_nba_raw.no_such_table") is None
    assert bigquery_warehouse.describe_table(f"{prefix}_no_such_dataset.table") is None


@pytest.mark.bigquery
def test_legacy_type_names_from_the_api_come_back_as_the_catalog_spells_them(
    bigquery_warehouse: BigQueryWarehouse, emulator_client: bigquery.Client, prefix: str
) -> None:
    table = f"{prefix}_types.legacy"
    emulator_client.create_dataset(f"{prefix}_types")
    emulator_client.create_table(
        bigquery.Table(
            f"{emulator_client.project}.{table}",
            schema=[
                bigquery.SchemaField("count", "INTEGER", mode="REQUIRED"),
                bigquery.SchemaField("ratio", "FLOAT"),
                bigquery.SchemaField("flag", "BOOLEAN"),
                bigquery.SchemaField("detail", "RECORD", fields=[bigquery.SchemaField("a", "INTEGER")]),
                bigquery.SchemaField("values", "FLOAT", mode="REPEATED"),
            ],
        )
    )

    described = bigquery_warehouse.describe_table(table)

    assert described is not None
    assert described.fields == (
        FieldSchema("count", "INT64", "REQUIRED"),
        FieldSchema("ratio", "FLOAT64", "NULLABLE"),
        FieldSchema("flag", "BOOL", "NULLABLE"),
        FieldSchema("detail", "STRUCT", "NULLABLE"),
        FieldSchema("values", "FLOAT64", "REPEATED"),
    )


def test_an_unreachable_bigquery_is_a_query_error_within_the_timeout() -> None:
    from resilience.google_clients import bigquery_client

    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = bigquery_client("test-project", endpoint=f"http://127.0.0.1:{port}")
    warehouse = BigQueryWarehouse(client, BigQueryOptions(job_timeout_seconds=2))
    try:
        result = check_table_schema(warehouse, CATALOG[SUMMARY])
    finally:
        warehouse.close()
    assert result.outcome is Outcome.ERROR
    assert result.message.startswith(
        f"check broken: query 'describe {SUMMARY}' on bigquery://test-project failed"
    )


@pytest.mark.bigquery
def test_pytest_m_schema_passes_against_bigquery_tables_created_from_the_catalog(
    bigquery_emulator: BigQueryEmulator,
    bigquery_warehouse: BigQueryWarehouse,
    emulator_client: bigquery.Client,
    settings: Settings,
) -> None:
    # The production names: recreated, not reused, since other tests load demo data into them.
    for schema in sorted(CATALOG.values(), key=lambda s: s.view_of is None):
        emulator_client.delete_table(schema.table, not_found_ok=True)
    create_from_catalog(bigquery_warehouse, emulator_client)
    target = f"bigquery://{bigquery_emulator.project}?endpoint={bigquery_emulator.endpoint}"

    done = run_schema_checks(env={"RESILIENCE_WAREHOUSE": target})

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(expected_check_ids(settings))} passed" in done.stdout
    assert f"target bigquery://{bigquery_emulator.project}" in done.stdout
