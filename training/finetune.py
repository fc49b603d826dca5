"""Fine-tuning a sequence classifier with transformers' Trainer from the pretrained checkpoint it was
GIVEN (the pretrained_model handle's path, never "the newest file"), on the annotations, over the
classes of the annotation stage (RunSpec.choices), evaluated on the held-out eval split every
`eval_steps` during training and scored on it at the end."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from training.arguments import training_arguments
from training.config import RunSpec, TrainingConfigError
from training.counting import BatchCounter
from training.data import LabelledSet, finetune_inputs
from training.dist import Dist
from training.fit import Log, fit
from training.metrics import compute_metrics_for, prediction_scores
from training.result import RunResult
from training.save import run_result, save_final, weights_sha256


def _load(spec: RunSpec) -> tuple[Any, Any]:
    """Tokenizer and classifier: from the given checkpoint, or (resuming) from the attempt before."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

    source = spec.resume_from or spec.init_checkpoint
    choices = list(spec.choices)
    tok = AutoTokenizer.from_pretrained(source)
    set_seed(spec.seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        source,
        num_labels=len(choices),
        id2label=dict(enumerate(choices)),
        label2id={c: i for i, c in enumerate(choices)},
    )
    max_pos = int(getattr(model.config, "max_position_embeddings", spec.seq_len))
    if spec.seq_len > max_pos:
        raise TrainingConfigError(
            f"seq_len={spec.seq_len} exceeds the checkpoint's max_position_embeddings={max_pos}"
        )
    return tok, model


class Encoded(Dataset):  # type: ignore[type-arg]
    """Token ids and class index of each labelled text (the collator pads each batch)."""

    def __init__(self, tok: Any, data: LabelledSet, seq_len: int) -> None:
        enc = tok(list(data.texts), truncation=True, max_length=seq_len)
        self.rows = [
            {"input_ids": ids, "attention_mask": mask, "labels": label}
            for ids, mask, label in zip(enc["input_ids"], enc["attention_mask"], data.labels, strict=True)
        ]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


def run(
    spec: RunSpec, dist: Dist, log: Log, *, callbacks: Sequence[Any] = (), counter: BatchCounter | None = None
) -> RunResult:
    from transformers import DataCollatorWithPadding, Trainer

    t_start = time.perf_counter()
    out_dir = Path(spec.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train_set, eval_data = finetune_inputs(spec)
    read_s = time.perf_counter() - t0
    tok, model = _load(spec)
    init_sha = weights_sha256(Path(spec.init_checkpoint))
    args = training_arguments(spec, dist, evaluate=True)
    eval_rows = Encoded(tok, eval_data, spec.seq_len)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Encoded(tok, train_set, spec.seq_len),
        eval_dataset=eval_rows,
        data_collator=DataCollatorWithPadding(tok),
        processing_class=tok,
        compute_metrics=compute_metrics_for(spec.choices),
        callbacks=list(callbacks),
    )
    log(
        f"fine-tuning from {spec.init_checkpoint}: {len(train_set.labels)} labelled "
        f"({train_set.class_counts()}), {len(eval_data.texts)} eval, "
        f"{dist.world_size} rank(s) on {dist.device}"
        + (f", resuming from {spec.resume_from}" if spec.resume_from else "")
    )
    counter = counter or BatchCounter()
    stats = fit(trainer, dist=dist, counter=counter, resume_from=spec.resume_from, log=log, what="finetune")
    # the final figures: every rank predicts its share, Trainer gathers them (a collective)
    predicted = trainer.predict(eval_rows)
    metrics: dict[str, Any] = {}
    if dist.rank == 0:
        scores = prediction_scores(predicted, spec.choices)
        metrics = {"rows": [list(r) for r in scores.named()], "n_eval": scores.n_eval}
        log(f"eval: accuracy {scores.accuracy:.3f}, macro F1 {scores.f1_macro:.3f} on {scores.n_eval} rows")
    saved = save_final(trainer, out_dir, stats, dist, title="fine-tuning loss")
    return run_result(
        "finetune",
        out_dir,
        dist,
        stats,
        saved,
        model=model,
        started_s=t_start,
        read=(Path(spec.annotations_path).stat().st_size + Path(spec.corpus_path).stat().st_size, read_s),
        resumed_from=spec.resume_from,
        metrics=metrics,
        init_checkpoint=spec.init_checkpoint,
        init_weights_sha256=init_sha,
        n_train=len(train_set.labels),
        n_eval=len(eval_data.texts),
    )
