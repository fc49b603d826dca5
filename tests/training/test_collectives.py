"""The collectives our own code calls hand their tensors on the backend's device: NCCL reduces only
CUDA tensors, so a CPU tensor handed to an NCCL all-reduce fails at the first log step on a GPU node.

On this CPU-only machine an NCCL rank is simulated: `torch.distributed`'s ops are replaced by fakes
that record what they were handed, and CUDA tensors are fake tensors (torch's FakeTensorMode: a tensor
that has a device and a shape but no data), so the fake op stops the call once it has looked. The
gloo path runs to the end with a fake two-rank reduction."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from training.dist import Dist, barrier, gather_strings, sum_over_ranks
from training.rank_meter import gather_window_ids

NCCL_RANK = Dist(rank=1, local_rank=1, world_size=2, local_world_size=2, device="cuda:1")
GLOO_RANK = Dist(rank=1, local_rank=1, world_size=2, local_world_size=2, device="cpu")


class Looked(Exception):
    """Raised by a fake op after it recorded its tensors (a fake CUDA tensor has no data to return)."""


@dataclass
class FakeCollectives:
    stop: bool  # True: raise Looked after recording (simulated CUDA); False: emulate two equal ranks
    handed: list[tuple[str, torch.device]] = field(default_factory=list)
    barrier_kwargs: list[dict[str, Any]] = field(default_factory=list)

    def all_reduce(self, t: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        self.handed.append(("all_reduce", t.device))
        if self.stop:
            raise Looked
        t.mul_(2)  # two ranks that hold the same values

    def all_gather(self, out: list[torch.Tensor], t: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        self.handed += [("all_gather", t.device)] + [("all_gather out", o.device) for o in out]
        if self.stop:
            raise Looked
        for o in out:
            o.copy_(t)

    def barrier(self, *args: Any, **kwargs: Any) -> None:
        self.barrier_kwargs.append(kwargs)


@pytest.fixture
def nccl(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCollectives]:
    fake = FakeCollectives(stop=True)
    for op in ("all_reduce", "all_gather", "barrier"):
        monkeypatch.setattr(torch.distributed, op, getattr(fake, op))
    with FakeTensorMode(allow_non_fake_inputs=True):
        yield fake


@pytest.fixture
def gloo(monkeypatch: pytest.MonkeyPatch) -> FakeCollectives:
    fake = FakeCollectives(stop=False)
    for op in ("all_reduce", "all_gather", "barrier"):
        monkeypatch.setattr(torch.distributed, op, getattr(fake, op))
    return fake


def test_the_backend_follows_the_device() -> None:
    assert (NCCL_RANK.backend, NCCL_RANK.collective_device) == ("nccl", "cuda:1")
    assert (GLOO_RANK.backend, GLOO_RANK.collective_device) == ("gloo", "cpu")


def test_sum_over_ranks_hands_nccl_a_tensor_on_the_ranks_gpu(nccl: FakeCollectives) -> None:
    with pytest.raises(Looked):
        sum_over_ranks([3, 4, 5], NCCL_RANK)
    assert nccl.handed == [("all_reduce", torch.device("cuda:1"))]


def test_gather_strings_hands_nccl_tensors_on_the_ranks_gpu(nccl: FakeCollectives) -> None:
    with pytest.raises(Looked):
        gather_strings("a" * 32, NCCL_RANK)
    assert nccl.handed and {device for _, device in nccl.handed} == {torch.device("cuda:1")}


def test_window_ids_under_an_nccl_group_travel_on_the_current_gpu(
    nccl: FakeCollectives, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.distributed, "get_backend", lambda *a, **k: "nccl")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    with pytest.raises(Looked):
        gather_window_ids("0123456789abcdef0123456789abcdef", 1, 2)
    assert {device for _, device in nccl.handed} == {torch.device("cuda:1")}


def test_nccl_barrier_names_the_ranks_gpu(nccl: FakeCollectives) -> None:
    barrier(NCCL_RANK)
    assert nccl.barrier_kwargs == [{"device_ids": [1]}]


def test_gloo_collectives_stay_on_cpu_and_decode(gloo: FakeCollectives) -> None:
    assert sum_over_ranks([3, 4, 5], GLOO_RANK) == [6, 8, 10]
    assert gather_strings("w-rank-1", GLOO_RANK) == ["w-rank-1", "w-rank-1"]
    assert {device for _, device in gloo.handed} == {torch.device("cpu")}
    barrier(GLOO_RANK)
    assert gloo.barrier_kwargs == [{}]


def test_one_process_calls_no_collective(gloo: FakeCollectives) -> None:
    one = Dist(device="cuda:0")  # world size 1: nothing to reduce, whatever the device
    assert sum_over_ranks([1, 2], one) == [1, 2] and gather_strings("x", one) == ["x"]
    barrier(one)
    assert gloo.handed == [] and gloo.barrier_kwargs == []


def test_an_id_too_long_for_the_fixed_width_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than 64 bytes"):
        gather_strings("x" * 65, GLOO_RANK)
