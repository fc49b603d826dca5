"""History benchmark: the analyst queries over 1,000 and 10,000 runs of the demo's 7-asset graph.

Each run materializes raw_corpus -> clean_corpus -> {label_tasks -> annotations, pretrained_model}
-> finetuned_model (which also consumes clean_corpus's eval split and annotations) ->
footprint_report, the lineage of `pipelines/definitions.py`: 7 materializations a run (7k and 70k),
each metered by a one-host ledger (CPU + RAM, 2-6 ten-second intervals per step; label_tasks runs
beside pretrained_model; a Label Studio service window open around label_tasks and annotations, whose
windows use it), plus 50 annotation versions a run (40 new annotations, and revisions of 10 of the
previous run's, which supersede them), transfers,
storage, a review's person time and the fine-tuned model's quality metrics (`f1_macro` among them):
about 210 facts a run. Facts are generated as Arrow tables, published with `write_tables` (one batch
per 100 runs) and merged by one `loader.sync`, into a warehouse of its own (temp dir) per size.

Then, per size: median ms of `end_to_end_footprint_of(<latest finetuned_model>)` beside the bare
recursive walk of that model's lineage (same query shape as bench_warehouse's baseline), and the
README's analyst queries (cost per F1 point, D = S + L, spend per annotator per day) as written there.
Targets: e2e at 10,000 runs <= 1.5x e2e at 1,000 runs, and <= 10x the bare walk at the same size.
Before the ledger (2026-11) e2e took 116 ms at 1k runs and 348 ms at 10k.

Run: `python -m bench.bench_history` (about 15 s on 2 idle cores, 25 s on busy ones: the 10k-run
warehouse builds in about 5 s; the README's cost-per-F1 query walks every materialization, 0.5 s).
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from bench.common import (
    CPU,
    LINEAGE_WALK_SQL,
    RAM,
    BenchRow,
    Occupancy,
    Timing,
    fact_table,
    hex_ids,
    ledger_tables,
    median_of,
    print_rows,
    run_once,
)
from warehouse.batches import write_tables
from warehouse.connection import connect
from warehouse.home import FootprintHome
from warehouse.loader import sync

SIZES = (1_000, 10_000)  # runs
RUNS_PER_BATCH = 100
TICK_S = 10.0
RUN_EVERY_US = 2 * 3600 * 10**6  # a run every 2 hours
T0_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
HOST = "demo-host"
SERVICE = "label-studio"
# asset, first interval in the run, intervals, upstream assets (the run's own materializations)
STEPS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("raw_corpus", 0, 2, ()),
    ("clean_corpus", 2, 3, ("raw_corpus",)),
    ("label_tasks", 5, 3, ("clean_corpus",)),
    ("pretrained_model", 5, 6, ("clean_corpus",)),
    ("annotations", 8, 4, ("label_tasks",)),
    ("finetuned_model", 12, 6, ("pretrained_model", "annotations", "clean_corpus")),
    ("footprint_report", 18, 2, ("finetuned_model",)),
)
ASSETS = tuple(s[0] for s in STEPS)
USES_SERVICE = ("label_tasks", "annotations")
SERVICE_SPAN = (4, 8)  # the service window: first interval, intervals (window slot 7)
RUN_TICKS = 20
N_ANNOTATIONS, N_REVISED = 40, 10  # 50 annotation versions a run
ANNOTATORS = ("ana", "bo", "chen", "dara", "eli", "fatima")
# (asset, direction, endpoint_kind, scope, bytes) per run
TRANSFERS = (
    ("raw_corpus", "download", "hub", "network", 50_000_000),
    ("clean_corpus", "read", "file", "local", 40_000_000),
    ("label_tasks", "read", "file", "local", 30_000_000),
    ("label_tasks", "upload", "label-studio", "local", 2_000_000),
    ("annotations", "download", "label-studio", "local", 1_000_000),
    ("pretrained_model", "read", "file", "local", 30_000_000),
    ("finetuned_model", "read", "file", "local", 30_500_000),
    ("footprint_report", "read", "file", "local", 20_000_000),
)
STORAGE = (
    ("dataset", 40e6),
    ("dataset", 30e6),
    ("dataset", 1e6),
    ("checkpoint", 20e6),
    ("dataset", 5e5),
    ("checkpoint", 20e6),
    ("report", 2e6),
)
QUALITY = (
    ("f1_macro", None),
    ("accuracy", None),
    ("precision_macro", None),
    ("recall_macro", None),
    ("f1", "negative"),
    ("f1", "positive"),
)
README_QUERIES = {  # metric -> the README paragraph that introduces the query
    "README: cost per F1 point (all models)": "Cost per macro-F1 point",
    "README: D = S + L per dataset": "D = S + L per dataset",
    "README: spend per annotator per day": "Spend per annotator per day",
}
REPEATS = 9
QUERY_REPEATS = 3


def readme_queries() -> dict[str, str]:
    """The README's analyst queries, verbatim, by metric name."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    examples = text.split("<!-- sql-examples:start -->", 1)[1].split("<!-- sql-examples:end -->", 1)[0]
    blocks = re.findall(r"\n([^\n`][^\n]*)\n\n```sql\n(.*?)```", examples, flags=re.S)
    found = {intro.strip(): sql.strip().rstrip(";") for intro, sql in blocks}
    out = {}
    for metric, intro in README_QUERIES.items():
        match = [sql for key, sql in found.items() if key.startswith(intro)]
        if len(match) != 1:
            raise KeyError(
                f"README sql-examples: no single query introduced by {intro!r}; update README_QUERIES"
            )
        out[metric] = match[0]
    return out


