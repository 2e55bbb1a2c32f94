"""Checkpoints as a plain state dict plus a JSON config: loading never unpickles code."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import torch

from recsys.errors import RecsysError


class CheckpointError(RecsysError):
    """A checkpoint that is not a plain state dict (or not a checkpoint at all): refused, never executed."""


def save_checkpoint(model: torch.nn.Module, path: str | Path, config: dict) -> Path:
    """Write ``<path>.pt`` (tensors only) and ``<path>.json`` (the run's config), atomically."""
    return save_state(model.state_dict(), path, config)


def save_state(state: dict, path: str | Path, config: dict) -> Path:
    """``save_checkpoint`` for a bare state dict (a merge's result)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weights, meta = path.with_suffix(".pt"), path.with_suffix(".json")
    for target, write in ((weights, lambda p: torch.save(state, p)),
                          (meta, lambda p: Path(p).write_text(json.dumps(config, indent=2, default=str)))):
        tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
        write(tmp)
        os.replace(tmp, target)
    return weights


def load_checkpoint(model: torch.nn.Module, path: str | Path) -> dict:
    """Load weights into ``model`` with ``weights_only=True``; returns the saved config."""
    path = Path(path)
    model.load_state_dict(read_state(path))
    return read_meta(path)


def read_meta(path: str | Path) -> dict:
    meta = Path(path).with_suffix(".json")
    return json.loads(meta.read_text()) if meta.is_file() else {}


def read_state(path: str | Path) -> dict:
    """The state dict of ``<path>.pt``, read with ``weights_only=True`` (nothing in the file is executed)."""
    weights = Path(path).with_suffix(".pt")
    if not weights.is_file():
        raise CheckpointError(f"{weights}: checkpoint not found (a checkpoint is <path>.pt plus <path>.json)")
    try:  # weights_only: the unpickler accepts tensors and plain containers only, it never calls code
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{weights}: refused: not a plain state dict of tensors ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200]}). Only checkpoints written by recsys (or any "
                              "torch.save(model.state_dict())) load; nothing in the file was executed") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{weights}: refused: holds a {type(state).__name__}, not a state dict of tensors")
    return state
