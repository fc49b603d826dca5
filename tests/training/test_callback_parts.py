"""The parts FootprintCallback is made of, in process: which materialization a process belongs to,
the batch counter (training batches only, tokens without padding), and the background fact writer."""

from __future__ import annotations

import pytest
import torch
from dagster_pipes import encode_param

from metering.cli import ENV_MATERIALIZATION_ID, ENV_WINDOW_ID
from training.counting import BatchCounter
from training.fact_writer import FactWriter
from training.meter_target import find_target
from warehouse.batches import pending_batches
from warehouse.facts import TrainingProgress, utcnow
from warehouse.home import ENV_HOME, FootprintHome


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (ENV_HOME, ENV_MATERIALIZATION_ID, ENV_WINDOW_ID, "DAGSTER_PIPES_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_no_materialization_no_target(bare_env: pytest.MonkeyPatch) -> None:
    assert find_target() is None


def test_footprint_meter_environment(bare_env: pytest.MonkeyPatch, tmp_path: object) -> None:
    bare_env.setenv(ENV_HOME, str(tmp_path))
    bare_env.setenv(ENV_MATERIALIZATION_ID, "m-meter")
    bare_env.setenv(ENV_WINDOW_ID, "w-meter")
    target = find_target()
    assert target is not None and (target.materialization_id, target.source) == ("m-meter", "footprint meter")
    assert target.home == FootprintHome.resolve(str(tmp_path)) and target.parent_window_id == "w-meter"


def test_pipes_extras_come_first(bare_env: pytest.MonkeyPatch, tmp_path: object) -> None:
    bare_env.setenv(ENV_HOME, "/elsewhere")
    bare_env.setenv(ENV_MATERIALIZATION_ID, "m-meter")
    extras = {"materialization_id": "m-pipes", "footprint_home": str(tmp_path), "heartbeat_s": 2.5}
    bare_env.setenv("DAGSTER_PIPES_CONTEXT", encode_param({"data": {"extras": extras}}))
    target = find_target()
    assert target is not None and (target.materialization_id, target.source) == ("m-pipes", "pipes")
    assert target.heartbeat_s == 2.5 and target.home == FootprintHome.resolve(str(tmp_path))


def test_the_counter_sees_training_batches_only() -> None:
    model = torch.nn.Module()
    model.forward = lambda input_ids, attention_mask=None: None  # type: ignore[method-assign,assignment]
    counter = BatchCounter().attach(model)
    ids = torch.ones(4, 6, dtype=torch.long)
    mask = torch.tensor([[1] * 6, [1] * 3 + [0] * 3, [1] * 2 + [0] * 4, [1] * 6])
    model.train()
    model(input_ids=ids, attention_mask=mask)
    model(input_ids=ids[:2], attention_mask=mask[:2])
    model.eval()
    model(input_ids=ids, attention_mask=mask)  # evaluation: not counted
    counts = counter.read()
    assert (counts.samples, counts.tokens, counts.padded_tokens) == (6, 17 + 9, 24 + 12)
    counter.detach()
    model.train()
    model(input_ids=ids, attention_mask=mask)
    assert counter.read().samples == 6, "detached"


def test_the_fact_writer_publishes_and_retries(home: FootprintHome, monkeypatch: pytest.MonkeyPatch) -> None:
    import training.fact_writer as fw

    real, calls = fw.write_batch, []

    def flaky(h: FootprintHome, batch: object) -> object:
        calls.append(batch)
        if len(calls) == 1:
            raise OSError("disk full")
        return real(h, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(fw, "write_batch", flaky)
    writer = FactWriter(home)
    facts = [TrainingProgress("m", "w", 0, s, s * 8, s * 80, utcnow()) for s in (5, 10)]
    writer.put(*facts)
    assert writer.close(timeout_s=30)
    [batch] = pending_batches(home)
    assert (batch / "training_progress.parquet").is_file() and len(calls) == 2, "kept and written once"
