"""Bad input catalogue: every entry is refused with an error that names the problem, or accepted as a
flagged, counted rejection. None may give a silent wrong number.

Each case drives the product API that meets the input (many are also covered in depth by the room's
own suite: the `see` field points there). docs/reliability.md lists the same ids in its table; a test
below keeps the two in step.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.warehouse_holder import hold_warehouse
from warehouse.facts import FactBatch, Materialization, Transfer, utcnow
from warehouse.home import FootprintHome

pytestmark = [pytest.mark.reliability]

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


@dataclass(frozen=True)
class Case:
    id: str
    area: str  # dataset | annotation | configuration | nvml | warehouse | measurement
    check: Callable[[Path, FootprintHome], None]


CASES: list[Case] = []


def case(case_id: str, area: str) -> Callable[[Callable[[Path, FootprintHome], None]], Callable[..., None]]:
    def register(fn: Callable[[Path, FootprintHome], None]) -> Callable[..., None]:
        CASES.append(Case(case_id, area, fn))
        return fn

    return register


@contextmanager
def refused(exc: type[BaseException], *needles: str) -> Iterator[None]:
    """The block must raise `exc` whose message contains every needle (the problem, named)."""
    with pytest.raises(exc) as info:
        yield
    text = str(info.value)
    missing = [n for n in needles if n not in text]
    assert not missing, f"error {text!r} does not name {missing}"


# -- datasets ------------------------------------------------------------------------------------------
def _load(path: Path, **kw: Any) -> Any:
    from assets.corpus.sources import load_file

    opts: dict[str, Any] = {
        "text_column": "text",
        "label_column": "label",
        "has_header": True,
        "file_format": "",
        "limit_rows": 0,
    }
    return load_file(str(path), **{**opts, **kw}).table


@case("dataset-missing-text-column", "dataset")
def _(tmp: Path, home: FootprintHome) -> None:
    from assets.corpus.errors import CorpusError

    (tmp / "x.csv").write_text("body,label\nhello,pos\n")
    with refused(CorpusError, "x.csv", "'text'", "['body', 'label']"):
        _load(tmp / "x.csv")


@case("dataset-text-column-wrong-type", "dataset")
def _(tmp: Path, home: FootprintHome) -> None:
    from assets.corpus.errors import CorpusError

    pq.write_table(pa.table({"text": [1, 2], "label": ["a", "b"]}), tmp / "ints.parquet")
    with refused(CorpusError, "ints.parquet", "column 'text': has type int64, expected string"):
        _load(tmp / "ints.parquet")


@case("dataset-invalid-utf8", "dataset")
def _(tmp: Path, home: FootprintHome) -> None:
    from assets.corpus.errors import CorpusError

    (tmp / "latin1.csv").write_bytes("text,label\nfine,pos\ncaf\xe9,neg\n".encode("latin-1"))
    with refused(CorpusError, "latin1.csv", "line 3 holds bytes that are not valid UTF-8"):  # header counts
        _load(tmp / "latin1.csv")


@case("dataset-text-column-of-numbers", "dataset")
def _(tmp: Path, home: FootprintHome) -> None:
    from assets.corpus.errors import CorpusError

    (tmp / "ids.csv").write_text("id,text,label\n" + "".join(f"{i},review {i},pos\n" for i in range(10)))
    with refused(CorpusError, "ids.csv", "text column 'id' holds numbers, not texts: 10 of 10"):
        _load(tmp / "ids.csv", text_column="id")


@case("dataset-label-column-looks-like-text", "dataset")
def _(tmp: Path, home: FootprintHome) -> None:
    from assets.corpus.errors import CorpusError

    (tmp / "x.jsonl").write_text(
        "".join(json.dumps({"a": f"text {i}", "b": f"x {i}"}) + "\n" for i in range(60))
    )
    with refused(CorpusError, "label column 'b' has 60 distinct values in 60 rows", "swapped?"):
        _load(tmp / "x.jsonl", text_column="a", label_column="b")


@case("dataset-text-column-empty", "dataset")
def _(tmp: Path, home: FootprintHome) -> None:
    from assets.corpus.errors import CorpusError

    pq.write_table(pa.table({"text": [None, " ", ""], "label": ["a", "b", "a"]}), tmp / "blank.parquet")
    with refused(CorpusError, "blank.parquet", "text column 'text' is empty: all 3 rows are null or blank"):
        _load(tmp / "blank.parquet")


@case("dataset-most-rows-dropped-by-cleaning", "dataset")
def _(tmp: Path, home: FootprintHome) -> None:
    from assets.corpus.quality import CleanQuality, rows_kept_verdict

    # what clean_corpus's blocking check says of swapped columns that got past ingestion
    q = CleanQuality(10_001, 4, {"duplicate_exact": 9_997}, 4, 10_001, 10_001, [])
    verdict = rows_kept_verdict(q)
    assert not verdict.passed
    assert "kept 4 of 10,001 rows (0.04 %), below the floor" in verdict.message
    assert (
        "labels look like texts: 10,001 distinct labels" in verdict.message and "swapped?" in verdict.message
    )


@case("dataset-empty", "dataset")
def _(tmp: Path, home: FootprintHome) -> None:
    from assets.corpus.errors import CorpusError

    (tmp / "empty.csv").write_text("text,label\n")
    with refused(CorpusError, "empty.csv", "the source has no rows"):
        _load(tmp / "empty.csv")


@case("dataset-not-parquet", "dataset")
def _(tmp: Path, home: FootprintHome) -> None:
    from assets.corpus.errors import CorpusError

    (tmp / "garbage.parquet").write_bytes(b"not parquet at all")
    with refused(CorpusError, "garbage.parquet", "cannot read as parquet"):
        _load(tmp / "garbage.parquet")


@case("dataset-unknown-file-type", "dataset")
def _(tmp: Path, home: FootprintHome) -> None:
    from assets.corpus.errors import CorpusError

    (tmp / "x.xlsx").write_bytes(b"PK")
    with refused(CorpusError, "unknown file type '.xlsx'"):
        _load(tmp / "x.xlsx")


@case("dataset-unknown-source", "dataset")
def _(tmp: Path, home: FootprintHome) -> None:
    from assets.corpus.errors import CorpusError
    from assets.corpus.sources import parse_source

    with refused(CorpusError, "unknown source", "s3://bucket/x"):
        parse_source("s3://bucket/x")


@case("dataset-enormous-rows", "dataset")
def _(tmp: Path, home: FootprintHome) -> None:
    from assets.corpus.cleaner import CleaningRules, clean_table

    huge = "word " * 200_000  # 1 MB in one row
    texts = [huge, "a perfectly normal review", huge[:2001], "another normal review here"]
    raw = pa.table(
        {
            "row_id": [f"r{i}" for i in range(4)],
            "text": texts,
            "source_label": ["x"] * 4,
            "gold_label": ["x"] * 4,
        }
    )
    out, report = clean_table(raw, CleaningRules(max_chars=2000), tmp)
    assert out.num_rows == 2 and report.dropped["too_long"] == 2, report.dropped  # flagged, counted
    assert max(len(t) for t in out.column("text").to_pylist()) <= 2000


@case("dataset-nothing-left-after-cleaning", "dataset")
def _(tmp: Path, home: FootprintHome) -> None:
    from assets.corpus.cleaner import CleaningRules, clean_table
    from assets.corpus.errors import CorpusError

    raw = pa.table(
        {
            "row_id": ["a", "b", "c"],
            "text": ["", "  ", None],
            "source_label": ["x"] * 3,
            "gold_label": ["x"] * 3,
        }
    )
    with refused(CorpusError, "nothing left after cleaning 3 rows", "min_chars/max_chars"):
        clean_table(raw, CleaningRules(), tmp)


# -- annotations (parse_annotation never raises: it flags and the asset counts by reason) ---------------
def _parse(**raw: Any) -> Any:
    from labeling.sync import parse_annotation
    from labeling.tasks import choice_result

    body: dict[str, Any] = {
        "id": 7,
        "completed_by": 1,
        "lead_time": 12.0,
        "result": choice_result("positive"),
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:10Z",
    }
    body.update(raw)
    return parse_annotation(
        body,
        3,
        choices=["negative", "positive"],
        users={1: "alice"},
        idle_cap_s=300.0,
        max_lead_time_s=86_400.0,
    )


def _rejected(reason: str, **raw: Any) -> None:
    v = _parse(**raw)
    assert v.reject_reason == reason, (v.reject_reason, v.flags)
    assert f"rejected:{reason}" in v.flags and v.label is None  # never a label
    assert reason in __import__("labeling.sync", fromlist=["REJECT_REASONS"]).REJECT_REASONS  # tallied
    if "lead_time" in raw:
        assert v.active_s is None and v.lead_time_s is None  # no hours invented from a bad lead time
        assert "raw_lead_time=" in v.flags  # the raw value is kept for the audit


@case("annotation-lead-time-negative", "annotation")
def _(tmp: Path, home: FootprintHome) -> None:
    _rejected("negative_lead_time", lead_time=-5.0)


@case("annotation-lead-time-null", "annotation")
def _(tmp: Path, home: FootprintHome) -> None:
    _rejected("null_lead_time", lead_time=None)


@case("annotation-lead-time-absurd", "annotation")
def _(tmp: Path, home: FootprintHome) -> None:
    _rejected("huge_lead_time", lead_time=10 * 86_400.0)


@case("annotation-lead-time-not-a-number", "annotation")
def _(tmp: Path, home: FootprintHome) -> None:
    _rejected("bad_lead_time", lead_time="soon")
    _rejected("bad_lead_time", lead_time=math.inf)


@case("annotation-no-annotator", "annotation")
def _(tmp: Path, home: FootprintHome) -> None:
    _rejected("no_completed_by", completed_by=None)


@case("annotation-unknown-annotator-id", "annotation")
def _(tmp: Path, home: FootprintHome) -> None:
    v = _parse(completed_by=99)  # not a user the server listed: kept, attributed visibly, default rate
    assert v.annotator == "user-99" and v.reject_reason is None and v.active_s == 12.0


@case("annotation-unknown-choice", "annotation")
def _(tmp: Path, home: FootprintHome) -> None:
    from labeling.tasks import choice_result

    _rejected("choice_not_in_config", result=choice_result("maybe"))


@case("annotation-several-choices", "annotation")
def _(tmp: Path, home: FootprintHome) -> None:
    result = [
        {
            "from_name": "label",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": ["negative", "positive"]},
        }
    ]
    _rejected("multiple_choices", result=result)


@case("annotation-bad-timestamp", "annotation")
def _(tmp: Path, home: FootprintHome) -> None:
    _rejected("bad_timestamp", created_at="yesterday", updated_at=None)


@case("annotation-fact-negative-active-seconds", "annotation")
def _(tmp: Path, home: FootprintHome) -> None:
    from warehouse.facts import AnnotationWork, FactValidationError

    now = utcnow()
    with refused(FactValidationError, "AnnotationWork.active_s is negative (-5.0)"):
        FactBatch().add(AnnotationWork("m", 1, 1, "alice", "p", None, -5.0, 300.0, False, "x", "", now, now))


# -- configuration ----------------------------------------------------------------------------------------
@case("config-rate-negative", "configuration")
def _(tmp: Path, home: FootprintHome) -> None:
    from warehouse.ratecard import RateCardError, read_rate_card

    (tmp / "card.yaml").write_text("rates:\n  electricity_usd_per_kwh: {value: -0.1, source: s}\n")
    with refused(RateCardError, str(tmp / "card.yaml"), "rates.electricity_usd_per_kwh.value: must be >= 0"):
        read_rate_card(tmp / "card.yaml")


@case("config-rate-unknown-key-or-unit", "configuration")
def _(tmp: Path, home: FootprintHome) -> None:
    from warehouse.ratecard import RateCardError, read_rate_card

    (tmp / "typo.yaml").write_text("rates:\n  pue_typo: {value: 1.2, source: s}\n")
    with refused(RateCardError, "rates.pue_typo: unknown rate key"):
        read_rate_card(tmp / "typo.yaml")
    (tmp / "unit.yaml").write_text("rates:\n  pue: {value: 1.2, source: s, unit: W}\n")
    with refused(RateCardError, "rates.pue.unit"):
        read_rate_card(tmp / "unit.yaml")


@case("config-rate-card-path-missing", "configuration")
def _(tmp: Path, home: FootprintHome) -> None:
    from warehouse.ratecard import RateCardError, read_rate_card

    with refused(RateCardError, "file not found", "nope.yaml"):
        read_rate_card(tmp / "nope.yaml")


@case("config-rate-several-bad-values", "configuration")
def _(tmp: Path, home: FootprintHome) -> None:
    from warehouse.ratecard import RateCardError, read_rate_card

    (tmp / "card.yaml").write_text(
        "rates:\n  pue: {value: -1, source: s}\n  transfer_usd_per_gb: {value: cheap, source: s}\n"
    )
    with refused(
        RateCardError,
        "2 problems",
        "rates.pue.value: must be >= 0, got -1",
        "rates.transfer_usd_per_gb.value: must be a number, got 'cheap'",
    ):
        read_rate_card(tmp / "card.yaml")


@case("config-budget-zero-or-negative", "configuration")
def _(tmp: Path, home: FootprintHome) -> None:
    from assets.annotation.annotations import budget_check_result

    for budget in (0.0, -10.0):  # never "ok": a budget that cannot be met fails the check loudly
        check = budget_check_result(spent_usd=0.5, budget_usd=budget, warn_fraction=0.8)
        assert not check.passed and check.severity.value == "ERROR", (budget, check)


@case("config-model-heads-do-not-divide-hidden", "configuration")
def _(tmp: Path, home: FootprintHome) -> None:
    from training.config import ModelShape, TrainingConfigError

    with refused(TrainingConfigError, "num_heads=3 does not divide hidden_size=64"):
        ModelShape(hidden_size=64, num_heads=3).check(seq_len=32)


@case("config-model-seq-len-beyond-positions", "configuration")
def _(tmp: Path, home: FootprintHome) -> None:
    from training.config import ModelShape, TrainingConfigError

    with refused(TrainingConfigError, "seq_len=128 exceeds max_position_embeddings=64"):
        ModelShape(max_position_embeddings=64).check(seq_len=128)


@case("config-training-zero-steps", "configuration")
def _(tmp: Path, home: FootprintHome) -> None:
    from training.config import RunSpec, TrainingConfigError

    with refused(TrainingConfigError, "max_steps must be > 0"):
        RunSpec(task="pretrain", out_dir="x", corpus_path="x", max_steps=0).check()


@case("config-estimate-negative-hours", "configuration")
def _(tmp: Path, home: FootprintHome) -> None:
    from warehouse.estimate import EstimateInputError, estimate

    with refused(EstimateInputError, "hours"):
        estimate(devices=1, device_watts=100, hours=-1)


@case("config-heartbeat-not-positive", "configuration")
def _(tmp: Path, home: FootprintHome) -> None:
    from metering.errors import MeterError
    from metering.recorder import MaterializationRecorder

    with refused(MeterError, "heartbeat_s must be > 0 seconds, got 0"):
        MaterializationRecorder(home, asset_key="a", run_id="r", heartbeat_s=0)


@case("config-window-role-unknown", "configuration")
def _(tmp: Path, home: FootprintHome) -> None:
    from metering.errors import MeterError
    from metering.recorder import MaterializationRecorder

    with refused(MeterError, "window role 'boss' is not one of", "'step'"):
        MaterializationRecorder(home, asset_key="a", run_id="r", role="boss")


@case("config-footprint-home-is-a-file", "configuration")
def _(tmp: Path, home: FootprintHome) -> None:
    (tmp / "home-file").write_text("not a directory")
    with refused(OSError, str(tmp / "home-file")):
        FootprintHome.resolve(tmp / "home-file").ensure()


# -- NVML (fakes autospec'd from pynvml: no GPU needed) --------------------------------------------------
def _gpu_rows(
    tmp: Path, home: FootprintHome, gpus: list[Any], *, library: bool = True, lose: bool = False
) -> Any:
    """The GPU device intervals of a ledger tick with one window open (this process), the fake NVML
    holding `gpus` (and a /dev/nvidia0 node); `lose`: every GPU falls off the bus before the tick."""
    from metering.ledger import Ledger
    from metering.nvml import GpuReader
    from metering.nvml_fake import FakeNvml, autospec_nvml

    (tmp / "dev").mkdir(exist_ok=True)
    (tmp / "dev" / "nvidia0").touch()
    (tmp / "powercap").mkdir(exist_ok=True)
    reader = GpuReader(autospec_nvml(FakeNvml(gpus, library=library)), dev_root=tmp / "dev")
    ledger = Ledger(home, powercap=tmp / "powercap", gpus=reader)
    wid, _ = ledger.open(materialization_id="m", role="step", name="s")
    for g in gpus:
        g.lost = lose
    out = ledger.tick()
    ledger.close(wid)
    assert out is not None
    return out.batch.rows["device_interval"], out.batch.rows["window_usage"]


def _gpu(devices: Any) -> Any:
    return [d for d in devices if d["device_kind"] == "gpu"]


@case("nvml-library-missing", "nvml")
def _(tmp: Path, home: FootprintHome) -> None:
    [d] = _gpu(_gpu_rows(tmp, home, [], library=False)[0])
    assert (d["method"], d["energy_j"]) == ("unavailable", None) and "LibraryNotFound" in d["note"]


@case("nvml-power-not-supported", "nvml")
def _(tmp: Path, home: FootprintHome) -> None:
    from metering.nvml_fake import FakeGpu

    [d] = _gpu(_gpu_rows(tmp, home, [FakeGpu(counter=False, power_supported=False)])[0])
    assert (d["method"], d["energy_j"]) == ("unavailable", None) and "neither" in d["note"]


@case("nvml-gpu-lost-mid-window", "nvml")
def _(tmp: Path, home: FootprintHome) -> None:
    from metering.nvml_fake import FakeGpu

    [d] = _gpu(_gpu_rows(tmp, home, [FakeGpu(power_w=100.0)], lose=True)[0])
    assert (d["method"], d["energy_j"]) == ("unavailable", None) and "GPU lost" in d["note"]


@case("nvml-handle-refused", "nvml")
def _(tmp: Path, home: FootprintHome) -> None:
    from metering.nvml_fake import FakeGpu

    ok, refused_gpu = _gpu(_gpu_rows(tmp, home, [FakeGpu(), FakeGpu(refuse_handle=True)])[0])
    assert ok["method"] == "measured"
    assert (refused_gpu["method"], refused_gpu["device_uuid"]) == ("unavailable", None)
    assert "NoPermission" in refused_gpu["note"]


@case("nvml-process-list-fails", "nvml")
def _(tmp: Path, home: FootprintHome) -> None:
    from metering.nvml_fake import FakeGpu

    devices, usage = _gpu_rows(tmp, home, [FakeGpu(process_list_fails=True)])
    [d] = _gpu(devices)
    assert (d["split"], d["busy"]) == ("unknown", None) and "process list" in d["note"]
    assert [u["use"] for u in usage if u["device_kind"] == "gpu"] == [None]  # unknown, never 0


# -- measurements -----------------------------------------------------------------------------------------
@case("fact-negative-duration", "measurement")
def _(tmp: Path, home: FootprintHome) -> None:
    from warehouse.facts import FactValidationError

    with refused(FactValidationError, "Transfer.duration_s is negative (-1.0)"):
        FactBatch().add(Transfer("m", 10, -1.0, "read", "file", "local", utcnow()))  # type: ignore[arg-type]


@case("fact-energy-with-unavailable-method", "measurement")
def _(tmp: Path, home: FootprintHome) -> None:
    from warehouse.facts import DeviceInterval, FactValidationError

    now = utcnow()
    interval = DeviceInterval(
        "t", "h", "gpu", 0, "g", now, now, 1.0, "device_s", 1.0, None, "unknown", 0.0, "unavailable", "nvml"
    )
    with refused(FactValidationError, "energy_j is given exactly when method='measured'"):
        FactBatch().add(interval)


# -- warehouse --------------------------------------------------------------------------------------------


@case("warehouse-locked", "warehouse")
def _(tmp: Path, home: FootprintHome) -> None:
    from warehouse.connection import WarehouseLockedError
    from warehouse.loader import sync, try_sync

    sync(home)
    with hold_warehouse(home.warehouse_path):
        _batch(home, "m-locked")
        with refused(WarehouseLockedError, str(home.warehouse_path), "locked by another process", "pending"):
            sync(home, wait_s=0.2)
        res = try_sync(home, wait_s=0.1)  # what a step does: never fails, the facts stay pending
        assert res.locked and res.pending_left == 1
    assert sync(home).loaded_batches == 1


@case("warehouse-missing", "warehouse")
def _(tmp: Path, home: FootprintHome) -> None:
    from warehouse.connection import WarehouseMissingError, connect

    with refused(WarehouseMissingError, str(home.warehouse_path), "footprint sync"):
        connect(home, read_only=True)


@case("warehouse-file-corrupt", "warehouse")
def _(tmp: Path, home: FootprintHome) -> None:
    from warehouse.connection import WarehouseError, connect

    home.warehouse_path.write_bytes(b"\x00garbage, not a DuckDB file" * 1000)
    with refused(WarehouseError, str(home.warehouse_path)):
        connect(home, read_only=True).close()


def _batch(home: FootprintHome, mid: str) -> Path:
    from warehouse.batches import write_batch

    now = utcnow()
    path = write_batch(home, FactBatch().add(Materialization(mid, "r", "a", now, host="h")))
    assert path is not None
    return path


def _quarantined(home: FootprintHome, batch: Path, needle: str) -> None:
    """sync quarantines `batch` naming `needle`, loads nothing of it, and the good batch beside it."""
    from tests.reliability.helpers import rows
    from warehouse.loader import sync

    good = _batch(home, "m-good")
    res = sync(home)
    assert batch.name in res.quarantined and needle in res.quarantined[batch.name], res.quarantined
    assert needle in (home.quarantine_dir / batch.name / "REASON.txt").read_text()
    assert rows(home, "SELECT reason FROM quarantined_batch WHERE batch_id = ?", [batch.name])
    assert rows(home, "SELECT count(*) FROM loaded_batch WHERE batch_id = ?", [batch.name]) == [(0,)]
    assert rows(home, "SELECT count(*) FROM loaded_batch WHERE batch_id = ?", [good.name]) == [(1,)]


@case("batch-manifest-missing", "warehouse")
def _(tmp: Path, home: FootprintHome) -> None:
    b = _batch(home, "m-a")
    (b / "MANIFEST").unlink()
    _quarantined(home, b, "MANIFEST missing")


@case("batch-row-count-disagrees", "warehouse")
def _(tmp: Path, home: FootprintHome) -> None:
    b = _batch(home, "m-a")
    (b / "MANIFEST").write_text("materialization\t5\n")
    _quarantined(home, b, "materialization.parquet has 1 rows, MANIFEST says 5")


@case("batch-truncated-file", "warehouse")
def _(tmp: Path, home: FootprintHome) -> None:
    b = _batch(home, "m-a")
    f = b / "materialization.parquet"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    _quarantined(home, b, "materialization.parquet is unreadable")


@case("batch-wrong-schema", "warehouse")
def _(tmp: Path, home: FootprintHome) -> None:
    b = _batch(home, "m-a")
    pq.write_table(pa.table({"fact_id": ["x"], "batch_id": [b.name]}), b / "materialization.parquet")
    _quarantined(home, b, "does not match the materialization fact schema")


@case("batch-copied-under-another-name", "warehouse")
def _(tmp: Path, home: FootprintHome) -> None:
    b = _batch(home, "m-a")
    copy = b.with_name(b.name + "-copy")
    shutil.copytree(b, copy)
    _quarantined(home, copy, "holds facts of batch")


@case("batch-duplicate-materialization", "warehouse")
def _(tmp: Path, home: FootprintHome) -> None:
    from warehouse.loader import sync

    _batch(home, "m-twice")
    sync(home)
    again = _batch(home, "m-twice")  # a second 'begin' for one id: the primary key refuses it
    _quarantined(home, again, "load failed")


@case("sql-write-attempt", "warehouse")
def _(tmp: Path, home: FootprintHome) -> None:
    from warehouse.cli.errors import CliError
    from warehouse.cli.sql import read_only_statements

    with refused(CliError, "read-only"):
        read_only_statements("DELETE FROM materialization")


# -- the tests ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", CASES, ids=[c.id for c in CASES])
def test_bad_input(entry: Case, tmp_path: Path, home: FootprintHome) -> None:
    work = tmp_path / "case"
    work.mkdir()
    entry.check(work, home)


def test_catalogue_is_broad_and_documented() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case id"
    assert len(CASES) >= 20, f"only {len(CASES)} bad inputs"
    areas = {c.area for c in CASES}
    assert {"dataset", "annotation", "configuration", "nvml", "warehouse"} <= areas, areas
    doc = DOC.read_text(encoding="utf-8")
    undocumented = [i for i in ids if f"`{i}`" not in doc]
    assert not undocumented, f"docs/reliability.md lacks rows for {undocumented}"
    summary = json.dumps({a: sum(c.area == a for c in CASES) for a in sorted(areas)})
    assert f"{len(CASES)} bad inputs" in doc, f"docs/reliability.md must state the count ({summary})"
