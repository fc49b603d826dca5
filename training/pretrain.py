"""Masked-language-model pretraining of a BERT-style encoder: from scratch (WordPiece tokenizer trained on
the corpus' train split) or initialised from a named hub checkpoint."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from training.config import RunSpec, TrainingConfigError
from training.data import pretrain_texts
from training.loop import Dist, Log, cycling_batches, shard_indices, train, unwrap
from training.result import RunResult
from training.save import run_result, save_checkpoint

MLM_PROBABILITY = 0.15


def mask_tokens(
    ids: torch.Tensor, special: torch.Tensor, *, mask_id: int, vocab_size: int, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: 15 % of the non-special tokens are predicted; of those 80 % become [MASK], 10 % a
    random token, 10 % stay. Returns (inputs, labels) with labels -100 where nothing is predicted."""
    prob = torch.full(ids.shape, MLM_PROBABILITY)
    prob[special] = 0.0
    chosen = torch.bernoulli(prob, generator=g).bool()
    if not chosen.any():  # a whole batch without a target would give a NaN loss
        candidates = (~special).nonzero()
        if len(candidates):
            r, c = candidates[0].tolist()
            chosen[r, c] = True
    labels = ids.clone()
    labels[~chosen] = -100
    inputs = ids.clone()
    to_mask = torch.bernoulli(torch.full(ids.shape, 0.8), generator=g).bool() & chosen
    inputs[to_mask] = mask_id
    to_random = torch.bernoulli(torch.full(ids.shape, 0.5), generator=g).bool() & chosen & ~to_mask
    inputs[to_random] = torch.randint(vocab_size, ids.shape, generator=g)[to_random]
    return inputs, labels


def _tokenizer_and_model(spec: RunSpec, texts: list[str], dist: Dist, out_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForMaskedLM, AutoTokenizer, BertConfig, BertForMaskedLM

    if spec.init_from:
        try:
            tok = AutoTokenizer.from_pretrained(spec.init_from)
            model = AutoModelForMaskedLM.from_pretrained(spec.init_from)
        except (OSError, ValueError) as err:
            raise TrainingConfigError(
                f"could not load hub checkpoint {spec.init_from!r}: {err}. Check the name and network, "
                "or leave init_from empty to train from scratch"
            ) from err
        return tok, model
    tok_dir = out_dir / "tokenizer-staging"
    if dist.rank == 0:
        from training.tokenizer import train_wordpiece

        train_wordpiece(texts, spec.shape.vocab_size).save_pretrained(tok_dir)
    if dist.world_size > 1:
        torch.distributed.barrier()
    tok = AutoTokenizer.from_pretrained(tok_dir)
    s = spec.shape
    torch.manual_seed(spec.seed)
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


def run(spec: RunSpec, dist: Dist, log: Log) -> RunResult:
    t_start = time.perf_counter()
    out_dir = Path(spec.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    texts = pretrain_texts(spec.corpus_path)
    read_s = time.perf_counter() - t0
    tok, model = _tokenizer_and_model(spec, texts, dist, out_dir)
    max_pos = int(getattr(model.config, "max_position_embeddings", spec.seq_len))
    if spec.seq_len > max_pos:
        raise TrainingConfigError(
            f"seq_len={spec.seq_len} exceeds the model's max_position_embeddings={max_pos}"
        )
    enc = tok(texts, truncation=True, max_length=spec.seq_len, padding="max_length", return_tensors="pt")
    ids, attention = enc["input_ids"], enc["attention_mask"]
    special = torch.tensor(
        [tok.get_special_tokens_mask(row, already_has_special_tokens=True) for row in ids.tolist()]
    ).bool() | (attention == 0)
    pick = cycling_batches(shard_indices(len(texts), dist, spec.seed), spec.batch_size, spec.seed + dist.rank)
    g = torch.Generator().manual_seed(spec.seed * 7919 + dist.rank)

    def make_batch(step: int) -> dict[str, torch.Tensor]:
        idx = pick(step)
        inputs, labels = mask_tokens(
            ids[idx], special[idx], mask_id=tok.mask_token_id, vocab_size=len(tok), g=g
        )
        return {"input_ids": inputs, "attention_mask": attention[idx], "labels": labels}

    log(
        f"pretraining: {len(texts)} train texts, {sum(p.numel() for p in model.parameters())} params, "
        f"{dist.world_size} rank(s) on {dist.device}"
    )
    stats = train(
        model,
        make_batch,
        dist=dist,
        max_steps=spec.max_steps,
        learning_rate=spec.learning_rate,
        log_every_steps=spec.log_every_steps,
        log=log,
        what="pretrain",
    )
    saved = save_checkpoint(unwrap(model), tok, out_dir, stats, dist, title="MLM pretraining loss")
    return run_result(
        "pretrain",
        out_dir,
        dist,
        stats,
        saved,
        model=model,
        started_s=t_start,
        read=(Path(spec.corpus_path).stat().st_size, read_s),
        init_checkpoint=spec.init_from,
        n_train=len(texts),
    )
