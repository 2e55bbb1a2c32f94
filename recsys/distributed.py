"""Data-parallel training across processes (``torchrun``), with one code path for 1 or N processes.

Why it is built this way:
- **Same batches as one process.** Every rank draws the same shuffled order and the same random
  inputs (negatives) for the *whole* global batch with the same generator, then keeps its own
  contiguous share of the rows (``Shard``). Each rank's mean loss is weighted by its share of the
  batch's targets, and DDP averages the gradients, so a step follows the gradient of the global
  batch's mean loss, as one process would. Without dropout, N processes reproduce one process up to
  floating-point summation order (``tests/distributed``).
- **Metrics over all users.** Evaluation ranks a contiguous block of users on each rank and
  all-gathers the per-user vectors and top-k lists *before* any summary, so catalogue metrics
  (coverage, Gini) are computed once over everyone, exactly as in one process.
- **Plain tensors between ranks.** Gathers send tensors (sizes first, then padded rows), never
  pickled objects.

Launch: ``torchrun --nproc-per-node 2 -m recsys train ...``. gloo on CPU, NCCL when CUDA is
available (one GPU per local rank). Outside ``torchrun`` everything here is a no-op.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from recsys.errors import RecsysError


class DistributedError(RecsysError):
    """The process group could not be set up (wrong environment, unsupported backend)."""


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = "none"

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        return torch.device(f"cuda:{self.local_rank}") if self.backend == "nccl" else torch.device("cpu")

    def describe(self) -> dict:
        return {"backend": self.backend, "world_size": self.world_size}


_INFO = DistInfo()


def current() -> DistInfo:
    """The active process group's layout (rank 0 of 1 when not distributed)."""
    return _INFO


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def init_from_env(backend: str | None = None) -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment.

    ``backend``: ``gloo`` | ``nccl`` | None (NCCL when CUDA is available, else gloo). A single
    process (no ``torchrun``) returns rank 0 of 1 and creates no group.
    """
    global _INFO
    import torch.distributed as dist

    if not launched_by_torchrun():
        return _INFO
    world = int(os.environ["WORLD_SIZE"])
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend not in ("gloo", "nccl"):
        raise DistributedError(f"backend must be gloo or nccl, got {backend!r}")
    if backend == "nccl":
        if not torch.cuda.is_available() or local >= torch.cuda.device_count():
            raise DistributedError(f"NCCL needs one GPU per local rank: local rank {local}, "
                                   f"{torch.cuda.device_count()} GPU(s) visible; use --backend gloo on CPU")
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    _INFO = DistInfo(rank=rank, world_size=world, local_rank=local, backend=backend)
    return _INFO


def shutdown() -> None:
    global _INFO
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    _INFO = DistInfo()


@contextmanager
def main_first():
    """Rank 0 runs the block first (it fills caches: prepared data, LLM-side artefacts), then the others."""
    info = _INFO
    if not info.active:
        yield
        return
    import torch.distributed as dist

    if not info.is_main:
        dist.barrier()
    yield
    if info.is_main:
        dist.barrier()


def block(n: int, info: DistInfo | None = None) -> slice:
    """This rank's contiguous share of ``n`` rows (shares differ by at most one row)."""
    info = info or _INFO
    base, extra = divmod(n, info.world_size)
    start = info.rank * base + min(info.rank, extra)
    return slice(start, start + base + (1 if info.rank < extra else 0))


@dataclass
class Shard:
    """This rank's rows of a global batch and the weight of its mean loss in the batch's mean."""

    rows: slice
    scale: float  # local mean loss x scale, averaged over ranks = the global batch's mean loss
    n_local: int

    @classmethod
    def of(cls, n_rows: int, weights: torch.Tensor | None = None, info: DistInfo | None = None) -> Shard:
        """``weights``: targets per row (full-sequence windows hold several); None: one per row.

        A rank whose share is empty still computes the loss of one row, with weight 0, so every rank
        takes part in the gradient all-reduce of every step.
        """
        info = info or _INFO
        rows = block(n_rows, info)
        if not info.active:
            return cls(rows, 1.0, n_rows if weights is None else int(weights.sum()))
        total = n_rows if weights is None else float(weights.sum())
        local = (rows.stop - rows.start) if weights is None else float(weights[rows].sum())
        if rows.stop == rows.start or local == 0:
            return cls(slice(0, 1), 0.0, 0)
        return cls(rows, info.world_size * local / total, int(local))

    def weigh(self, loss: torch.Tensor) -> torch.Tensor:
        """This rank's mean loss as its share of the global batch's mean (unchanged in one process)."""
        return loss if self.scale == 1 else loss * self.scale


def all_gather_rows(t: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's rows (any first dimension, same trailing shape and dtype) in rank order."""
    info = _INFO
    if not info.active:
        return t
    import torch.distributed as dist

    dev = info.device
    t = t.contiguous().to(dev)
    size = torch.tensor([t.shape[0]], dtype=torch.long, device=dev)
    sizes = [torch.zeros_like(size) for _ in range(info.world_size)]
    dist.all_gather(sizes, size)
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros((longest, *t.shape[1:]), dtype=t.dtype, device=dev)
    padded[: t.shape[0]] = t
    parts = [torch.zeros_like(padded) for _ in range(info.world_size)]
    dist.all_gather(parts, padded)
    return torch.cat([p[: int(s.item())] for p, s in zip(parts, sizes)]).cpu()


def all_gather_array(a: np.ndarray) -> np.ndarray:
    """``all_gather_rows`` for numpy arrays (dtype kept)."""
    if not _INFO.active:
        return a
    return all_gather_rows(torch.from_numpy(np.ascontiguousarray(a))).numpy()


def all_reduce_sum(value: float) -> float:
    info = _INFO
    if not info.active:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return float(t.item())


def sync_generator(gen: torch.Generator) -> None:
    """Give every rank rank 0's generator state (the next epoch's shuffle is then the same everywhere).

    A model's own loss may draw a different number of random values on each rank's rows; this keeps
    the shared order of the batches from drifting apart.
    """
    info = _INFO
    if not info.active:
        return
    import torch.distributed as dist

    state = gen.get_state().to(info.device)
    dist.broadcast(state, src=0)
    gen.set_state(state.cpu())


class LossStep(torch.nn.Module):
    """Runs a loss closure inside ``forward`` so that DDP sees it (models compute losses in many ways:
    ``calculate_loss``, ``forward`` over all positions, their own ``full_sequence_loss``)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, compute):
        return compute()


def wrap(model: torch.nn.Module):
    """``run(closure) -> loss``: the closure's loss through DDP when distributed, called directly otherwise.

    Built per training phase (a phase may freeze parameters, and DDP registers the trainable ones).
    ``find_unused_parameters``: many models leave some parameters out of a given step's loss.
    """
    info = _INFO
    if not info.active:
        return lambda compute: compute()
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [info.local_rank] if info.backend == "nccl" else None
    return DDP(LossStep(model), device_ids=ids, find_unused_parameters=True)


__all__ = ["DistInfo", "DistributedError", "Shard", "current", "init_from_env", "shutdown", "block",
           "all_gather_rows", "all_gather_array", "all_reduce_sum", "sync_generator", "wrap",
           "launched_by_torchrun", "main_first"]
