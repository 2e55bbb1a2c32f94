"""Merging saved checkpoints (``recsys merge``): load them, check they hold one model in one item space,
merge, and save the result with what was merged recorded beside it."""

from __future__ import annotations

from pathlib import Path

from recsys.merging.methods import MergeError, check_compatible, hi_merging, merge
from recsys.train.checkpoint import read_meta, read_state, save_state


def load_checkpoints(paths: list[str]) -> tuple[list[dict], list[dict]]:
    """(states, metas) of checkpoints that hold the same model in the same item space, base first."""
    states = [read_state(p) for p in paths]
    metas = [read_meta(p) for p in paths]
    kinds = {m.get("model") for m in metas if m.get("model")}
    if len(kinds) > 1:
        named = ", ".join(f"{p}: {m.get('model')}" for p, m in zip(paths, metas))
        raise MergeError(f"checkpoints hold different models ({named}); merging needs one architecture")
    check_compatible(states[0], states[1:], list(paths[1:]), [m.get("item_space") for m in metas])
    return states, metas


def merge_checkpoints(method: str, base: str, models: list[str], out: str, options: dict,
                      dataset=None) -> tuple[Path, dict | None]:
    """Merge ``models`` onto ``base`` with ``method``; (written path, Hi-Merging's validation report or None).
    ``dataset``: a prepared dataset whose validation split guides Hi-Merging (required there)."""
    states, metas = load_checkpoints([base, *models])
    report = None
    if method == "hi_merging":
        if dataset is None:
            raise MergeError("hi_merging measures each layer's contribution on validation data: give --dataset "
                             "(the dataset the checkpoints were trained on)")
        state, report = _hi_merge(states, metas[0], options, dataset)
    else:
        state = merge(method, states[0], states[1:], **options)
    path = save_state(state, out, {**metas[0], "merged": {"method": method, "options": options, "base": base,
                                                          "models": list(models)}})
    return path, report


def _hi_merge(states: list[dict], meta: dict, options: dict, ds):
    from recsys.data.context_tensors import tensors_for
    from recsys.merging.periodic import state_evaluator

    evaluate = state_evaluator(meta["model"], ds, meta.get("config", {}), int(meta.get("seed", 1)), tensors_for(ds))
    return hi_merging(states[0], states[1:], lambda s: evaluate(s).summary["ndcg@10"], options.get("density", 0.9))
