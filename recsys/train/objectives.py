"""Training objectives: how an epoch of whole-tensor batches turns into losses.

- ``full_sequence``: one sequence per user (cut into windows of the maximum length), loss at
  every position; for causal sequential models (``ModelSpec.full_sequence``). Our default.
- ``prefix``: RecBole's augmentation, one sample per prefix with the loss at its last
  position, through the model's own ``calculate_loss``.
- ``pairwise`` / ``pointwise``: (user, positive, sampled negative) for general models,
  negatives drawn uniformly among items the user has not interacted with in training.
- ``positives``: the training pairs alone, for RecBole's traditional models (Pop, ItemKNN, EASE).
- ``ctr``: labelled samples of a CTR dataset (``ContextTensors``), through the model's own
  ``calculate_loss``; for RecBole context models and ours (``recsys.models.context``).

Each ``epoch()`` yields ``(loss, n_targets)``; batches are built by indexing tensors.

Under ``torchrun`` every rank builds the same global batch, random draws included, keeps its
``Shard`` of the rows and weights its loss by its share (``recsys.distributed``); the loss is
computed through ``self.run`` (DDP's forward when distributed), so one process and N processes
follow the same batches.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F

from recsys import distributed
from recsys.data.tensors import (
    DatasetTensors,
    chunked_sequences,
    gather_windows,
    prefix_samples,
)
from recsys.models.protocol import own_sequence_loss
from recsys.nn.catalogue_softmax import DEFAULT_CHUNK, catalogue_cross_entropy
from recsys.nn.domain_losses import DomainCandidates, describe
from recsys.nn.sampled_softmax import DISTRIBUTIONS, gbce, item_probabilities, sampled_softmax
from recsys.recbole.interaction import interaction

OBJECTIVES = ("auto", "full_sequence", "prefix", "pairwise", "pointwise", "positives", "ctr")
#: ``model``: the model's own loss_type (CE or BPR); ``bce``: binary cross-entropy with one negative per
#: position (the original SASRec loss, which RecBole does not offer); ``sampled``: a softmax over in-batch
#: and sampled candidates with the log-Q correction; ``gbce``: gSASRec's generalised BCE
#: (``recsys.nn.sampled_softmax``); for full-sequence training.
SEQUENCE_LOSSES = ("model", "bce", "sampled", "gbce")
#: options of the sampled losses, with their defaults
SAMPLED_LOSS_DEFAULTS = {"sampled_negatives": 256, "sampled_distribution": "uniform", "gbce_t": 0.75}


def _rows(fields: dict, rows: slice) -> dict:
    return {k: v[rows] for k, v in fields.items()}


@contextmanager
def all_positions(model):
    """Make a RecBole sequential model's ``forward`` return every position instead of the last."""
    model.gather_indexes = lambda output, index: output
    try:
        yield
    finally:
        del model.gather_indexes


