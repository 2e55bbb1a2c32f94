"""Run by ``torchrun`` from test_distributed.py: evaluates fixed scorers with every rank's share
gathered, and rank 0 writes what it computed (the test compares it with one process)."""

import json
import sys

import numpy as np
import torch

from recsys import distributed
from recsys.data import prepare
from recsys.data.context_tensors import tensors_for
from recsys.eval.protocol import evaluate_task


def ranking_scorer(tensors):
    """Fixed random factors: a deterministic model that ranks differently for every user."""
    gen = torch.Generator().manual_seed(0)
    users = torch.randn(tensors.n_users + 1, 8, generator=gen)
    items = torch.randn(tensors.n_items + 1, 8, generator=gen)
    return lambda u, history: users[torch.from_numpy(u)] @ items.T


def ctr_scorer(rows):
    return torch.sigmoid(3 * torch.from_numpy(np.asarray(rows)).double().sin())


def main(out: str) -> None:
    info = distributed.init_from_env("gloo")
    with distributed.main_first():
        ranking = prepare("ml-100k", progress=False)
        ctr = prepare("ms-ml-100k", progress=False)
    r = evaluate_task(ranking_scorer(tensors_for(ranking)), tensors_for(ranking), "test", (5, 10, 20),
                      "pessimistic", batch_size=100)
    c = evaluate_task(ctr_scorer, tensors_for(ctr), "test", batch_size=1000)
    if info.is_main:
        with open(out, "w") as fh:
            json.dump({"world_size": info.world_size, "backend": info.backend,
                       "ranking": {"summary": r.summary, "users": r.users.tolist(),
                                   "per_user": {k: v.tolist() for k, v in r.per_user.items()},
                                   "repeated_targets": r.repeated_targets},
                       "ctr": {"summary": c.summary}}, fh)
    distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