class History:
    """`n_runs` runs of the demo graph: ids, times and the ledger's occupancy, as arrays."""

    def __init__(self, rng: np.random.Generator, n_runs: int) -> None:
        self.n_runs = n_runs
        self.mids = hex_ids(rng, n_runs * 7)  # run r, asset a: r * 7 + a
        self.run_ids = hex_ids(rng, n_runs)
        self.window_ids = hex_ids(rng, n_runs * 8)  # slot 7: the run's service window
        slots = np.arange(n_runs * 8)
        mid_index = np.where(slots % 8 < 7, slots // 8 * 7 + slots % 8, -1)
        self.window_mids = self.mids.take(pa.array(mid_index, mask=mid_index < 0))
        self.tick_ids = hex_ids(rng, n_runs * RUN_TICKS)
        ticks = np.arange(n_runs * RUN_TICKS)
        self.tick_start_us = T0_US + ticks // RUN_TICKS * RUN_EVERY_US + ticks % RUN_TICKS * int(TICK_S * 1e6)
        spans = [(first, n) for _, first, n, _ in STEPS] + [SERVICE_SPAN]
        tpl = sorted((first + i, slot, i == n - 1) for slot, (first, n) in enumerate(spans) for i in range(n))
        t, s, last = (np.array(c) for c in zip(*tpl, strict=True))
        runs = np.repeat(np.arange(n_runs), len(tpl))
        self.occ = Occupancy(
            np.tile(t, n_runs) + runs * RUN_TICKS,
            np.tile(s, n_runs) + runs * 8,
            np.tile(last, n_runs),
            np.zeros(len(runs), dtype=bool),
        )

    def mid(self, runs: np.ndarray, asset: str) -> pa.Array:
        return self.mids.take(runs * 7 + ASSETS.index(asset))

    def batch(self, rng: np.random.Generator, batch_id: str, r0: int, r1: int) -> dict[str, pa.Table]:
        lo, hi = r0 * RUN_TICKS, r1 * RUN_TICKS
        tables = ledger_tables(
            batch_id,
            rng,
            host=HOST,
            devices=(CPU, RAM),
            tick_ids=self.tick_ids[lo:hi],
            tick_start_us=self.tick_start_us[lo:hi],
            tick_s=TICK_S,
            occ=self.occ.between(lo, hi),
            window_ids=self.window_ids,
            window_mids=self.window_mids,
        )
        runs = np.arange(r0, r1)
        tables |= self._steps(rng, batch_id, runs) | self._work(rng, batch_id, runs)
        return tables

    def _steps(self, rng: np.random.Generator, bid: str, runs: np.ndarray) -> dict[str, pa.Table]:
        """Materializations, outcomes, windows, lineage and storage: the same rows in every run."""
        rr = np.repeat(runs, 7)  # run of each (run, asset) row
        aa = np.tile(np.arange(7), len(runs))
        mids = self.mids.take(rr * 7 + aa)
        start = T0_US + rr * RUN_EVERY_US + np.array([s[1] for s in STEPS])[aa] * int(TICK_S * 1e6)
        end = start + np.array([s[2] for s in STEPS])[aa] * int(TICK_S * 1e6)
        keys = np.array(ASSETS, dtype=object)[aa]
        n = len(rr)
        edges = [(ASSETS.index(a), ASSETS.index(u), u) for a, _, _, ups in STEPS for u in ups]
        er = np.repeat(runs, len(edges))
        ec, eu, ek = (np.tile(np.array(c, dtype=object), len(runs)) for c in zip(*edges, strict=True))
        wr = np.repeat(runs, 8)
        ws = np.tile(np.arange(8), len(runs))
        first = np.array([*(s[1] for s in STEPS), SERVICE_SPAN[0]])[ws]
        opened = T0_US + wr * RUN_EVERY_US + first * int(TICK_S * 1e6)
        names = np.array([*ASSETS, SERVICE], dtype=object)[ws]
        return {
            "materialization": fact_table(
                "materialization",
                bid,
                rng,
                n,
                {
                    "materialization_id": mids,
                    "run_id": self.run_ids.take(rr),
                    "asset_key": keys,
                    "started_at": start,
                    "attempt": 1,
                    "host": HOST,
                },
            ),
            "materialization_outcome": fact_table(
                "materialization_outcome",
                bid,
                rng,
                n,
                {"materialization_id": mids, "status": "success", "ended_at": end},
            ),
            "meter_window": fact_table(
                "meter_window",
                bid,
                rng,
                len(wr),
                {
                    "window_id": self.window_ids.take(wr * 8 + ws),
                    "materialization_id": self.window_mids.take(wr * 8 + ws),
                    "host": HOST,
                    "role": np.where(ws < 7, "step", "service").astype(object),
                    "name": names,
                    "root_pid": 1000 + ws,
                    "opened_at": opened,
                    "uses_services": np.where(np.isin(names, USES_SERVICE), SERVICE, "").astype(object),
                },
            ),
            "lineage_edge": fact_table(
                "lineage_edge",
                bid,
                rng,
                len(er),
                {
                    "materialization_id": self.mids.take(er * 7 + ec.astype(int)),
                    "upstream_materialization_id": self.mids.take(er * 7 + eu.astype(int)),
                    "upstream_asset_key": ek,
                },
            ),
            "storage": fact_table(
                "storage",
                bid,
                rng,
                n,
                {
                    "materialization_id": mids,
                    "bytes_held": np.array([s[1] for s in STORAGE], dtype=np.int64)[aa],
                    "location": pa.array([f"artifacts/{k}/{i}" for k, i in zip(keys, rr, strict=True)]),
                    "kind": np.array([s[0] for s in STORAGE], dtype=object)[aa],
                    "occurred_at": end,
                },
            ),
        }

    def _work(self, rng: np.random.Generator, bid: str, runs: np.ndarray) -> dict[str, pa.Table]:
        """Transfers, annotation versions, a review and the quality metrics of each run."""
        k = len(runs)
        tr = np.repeat(runs, len(TRANSFERS))
        asset, direction, kind, scope, nbytes = (
            np.tile(np.array(c, dtype=object), k) for c in zip(*TRANSFERS, strict=True)
        )
        t_at = T0_US + tr * RUN_EVERY_US
        # annotations: 40 new a run, and a revision of 10 of the previous run's (50 versions a run)
        ar = np.repeat(runs, N_ANNOTATIONS + N_REVISED)
        j = np.tile(np.r_[np.arange(N_ANNOTATIONS), np.arange(N_REVISED)], k)
        revised = np.tile(np.r_[np.zeros(N_ANNOTATIONS, bool), np.ones(N_REVISED, bool)], k)
        of_run = np.where(revised, np.maximum(ar - 1, 0), ar)  # the run whose sync first saw it
        lead = rng.lognormal(np.log(60.0), 0.8, len(ar))
        created = T0_US + of_run * RUN_EVERY_US - (N_ANNOTATIONS - j) * 90_000_000  # the hour before the sync
        updated = np.where(revised, T0_US + ar * RUN_EVERY_US - (N_REVISED - j) * 60_000_000, created)
        cancelled = rng.random(len(ar)) < 0.03
        qr = np.repeat(runs, len(QUALITY))
        qn, ql = (np.tile(np.array(c, dtype=object), k) for c in zip(*QUALITY, strict=True))
        return {
            "transfer": fact_table(
                "transfer",
                bid,
                rng,
                len(tr),
                {
                    "materialization_id": self.mids.take(tr * 7 + np.array([ASSETS.index(a) for a in asset])),
                    "bytes": nbytes.astype(np.int64),
                    "duration_s": nbytes.astype(float) / 50e6,
                    "direction": direction,
                    "endpoint_kind": kind,
                    "scope": scope,
                    "occurred_at": t_at,
                    "endpoint": "bench",
                    "requests": 3,
                },
            ),
            "annotation_work": fact_table(
                "annotation_work",
                bid,
                rng,
                len(ar),
                {
                    "materialization_id": self.mid(ar, "annotations"),
                    "annotation_id": of_run * N_ANNOTATIONS + j,
                    "task_id": of_run * N_ANNOTATIONS + j,
                    "annotator": np.array(ANNOTATORS, dtype=object)[(ar + j) % 6],
                    "project": "demo",
                    "lead_time_s": lead,
                    "active_s": np.minimum(lead, 300.0),
                    "idle_cap_s": 300.0,
                    "was_cancelled": cancelled,
                    "label": np.where(j % 3 == 0, "negative", "positive").astype(object),
                    "flags": np.where(lead > 300.0, "idle_capped", "").astype(object),
                    "created_at": created,
                    "updated_at": updated,
                },
            ),
            "person_time": fact_table(
                "person_time",
                bid,
                rng,
                k,
                {
                    "materialization_id": self.mid(runs, "annotations"),
                    "person": "engineer",
                    "role": "review",
                    "duration_s": 900.0,
                    "note": "",
                },
            ),
            "quality_metric": fact_table(
                "quality_metric",
                bid,
                rng,
                len(qr),
                {
                    "materialization_id": self.mid(qr, "finetuned_model"),
                    "name": qn,
                    "value": np.clip(
                        0.7 + 0.2 * qr / max(self.n_runs, 1) + rng.normal(0, 0.02, len(qr)), 0, 1
                    ),
                    "split": "eval",
                    "label": pa.array(list(ql), type=pa.string()),
                },
            ),
        }


def build(
    root: Path, n_runs: int, rng: np.random.Generator
) -> tuple[FootprintHome, History, float, float, int]:
    """(home, history, seconds to generate + publish, seconds to merge, facts) of one warehouse."""
    home = FootprintHome.resolve(root / f"runs-{n_runs}").ensure()
    sync(home)  # schema, views, default rate card
    t0 = time.perf_counter()
    history = History(rng, n_runs)
    for r0 in range(0, n_runs, RUNS_PER_BATCH):
        bid = f"history-{r0:06d}"
        write_tables(home, bid, history.batch(rng, bid, r0, min(r0 + RUNS_PER_BATCH, n_runs)))
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = sync(home)
    merge_s = time.perf_counter() - t0
    assert not res.quarantined and res.loaded_batches == -(-n_runs // RUNS_PER_BATCH), res
    return home, history, write_s, merge_s, res.loaded_facts


@dataclass(frozen=True)
class Queries:
    """What is timed in one warehouse: SQL and parameters by metric."""

    con: duckdb.DuckDBPyConnection
    sql: dict[str, tuple[str, list[object] | None]]


def queries(home: FootprintHome, history: History) -> Queries:
    """e2e of the latest fine-tuned model, the bare walk of its lineage, and the README's analyst queries;
    checks first that the model is the one the README's query finds and that its figures are known."""
    model = str(history.mid(np.array([history.n_runs - 1]), "finetuned_model")[0])
    con = connect(home, read_only=True)
    latest = con.execute(
        "SELECT materialization_id FROM asset_footprint WHERE asset_key = 'finetuned_model' "
        "AND status = 'success' ORDER BY started_at DESC LIMIT 1"
    ).fetchall()[0][0]
    got = con.execute(
        "SELECT upstream_count, unknown_parts FROM end_to_end_footprint_of(?)", [model]
    ).fetchall()[0]
    assert latest == model and got == (5, 0), (latest, model, got)
    sql: dict[str, tuple[str, list[object] | None]] = {
        "e2e": ("SELECT * FROM end_to_end_footprint_of(?)", [model]),
        "walk": (LINEAGE_WALK_SQL, [model]),
    }
    return Queries(con, sql | {metric: (text, None) for metric, text in readme_queries().items()})


def measure(per_size: dict[int, Queries]) -> dict[int, dict[str, Timing]]:
    """Median times, the sizes interleaved query by query (load on a shared machine comes and goes)."""
    got: dict[int, dict[str, list[Timing]]] = {n: {} for n in per_size}
    metrics = next(iter(per_size.values())).sql
    for metric in metrics:
        repeats = REPEATS if metric in ("e2e", "walk") else QUERY_REPEATS
        for q in per_size.values():
            run_once(q.con, *q.sql[metric])  # warm
        for _ in range(repeats):
            for n, q in per_size.items():
                got[n].setdefault(metric, []).append(run_once(q.con, *q.sql[metric]))
    return {n: {m: median_of(ts) for m, ts in by_metric.items()} for n, by_metric in got.items()}


def run(root: Path) -> list[BenchRow]:
    rows: list[BenchRow] = []
    per_size: dict[int, Queries] = {}
    for n_runs in SIZES:
        home, history, write_s, merge_s, n_facts = build(root, n_runs, np.random.default_rng(n_runs))
        per_size[n_runs] = queries(home, history)
        rows.append(
            BenchRow(
                "history",
                f"{n_runs:,} runs: build + merge",
                write_s + merge_s,
                "s",
                note=f"{n_facts:,} facts, {n_runs * 7:,} materializations; generate + publish "
                f"{write_s:.1f} s, loader.sync {merge_s:.1f} s ({n_facts / merge_s:,.0f} facts/s)",
            )
        )
    try:
        figures = measure(per_size)
    finally:
        for q in per_size.values():
            q.con.close()
    small, large = (figures[n] for n in SIZES)
    for n_runs in SIZES:
        e2e, walk = figures[n_runs]["e2e"], figures[n_runs]["walk"]
        rows.append(
            BenchRow(
                "history",
                f"{n_runs:,} runs: end_to_end_footprint_of(latest finetuned_model)",
                e2e.wall_ms,
                "ms",
                baseline=walk.wall_ms,
                ratio_target="<= 10" if n_runs == SIZES[-1] else "",
                note=f"baseline: bare recursive walk of its lineage; process CPU {e2e.cpu_ms:.1f} vs "
                f"{walk.cpu_ms:.1f} ms ({e2e.cpu_ms / walk.cpu_ms:.1f}x)",
            )
        )
    rows.append(
        BenchRow(
            "history",
            f"e2e at {SIZES[1]:,} runs vs at {SIZES[0]:,}",
            large["e2e"].wall_ms,
            "ms",
            baseline=small["e2e"].wall_ms,
            ratio_target="<= 1.5",
            note=f"process CPU {large['e2e'].cpu_ms:.1f} vs {small['e2e'].cpu_ms:.1f} ms; before the ledger "
            "(2026-11): 116 ms at 1k runs, 348 ms at 10k (3.0x)",
        )
    )
    for metric in README_QUERIES:
        rows.append(BenchRow("history", f"{SIZES[0]:,} runs: {metric}", small[metric].wall_ms, "ms"))
        rows.append(
            BenchRow(
                "history",
                f"{SIZES[1]:,} runs: {metric}",
                large[metric].wall_ms,
                "ms",
                baseline=small[metric].wall_ms,
                note=f"informative; baseline: the same query at {SIZES[0]:,} runs",
            )
        )
    return rows


def main() -> list[BenchRow]:
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        rows = run(Path(tmp))
    print_rows(rows, title="bench_history")
    return rows


if __name__ == "__main__":
    main()
