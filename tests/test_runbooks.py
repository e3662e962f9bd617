"""The on-call runbooks in ``docs/runbooks``: every check the suite can produce has a page, and what the
pages tell an engineer at 3 a.m. is true of this repository.

A check's page is the first of its id and its dotted prefixes that has a page (``gate.phase2.null_points``
-> ``gate.phase2.md``), or the page its canary's ``runbook`` setting names. The pages' commands must run
(registered markers, real ``resilience`` subcommands and options, a ``-k`` that selects the check), their
SQL must read tables and columns of ``schemas/`` and filter each table's partition column, and the settings
keys they name under "Thresholds" must exist in ``resilience.toml``.
"""

from __future__ import annotations

import ast
import configparser
import contextlib
import functools
import io
import json
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import expressions as exp
from sqlglot.optimizer.scope import traverse_scope

from resilience.batches.check import CHECK_ID as BATCH_CHECK_ID
from resilience.canary.catalog import CANARIES
from resilience.cli import build_parser
from resilience.gate.checks import RULE_NAMES
from resilience.quality.betting_lines import BETTING_LINE_CHECKS
from resilience.quality.prediction_quality import QUALITY_CHECKS
from resilience.schema_alignment import check_usage, schema_check_id, tables_to_check
from resilience.schemas import TableSchema, load_catalog
from resilience.settings import DEFAULT_SETTINGS_PATH, Settings, load_settings
from resilience.warehouse import WarehouseConfigError, parse_target
from tests.subprocess_env import clean_environment

REPO = Path(__file__).resolve().parent.parent
RUNBOOKS = REPO / "docs" / "runbooks"
INDEX = RUNBOOKS / "index.md"
#: What a placeholder in a page's command stands for when the command is checked.
PLACEHOLDERS = {"YYYY-MM-DD": "2026-01-14", "PROJECT": "nba-props-platform"}
#: Top-level entries of this repository that a page may name as a path (``resilience/gate/phase2.py``).
REPO_ROOTS = ("bench", "checks", "docs", "healing", "plugins", "resilience", "schemas", "scripts", "tests")

_FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_COMMAND = re.compile(r"^(?:[A-Z][A-Z0-9_]*=\S+\s+)*(?:\.venv/bin/)?(?:pytest|resilience)(?:\s|$)")
_ENV_ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")
_SETTINGS_KEY = re.compile(r"^[a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)+$")


# ---- what the suite can produce -----------------------------------------------------------------


@functools.cache
def _settings() -> Settings:
    return load_settings()


def suite_check_ids() -> list[str]:
    """Every check id a run of the suite can report, read from the modules that define the checks."""
    settings = _settings()
    ids = [spec.id for spec in CANARIES]
    ids += [f"gate.phase2.{name}" for name in ("verdict", *RULE_NAMES)]
    ids += [check.check_id for check in BETTING_LINE_CHECKS]
    ids += [check.check_id for check in QUALITY_CHECKS.values()]
    ids += [schema_check_id(table) for table in tables_to_check(settings.tables.values(), load_catalog())]
    ids += [f"meta.heartbeat.{suite}" for suite in settings.suites]
    ids += [BATCH_CHECK_ID]  # the prediction-batch canary (checks/canaries/test_prediction_batches.py)
    return sorted(ids)


def page_of(check_id: str) -> str | None:
    """The runbook page an alert of ``check_id`` links to, or None when no page matches."""
    canary = _settings().canaries.get(check_id)
    if canary is not None and canary.runbook:
        if "://" in canary.runbook:
            return None  # links outside this repository; nothing to check here
        return canary.runbook if (RUNBOOKS / f"{canary.runbook}.md").is_file() else None
    parts = check_id.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if (RUNBOOKS / f"{name}.md").is_file():
            return name
    return None


# ---- reading the pages --------------------------------------------------------------------------


def runbook_pages() -> list[str]:
    return sorted(path.stem for path in RUNBOOKS.glob("*.md"))


def check_pages() -> list[str]:
    return [page for page in runbook_pages() if page != "index"]


@functools.cache
def _text(page: str) -> str:
    return (RUNBOOKS / f"{page}.md").read_text(encoding="utf-8")


