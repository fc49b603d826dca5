"""Masked-language-model pretraining of a BERT-style encoder with transformers' Trainer: from scratch
(WordPiece tokenizer trained on the corpus' train split) or initialised from a named hub checkpoint.
Masking: `DataCollatorForLanguageModeling` (RunSpec.mlm_probability of the non-special tokens are
predicted; of those 80 % become [MASK], 10 % a random token, 10 % stay)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from training.arguments import training_arguments
from training.config import RunSpec, TrainingConfigError
from training.counting import BatchCounter
from training.data import pretrain_texts
from training.dist import Dist, barrier
from training.fit import Log, fit
from training.result import RunResult
from training.save import run_result, save_final

TOKENIZER_DIR = "tokenizer"


def _from_hub(spec: RunSpec) -> tuple[Any, Any]:
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(spec.init_from)
        return tok, AutoModelForMaskedLM.from_pretrained(spec.init_from)
    except (OSError, ValueError) as err:
        raise TrainingConfigError(
            f"could not load hub checkpoint {spec.init_from!r}: {err}. Check the name and network, "
            "or leave init_from empty to train from scratch"
        ) from err


def _from_scratch(spec: RunSpec, texts: list[str], dist: Dist) -> tuple[Any, Any]:
    """Rank 0 trains the tokenizer and saves it beside the checkpoints (a resumed attempt reads it
    from its checkpoint); every rank loads it and builds the same seeded model."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, set_seed

    tok_dir = Path(spec.checkpoint_dir or spec.out_dir) / TOKENIZER_DIR
    if dist.rank == 0:
        from training.tokenizer import train_wordpiece

        train_wordpiece(texts, spec.shape.vocab_size).save_pretrained(tok_dir)
    barrier(dist)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    if not spec.checkpoint_dir:  # staged in out_dir: the final save writes it again with the model
        barrier(dist)
        if dist.rank == 0:
            shutil.rmtree(tok_dir, ignore_errors=True)
    s = spec.shape
    set_seed(spec.seed)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=s.hidden_size,
        num_hidden_layers=s.num_layers,
        num_attention_heads=s.num_heads,
        intermediate_size=s.intermediate_size,
        max_position_embeddings=s.max_position_embeddings,
        pad_token_id=tok.pad_token_id,
    )
    return tok, BertForMaskedLM(config)


def _tokenizer_and_model(spec: RunSpec, texts: list[str], dist: Dist) -> tuple[Any, Any]:
    if spec.resume_from:  # the attempt before this one saved both (model weights: Trainer reloads them)
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        return AutoTokenizer.from_pretrained(spec.resume_from), AutoModelForMaskedLM.from_pretrained(
            spec.resume_from
        )
    if spec.init_from:
        return _from_hub(spec)
    return _from_scratch(spec, texts, dist)


class TokenizedTexts(Dataset):  # type: ignore[type-arg]
    """Token ids of each text (truncated to seq_len, not padded: the collator pads each batch)."""

    def __init__(self, tok: Any, texts: Sequence[str], seq_len: int) -> None:
        enc = tok(list(texts), truncation=True, max_length=seq_len, return_special_tokens_mask=True)
        keep = ("input_ids", "attention_mask", "special_tokens_mask")
        columns = zip(*(enc[k] for k in keep), strict=True)
        self.rows = [dict(zip(keep, values, strict=True)) for values in columns]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.rows[i]


def run(
    spec: RunSpec, dist: Dist, log: Log, *, callbacks: Sequence[Any] = (), counter: BatchCounter | None = None
) -> RunResult:
    from transformers import DataCollatorForLanguageModeling, Trainer

    t_start = time.perf_counter()
    out_dir = Path(spec.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    texts = pretrain_texts(spec.corpus_path)
    read_s = time.perf_counter() - t0
    tok, model = _tokenizer_and_model(spec, texts, dist)
    max_pos = int(getattr(model.config, "max_position_embeddings", spec.seq_len))
    if spec.seq_len > max_pos:
        raise TrainingConfigError(
            f"seq_len={spec.seq_len} exceeds the model's max_position_embeddings={max_pos}"
        )
    args = training_arguments(spec, dist, evaluate=False)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=TokenizedTexts(tok, texts, spec.seq_len),
        data_collator=DataCollatorForLanguageModeling(tok, mlm_probability=spec.mlm_probability),
        processing_class=tok,
        callbacks=list(callbacks),
    )
    log(
        f"pretraining: {len(texts)} train texts, {sum(p.numel() for p in model.parameters())} params, "
        f"{dist.world_size} rank(s) on {dist.device}"
        + (f", resuming from {spec.resume_from}" if spec.resume_from else "")
    )
    counter = counter or BatchCounter()
    stats = fit(trainer, dist=dist, counter=counter, resume_from=spec.resume_from, log=log, what="pretrain")
    saved = save_final(trainer, out_dir, stats, dist, title="MLM pretraining loss")
    return run_result(
        "pretrain",
        out_dir,
        dist,
        stats,
        saved,
        model=model,
        started_s=t_start,
        read=(Path(spec.corpus_path).stat().st_size, read_s),
        resumed_from=spec.resume_from,
        init_checkpoint=spec.init_from,
        n_train=len(texts),
    )
