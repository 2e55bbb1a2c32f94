"""Group metrics: the same per-user metrics, averaged within user groups.

Overall means hide where a model wins. Papers on long-tail items (H2Rec) and augmentation
(TTA4SR) report metrics by the popularity of the target item and by the length of the
user's history, so the evaluator labels every evaluated user with:

- ``pop:<lo>-<hi>``: the training count of the user's target item, in buckets (default the
  H2Rec buckets 1-9, 10-29, 30-59, 60-99, 100+; ``pop:0`` for items never seen in training);
- ``item:head`` / ``item:tail``: whether the target is among the top ``head_share`` (20%) of
  items by training count;
- ``len:<lo>-<hi>``: the length of the history the model was given (train for ``valid``,
  train + valid for test phases).

Item groups need one target per user (leave-one-out): a user with several targets cannot be
put in one item group, so for such phases only the length groups are computed.
A group metric is named ``<metric>|<group>``, e.g. ``ndcg@10|pop:1-9``, in summaries and the
leaderboard; per-user result files carry the labels as ``group_pop``/``group_item``/``group_len``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GROUP_METRICS = ("hit@10", "ndcg@10", "hit@20", "ndcg@20")


@dataclass(frozen=True)
class GroupSpec:
    popularity_edges: tuple[int, ...] = (1, 10, 30, 60, 100)  # lower edges of the popularity buckets
    head_share: float = 0.2  # the most popular share of items counted as "head"
    length_edges: tuple[int, ...] = (1, 10, 20)  # lower edges of the history-length groups
    metrics: tuple[str, ...] = GROUP_METRICS

    @classmethod
    def from_config(cls, cfg: dict | None) -> "GroupSpec":
        cfg = dict(cfg or {})
        unknown = set(cfg) - {"popularity_edges", "head_share", "length_edges", "metrics"}
        if unknown:
            raise ValueError(f"unknown group key(s) {sorted(unknown)}; known: popularity_edges, head_share, "
                             "length_edges, metrics")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})


def bucket_labels(values: np.ndarray, edges: tuple[int, ...], prefix: str) -> np.ndarray:
    """``prefix:lo-hi`` for each value (``prefix:lo+`` for the last bucket, ``prefix:0`` below the first)."""
    edges = sorted(int(e) for e in edges)
    names = [f"{prefix}:{lo}-{hi - 1}" for lo, hi in zip(edges[:-1], edges[1:])] + [f"{prefix}:{edges[-1]}+"]
    idx = np.searchsorted(np.asarray(edges), np.asarray(values), side="right") - 1
    idx[idx < 0] = len(names)  # below the first edge (e.g. an item never seen in training)
    return np.array(names + [f"{prefix}:0"], dtype=object)[idx]


def head_items(popularity: np.ndarray, share: float) -> np.ndarray:
    """Boolean mask over item indices: the ``share`` most-trained items (ties at the cut included)."""
    counts = popularity[1:]
    n_head = max(1, int(round(share * len(counts))))
    cut = np.sort(counts)[::-1][n_head - 1]
    mask = np.zeros(len(popularity), dtype=bool)
    mask[1:] = (counts >= cut) & (counts > 0)
    return mask


def user_groups(users: np.ndarray, targets: np.ndarray, history_lengths: np.ndarray, popularity: np.ndarray,
                spec: GroupSpec) -> dict[str, np.ndarray]:
    """Group labels per evaluated user: ``{"group_len": ..., "group_pop": ..., "group_item": ...}``."""
    groups = {"group_len": bucket_labels(history_lengths[users], spec.length_edges, "len")}
    if targets.ndim == 2 and targets.shape[1] == 1:
        target = targets[:, 0]
        groups["group_pop"] = bucket_labels(popularity[target], spec.popularity_edges, "pop")
        head = head_items(popularity, spec.head_share)
        groups["group_item"] = np.where(head[target], "item:head", "item:tail").astype(object)
    return groups


def group_summary(per_user: dict[str, np.ndarray], groups: dict[str, np.ndarray],
                  metrics: tuple[str, ...] = GROUP_METRICS) -> dict[str, float]:
    """``{"ndcg@10|pop:1-9": mean, ..., "users|pop:1-9": count}`` for every group present."""
    out: dict[str, float] = {}
    for labels in groups.values():
        for label in sorted(set(labels.tolist())):
            members = labels == label
            out[f"users|{label}"] = float(members.sum())
            for m in metrics:
                if m in per_user:
                    out[f"{m}|{label}"] = float(per_user[m][members].mean())
    return out


def split_group_metric(name: str) -> tuple[str, str | None, str | None]:
    """``"ndcg@10|pop:1-9"`` -> ``("ndcg@10", "group_pop", "pop:1-9")``; a plain metric -> ``(name, None, None)``."""
    if "|" not in name:
        return name, None, None
    base, label = name.split("|", 1)
    return base, f"group_{label.split(':', 1)[0]}", label