def fenced_blocks(page: str, *languages: str) -> list[str]:
    return [body for language, body in _FENCE.findall(_text(page)) if language in languages]


def inline_spans(text: str) -> list[str]:
    return _INLINE.findall(_FENCE.sub("", text))


def commands(page: str) -> list[str]:
    """Every ``pytest`` / ``resilience`` command line the page quotes, in code blocks or inline."""
    found = [
        line.strip()
        for block in fenced_blocks(page, "sh", "bash", "console", "")
        for line in block.splitlines()
        if _COMMAND.match(line.strip())
    ]
    found += [span.strip() for span in inline_spans(_text(page)) if _COMMAND.match(span.strip())]
    return found


def sql_blocks(page: str) -> list[str]:
    return [block.strip() for block in fenced_blocks(page, "sql")]


def section(text: str, heading: str) -> str:
    """The body of the ``## heading...`` section (up to the next ``## ``), or ''."""
    match = re.search(rf"^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    return match.group(1) if match else ""


def _split(command: str) -> tuple[dict[str, str], list[str]]:
    """Environment assignments and argv of a command line, placeholders replaced by sample values."""
    for placeholder, value in PLACEHOLDERS.items():
        command = command.replace(placeholder, value)
    words = shlex.split(command, comments=True)
    environment: dict[str, str] = {}
    while words and (assignment := _ENV_ASSIGNMENT.match(words[0])):
        environment[assignment.group(1)] = assignment.group(2)
        words.pop(0)
    words[0] = Path(words[0]).name
    return environment, words


def _all_commands() -> list[tuple[str, str]]:
    return [(page, command) for page in runbook_pages() for command in commands(page)]


def _pytest_commands() -> list[tuple[str, str]]:
    return [(page, command) for page, command in _all_commands() if _split(command)[1][0] == "pytest"]


def _resilience_commands() -> list[tuple[str, str]]:
    return [(page, command) for page, command in _all_commands() if _split(command)[1][0] == "resilience"]


def _ids(pairs: list[tuple[str, str]]) -> list[str]:
    return [f"{page}: {command}" for page, command in pairs]


# ---- what pytest and the settings register ------------------------------------------------------


@functools.cache
def registered_markers() -> frozenset[str]:
    """Marker names declared in pytest.ini (``name(args): help`` or ``name: help``)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO / "pytest.ini", encoding="utf-8")
    lines = parser["pytest"]["markers"].strip().splitlines()
    return frozenset(re.split(r"[(:]", line.strip(), maxsplit=1)[0].strip() for line in lines if line.strip())


def _option_value(argv: list[str], option: str) -> list[str]:
    values = []
    for position, word in enumerate(argv):
        if word == option and position + 1 < len(argv):
            values.append(argv[position + 1])
        elif word.startswith(option) and word != option and not word.startswith("--"):
            values.append(word[len(option) :])
        elif word.startswith(f"{option}="):
            values.append(word.split("=", 1)[1])
    return values


#: Run in a subprocess: collect with each argv in turn (``pytest.main`` in one process, a fraction of a
#: second per command instead of a second and a half per fresh interpreter) and print what each selected.
_COLLECT_SCRIPT = """
import contextlib, io, json, sys
import pytest

class Selected:
    nodes = []
    def pytest_collection_finish(self, session):
        self.nodes = [item.nodeid for item in session.items]

results = []
for argv in json.loads(sys.stdin.read()):
    selected, output = Selected(), io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        status = pytest.main([*argv, "--collect-only", "-q", "-p", "no:cacheprovider"], plugins=[selected])
    results.append([int(status), selected.nodes, output.getvalue()[-3000:]])
sys.stdout.write(json.dumps(results))
"""

Collected = tuple[int, tuple[str, ...], str]


def _collect(argvs: list[tuple[str, ...]]) -> list[Collected]:
    """What ``pytest <argv> --collect-only`` selects for each argv: exit status, node ids, and output."""
    # --no-alerts: collecting must never touch alert state, heartbeats or history.
    arguments = [[*argv, *(() if "--no-alerts" in argv else ("--no-alerts",))] for argv in argvs]
    completed = subprocess.run(
        [sys.executable, "-c", _COLLECT_SCRIPT],
        input=json.dumps(arguments),
        cwd=REPO,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, f"collecting the pages' pytest commands crashed:\n{completed.stderr}"
    return [(status, tuple(nodes), output) for status, nodes, output in json.loads(completed.stdout)]


@pytest.fixture(scope="module")
def collected() -> Mapping[tuple[str, ...], Collected]:
    """Every distinct pytest command of the pages, collected once (two processes, half the commands each)."""
    argvs = sorted({tuple(_split(command)[1][1:]) for _, command in _pytest_commands()})
    halves = [argvs[0::2], argvs[1::2]]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_collect, halves))
    return {
        argv: result
        for half, found in zip(halves, results, strict=True)
        for argv, result in zip(half, found, strict=True)
    }


@functools.cache
def _check_tests() -> dict[str, str]:
    """Test node ids (without parameters) of checks whose test names them in its source: a canary marker
    ``@pytest.mark.canary("<id>")``, or a fixture argument named after the check id."""
    ids = set(suite_check_ids())
    found: dict[str, str] = {}
    for path in sorted((REPO / "checks").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test"):
                continue
            nodeid = f"{path.relative_to(REPO).as_posix()}::{node.name}"
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Attribute)
                    and decorator.func.attr == "canary"
                    and decorator.args
                    and isinstance(decorator.args[0], ast.Constant)
                ):
                    found[str(decorator.args[0].value)] = nodeid
            for argument in node.args.args:
                if argument.arg in ids:
                    found[argument.arg] = nodeid
    # The batch canary is a bare @pytest.mark.canary (it measures itself), so its test is named here.
    found[BATCH_CHECK_ID] = "checks/canaries/test_prediction_batches.py::test_no_prediction_batch_is_stalled"
    return found


def selects(check_id: str, page: str, nodes: tuple[str, ...]) -> bool:
    """Whether the collected ``nodes`` include the test of ``check_id``: found by name in the checks'
    source, else the parametrized test whose id is the rest of the check id after its page
    (``gate.phase2.null_points`` on ``gate.phase2`` -> ``[null_points]``)."""
    named = _check_tests().get(check_id)
    if named is not None:
        return named in nodes
    if check_id == page or not check_id.startswith(f"{page}."):
        return False
    parameter = check_id[len(page) + 1 :]
    return any(node.endswith(f"[{parameter}]") for node in nodes)


# ---- SQL ----------------------------------------------------------------------------------------


def _filter_column(table: str, catalog: Mapping[str, TableSchema]) -> str | None:
    """The column a query on ``table`` must filter: its partition column (a view's: its base table's),
    else game_date when the table has one."""
    schema = catalog[table]
    if schema.partition_column:
        return schema.partition_column
    if schema.view_of and schema.view_of in catalog and catalog[schema.view_of].partition_column:
        return catalog[schema.view_of].partition_column
    return "game_date" if "game_date" in schema.columns else None


def physical_tables(tree: exp.Expr) -> set[str]:
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {
        f"{table.db}.{table.name}" if table.db else table.name
        for table in tree.find_all(exp.Table)
        if table.db or table.name not in ctes
    }


def unfiltered(sql: str, catalog: Mapping[str, TableSchema]) -> list[str]:
    """Each table a SELECT reads without its filter column in that SELECT's WHERE clause."""
    tree = sqlglot.parse_one(sql, read="bigquery")
    problems = []
    for scope in traverse_scope(tree):
        where = scope.expression.args.get("where")
        for alias, source in scope.sources.items():
            if not isinstance(source, exp.Table) or not source.db:
                continue
            table = f"{source.db}.{source.name}"
            column = _filter_column(table, catalog) if table in catalog else None
            if column is None:
                continue
            filtered = where is not None and any(
                found.name.lower() == column and found.table in ("", alias)
                for found in where.find_all(exp.Column)
            )
            if not filtered:
                problems.append(f"{table} is read without a filter on {column}")
    return problems


def _sql_cases() -> list[tuple[str, int, str]]:
    return [(page, number, sql) for page in runbook_pages() for number, sql in enumerate(sql_blocks(page), 1)]


SQL_CASES = _sql_cases()
SQL_IDS = [f"{page} query {number}" for page, number, _ in SQL_CASES]


# ---- every check has a page, every page is reachable --------------------------------------------


@pytest.mark.parametrize("check_id", suite_check_ids())
def test_every_check_the_suite_can_produce_has_a_runbook_page(check_id: str) -> None:
    page = page_of(check_id)
    assert page is not None, (
        f"no runbook page for {check_id!r}: add docs/runbooks/{check_id}.md or a page for one of its dotted "
        "prefixes"
    )


def test_the_check_families_land_on_their_shared_pages() -> None:
    families = {
        "gate.phase2.": "gate.phase2",
        "prediction_quality.": "prediction_quality",
        "schema.": "schema",
        "meta.heartbeat.": "meta.heartbeat",
    }
    for check_id in suite_check_ids():
        for prefix, page in families.items():
            if check_id.startswith(prefix):
                assert page_of(check_id) == page, f"{check_id} lands on {page_of(check_id)}, not {page}"
    for spec in CANARIES:
        runbook = _settings().canaries[spec.id].runbook
        if "://" not in runbook:
            assert page_of(spec.id) == (runbook or spec.id), f"canary {spec.id} lands on {page_of(spec.id)}"


def test_the_betting_line_pages_point_to_the_shared_betting_lines_page() -> None:
    for check in BETTING_LINE_CHECKS:
        page = page_of(check.check_id)
        assert page is not None
        if page != "betting_lines":
            assert "(betting_lines.md)" in _text(page), f"{page}.md does not link to betting_lines.md"


def test_every_page_serves_at_least_one_check() -> None:
    # betting_lines is the shared page of three checks; healing serves the clean-up job's own alerts.
    served = {page_of(check_id) for check_id in suite_check_ids()} | {"betting_lines", "healing"}
    orphans = sorted(set(check_pages()) - served)
    assert not orphans, f"pages no check links to: {orphans}"


def test_index_lists_every_page() -> None:
    linked = set(_LINK.findall(INDEX.read_text(encoding="utf-8")))
    missing = [page for page in check_pages() if f"{page}.md" not in linked]
    assert not missing, f"index.md does not list: {missing}"


@pytest.mark.parametrize("page", runbook_pages())
def test_every_link_between_pages_resolves(page: str) -> None:
    for target in _LINK.findall(_text(page)):
        if "://" in target or target.startswith("#"):
            continue
        assert (RUNBOOKS / target.split("#", 1)[0]).is_file(), f"{page}.md links to missing {target}"


@pytest.mark.parametrize("page", check_pages())
def test_each_page_has_the_sections_on_call_needs(page: str) -> None:
    text = _text(page)
    for heading in ("What it measures", "Outcomes", "Thresholds (resilience.toml)"):
        assert section(text, heading).strip(), f"{page}.md has no '## {heading}' section"
    assert any(_split(command)[1][0] == "pytest" for command in commands(page)), (
        f"{page}.md quotes no pytest command to re-run its check"
    )
    assert "[All runbooks](index.md)" in text


# ---- commands -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("page", "command"), _pytest_commands(), ids=_ids(_pytest_commands()))
def test_pytest_commands_name_registered_markers(page: str, command: str) -> None:
    _, argv = _split(command)
    expressions = _option_value(argv, "-m")
    assert expressions, f"{page}.md: {command!r} selects no marker (-m)"
    for expression in expressions:
        names = set(re.findall(r"[A-Za-z_]\w*", expression)) - {"and", "or", "not"}
        unknown = sorted(names - registered_markers())
        assert not unknown, f"{page}.md: {command!r} uses markers not registered in pytest.ini: {unknown}"


@pytest.mark.parametrize(("page", "command"), _pytest_commands(), ids=_ids(_pytest_commands()))
def test_pytest_commands_select_tests(
    page: str, command: str, collected: Mapping[tuple[str, ...], Collected]
) -> None:
    status, nodes, output = collected[tuple(_split(command)[1][1:])]
    assert status == 0, f"{page}.md: {command!r} does not collect (exit {status}):\n{output}"
    assert nodes, f"{page}.md: {command!r} selects no test:\n{output}"


@pytest.mark.parametrize("page", check_pages())
def test_each_page_re_runs_its_own_checks(page: str, collected: Mapping[tuple[str, ...], Collected]) -> None:
    nodes = tuple(
        node
        for command in commands(page)
        if _split(command)[1][0] == "pytest"
        for node in collected[tuple(_split(command)[1][1:])][1]
    )
    mine = [check_id for check_id in suite_check_ids() if page_of(check_id) == page]
    missed = [check_id for check_id in mine if not selects(check_id, page, nodes)]
    assert not missed, f"no pytest command on {page}.md selects the test of {missed}"


@pytest.mark.parametrize(("page", "command"), _resilience_commands(), ids=_ids(_resilience_commands()))
def test_resilience_commands_parse(page: str, command: str) -> None:
    _, argv = _split(command)
    parser = build_parser()
    output = io.StringIO()
    with contextlib.redirect_stderr(output), contextlib.redirect_stdout(output):
        try:
            parser.parse_args(argv[1:])
        except SystemExit as exit_:
            pytest.fail(f"{page}.md: {command!r} is not a valid resilience command ({exit_.code}):\n{output}")


@pytest.mark.parametrize(("page", "command"), _all_commands(), ids=_ids(_all_commands()))
def test_command_targets_and_environment_are_real(page: str, command: str) -> None:
    environment, argv = _split(command)
    for value in _option_value(argv, "--warehouse"):
        try:
            parse_target(value, f"{page}.md")
        except WarehouseConfigError as error:
            pytest.fail(str(error))
    sources = "\n".join(
        path.read_text(encoding="utf-8")
        for root in ("resilience", "plugins")
        for path in sorted((REPO / root).rglob("*.py"))
    )
    for name in environment:
        assert f'"{name}"' in sources, f"{page}.md: {name} is not an environment variable the suite reads"


# ---- SQL, settings keys and paths ---------------------------------------------------------------


@pytest.mark.parametrize(("page", "number", "sql"), SQL_CASES, ids=SQL_IDS)
def test_sql_reads_only_catalog_tables_and_columns(page: str, number: int, sql: str) -> None:
    catalog = load_catalog()
    tables = physical_tables(sqlglot.parse_one(sql, read="bigquery"))
    assert tables, f"{page}.md query {number} reads no table"
    unknown = sorted(table for table in tables if table not in catalog)
    assert not unknown, f"{page}.md query {number} reads tables not in schemas/: {unknown}"
    problems = check_usage(sql, catalog)
    assert not problems, f"{page}.md query {number}: " + "; ".join(problems)


@pytest.mark.parametrize(("page", "number", "sql"), SQL_CASES, ids=SQL_IDS)
def test_sql_filters_every_tables_partition_column(page: str, number: int, sql: str) -> None:
    problems = unfiltered(sql, load_catalog())
    assert not problems, f"{page}.md query {number}: " + "; ".join(problems)


def _resolves(document: Mapping[str, Any], key: str) -> bool:
    node: Any = document
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


@pytest.mark.parametrize("page", runbook_pages())
def test_settings_keys_named_under_thresholds_exist(page: str) -> None:
    document = tomllib.loads(DEFAULT_SETTINGS_PATH.read_text(encoding="utf-8"))
    keys = [
        span
        for span in inline_spans(section(_text(page), "Thresholds"))
        if _SETTINGS_KEY.match(span) and span.split(".", 1)[0] in document
    ]
    missing = [key for key in keys if not _resolves(document, key)]
    assert not missing, f"{page}.md names settings keys resilience.toml does not have: {missing}"


def _repo_paths(page: str) -> Iterator[str]:
    for span in inline_spans(_text(page)):
        words = span.split()
        candidate = words[-1] if words and words[0] == "git" else span
        if (
            "/" in candidate
            and candidate.split("/", 1)[0] in REPO_ROOTS
            and not re.search(r"[<>*]", candidate)
        ):
            yield candidate


@pytest.mark.parametrize("page", runbook_pages())
def test_repository_paths_named_in_pages_exist(page: str) -> None:
    missing = [path for path in _repo_paths(page) if not (REPO / path).exists()]
    assert not missing, f"{page}.md names paths that do not exist in this repository: {missing}"
