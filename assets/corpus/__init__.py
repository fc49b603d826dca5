"""Corpus stage: `raw_corpus` (ingestion) and `clean_corpus` (cleaning + train/eval split).

Downstream reads the clean corpus through the ArtifactHandle it receives; the output contract is in
`assets.corpus.clean`'s docstring.
"""

from __future__ import annotations

from typing import Any


def definitions() -> list[Any]:
    """Assets and asset checks of this stage, for `pipelines.definitions.defs()`."""
    from assets.corpus.clean import CHECKS, clean_corpus
    from assets.corpus.raw import raw_corpus

    return [raw_corpus, clean_corpus, *CHECKS]
