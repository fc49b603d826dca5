"""`FootprintCallback`: a Hugging Face `TrainerCallback` that puts a training run into the ledger.

    from training.callback import FootprintCallback
    trainer = Trainer(model=model, args=args, ..., callbacks=[FootprintCallback()])

Each process (each torchrun rank) opens its own meter window in the host ledger (role 'rank',
training/rank_meter.py), nested in the window it runs in (the Dagster step, or `footprint meter`), and
heartbeats it; or adopts a window opened earlier (training.entry opens it before importing torch, so
that the imports are the rank's). It records, as fact batches tied to the materialization:
- `TrainingProgress` of this rank (global step, samples and non-padding tokens of this attempt,
  epoch, last logged loss) when training begins (a resumed run: the step it resumed at), at every
  log step and when training ends, so a killed run keeps what it did;
- every evaluation's figures as `QualityMetric(step=global_step)` (world process 0 only): key
  `eval_<name>` -> name, `eval_<name>/<label>` -> name + label (training/metrics.parse_metric_key),
  e.g. "eval_f1_macro" -> f1_macro, "eval_f1/positive" -> f1 of class "positive"; timings are left out.
Which materialization: the arguments, else the Dagster Pipes extras, else `footprint meter`'s
environment (training/meter_target.py). With none, training goes on and the callback warns once
(`NotMeteredWarning`) and writes nothing.

Its own cost is small: samples and tokens are counted by a forward pre-hook (training/counting.py,
no per-step sync), facts are written by a background thread at log steps (training/fact_writer.py),
and nothing is gathered across ranks.
"""

from __future__ import annotations

import atexit
import logging
import warnings
from typing import Any

from transformers import TrainerCallback

from metering.errors import MeterError
from metering.window import DEFAULT_HEARTBEAT_S, Window
from training.counting import BatchCounter
from training.fact_writer import FactWriter
from training.meter_target import MeterTarget, find_target
from training.metrics import parse_metric_key
from training.rank_meter import open_rank_window
from warehouse.facts import QualityMetric, TrainingProgress, utcnow
from warehouse.home import FootprintHome

log = logging.getLogger(__name__)


class NotMeteredWarning(UserWarning):
    """The run is not tied to any materialization: nothing is recorded."""


class FootprintCallback(TrainerCallback):  # type: ignore[misc]
    def __init__(
        self,
        *,
        materialization_id: str | None = None,
        home: FootprintHome | str | None = None,
        window: Window | None = None,
        heartbeat_s: float | None = None,
        counter: BatchCounter | None = None,
    ) -> None:
        """All optional: by default the materialization is found (Pipes, then `footprint meter`).
        `window`: a rank window already open (adopted: its opener closes it). `counter`: a
        BatchCounter the caller attaches to the model itself (shared with its own figures)."""
        if (materialization_id is None) != (home is None):
            raise ValueError("give both materialization_id and home, or neither")
        if window is not None and materialization_id is None:
            raise ValueError("an adopted window needs its materialization_id and home")
        self._given: MeterTarget | None = None
        if materialization_id is not None and home is not None:
            where = home if isinstance(home, FootprintHome) else FootprintHome.resolve(home)
            self._given = MeterTarget(where, materialization_id, "given", heartbeat_s or DEFAULT_HEARTBEAT_S)
        self._heartbeat_s = heartbeat_s
        self.window = window
        self._owns_window = False
        self.target: MeterTarget | None = None
        self._resolved = False
        self._writer: FactWriter | None = None
        self._own_counter = counter is None
        self.counter = counter or BatchCounter()
        self._rank = 0
        self._last_loss: float | None = None

    # -- binding ------------------------------------------------------------------------------------
    @property
    def metered(self) -> bool:
        return self.target is not None

    def _bind(self, args: Any) -> None:
        """Find the materialization and open (or adopt) this rank's window, once."""
        if self._resolved:
            return
        self._resolved = True
        self._rank = int(getattr(args, "process_index", 0))
        target = self._given or find_target()
        if target is None:
            warnings.warn(
                "FootprintCallback: this run is not metered (no Dagster Pipes materialization and not "
                "under `footprint meter`); training goes on and nothing is recorded",
                NotMeteredWarning,
                stacklevel=2,
            )
            return
        if self.window is None:
            try:
                self.window = open_rank_window(
                    target.home,
                    materialization_id=target.materialization_id,
                    rank=self._rank,
                    heartbeat_s=self._heartbeat_s or target.heartbeat_s,
                )
            except (MeterError, OSError) as err:
                warnings.warn(
                    f"FootprintCallback: could not open the meter window ({err}); training goes on "
                    "and nothing is recorded",
                    NotMeteredWarning,
                    stacklevel=2,
                )
                return
            self._owns_window = True
        self.target = target
        self._writer = FactWriter(target.home)
        atexit.register(self.close)

    def close(self) -> None:
        """Publish what is queued and close the window if this callback opened it (also at exit)."""
        if self._writer is not None and not self._writer.close():
            log.warning("FootprintCallback: some training facts were not written in time")
        if self._owns_window and self.window is not None:
            self.window.close()

    # -- facts --------------------------------------------------------------------------------------
    def _progress(self, state: Any) -> None:
        if self.target is None or self._writer is None:
            return
        counts = self.counter.read()
        self._writer.put(
            TrainingProgress(
                materialization_id=self.target.materialization_id,
                window_id=self.window.window_id if self.window is not None else None,
                rank=self._rank,
                step=int(state.global_step),
                samples=counts.samples,
                tokens=counts.tokens,
                recorded_at=utcnow(),
                epoch=None if state.epoch is None else float(state.epoch),
                loss=self._last_loss,
            )
        )

    # -- Trainer events -----------------------------------------------------------------------------
    def on_init_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._bind(args)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._bind(args)
        if self._own_counter and kwargs.get("model") is not None:
            self.counter.attach(kwargs["model"])
        self._progress(state)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self._last_loss = float(logs["loss"])
            self._progress(state)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any) -> None:
        if self.target is None or self._writer is None or not state.is_world_process_zero:
            return
        rows = []
        for key, value in (metrics or {}).items():
            parsed = parse_metric_key(key)
            if parsed is None or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            split, name, label = parsed
            rows.append(
                QualityMetric(
                    self.target.materialization_id, name, float(value), split, label, int(state.global_step)
                )
            )
        if rows:
            self._writer.put(*rows)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._progress(state)
        if self._own_counter:
            self.counter.detach()
        if self._writer is not None:
            self._writer.flush()
