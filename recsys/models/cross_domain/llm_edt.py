"""LLM-EDT: LLM-enhanced cross-domain sequential recommendation with a transferable item
augmenter and dual-phase training (SIGIR 2026).

- **Augmenter** (data side, ``recsys.llm.augment``): users whose training history is dominated
  by one domain get plausible items of the other domain inserted into their *training*
  sequences (never as validation or test targets; evaluation reads the real histories).
- **Phase 1, "one for all"** (``one_for_all``): the mixed thread only: frozen LLM item
  embeddings -> trainable adapter (+ ID residual for text-less items) -> causal transformer,
  BCE with one negative from the target's domain. Score ``<h_global, E_j>``.
- **Phase 2, "domain"**: phase 1 is frozen (this model freezes it itself, whatever trainer
  runs it); each domain sequence goes through the *same* frozen backbone with its own new
  position embedding and a residual bottleneck adapter ``x + Linear(d->k) -> ReLU -> Dropout
  -> Linear(k->d)``. Score ``<h_global, E_j> + <adapter_d(h_d), E_j>`` for item j of domain d.
  Loss ``BCE_A + BCE_B + beta * profile contrastive``.
- **Profiles**: the projected embedding of the user's domain-aware profile is pulled toward the
  user's adapted domain states. Unlike the official code (whose profile loss trains modules
  prediction never reads), this regulariser acts on the modules prediction uses (position
  embeddings and adapters); profiles are still not an input at prediction.

Gradients reach phase 2's position embeddings through the frozen backbone (the official code
runs it under ``no_grad``, so they never train), and both phases scale inputs by the same
``sqrt(d)``. Phase 2 starts from phase 1's best weights (``recsys``'s trainer restores them).
Differences from the official code: ``docs/models/llm-edt.md``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from recsys.models.cross_domain.base import CrossDomainSequential
from recsys.models.cross_domain.threads import (
    ThreadEncoder,
    attention_allowed,
    bce,
    domain_mask,
)
from recsys.models.protocol import config_value
from recsys.models.registry import register_model

DEFAULTS = {"hidden_size": 64, "inner_size": 256, "n_layers": 2, "n_heads": 1, "hidden_dropout_prob": 0.5,
            "attn_dropout_prob": 0.5, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "initializer_range": 0.02,
            "beta": 0.5, "tau": 1.0, "adapter_size": 32, "adapter_dropout": 0.3, "causal": True,
            "id_residual": "missing", "edt_phase": "one_for_all", "domain_epochs": None,
            "domain_learning_rate": 1e-4, "loss_type": "BCE", "bce_negatives": 1, "item_table": "trainable",
            "domain_loss": "domain_term"}
PHASES = ("one_for_all", "domain")
#: what phase 2 trains on: ``domain_term`` (the official code: each domain's loss on <adapter_d(h_d), E>
#: alone; prediction still adds the frozen global term) or ``summed`` (the loss on the score prediction uses,
#: <h_global, E> + <adapter_d(h_d), E>)
DOMAIN_LOSSES = ("domain_term", "summed")
#: parameters phase 2 trains (everything else is phase 1's and stays frozen there)
DOMAIN_PARAMS = r"^(domain_position|domain_adapter|profile)\."
NEEDS = ("item_text_embeddings", "item_has_text", "item_domains", "user_profile_embeddings", "training_augmentation")



class BottleneckAdapter(nn.Module):
    def __init__(self, d: int, k: int, dropout: float):
        super().__init__()
        self.down, self.up = nn.Linear(d, k), nn.Linear(k, d)
        self.dropout = nn.Dropout(dropout)
        nn.init.zeros_(self.up.weight)  # starts as the identity: phase 2 begins at phase 1's representation
        nn.init.zeros_(self.up.bias)

    def forward(self, x):
        return x + self.up(self.dropout(torch.relu(self.down(x))))


@register_model("LLM-EDT", "cross_domain", needs=NEEDS, full_sequence=True,
                description="LLM-enhanced cross-domain sequential recommender, augmenter + dual-phase training (SIGIR 2026)")
class LLMEDT(CrossDomainSequential):
    CONFIG_DEFAULTS = DEFAULTS
    SEARCH_SPACE = {"learning_rate": ("log", 1e-4, 1e-2), "hidden_dropout_prob": ("float", 0.1, 0.6),
                    "attn_dropout_prob": ("float", 0.1, 0.6), "n_layers": ("int", 1, 3),
                    "beta": ("float", 0.1, 0.9), "adapter_dropout": ("float", 0.0, 0.5)}
    NAME = "LLM-EDT"
    INPUT_DEFAULTS = {"profile_kind": "domain"}  # the paper's domain-aware profiles

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        d = self.d = int(config_value(config, "hidden_size", DEFAULTS))
        self.beta, self.tau = float(config_value(config, "beta", DEFAULTS)), float(config_value(config, "tau", DEFAULTS))
        self.causal = bool(config_value(config, "causal", DEFAULTS))
        self.objective_inputs(config, DEFAULTS)
        self.domain_loss = str(config_value(config, "domain_loss", DEFAULTS))
        if self.domain_loss not in DOMAIN_LOSSES:
            raise ValueError(f"LLM-EDT: domain_loss must be one of {DOMAIN_LOSSES}, got {self.domain_loss!r}")
        self.text_inputs(config, d, str(config_value(config, "id_residual", DEFAULTS)),
                         str(config_value(config, "item_table", DEFAULTS)))
        dropout, attn = float(config_value(config, "hidden_dropout_prob", DEFAULTS)), float(config_value(config, "attn_dropout_prob", DEFAULTS))
        self.mixed_position = nn.Embedding(self.max_seq_length, d)
        self.backbone = ThreadEncoder(d, int(config_value(config, "n_layers", DEFAULTS)), int(config_value(config, "n_heads", DEFAULTS)),
                                      int(config_value(config, "inner_size", DEFAULTS)), dropout, attn, str(config_value(config, "hidden_act", DEFAULTS)),
                                      float(config_value(config, "layer_norm_eps", DEFAULTS)))
        self.domain_position = nn.ModuleList(nn.Embedding(self.max_seq_length, d) for _ in range(2))
        k = int(config_value(config, "adapter_size", DEFAULTS))
        self.domain_adapter = nn.ModuleList(BottleneckAdapter(d, k, float(config_value(config, "adapter_dropout", DEFAULTS)))
                                            for _ in range(2))
        self.profile_inputs(config, d, self.beta)
        std = float(config_value(config, "initializer_range", DEFAULTS))
        for emb in (self.item_embedding, self.mixed_position, *self.domain_position):
            nn.init.normal_(emb.weight, std=std)
        # the phase is state (saved with the weights): best weights restored from phase 1 predict as phase 1
        self.register_buffer("phase_code", torch.zeros((), dtype=torch.long))
        self.set_training_phase(str(config_value(config, "edt_phase", DEFAULTS)))

    @property
    def phase(self) -> str:
        return PHASES[int(self.phase_code)]

    # -- phases -----------------------------------------------------------------------------
    def set_training_phase(self, name: str) -> None:
        """``one_for_all`` trains the mixed thread; ``domain`` freezes it and trains the domain modules.
        Other names (a custom schedule's) leave the phase unchanged."""
        if name not in PHASES:
            return
        import re

        self.phase_code.fill_(PHASES.index(name))
        for pname, p in self.named_parameters():
            in_domain = re.search(DOMAIN_PARAMS, pname) is not None
            p.requires_grad_(in_domain if name == "domain" else not in_domain)

    @staticmethod
    def default_phases(settings: dict) -> list[dict]:
        """The paper's schedule: phase 1 with the run's epochs and learning rate (Adam); phase 2 with AdamW
        (lr ``domain_learning_rate``, weight decay 0.01), gradient clipping 0.1 and ReduceLROnPlateau."""
        epochs = int(settings.get("epochs") or 20)
        return [{"name": "one_for_all", "epochs": epochs, "learning_rate": float(settings.get("learning_rate") or 1e-3)},
                {"name": "domain", "epochs": int(settings.get("domain_epochs") or epochs),
                 "learning_rate": float(settings.get("domain_learning_rate") or 1e-4), "optimizer": "adamw",
                 "weight_decay": 0.01, "clip_grad_norm": 0.1, "scheduler": "plateau:0.5:5", "trainable": DOMAIN_PARAMS}]

    # -- representations --------------------------------------------------------------------
    items = CrossDomainSequential.adapted_items  # item vectors E, shared by both phases

    def encode_global(self, item_seq: torch.Tensor) -> torch.Tensor:
        real = item_seq > 0
        pos = torch.arange(item_seq.shape[1], device=item_seq.device)
        x = self.items(item_seq) * real[..., None] * math.sqrt(self.d) + self.mixed_position(pos)
        return self.backbone(x, attention_allowed(real, self.causal))

    def encode_domains(self, item_seq: torch.Tensor) -> torch.Tensor:
        """[2, B, L, d]: each domain sequence through the shared backbone, its position embedding and adapter."""
        pos = torch.arange(item_seq.shape[1], device=item_seq.device)
        out = []
        for dom in (0, 1):
            mask = domain_mask(item_seq, self.item_domain, dom)
            x = self.items(item_seq * mask) * mask[..., None] * math.sqrt(self.d) + self.domain_position[dom](pos)
            out.append(self.domain_adapter[dom](self.backbone(x, attention_allowed(mask, self.causal))))
        return torch.stack(out)

    # -- training ---------------------------------------------------------------------------
    def full_sequence_loss(self, inputs: torch.Tensor, targets: torch.Tensor, gen=None,
                           users: torch.Tensor | None = None) -> torch.Tensor:
        mask = targets > 0
        y = targets[mask]
        if self.phase == "one_for_all":
            hg = self.encode_global(inputs)[mask]
            return self.target_loss(hg, y, gen)
        with torch.no_grad():  # phase 1 is frozen: its states are constants here
            hg = self.encode_global(inputs)[mask]
        dy = self.item_domain[y]
        h_dom = self.encode_domains(inputs)
        hd = torch.where(dy[:, None] == 0, h_dom[0][mask], h_dom[1][mask])
        h = hd if self.domain_loss == "domain_term" else hg + hd  # <hg, E> + <hd, E> = <hg + hd, E>
        loss = sum(self.target_loss(h[dy == dom], y[dy == dom], gen, frozen_items=True)
                   for dom in (0, 1) if bool((dy == dom).any()))
        if self.beta > 0 and self.profile is not None and users is not None:
            rows, last = torch.arange(len(inputs)), (inputs > 0).sum(1).clamp(min=1) - 1
            state = (h_dom[0][rows, last] + h_dom[1][rows, last]) / 2
            loss = loss + self.beta * self.profile.loss(users, state, self.tau)
        return loss

    def target_loss(self, h: torch.Tensor, y: torch.Tensor, gen=None, frozen_items: bool = False) -> torch.Tensor:
        """The objective over the target domain for states ``h`` (one per target): softmax CE over its items,
        or BCE with k of its items. ``frozen_items``: item vectors are phase 1's constants (phase 2)."""
        def vectors(items):
            if not frozen_items:
                return self.items(items)
            with torch.no_grad():
                return self.items(items)

        if self.objective == "ce":
            return self.candidates.softmax_ce(lambda rows, items: h[rows] @ vectors(items).T, y)
        neg = self.candidates.negatives(y, gen, self.k)
        hn = h[:, None] if neg.dim() == 2 else h
        return bce((h * vectors(y)).sum(-1), (hn * vectors(neg)).sum(-1))

    # -- prediction -------------------------------------------------------------------------
    def last_states(self, item_seq, item_seq_len):
        rows, last = torch.arange(len(item_seq)), item_seq_len - 1
        hg = self.encode_global(item_seq)[rows, last]
        if self.phase == "one_for_all":
            return hg, None
        return hg, self.encode_domains(item_seq)[:, rows, last]

    def forward(self, item_seq, item_seq_len):
        return self.last_states(item_seq, item_seq_len)[0]

    def thread_scores(self, interaction) -> tuple[torch.Tensor, torch.Tensor]:
        """([B, N] global term, [B, N] domain term: item j through the adapter of j's domain; 0 in phase 1)."""
        hg, hd = self.last_states(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        table = self.items()
        glob = hg @ table.T
        if hd is None:
            return glob, torch.zeros_like(glob)
        return glob, torch.where(self.item_domain[None] == 0, hd[0] @ table.T, hd[1] @ table.T)

    def full_sort_predict(self, interaction):
        glob, dom = self.thread_scores(interaction)
        return glob + dom

    def predict(self, interaction):
        hg, hd = self.last_states(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        items = interaction[self.ITEM_ID]
        e = self.items(items)
        score = (hg * e).sum(-1)
        if hd is not None:
            dom = self.item_domain[items]
            score = score + (torch.where(dom[:, None] == 0, hd[0], hd[1]) * e).sum(-1)
        return score
