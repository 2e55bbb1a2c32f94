"""CTR evaluation: AUC, LogLoss and GAUC, overall, per scenario and per user group, with per-sample predictions.

``score_fn(rows)`` returns predicted click probabilities for dataset rows. The result keeps
every sample's label and prediction (``per_user`` holds per-sample vectors here; ``users`` is
each sample's user), so the leaderboard can test AUC differences with DeLong's paired test
and LogLoss differences with a paired t-test on per-sample losses.

- AUC: the Mann-Whitney statistic with mid-ranks for ties (a tie counts one half).
- LogLoss: mean binary cross-entropy, predictions clipped to [1e-7, 1 - 1e-7].
- GAUC: the AUC of each user with both labels in the split, weighted by that user's samples.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from scipy.stats import rankdata

from recsys.eval.evaluator import EvalResult

EPS = 1e-7
CTR_METRICS = ("auc", "logloss", "gauc")
LOWER_IS_BETTER = ("logloss",)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    labels = np.asarray(labels) > 0.5
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def sample_logloss(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1 - EPS)
    y = np.asarray(labels, dtype=np.float64)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def user_aucs(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user, AUC, samples) for each user with both labels among their samples."""
    order = np.argsort(users, kind="stable")
    u, y, s = users[order], labels[order], scores[order]
    cuts = np.flatnonzero(np.diff(u)) + 1
    out = [(uu[0], auc(yy, ss), len(yy)) for uu, yy, ss in zip(np.split(u, cuts), np.split(y, cuts), np.split(s, cuts))
           if 0 < (yy > 0.5).sum() < len(yy)]
    ids, values, counts = zip(*out) if out else ((), (), ())
    return np.asarray(ids), np.asarray(values, dtype=float), np.asarray(counts, dtype=float)


def gauc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    _, values, counts = user_aucs(users, labels, scores)
    return float((values * counts).sum() / counts.sum()) if len(counts) else float("nan")


def ctr_summary(labels: np.ndarray, probs: np.ndarray, users: np.ndarray, groups: dict[str, np.ndarray]) -> dict:
    out = {"auc": auc(labels, probs), "logloss": float(sample_logloss(labels, probs).mean()),
           "gauc": gauc(users, labels, probs), "samples": float(len(labels)), "positive_rate": float(labels.mean())}
    for column, values in groups.items():
        for value in sorted(set(values.tolist())):
            m = values == value
            key = f"{column}:{value}"
            out[f"auc|{key}"] = auc(labels[m], probs[m])
            out[f"logloss|{key}"] = float(sample_logloss(labels[m], probs[m]).mean())
            out[f"samples|{key}"] = float(m.sum())
    return out


@torch.no_grad()
def evaluate_ctr(score_fn: Callable[[np.ndarray], torch.Tensor], tensors, phase: str = "test",
                 batch_size: int = 4096) -> EvalResult:
    """Predict every sample of ``phase`` in batches (the order and the batch size cannot change a prediction)."""
    from recsys import distributed

    rows = tensors.splits[phase]
    info = distributed.current()
    sharded = info.active and len(rows) >= info.world_size  # under torchrun: a block per rank, gathered
    mine = rows[distributed.block(len(rows))] if sharded else rows
    probs = np.concatenate([score_fn(mine[b: b + batch_size]).detach().reshape(-1).double().cpu().numpy()
                            for b in range(0, len(mine), batch_size)]) if len(mine) else np.zeros(0)
    if sharded:
        probs = distributed.all_gather_array(probs)
    labels = tensors.label[rows].double().numpy()
    users = tensors.user[rows]
    groups = {}
    if tensors.n_scenarios:
        groups["scenario"] = np.asarray(tensors.scenario_names, dtype=object)[tensors.scenario_of(rows)].astype(str)
    for name, values in tensors.group_values.items():
        groups[name] = values[rows].astype(str)
    summary = ctr_summary(labels, probs, users, groups)
    per_sample = {"row": rows.astype(np.int64), "label": labels, "prediction": probs,
                  "logloss": sample_logloss(labels, probs)}
    return EvalResult(phase=phase, users=users, per_user=per_sample, summary=summary, tie_policy="n/a",
                      groups={f"group_{k}": np.char.add(f"{k}:", v.astype(str)) for k, v in groups.items()})
