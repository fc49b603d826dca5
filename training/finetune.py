"""Fine-tuning a sequence classifier from the pretrained checkpoint it was GIVEN (the pretrained_model
handle's path, never "the newest file"), on the annotations, scored on the held-out eval split."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from training.config import RunSpec, TrainingConfigError
from training.data import LabelledSet, finetune_inputs
from training.loop import Dist, Log, cycling_batches, shard_indices, train, unwrap
from training.metrics import ClassificationScores, classification_scores
from training.result import RunResult
from training.save import run_result, save_checkpoint, weights_sha256

EVAL_BATCH = 64


def _load(spec: RunSpec) -> tuple[Any, Any]:
    from transformers import AutoTokenizer, BertForSequenceClassification

    choices = list(spec.choices)
    tok = AutoTokenizer.from_pretrained(spec.init_checkpoint)
    torch.manual_seed(spec.seed)
    model = BertForSequenceClassification.from_pretrained(
        spec.init_checkpoint,
        num_labels=len(choices),
        id2label=dict(enumerate(choices)),
        label2id={c: i for i, c in enumerate(choices)},
    )
    max_pos = int(model.config.max_position_embeddings)
    if spec.seq_len > max_pos:
        raise TrainingConfigError(
            f"seq_len={spec.seq_len} exceeds the checkpoint's max_position_embeddings={max_pos}"
        )
    return tok, model


@torch.no_grad()
def evaluate(model: Any, tok: Any, data: LabelledSet, seq_len: int, device: str) -> ClassificationScores:
    model.eval()
    pred: list[int] = []
    for i in range(0, len(data.texts), EVAL_BATCH):
        enc = tok(
            data.texts[i : i + EVAL_BATCH],
            truncation=True,
            max_length=seq_len,
            padding=True,
            return_tensors="pt",
        )
        logits = model(**{k: v.to(device) for k, v in enc.items() if k != "token_type_ids"}).logits
        pred += logits.argmax(-1).tolist()
    return classification_scores(data.labels, pred, data.choices)


def run(spec: RunSpec, dist: Dist, log: Log) -> RunResult:
    t_start = time.perf_counter()
    out_dir = Path(spec.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train_set, eval_data = finetune_inputs(spec)
    read_s = time.perf_counter() - t0
    tok, model = _load(spec)
    init_sha = weights_sha256(Path(spec.init_checkpoint))
    enc = tok(
        train_set.texts, truncation=True, max_length=spec.seq_len, padding="max_length", return_tensors="pt"
    )
    ids, attention = enc["input_ids"], enc["attention_mask"]
    labels = torch.tensor(train_set.labels)
    pick = cycling_batches(
        shard_indices(len(labels), dist, spec.seed), spec.batch_size, spec.seed + dist.rank
    )

    def make_batch(step: int) -> dict[str, torch.Tensor]:
        idx = pick(step)
        return {"input_ids": ids[idx], "attention_mask": attention[idx], "labels": labels[idx]}

    log(
        f"fine-tuning from {spec.init_checkpoint}: {len(labels)} labelled ({train_set.class_counts()}), "
        f"{len(eval_data.texts)} eval, {dist.world_size} rank(s) on {dist.device}"
    )
    stats = train(
        model,
        make_batch,
        dist=dist,
        max_steps=spec.max_steps,
        learning_rate=spec.learning_rate,
        log_every_steps=spec.log_every_steps,
        log=log,
        what="finetune",
    )
    inner = unwrap(model)
    metrics: dict[str, Any] = {}
    if dist.rank == 0:
        scores = evaluate(inner, tok, eval_data, spec.seq_len, dist.device)
        metrics = {"rows": [list(r) for r in scores.named()], "n_eval": scores.n_eval}
        log(f"eval: accuracy {scores.accuracy:.3f}, macro F1 {scores.f1_macro:.3f} on {scores.n_eval} rows")
    saved = save_checkpoint(inner, tok, out_dir, stats, dist, title="fine-tuning loss")
    return run_result(
        "finetune",
        out_dir,
        dist,
        stats,
        saved,
        model=inner,
        started_s=t_start,
        read=(Path(spec.annotations_path).stat().st_size + Path(spec.corpus_path).stat().st_size, read_s),
        metrics=metrics,
        init_checkpoint=spec.init_checkpoint,
        init_weights_sha256=init_sha,
        n_train=len(labels),
        n_eval=len(eval_data.texts),
    )
