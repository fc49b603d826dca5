"""A clean corpus with label conflicts, built as clean_corpus's contract says (labeling/conflicts.py):
the kept row of each group of disagreeing duplicates has split = "conflict", and a conflicts artifact
lists the group's members (group_row_id, row_id, text, source_label)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# group kept row -> the source labels of its members (the kept row first)
GROUPS: dict[str, list[str]] = {
    "row-c0": ["positive", "negative", "negative"],
    "row-c1": ["negative", "positive"],
}


def write_conflict_corpus(folder: Path, n_train: int = 6, n_eval: int = 2) -> tuple[Path, dict[str, object]]:
    """(clean corpus path, the clean_corpus handle's extra) for `n_train` train rows, `n_eval` eval
    rows and the conflict groups of GROUPS."""
    rows = []
    for i in range(n_train + n_eval):
        label = "positive" if i % 2 else "negative"
        text = f"an ordinary review number {i}, rather {'good' if i % 2 else 'bad'}"
        split = "train" if i < n_train else "eval"
        rows.append(_row(f"row-{i:05d}", text, split, label))
    members = []
    for group, labels in GROUPS.items():
        text = f"the contested review {group}, fine or not"
        rows.append(_row(group, text, "conflict", labels[0]))
        for k, label in enumerate(labels):
            row_id = group if k == 0 else f"{group}-dup{k}"
            members.append(
                {"group_row_id": group, "row_id": row_id, "text": text.upper(), "source_label": label}
            )
    corpus = folder / "clean.parquet"
    pq.write_table(pa.Table.from_pylist(rows), corpus)
    conflicts = folder / "conflicts.parquet"
    pq.write_table(pa.Table.from_pylist(members), conflicts)
    return corpus, {"conflicts_path": str(conflicts), "label_conflicts": len(GROUPS)}


def _row(row_id: str, text: str, split: str, label: str) -> dict[str, object]:
    return {
        "row_id": row_id,
        "text": text,
        "split": split,
        "gold_label": label,
        "source_label": label,
        "text_chars": len(text),
    }
