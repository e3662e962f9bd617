"""Schema alignment: every table the settings name, and every table their views show, still has the
columns, types and modes of its schema in ``schemas/`` (``pytest -m schema``).

A live table may have more columns than the catalog (BigQuery tables grow); a missing column, a
changed type or a changed mode fails the table's check with one line per mismatch.
"""

import pytest

from plugins.checks_plugin import STATE, CheckTarget, announce_check, attach_result, expect_healthy
from resilience.results import CheckResult
from resilience.schema_alignment import (
    check_table_schema,
    schema_check_id,
    schema_check_title,
    tables_to_check,
)
from resilience.schemas import TableSchema, load_catalog

pytestmark = pytest.mark.schema


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "table_schema" not in metafunc.fixturenames:
        return
    catalog = load_catalog()
    settings = metafunc.config.stash[STATE].context.settings
    tables = tables_to_check(settings.tables.values(), catalog)
    metafunc.parametrize("table_schema", [catalog[table] for table in tables], ids=tables)


@pytest.fixture
def schema_alignment(
    request: pytest.FixtureRequest, check_target: CheckTarget, table_schema: TableSchema
) -> CheckResult:
    """The live table compared with its catalog schema; ERROR when the warehouse cannot describe it."""
    table = table_schema.table
    announce_check(request, schema_check_id(table), 0, schema_check_title(table))
    result = check_table_schema(check_target.warehouse, table_schema)
    return attach_result(request, result, as_of=check_target.as_of, target=check_target.target)


def test_the_live_table_has_the_catalogs_columns_types_and_modes(schema_alignment: CheckResult) -> None:
    expect_healthy(schema_alignment)
