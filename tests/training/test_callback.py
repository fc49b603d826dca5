"""A user's own Hugging Face script with FootprintCallback (tests/training/user_script.py, a real tiny
Trainer run on generated data), run as a user would: under the real `footprint meter` CLI (with two
torchrun ranks), from a Dagster asset through Pipes, and with neither. Facts, lineage and quality land
in a real warehouse; the docs' example is run as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.helpers import fake_upstream, handle, query, run_assets, write_corpus
from tests.training.user_asset import REPO, SCRIPT, user_env, user_model
from warehouse.home import ENV_HOME, FootprintHome

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]

FOOTPRINT = Path(sys.executable).with_name("footprint")  # the venv's CLI entry point
EXAMPLE = (  # the README's ten-line example (docs/training.md shows the same)
    r"<!-- footprint-callback-example:start -->\n```python\n(.*?)```\n<!-- footprint-callback-example:end -->"
)
MAX_STEPS, LOG_STEPS, EVAL_STEPS, BATCH = 20, 5, 10, 8  # as user_script.py sets them


def _env(home: FootprintHome | None) -> dict[str, str]:
    """A user's environment: the worktree importable, and `home` as FOOTPRINT_HOME when given."""
    env = user_env()
    if home is not None:
        env[ENV_HOME] = str(home.root)
    return env


def _progress(home: FootprintHome, mid: str) -> list[tuple[object, ...]]:
    return query(
        home,
        "SELECT rank, step, samples, tokens, window_id, loss FROM training_progress "
        "WHERE materialization_id = ? ORDER BY rank, recorded_at",
        [mid],
    )


def _quality(home: FootprintHome, mid: str) -> dict[tuple[object, ...], float]:
    rows = query(
        home, "SELECT step, name, label, split, value FROM quality_metric WHERE materialization_id = ?", [mid]
    )
    return {tuple(r[:4]): float(r[4]) for r in rows}  # type: ignore[arg-type]


def _windows(home: FootprintHome, mid: str) -> list[tuple[object, ...]]:
    return query(
        home,
        "SELECT w.window_id, w.role, w.rank, w.parent_window_id, "
        "sum(u.use) FILTER (WHERE u.device_kind = 'cpu') FROM meter_window w "
        "JOIN window_usage u USING (window_id) WHERE w.materialization_id = ? GROUP BY ALL",
        [mid],
    )


def _check_user_run(home: FootprintHome, mid: str, parent_role: str, ranks: int) -> None:
    """The facts of one run of user_script.py under materialization `mid`."""
    windows = _windows(home, mid)
    [parent] = [w for w in windows if w[1] == parent_role]
    rank_windows = {w[2]: w for w in windows if w[1] == "rank"}
    assert sorted(rank_windows) == list(range(ranks)), windows
    assert all(w[3] == parent[0] and (w[4] or 0) > 0 for w in rank_windows.values()), "nested, metered"
    progress = _progress(home, mid)
    for rank in range(ranks):
        mine = [p for p in progress if p[0] == rank]
        # at train begin, at each log step, at the end
        assert [p[1] for p in mine] == [0, 5, 10, 15, 20, 20], mine
        assert {p[4] for p in mine} == {rank_windows[rank][0]}, "tied to the rank's own window"
        # 64 generated rows, batches of 8 per rank: every batch is full
        assert mine[-1][2] == MAX_STEPS * BATCH and mine[-1][3] == MAX_STEPS * BATCH * 12
        assert mine[0][5] is None and isinstance(mine[-1][5], float)
    quality = _quality(home, mid)
    steps = {k[0] for k in quality}
    assert steps == {EVAL_STEPS, MAX_STEPS}, quality
    for step in steps:
        assert {(n, lbl) for s, n, lbl, _ in quality if s == step} == {
            ("accuracy", None),
            ("loss", None),
            ("recall", "no"),
            ("recall", "yes"),
        }
    assert {k[3] for k in quality} == {"eval"}
    assert 0.0 <= quality[(MAX_STEPS, "accuracy", None, "eval")] <= 1.0


def test_under_footprint_meter_with_two_ranks(home: FootprintHome, tmp_path: Path) -> None:
    out = subprocess.run(
        [str(FOOTPRINT), "meter", "--json", "--asset", "user_model", "--heartbeat-s", "1", "--",
         sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(SCRIPT), str(tmp_path / "out")],
        env=_env(home), capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    summary = [line for line in out.stdout.splitlines() if line.startswith("{")]
    mid = json.loads(summary[-1])["materialization_id"]
    assert "not metered" not in out.stderr
    _check_user_run(home, mid, "meter", ranks=2)
    assert query(home, "SELECT status FROM materialization_status WHERE materialization_id = ?", [mid]) == [
        ("success",)
    ]


def test_from_a_dagster_asset_through_pipes(home: FootprintHome) -> None:
    data = handle("user_data", write_corpus(home.root / "data.parquet"), "m-user-data")
    res = run_assets(home, [*fake_upstream(user_data=data), user_model], {})
    assert res.success
    mid = res.output_for_node("user_model").materialization_id
    _check_user_run(home, mid, "step", ranks=1)
    assert query(
        home,
        "SELECT upstream_materialization_id, relation FROM lineage_edge WHERE materialization_id = ?",
        [mid],
    ) == [("m-user-data", "input")]


def test_unmetered_it_trains_and_warns(tmp_path: Path) -> None:
    elsewhere = FootprintHome.resolve(tmp_path / "never-used")
    out = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "out")],
        env=_env(None), capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stderr.count("NotMeteredWarning") == 1, out.stderr[-3000:]
    assert "'train_runtime'" in out.stdout, "it trained to the end"
    assert not elsewhere.root.exists() and not (tmp_path / "var").exists(), "nothing written"


def test_the_docs_example_runs_under_footprint_meter(home: FootprintHome, tmp_path: Path) -> None:
    [snippet] = re.findall(EXAMPLE, (REPO / "README.md").read_text(), re.S)
    assert len(snippet.strip().splitlines()) <= 10, "the README's ten-line example"
    assert re.findall(EXAMPLE, (REPO / "docs" / "training.md").read_text(), re.S) == [snippet], (
        "docs/training.md shows the README's example"
    )
    script = tmp_path / "train.py"
    script.write_text(snippet)
    out = subprocess.run(
        [str(FOOTPRINT), "meter", "--json", "--", sys.executable, str(script)],
        env=_env(home), capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    mid = json.loads(out.stdout.splitlines()[-1])["materialization_id"]
    assert [p[1] for p in _progress(home, mid)] == [0, 5, 10, 15, 20, 20]
    assert {(k[0], k[1]) for k in _quality(home, mid)} == {(10, "loss"), (20, "loss")}