class NegativeSampler:
    """Uniform negatives avoiding each user's training items (vectorised rejection sampling)."""

    def __init__(self, tensors: DatasetTensors, rounds: int = 20):
        self.n_items = tensors.n_items
        self.keys = tensors.train_keys()
        self.rounds = rounds

    def __call__(self, users: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        neg = torch.randint(1, self.n_items + 1, users.shape, generator=gen)
        for _ in range(self.rounds):
            k = users * (self.n_items + 1) + neg
            pos = torch.searchsorted(self.keys, k).clamp(max=len(self.keys) - 1)
            clash = self.keys[pos] == k
            if not clash.any():
                break
            neg[clash] = torch.randint(1, self.n_items + 1, (int(clash.sum()),), generator=gen)
        return neg


class Objective:
    name = "base"

    def __init__(self, model, tensors: DatasetTensors, batch_size: int):
        self.model = model
        self.t = tensors
        self.batch_size = batch_size
        self.run = lambda compute: compute()  # the trainer routes losses through DDP when distributed
        self.device = distributed.current().device

    def epoch(self, gen: torch.Generator) -> Iterator[tuple[torch.Tensor, int]]:
        raise NotImplementedError

    def n_batches(self) -> int:
        raise NotImplementedError

    def _step(self, fields: dict, n: int, build=None):
        """This rank's rows of a global batch through the model's ``calculate_loss``, weighted by their share.

        ``build``: turns this rank's rows into the model's fields (e.g. positives and negatives stacked).
        """
        shard = distributed.Shard.of(n)
        local = _rows(fields, shard.rows)
        local = interaction(build(local) if build else local, self.device)
        loss = self.run(lambda: self.model.calculate_loss(local))
        return shard.weigh(loss), shard.n_local


class FullSequence(Objective):
    """``batch_size`` counts targets, as in RecBole (one target per sample): windows are packed
    until a batch holds about that many, so an epoch takes as many optimiser steps as RecBole's."""

    name = "full_sequence"

    def __init__(self, model, tensors, batch_size, max_len: int, length_buckets: bool = False,
                 sequence_loss: str = "model", catalogue_chunk: int = DEFAULT_CHUNK,
                 sampled_options: dict | None = None, domain_codes=None):
        super().__init__(model, tensors, batch_size)
        # target_domain_loss: negatives and the softmax drawn from the target's domain (recsys.nn.domain_losses)
        self.domains = DomainCandidates(domain_codes) if domain_codes is not None else None
        if self.domains is not None and sequence_loss in ("sampled", "gbce"):
            raise ValueError(f"target_domain_loss applies to sequence_loss model (CE / BPR) and bce, not {sequence_loss!r}")
        self.catalogue_chunk = catalogue_chunk
        self.sampled = {**SAMPLED_LOSS_DEFAULTS, **(sampled_options or {})}
        if self.sampled["sampled_distribution"] not in DISTRIBUTIONS:
            raise ValueError(f"sampled_distribution must be one of {DISTRIBUTIONS}, "
                             f"got {self.sampled['sampled_distribution']!r}")
        self.item_probs = (item_probabilities(tensors.n_items, torch.from_numpy(tensors.item_popularity()))
                           if sequence_loss == "sampled" else None)
        if sequence_loss not in SEQUENCE_LOSSES:
            raise ValueError(f"sequence_loss must be one of {SEQUENCE_LOSSES}, got {sequence_loss!r}")
        self.sequence_loss = sequence_loss
        self.inputs, self.targets, self.users = chunked_sequences(tensors.train, max_len)
        own = own_sequence_loss(model)
        self.has_own_loss = own is not None
        self.pass_users = own is not None and "users" in inspect.signature(own).parameters
        self.window_targets = (self.targets > 0).sum(1)
        self.loss_type = getattr(model, "loss_type", "CE")
        self.length_buckets = length_buckets

    def n_batches(self) -> int:
        return max(1, -(-int(self.window_targets.sum()) // self.batch_size))

    def _batches(self, gen) -> list[torch.Tensor]:
        """Shuffled windows cut into batches of about ``batch_size`` targets.

        With ``length_buckets`` the windows are ordered by length (random within a length) and the
        batches shuffled: a batch then holds windows of similar length, so trimming its trailing
        padding (see ``epoch``) skips most of the padded positions of short-history datasets.
        """
        perm = torch.randperm(len(self.inputs), generator=gen)
        if self.length_buckets:
            perm = perm[torch.argsort(self.window_targets[perm], stable=True)]
        cum = torch.cumsum(self.window_targets[perm], 0)
        cuts = torch.searchsorted(cum, torch.arange(self.batch_size, int(cum[-1]), self.batch_size), right=True)
        cuts = torch.unique(torch.cat([cuts, torch.tensor([len(perm)])]))
        batches = [perm[a:b] for a, b in zip([0, *cuts[:-1].tolist()], cuts.tolist()) if b > a]
        if self.length_buckets:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]
        return batches

    def epoch(self, gen):
        dev = self.device
        for idx in self._batches(gen):
            x, y = self.inputs[idx], self.targets[idx]
            if self.length_buckets:  # left-aligned windows: trailing padding of causal models is inert
                width = max(int((x > 0).sum(1).max()), 1)
                x, y = x[:, :width], y[:, :width]
            shard = distributed.Shard.of(len(idx), self.window_targets[idx])
            xs, ys = x[shard.rows].to(dev), y[shard.rows].to(dev)
            if self.has_own_loss:  # a model with its own per-position loss (H2Rec)
                extra = {"users": self.users[idx][shard.rows]} if self.pass_users else {}  # per-user terms
                loss = self.run(lambda: self.model.full_sequence_loss(xs, ys, gen, **extra))
                yield shard.weigh(loss), shard.n_local
                continue
            negs = None
            if self.sequence_loss == "bce" or self.loss_type != "CE":  # drawn for the whole batch, then shared
                negs = torch.zeros_like(y)
                negs[y > 0] = (self.domains.negatives(y[y > 0], gen) if self.domains is not None else
                               torch.randint(1, self.t.n_items + 1, (int((y > 0).sum()),), generator=gen))
                negs = negs[shard.rows].to(dev)
            loss = self.run(lambda: self._loss(xs, ys, negs, gen))
            yield shard.weigh(loss), shard.n_local

    def _loss(self, x, y, negs, gen=None):
        weight = self.model.item_embedding.weight
        lengths = (x > 0).sum(1)
        with all_positions(self.model):
            h = self.model.forward(x, lengths)  # [B, L, d]
        mask = y > 0
        hv, yv = h[mask], y[mask]
        if self.sequence_loss == "sampled":
            return sampled_softmax(hv, weight, yv, int(self.sampled["sampled_negatives"]), gen,
                                   self.sampled["sampled_distribution"], self.item_probs)
        if self.sequence_loss == "gbce":
            return gbce(hv, weight, yv, int(self.sampled["sampled_negatives"]), gen, float(self.sampled["gbce_t"]))
        if self.sequence_loss == "bce":  # Kang & McAuley's SASRec loss: BCE, one uniform negative
            neg = negs[mask]
            logits = torch.cat([(hv * weight[yv]).sum(-1), (hv * weight[neg]).sum(-1)])
            labels = torch.cat([torch.ones(len(yv), device=x.device), torch.zeros(len(yv), device=x.device)])
            return F.binary_cross_entropy_with_logits(logits, labels) * 2  # sum of both terms, per target
        if self.loss_type == "CE" and self.domains is not None:  # the softmax over the target domain's items
            return self.domains.softmax_ce(lambda rows, items: hv[rows] @ weight[items].T, yv)
        if self.loss_type == "CE":  # the catalogue softmax, chunked: never a whole [targets x items] block
            if not self.catalogue_chunk:
                return F.cross_entropy(hv @ weight.T, yv)
            return catalogue_cross_entropy(hv, weight, yv, chunk=self.catalogue_chunk)
        neg = negs[mask]  # one uniform negative per position, as RecBole's BPR loss for SASRec
        return self.model.loss_fct((hv * weight[yv]).sum(-1), (hv * weight[neg]).sum(-1))


class Prefix(Objective):
    name = "prefix"

    def __init__(self, model, tensors, batch_size, max_len: int):
        super().__init__(model, tensors, batch_size)
        self.start, self.length, self.target, self.users = prefix_samples(tensors.train, max_len)
        self.max_len = max_len
        self.needs_neg = getattr(model, "loss_type", "CE") == "BPR"
        self.sampler = NegativeSampler(tensors) if self.needs_neg else None

    def n_batches(self) -> int:
        return -(-len(self.target) // self.batch_size)

    def epoch(self, gen):
        m = self.model
        perm = torch.randperm(len(self.target), generator=gen).numpy()
        for b in range(0, len(perm), self.batch_size):
            idx = perm[b: b + self.batch_size]
            users = torch.from_numpy(self.users[idx])
            fields = {
                m.ITEM_SEQ: gather_windows(self.t.train.items, self.start[idx], self.length[idx], self.max_len),
                m.ITEM_SEQ_LEN: torch.from_numpy(self.length[idx]),
                m.POS_ITEM_ID: torch.from_numpy(self.target[idx]),
                m.USER_ID: users,
            }
            if self.needs_neg:
                fields[m.NEG_ITEM_ID] = self.sampler(users, gen)
            yield self._step(fields, len(idx))


class Pairs(Objective):
    """Pairwise (user, pos, neg), pointwise (user, item, label) or positives-only batches."""

    def __init__(self, model, tensors, batch_size, mode: str):
        super().__init__(model, tensors, batch_size)
        self.name = mode
        self.users, self.items = tensors.train_pairs()
        self.sampler = NegativeSampler(tensors) if mode != "positives" else None

    def n_batches(self) -> int:
        return -(-len(self.users) // self.batch_size)

    def epoch(self, gen):
        m = self.model
        perm = torch.randperm(len(self.users), generator=gen)
        for b in range(0, len(perm), self.batch_size):
            idx = perm[b: b + self.batch_size]
            u, i = self.users[idx], self.items[idx]
            if self.name == "pairwise":
                yield self._step({m.USER_ID: u, m.ITEM_ID: i, m.NEG_ITEM_ID: self.sampler(u, gen)}, len(idx))
            elif self.name == "pointwise":  # a rank keeps its users' positive and negative rows
                label_field = m.LABEL if hasattr(m, "LABEL") else "label"

                def stacked(f):
                    n = len(f["u"])
                    return {m.USER_ID: torch.cat([f["u"], f["u"]]), m.ITEM_ID: torch.cat([f["i"], f["neg"]]),
                            label_field: torch.cat([torch.ones(n), torch.zeros(n)])}

                yield self._step({"u": u, "i": i, "neg": self.sampler(u, gen)}, len(idx), build=stacked)
            else:
                yield self._step({m.USER_ID: u, m.ITEM_ID: i}, len(idx))


class LabelledSamples(Objective):
    """Shuffled batches of a CTR dataset's training samples, each with its own label."""

    name = "ctr"

    def __init__(self, model, tensors, batch_size):
        super().__init__(model, tensors, batch_size)
        self.rows = torch.from_numpy(tensors.splits["train"])

    def n_batches(self) -> int:
        return -(-len(self.rows) // self.batch_size)

    def epoch(self, gen):
        perm = self.rows[torch.randperm(len(self.rows), generator=gen)]
        for b in range(0, len(perm), self.batch_size):
            idx = perm[b: b + self.batch_size]
            yield self._step(self.t.batch(idx), len(idx))


def choose_objective(model, spec, requested: str) -> str:
    """The objective a model trains with: ``requested``, or the best one it supports."""
    from recbole.utils import InputType, ModelType

    kind = getattr(model, "type", None)
    if kind == ModelType.CONTEXT:
        allowed = ("ctr",)
    elif kind == ModelType.SEQUENTIAL:
        allowed = ("full_sequence", "prefix") if spec.full_sequence else ("prefix",)
    elif kind == ModelType.TRADITIONAL:
        allowed = ("positives",)
    elif model.input_type == InputType.PAIRWISE:
        allowed = ("pairwise",)
    elif model.input_type == InputType.POINTWISE:
        allowed = ("pointwise",)
    else:
        raise ValueError(f"{spec.name} ({kind}, {model.input_type}) has no objective in recsys's loop yet; "
                         "run it through RecBole's own pipeline (recsys train --via recbole)")
    if requested == "auto":
        return allowed[0]
    if requested not in allowed:
        raise ValueError(f"{spec.name} cannot train with objective {requested!r}; it supports {allowed}")
    return requested


def build_objective(name: str, model, tensors: DatasetTensors, batch_size: int, max_len: int,
                    length_buckets: bool = False, sequence_loss: str = "model",
                    catalogue_chunk: int = DEFAULT_CHUNK, sampled_options: dict | None = None,
                    domain_codes=None) -> Objective:
    if name == "full_sequence":
        return FullSequence(model, tensors, batch_size, max_len, length_buckets, sequence_loss, catalogue_chunk,
                            sampled_options, domain_codes)
    if domain_codes is not None:
        raise ValueError(f"target_domain_loss applies to the full_sequence objective only, not {name}")
    if sequence_loss != "model":
        raise ValueError(f"sequence_loss={sequence_loss!r} applies to the full_sequence objective only, not {name}")
    if name == "prefix":
        return Prefix(model, tensors, batch_size, max_len)
    if name == "ctr":
        return LabelledSamples(model, tensors, batch_size)
    return Pairs(model, tensors, batch_size, name)


#: Loss families a comparison must match (docs/fair-comparisons.md): a model trained under one family
#: is compared with baselines of the same family, or the table marks the difference.
LOSS_FAMILIES = ("softmax-ce", "sampled-softmax", "gbce", "bce", "bpr", "hinge", "pointwise-bce", "none")


def loss_family(model, objective: str, settings: dict) -> tuple[str, str]:
    """(family, description) of the loss a run trains with, declared with its result.

    A model with its own loss says so with a ``loss_family`` attribute ``(family, description)``
    (LLM4CDSR: BCE with one negative); otherwise the family follows from the objective, the
    ``sequence_loss`` key and the model's RecBole ``loss_type``.
    """
    own = getattr(model, "loss_family", None)
    if own is not None:
        return own() if callable(own) else tuple(own)
    loss_type = str(getattr(model, "loss_type", "CE")).upper()
    if objective in ("full_sequence", "prefix"):
        seq = settings.get("sequence_loss", "model") if objective == "full_sequence" else "model"
        opts = {**SAMPLED_LOSS_DEFAULTS, **{k: settings[k] for k in SAMPLED_LOSS_DEFAULTS if k in settings}}
        if settings.get("target_domain_loss") and objective == "full_sequence":
            return describe("bce" if seq == "bce" or loss_type == "BPR" else "ce")
        if seq == "bce":
            return "bce", "binary cross-entropy, 1 uniform negative per target"
        if seq == "sampled":
            return ("sampled-softmax", f"sampled softmax, {opts['sampled_negatives']} "
                    f"{opts['sampled_distribution']} negatives + in-batch, log-Q corrected")
        if seq == "gbce":
            return "gbce", f"gBCE, {opts['sampled_negatives']} uniform negatives, t = {opts['gbce_t']}"
        if loss_type == "BPR":
            return "bpr", "BPR, 1 uniform negative per target"
        return "softmax-ce", "softmax cross-entropy over the whole catalogue"
    if objective == "pairwise":
        return "bpr", "BPR, 1 uniform negative per positive"
    if objective == "pointwise":
        return "pointwise-bce", "binary cross-entropy, 1 uniform negative per positive"
    if objective == "ctr":
        return "pointwise-bce", "binary cross-entropy on the samples' labels"
    return "none", "no gradient training (counts or a closed form)"
