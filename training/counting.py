"""Counting what a rank trained on: samples and non-padding tokens, from the model's own inputs.

A forward pre-hook on the model sees every training micro-batch (`model(**inputs)`, as Trainer calls
it; evaluation and prediction run with `model.eval()` and are not counted). The token count is kept on
the batch's device and read (one device sync) only when asked, at log steps: nothing is gathered
across ranks and nothing syncs per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Counts:
    samples: int
    tokens: int | None  # non-padding input tokens (None: the inputs carry no token ids)
    padded_tokens: int | None  # tokens computed on, padding included


class BatchCounter:
    """`attach(model)` once; `read()` whenever a figure is needed; `detach()` at the end."""

    def __init__(self) -> None:
        self.samples = 0
        self.padded_tokens = 0
        self._tokens: Any = None  # a tensor on the batch's device, or None before the first batch
        self._has_tokens = False
        self._handle: Any = None

    def attach(self, model: Any) -> BatchCounter:
        if self._handle is None:
            self._handle = model.register_forward_pre_hook(self._seen, with_kwargs=True)
        return self

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _seen(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not module.training:
            return
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        if ids is not None and hasattr(ids, "shape"):
            self.samples += int(ids.shape[0])
            self.padded_tokens += int(ids.numel())
            self._has_tokens = True
            real = mask.sum() if mask is not None else ids.numel()
            self._tokens = real if self._tokens is None else self._tokens + real
            return
        first = next((v for v in kwargs.values() if hasattr(v, "shape") and len(v.shape)), None)
        if first is not None:
            self.samples += int(first.shape[0])

    def read(self) -> Counts:
        """The counts so far (syncs the token count to the host once)."""
        if not self._has_tokens:
            return Counts(self.samples, None, None)
        tokens = self._tokens.item() if hasattr(self._tokens, "item") else self._tokens
        return Counts(self.samples, int(tokens), self.padded_tokens)
