"""What LLM4CDSR and LLM-EDT share: their inputs (frozen text embeddings, item domains, profiles),
the adapted item vectors, and RecBole's one-target ``calculate_loss`` on top of ``full_sequence_loss``."""

from __future__ import annotations

import numpy as np
import torch
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import InputType
from torch import nn

from recsys.models.cross_domain.threads import (
    check_domains,
    id_residual_rows,
    item_table,
    soft_contrastive,
)
from recsys.models.protocol import config_value
from recsys.nn.domain_losses import DOMAIN_OBJECTIVES, DomainCandidates, describe


class ProfileAdapter(nn.Module):
    """Frozen profile embeddings -> ``Linear(P -> P/2) -> Linear(P/2 -> d)``; rows of users without a profile are 0."""

    def __init__(self, profiles: np.ndarray, d: int):
        super().__init__()
        p = np.asarray(profiles, dtype=np.float32)
        self.register_buffer("profiles", torch.from_numpy(p))
        self.register_buffer("has_profile", torch.from_numpy(np.abs(p).sum(1) > 0))
        self.proj = nn.Sequential(nn.Linear(p.shape[1], p.shape[1] // 2), nn.Linear(p.shape[1] // 2, d))

    def loss(self, users: torch.Tensor, states: torch.Tensor, tau: float) -> torch.Tensor:
        """Contrastive pull of each user's projected profile toward ``states`` (one row per user)."""
        users = users.clamp(max=len(self.profiles) - 1)
        keep = self.has_profile[users]
        if int(keep.sum()) < 2:
            return states.new_zeros(())
        return soft_contrastive(self.proj(self.profiles[users[keep]]), states[keep], tau)


class CrossDomainSequential(SequentialRecommender):
    """Base of the cross-domain models; subclasses set ``NAME`` and build their threads."""

    input_type = InputType.POINTWISE
    NAME = "cross-domain model"

    def objective_inputs(self, config, defaults: dict) -> None:
        """``objective`` (bce / ce over the target domain), ``k`` negatives, the recorded ``loss_family``."""
        loss_type = str(config_value(config, "loss_type", defaults)).upper()
        self.objective = {"BCE": "bce", "CE": "ce"}.get(loss_type)
        if self.objective not in DOMAIN_OBJECTIVES:
            raise ValueError(f"{self.NAME}: loss_type must be BCE or CE (both over the target domain), got {loss_type!r}")
        self.loss_type = loss_type
        self.k = int(config_value(config, "bce_negatives", defaults))
        if self.k < 1:
            raise ValueError(f"{self.NAME}: bce_negatives must be >= 1, got {self.k}")
        self.loss_family = describe(self.objective, self.k)

    def text_inputs(self, config, d: int, id_residual: str, table: str = "trainable") -> tuple[np.ndarray, np.ndarray]:
        """Buffers ``item_domain``, ``id_rows``; the text table ``llm_table`` (a parameter initialised from the
        text embeddings when ``table = "trainable"``, else a frozen buffer); the adapter
        ``Linear(D->D/2)->Linear(D/2->d)`` and the ID residual table ``item_embedding``.
        Returns (text embeddings, domain codes)."""
        if config["item_text_embeddings"] is None:
            raise ValueError(f"{self.NAME} needs config key item_text_embeddings: item text embeddings aligned with "
                             "the dataset's item ids. recsys's pipeline adds them (recsys.llm.inputs.model_inputs); "
                             "inside RecBole, build them with model_inputs and align_to_recbole")
        text = np.asarray(config["item_text_embeddings"], dtype=np.float32)
        if len(text) != self.n_items:
            raise ValueError(f"{self.NAME}: item_text_embeddings has {len(text)} rows, the dataset has {self.n_items} "
                             "item ids (including padding 0): align it with the dataset")
        codes = self.domain_inputs(config)
        has_text = np.asarray(config["item_has_text"] if config["item_has_text"] is not None
                              else np.abs(text).sum(1) > 0, dtype=bool)
        self.item_table = table
        item_table(self, "llm_table", text, table)
        self.register_buffer("id_rows", torch.from_numpy(id_residual_rows(has_text, id_residual)))
        width = text.shape[1]
        self.adapter = nn.Sequential(nn.Linear(width, max(width // 2, d)), nn.Linear(max(width // 2, d), d))
        self.item_embedding = nn.Embedding(self.n_items, d, padding_idx=0)  # ID residual
        return text, codes

    def domain_inputs(self, config) -> np.ndarray:
        """Buffer ``item_domain`` (0/1, padding -1) and ``candidates`` (the target-domain pools of the losses)."""
        if config["item_domains"] is None:
            raise ValueError(f"{self.NAME} needs config key item_domains: each item's domain code aligned with the "
                             "dataset's item ids (recsys.llm.inputs.model_inputs; inside RecBole, align_to_recbole)")
        codes = check_domains(config["item_domains"], self.n_items, self.NAME)
        self.register_buffer("item_domain", torch.from_numpy(codes))
        self.candidates = DomainCandidates(codes)
        return codes

    def profile_inputs(self, config, d: int, beta: float) -> None:
        """``profile``: the profile adapter when profiles are given (required when ``beta > 0``)."""
        self.profile = None
        if config["user_profile_embeddings"] is not None:
            self.profile = ProfileAdapter(config["user_profile_embeddings"], d)
        elif beta > 0:
            raise ValueError(f"{self.NAME}: beta > 0 needs user_profile_embeddings (set beta = 0 to train without "
                             "profiles)")

    def adapted_items(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """adapter(LLM embedding) + ID residual, of all items or of ``items``."""
        if items is None:
            return self.adapter(self.llm_table) + self.item_embedding.weight * self.id_rows[:, None]
        return self.adapter(self.llm_table[items]) + self.item_embedding(items) * self.id_rows[items, None]

    def calculate_loss(self, interaction):
        """RecBole's interface: one target per sample, after the last position of its sequence."""
        seq, length = interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN]
        targets = torch.zeros_like(seq)
        targets[torch.arange(len(seq)), length - 1] = interaction[self.POS_ITEM_ID]
        return self.full_sequence_loss(seq, targets, users=interaction[self.USER_ID])
