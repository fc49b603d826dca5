"""`finetuned_model`: a sequence classifier initialised from the pretrained_model checkpoint it was
given, trained on the annotations over the classes of the annotation stage (the label set label_tasks
created, carried by the annotations handle), evaluated on clean_corpus's held-out eval split during
training and scored on it at the end (QualityMetric facts beside its footprint, so cost per F1 point
is one query)."""

# No `from __future__ import annotations` here: Dagster resolves the Config annotation at decoration.

import dagster as dg

from assets.training.launch import resumable, run_training
from assets.training.pretrained import RecipeConfig, recipe
from assets.training.quality import compared_with, comparison_metadata
from assets.training.report import make_plan, record_outputs, run_metadata
from pipelines.accounting import accounted
from pipelines.artifact_store import Fetched, fetch_inputs, publish_handle
from pipelines.resources import FootprintHomeResource
from training.config import RunSpec
from warehouse.artifacts import ArtifactHandle


class FinetuneConfig(RecipeConfig):
    """The classes are not configured here: they are the annotations' label set."""

    min_labelled: int = 20
    batch_size: int = 16  # per rank
    # the demo recipe, measured on its data (docs/training.md, "The demo recipe"): 600 steps with a
    # linear decay; 150 steps under-trained (macro-F1 0.55-0.61 -> 0.67-0.69 on the held-out split)
    max_steps: int = 600
    learning_rate: float = 5e-4
    lr_scheduler: str = "linear"
    log_every_steps: int = 50
    eval_steps: int = 200  # evaluation on the held-out split during training (0: only at the end)
    save_steps: int = 200
    plan_steps_per_s: float = 40.0


def finetune_spec(
    cfg: FinetuneConfig,
    *,
    out_dir: str,
    corpus: ArtifactHandle,
    annotations: ArtifactHandle,
    pretrained: ArtifactHandle,
    local: Fetched,
) -> RunSpec:
    """The run, reading the local copies (`local`) of its inputs: the ranks read local files."""
    from training.data import annotation_classes

    return RunSpec(
        task="finetune",
        out_dir=out_dir,
        corpus_path=str(local.local(corpus)),
        annotations_path=str(local.local(annotations)),
        init_checkpoint=str(local.local(pretrained)),
        choices=annotation_classes(annotations),
        min_labelled=cfg.min_labelled,
        eval_steps=cfg.eval_steps,
        **recipe(cfg),  # type: ignore[arg-type]
    )


@dg.asset(group_name="training", description=__doc__)
def finetuned_model(
    context: dg.AssetExecutionContext,
    config: FinetuneConfig,
    footprint: FootprintHomeResource,
    pretrained_model: ArtifactHandle,
    annotations: ArtifactHandle,
    clean_corpus: ArtifactHandle,
    baseline_model: ArtifactHandle,
) -> dg.Output[ArtifactHandle]:
    # An Output, not a bare value: the step holds a Pipes session, so Dagster treats it as a generator.
    from training.data import finetune_inputs

    home = footprint.home()
    inputs = fetch_inputs(footprint, clean_corpus, annotations, pretrained_model)
    probe = finetune_spec(
        config,
        out_dir="",
        corpus=clean_corpus,
        annotations=annotations,
        pretrained=pretrained_model,
        local=inputs,
    )
    probe.check()
    train_set, eval_data = finetune_inputs(probe)  # TrainingConfigError before any compute
    context.log.info(
        f"fine-tuning on {len(train_set.labels)} labelled examples {train_set.class_counts()} "
        f"({train_set.dropped_eval_overlap} in the eval split left out), {len(eval_data.labels)} eval rows, "
        f"classes {list(probe.choices)} (label_tasks' label set), from checkpoint {pretrained_model.path} "
        f"(materialization {pretrained_model.materialization_id})"
    )
    plan = make_plan(config, devices=config.nproc_per_node, max_steps=config.max_steps)
    upstream = [pretrained_model, annotations, clean_corpus]
    with accounted(context, footprint, upstream=upstream) as rec:
        inputs.record(rec)
        rec.add(compared_with(rec, baseline_model))  # scored against exactly it; not an input
        out_dir = home.artifacts_dir / "finetuned_model" / rec.materialization_id
        spec = finetune_spec(
            config,
            out_dir=str(out_dir),
            corpus=clean_corpus,
            annotations=annotations,
            pretrained=pretrained_model,
            local=inputs,
        )
        with resumable(context, rec, spec, upstream=upstream, store=footprint.store()) as spec:
            result, reported = run_training(
                context, rec, spec, nproc_per_node=config.nproc_per_node, torchrun_args=config.torchrun_args
            )
        record_outputs(rec, result)
        context.add_output_metadata(run_metadata(result, reported, plan))
        fetched_init = str(inputs.local(pretrained_model))
        handle = publish_handle(
            rec,
            footprint,
            out_dir,
            rows=result.n_train,
            task="finetune",
            choices=list(spec.choices),
            # the pretrained model's URL, not this machine's copy of it
            init_checkpoint=(
                pretrained_model.path if result.init_checkpoint == fetched_init else result.init_checkpoint
            ),
            init_weights_sha256=result.init_weights_sha256,
        )
    # the recorder has closed: the model's footprint and scores are written, so the comparison is priced
    context.add_output_metadata(comparison_metadata(rec, baseline_model))
    return dg.Output(handle)
