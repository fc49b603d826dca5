"""`pretrained_model`: a BERT-style masked LM, pretrained on clean_corpus's train split."""
# No `from __future__ import annotations` here: Dagster resolves the Config annotation at decoration.

import dagster as dg

from assets.training.launch import check_hub, resumable, run_training
from assets.training.report import PlanConfig, make_plan, record_outputs, run_metadata
from pipelines.accounting import accounted
from pipelines.artifact_store import fetch_inputs, publish_handle
from pipelines.resources import FootprintHomeResource
from training.config import ModelShape, RunSpec
from warehouse.artifacts import ArtifactHandle


class LaunchConfig(PlanConfig):
    """How many processes and where: N ranks per node (gloo on CPU, nccl on GPU). `torchrun_args`
    replace `--standalone` (e.g. for several nodes under a cluster launcher)."""

    nproc_per_node: int = 1
    torchrun_args: list[str] = []  # noqa: RUF012 (pydantic copies defaults)
    threads_per_rank: int = 1  # torch threads per rank on CPU; 0 = cores // ranks
    seed: int = 0


class RecipeConfig(LaunchConfig):
    """The Trainer recipe shared by both training assets (training.config.RunSpec says what each does)."""

    # tokens per text: the demo's reviews have a median of 31 (46 % are longer than 32, 0.1 % longer
    # than 64); batches are padded to their longest text, not to seq_len
    seq_len: int = 64
    batch_size: int = 32  # per rank and micro-batch
    grad_accum_steps: int = 1
    max_steps: int = 1200
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.1
    lr_scheduler: str = "constant_with_warmup"
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    precision: str = "auto"  # bf16 / fp16 on CUDA, fp32 on CPU; or fp32, bf16, fp16
    log_every_steps: int = 100
    save_steps: int = 200  # resumable checkpoints (0: none)


def recipe(cfg: RecipeConfig) -> dict[str, object]:
    """The RunSpec fields a RecipeConfig sets."""
    names = (
        "seq_len", "batch_size", "grad_accum_steps", "max_steps", "learning_rate", "warmup_ratio",
        "lr_scheduler", "weight_decay", "max_grad_norm", "precision", "log_every_steps", "save_steps",
        "seed", "threads_per_rank",
    )  # fmt: skip
    return {n: getattr(cfg, n) for n in names}


class PretrainConfig(RecipeConfig):
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 128
    max_position_embeddings: int = 64
    vocab_size: int = 2000
    mlm_probability: float = 0.15
    init_from: str = ""  # hub checkpoint name; "" = tokenizer + model from scratch


def pretrain_spec(cfg: PretrainConfig, *, out_dir: str, corpus_path: str) -> RunSpec:
    return RunSpec(
        task="pretrain",
        out_dir=out_dir,
        corpus_path=corpus_path,
        mlm_probability=cfg.mlm_probability,
        shape=ModelShape(
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            num_heads=cfg.num_heads,
            intermediate_size=cfg.intermediate_size,
            max_position_embeddings=cfg.max_position_embeddings,
            vocab_size=cfg.vocab_size,
        ),
        init_from=cfg.init_from,
        **recipe(cfg),  # type: ignore[arg-type]
    )


@dg.asset(group_name="training", description=__doc__)
def pretrained_model(
    context: dg.AssetExecutionContext,
    config: PretrainConfig,
    footprint: FootprintHomeResource,
    clean_corpus: ArtifactHandle,
) -> dg.Output[ArtifactHandle]:
    # An Output, not a bare value: the step holds a Pipes session, so Dagster treats it as a generator.
    from training.data import pretrain_texts

    home = footprint.home()
    # the ranks read local files: the corpus is fetched from the store first (as is, with the local store)
    inputs = fetch_inputs(footprint, clean_corpus)
    corpus_path = str(inputs.local(clean_corpus))
    # Everything that can be checked is checked before the recorder opens and torchrun starts.
    probe = pretrain_spec(config, out_dir="", corpus_path=corpus_path)
    probe.check()
    n_texts = len(pretrain_texts(corpus_path))
    if config.init_from:
        check_hub(config.init_from, home.cache_dir)
    plan = make_plan(config, devices=config.nproc_per_node, max_steps=config.max_steps)
    context.log.info(
        f"plan: {plan.energy_kwh:.6f} kWh over {plan.hours * 3600:.0f} s on {plan.devices} device(s)"
    )
    with accounted(context, footprint, upstream=[clean_corpus]) as rec:
        inputs.record(rec)
        out_dir = home.artifacts_dir / "pretrained_model" / rec.materialization_id
        spec = pretrain_spec(config, out_dir=str(out_dir), corpus_path=corpus_path)
        store = footprint.store()
        with resumable(context, rec, spec, upstream=[clean_corpus], store=store) as spec:
            result, reported = run_training(
                context, rec, spec, nproc_per_node=config.nproc_per_node, torchrun_args=config.torchrun_args
            )
        record_outputs(rec, result)
        # rank 0 wrote the model here; published once torchrun has returned
        handle = publish_handle(rec, footprint, out_dir, rows=n_texts, task="pretrain", params=result.params)
        context.add_output_metadata(run_metadata(result, reported, plan))
        return dg.Output(handle)
