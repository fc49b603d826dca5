"""raw_corpus -> clean_corpus materialized in-process against a temp FOOTPRINT_HOME and a real
DuckDB warehouse: outputs, metadata, checks, exact lineage, and failures recorded as failed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from assets.corpus.clean import CHECKS, CleanCorpusConfig, clean_corpus
from assets.corpus.raw import RawCorpusConfig, raw_corpus
from assets.corpus.storage import CLEAN_SCHEMA, RAW_SCHEMA
from pipelines.resources import FootprintHomeResource
from warehouse.artifacts import ArtifactHandle
from warehouse.connection import connect
from warehouse.home import FootprintHome
from warehouse.loader import sync

REPO = Path(__file__).resolve().parents[2]


def _run(
    home: FootprintHome, raw: RawCorpusConfig, clean: CleanCorpusConfig | None = None
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [raw_corpus, clean_corpus, *CHECKS],
        resources={"footprint": FootprintHomeResource(root=str(home.root))},
        run_config=dg.RunConfig(ops={"raw_corpus": raw, "clean_corpus": clean or CleanCorpusConfig()}),
        raise_on_error=False,
    )


def _query(home: FootprintHome, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    sync(home)
    con = connect(home, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _outcomes(home: FootprintHome) -> dict[str, tuple[str, str | None]]:
    rows = _query(
        home,
        "SELECT m.asset_key, o.status, o.error FROM materialization m "
        "JOIN materialization_outcome o USING (materialization_id)",
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def test_demo_source_end_to_end(home: FootprintHome) -> None:
    result = _run(home, RawCorpusConfig(rows=800, seed=3))
    assert result.success
    raw: ArtifactHandle = result.output_for_node("raw_corpus")
    clean: ArtifactHandle = result.output_for_node("clean_corpus")
    assert Path(raw.path) == home.artifacts_dir / "raw_corpus" / f"{raw.materialization_id}.parquet"
    assert Path(clean.path) == home.artifacts_dir / "clean_corpus" / f"{clean.materialization_id}.parquet"
    assert pq.read_schema(raw.path).remove_metadata().equals(RAW_SCHEMA)
    table = pq.read_table(clean.path)
    assert table.schema.remove_metadata().equals(CLEAN_SCHEMA)
    assert raw.rows == 800 and clean.rows == table.num_rows < 800
    assert clean.extra["rows_in"] == 800
    assert clean.extra["rows_train"] + clean.extra["rows_eval"] + clean.extra["label_conflicts"] == clean.rows
    assert sum(clean.extra["dropped"].values()) == 800 - clean.rows
    assert clean.bytes == Path(clean.path).stat().st_size

    meta = result.asset_materializations_for_node("clean_corpus")[0].metadata
    for key in ("rows_in", "rows_out", "dropped_empty", "dropped_duplicate_exact", "bytes_out",
                "footprint/energy_kwh", "footprint/duration_s", "footprint/bytes_moved"):  # fmt: skip
        assert key in meta, key
    assert meta["rows_out"].value == clean.rows
    for reason in ("empty", "too_short", "duplicate_exact"):  # a count and a share per drop reason
        assert meta[f"dropped_{reason}_share"].value == pytest.approx(meta[f"dropped_{reason}"].value / 800)
    assert meta["drop_summary"].value.startswith(f"dropped {800 - clean.rows} of 800 rows: ")
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert len(checks) == 5 and all(c.passed for c in checks.values())
    kept = checks["clean_corpus_rows_kept"]
    assert kept.metadata["kept_fraction"].value == pytest.approx(clean.rows / 800)
    assert kept.description == f"kept {clean.rows} of 800 rows ({100 * clean.rows / 800:.1f} %), floor 50%"
    per_class = checks["clean_corpus_train_rows_per_class"]
    assert per_class.metadata["classes"].value == 2 and per_class.metadata["classes_below_min"].value == 0

    # exact lineage: clean_corpus consumed exactly this raw_corpus materialization
    edges = _query(
        home, "SELECT materialization_id, upstream_materialization_id, upstream_asset_key FROM lineage_edge"
    )
    assert edges == [(clean.materialization_id, raw.materialization_id, "raw_corpus")]
    assert _outcomes(home) == {"raw_corpus": ("success", None), "clean_corpus": ("success", None)}
    stored = _query(home, "SELECT materialization_id, bytes_held FROM storage ORDER BY bytes_held")
    assert {r[0] for r in stored} == {raw.materialization_id, clean.materialization_id}
    assert (
        _query(home, "SELECT count(DISTINCT window_id) FROM window_usage WHERE ended = 'closed'")[0][0] == 2
    )


def test_demo_topics_source_gives_k_classes_through_cleaning(home: FootprintHome) -> None:
    from labeling.label_set import decide_label_set

    result = _run(home, RawCorpusConfig(source="demo-topics:3", rows=900, seed=4))
    assert result.success
    raw: ArtifactHandle = result.output_for_node("raw_corpus")
    clean: ArtifactHandle = result.output_for_node("clean_corpus")
    assert raw.extra["source_kind"] == "demo-topics" and raw.rows == 900
    table = pq.read_table(clean.path)
    assert table.column("row_id")[0].as_py().startswith("topics3-4-")
    assert sum(clean.extra["dropped"].values()) > 0  # the dirt was there and was cleaned
    for split in ("train", "eval"):
        rows = table.filter(pc.equal(table["split"], split))
        assert set(rows.column("gold_label").to_pylist()) == {"world", "sports", "business"}, split
    # the label set label_tasks will derive from it
    assert decide_label_set([], clean.path).choices == ("business", "sports", "world")


def test_demo_source_rejects_bad_label_noise(home: FootprintHome) -> None:
    result = _run(home, RawCorpusConfig(source="demo-topics", rows=50, label_noise=1.5))
    assert not result.success
    assert "label_noise must be within [0, 1], got 1.5" in (_outcomes(home)["raw_corpus"][1] or "")


def test_file_source_tsv_without_header(home: FootprintHome, tmp_path: Path) -> None:
    lines = [
        "It #39;s over. AT amp;T quits\tSci/Tech",
        "Stocks  rise  again today\tBusiness",
        "Stocks rise again today\tBusiness",
        "\tWorld",
        "Team wins the cup &lt;b&gt;final&lt;/b&gt;\tSports",
    ]
    src = tmp_path / "news.tsv"
    src.write_text("\n".join(lines) + "\n")
    cfg = RawCorpusConfig(source=f"file:{src}", has_header=False, text_column="0", label_column="1")
    result = _run(
        home, cfg, CleanCorpusConfig(eval_fraction=0.0, min_train_rows_per_class=0)
    )  # World: 0 rows left
    assert result.success
    raw_meta = result.asset_materializations_for_node("raw_corpus")[0].metadata
    # what the column checks saw: one blank text, no numbers, 4 classes
    assert (raw_meta["blank_texts"].value, raw_meta["numeric_texts"].value) == (1, 0)
    assert raw_meta["label_classes"].value == 4
    clean = pq.read_table(result.output_for_node("clean_corpus").path)
    assert clean.column("text").to_pylist() == [
        "It's over. AT&T quits",
        "Stocks rise again today",
        "Team wins the cup final",
    ]
    assert clean.column("row_id").to_pylist() == [
        "file-news-00000000",
        "file-news-00000001",
        "file-news-00000004",
    ]
    assert clean.column("gold_label").to_pylist() == ["Sci/Tech", "Business", "Sports"]
    read = _query(
        home, "SELECT bytes, direction, endpoint_kind, scope FROM transfer WHERE endpoint = ?", [str(src)]
    )
    assert read == [(src.stat().st_size, "read", "file", "local")]


def test_bad_source_is_recorded_failed_and_publishes_nothing(home: FootprintHome, tmp_path: Path) -> None:
    src = tmp_path / "reviews.csv"
    src.write_text("body,label\nhello there,pos\n")
    result = _run(home, RawCorpusConfig(source=f"file:{src}"))
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "column 'text'" in str(failure.step_failure_data.error) and "reviews.csv" in str(
        failure.step_failure_data.error
    )
    status, error = _outcomes(home)["raw_corpus"]
    assert status == "failed" and error is not None and "CorpusError" in error and "column 'text'" in error
    assert (
        _query(home, "SELECT count(DISTINCT window_id) FROM window_usage WHERE ended = 'closed'")[0][0] == 1
    )
    folder = home.artifacts_dir / "raw_corpus"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_nothing_left_after_cleaning_fails_clean_step(home: FootprintHome, tmp_path: Path) -> None:
    src = tmp_path / "junk.jsonl"
    src.write_text('{"text": "<br/>"}\n{"text": "   "}\n{"text": "&nbsp;"}\n')
    result = _run(home, RawCorpusConfig(source=f"file:{src}", label_column=""))
    assert not result.success
    raw = result.output_for_node("raw_corpus")
    outcomes = _outcomes(home)
    assert outcomes["raw_corpus"] == ("success", None)
    assert outcomes["clean_corpus"][0] == "failed" and "nothing left after cleaning" in (
        outcomes["clean_corpus"][1] or ""
    )
    edges = _query(home, "SELECT upstream_materialization_id FROM lineage_edge")
    assert edges == [(raw.materialization_id,)]  # the failed step still names what it consumed
    folder = home.artifacts_dir / "clean_corpus"
    assert not folder.exists() or list(folder.iterdir()) == []


@pytest.mark.slow
def test_definitions_validate(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_corpus_definitions_load() -> None:
    from assets.corpus import definitions

    defs = dg.Definitions(assets=definitions(), resources={"footprint": FootprintHomeResource()})
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {"raw_corpus", "clean_corpus"}
    assert len(list(graph.asset_check_keys)) == 5
