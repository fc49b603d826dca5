"""A RunSpec as transformers' `TrainingArguments`: one place that maps our recipe knobs onto Trainer."""

from __future__ import annotations

from typing import Any

from training.config import RunSpec, TrainingConfigError
from training.dist import Dist, set_cpu_threads

EVAL_BATCH = 64  # per rank; evaluation keeps no activations for backward


def precision_flags(precision: str, device: str) -> dict[str, bool]:
    """`bf16` / `fp16` for TrainingArguments. 'auto': bf16 on a CUDA GPU that supports it (Ampere and
    newer), else fp16 on CUDA (with a loss scaler), and fp32 on CPU: bf16 autocast on a CPU is only
    faster where the CPU has bf16 instructions (AVX512-BF16 / AMX; this project's CI CPUs have
    AVX512-BF16 and ran the tiny BERT at 52 vs 38 steps/s) and is emulated, slower than fp32, where it
    has none, so 'auto' would make a CPU run's speed and its rounding depend on the host. Ask for
    precision='bf16' to use it on a CPU that has it. fp16 needs CUDA (Trainer has no CPU fp16 path)."""
    cuda = device.startswith("cuda")
    if precision == "auto":
        if not cuda:
            return {}
        import torch

        return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}
    if precision == "fp16" and not cuda:
        raise TrainingConfigError("precision='fp16' needs a CUDA GPU; use 'auto', 'fp32' or 'bf16' on CPU")
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def training_arguments(spec: RunSpec, dist: Dist, *, evaluate: bool) -> Any:
    """TrainingArguments for `spec` on this process's device. Checkpoints every `save_steps` into
    `spec.checkpoint_dir` (the newest complete one is kept; none when it is ""); evaluation every
    `eval_steps` when `evaluate`; no progress bars and no reporting integrations."""
    from transformers import TrainingArguments
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # bars (e.g. "Writing model shards") would flood the step's log

    save = bool(spec.checkpoint_dir) and spec.save_steps > 0
    eval_every = evaluate and spec.eval_steps > 0
    kwargs: dict[str, Any] = dict(precision_flags(spec.precision, dist.device))
    if dist.world_size > 1:
        kwargs["ddp_backend"] = dist.backend  # gloo on CPU, nccl on GPU (training/dist.py)
    args = TrainingArguments(
        output_dir=spec.checkpoint_dir or spec.out_dir,
        max_steps=spec.max_steps,
        per_device_train_batch_size=spec.batch_size,
        per_device_eval_batch_size=EVAL_BATCH,
        gradient_accumulation_steps=spec.grad_accum_steps,
        learning_rate=spec.learning_rate,
        lr_scheduler_type=spec.lr_scheduler,
        warmup_steps=spec.warmup_ratio,  # transformers 5: a float < 1 is a fraction of max_steps
        weight_decay=spec.weight_decay,
        max_grad_norm=spec.max_grad_norm,
        logging_strategy="steps",
        logging_steps=spec.log_every_steps,
        eval_strategy="steps" if eval_every else "no",
        eval_steps=spec.eval_steps if eval_every else None,
        save_strategy="steps" if save else "no",
        save_steps=spec.save_steps if save else 500,
        save_total_limit=1,  # the previous one is removed only after the new one is complete
        seed=spec.seed,
        data_seed=spec.seed,
        use_cpu=not dist.device.startswith("cuda"),
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,  # every parameter of the models trained here has a gradient
        **kwargs,
    )
    _ = args.device  # accelerate's process state now (it may set torch's CPU threads): ours win below
    set_cpu_threads(dist, spec.threads_per_rank)
    return args
