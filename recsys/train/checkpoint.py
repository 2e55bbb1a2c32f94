"""Checkpoints as a plain state dict plus a JSON config: loading never unpickles code."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch


def save_checkpoint(model: torch.nn.Module, path: str | Path, config: dict) -> Path:
    """Write ``<path>.pt`` (tensors only) and ``<path>.json`` (the run's config), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weights, meta = path.with_suffix(".pt"), path.with_suffix(".json")
    for target, write in ((weights, lambda p: torch.save(model.state_dict(), p)),
                          (meta, lambda p: Path(p).write_text(json.dumps(config, indent=2, default=str)))):
        tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
        write(tmp)
        os.replace(tmp, target)
    return weights


def load_checkpoint(model: torch.nn.Module, path: str | Path) -> dict:
    """Load weights into ``model`` with ``weights_only=True``; returns the saved config."""
    path = Path(path)
    state = torch.load(path.with_suffix(".pt"), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    meta = path.with_suffix(".json")
    return json.loads(meta.read_text()) if meta.is_file() else {}
