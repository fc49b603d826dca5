"""Code that runs inside the training processes: tokenizer, MLM pretraining, fine-tuning, metrics,
per-rank metering, and the torchrun entry point (`python -m training.entry`, driven by Dagster Pipes)."""
