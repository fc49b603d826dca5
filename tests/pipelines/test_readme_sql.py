"""Every ```sql example of README.md runs against the warehouse the whole graph produced (fixture
`whole_graph`, tests/pipelines/conftest.py) and returns at least one row: once as an analyst's DuckDB
client opens the file (read-only), once through `footprint sql` (its read-only statement check)."""

from __future__ import annotations

import re

import pytest

from tests.pipelines.conftest import WholeGraph, readme_path

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]
SQL_BLOCK = re.compile(r"^```sql[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
# The README promises these examples (issue 8 and the analyst section); each must stay there.
EXPECTED_SUBJECTS = (
    "asset_footprint",
    "end_to_end_footprint_of",
    "data_requirement",
    "labeling_spend",
    "model_vs_baseline",  # cost per F1 point and the gain over the baseline (issue 16)
    "model_vs_baseline_per_class",
    "model_quality",
    "asset_footprint_at",
    "energy_method",
)


def readme_sql_blocks() -> list[str]:
    return [m.group(1).strip() for m in SQL_BLOCK.finditer(readme_path().read_text())]


BLOCKS = readme_sql_blocks()


def _first_line(sql: str) -> str:
    return " ".join(sql.split())[:60]


def test_readme_has_the_promised_examples() -> None:
    assert len(BLOCKS) >= 8, f"README.md has {len(BLOCKS)} ```sql examples, expected at least 8"
    text = "\n".join(BLOCKS)
    missing = [s for s in EXPECTED_SUBJECTS if s not in text]
    assert not missing, f"no README SQL example uses {missing}"


@pytest.fixture(scope="module")
def graph(whole_graph: WholeGraph) -> WholeGraph:
    assert whole_graph.success, f"whole-graph run {whole_graph.run_id} failed: {sorted(whole_graph.failures)}"
    return whole_graph


@pytest.mark.parametrize("sql", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_sql_example_returns_rows(graph: WholeGraph, sql: str) -> None:
    import duckdb

    con = duckdb.connect(str(graph.home.warehouse_path), read_only=True)
    try:
        rows = con.execute(sql).fetchall()
    except duckdb.Error as err:
        pytest.fail(f"README example {_first_line(sql)!r} failed in DuckDB: {err}")
    finally:
        con.close()
    assert rows, f"README example {_first_line(sql)!r} returned no rows on the whole-graph warehouse"


@pytest.mark.parametrize("sql", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_sql_example_runs_through_footprint_sql(graph: WholeGraph, sql: str) -> None:
    from warehouse.cli.sql import run_query

    columns, rows, _notices = run_query(graph.home, sql, wait_s=5.0)
    assert columns, f"`footprint sql` gave no columns for {_first_line(sql)!r}"
    assert rows, f"`footprint sql` returned no rows for {_first_line(sql)!r}"
