"""A user's own Hugging Face training script, as a user writes it (tests/training/test_callback.py runs
it under `footprint meter`, from a Dagster asset through Pipes, and with neither): a tiny BERT
classifier on generated token ids, with FootprintCallback added. Usage: user_script.py OUTPUT_DIR"""

import sys

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from training.callback import FootprintCallback


class Generated(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Random token ids whose first token says the class (1: 'no', 2: 'yes'): learnable."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, 2, (n,), generator=g)
        self.ids = torch.randint(10, 60, (n, 12), generator=g)
        self.ids[:, 0] = 1 + self.labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        mask = torch.ones(12, dtype=torch.long)
        return {"input_ids": self.ids[i], "attention_mask": mask, "labels": self.labels[i]}


def scores(p: object) -> dict[str, float]:
    pred, gold = p.predictions.argmax(-1), p.label_ids  # type: ignore[attr-defined]
    out = {"accuracy": float((pred == gold).mean())}
    for c, name in enumerate(("no", "yes")):
        out[f"recall/{name}"] = float((pred[gold == c] == c).mean())
    return out


if __name__ == "__main__":
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    args = TrainingArguments(
        output_dir=sys.argv[1], max_steps=20, per_device_train_batch_size=8, logging_steps=5,
        eval_strategy="steps", eval_steps=10, save_strategy="no", use_cpu=True, report_to=[],
        disable_tqdm=True,
    )  # fmt: skip
    trainer = Trainer(
        model=BertForSequenceClassification(config), args=args, train_dataset=Generated(64, 0),
        eval_dataset=Generated(32, 1), compute_metrics=scores, callbacks=[FootprintCallback()],
    )  # fmt: skip
    trainer.train()
