"""TTA4SR: test-time augmentation for sequential recommendation (Dang et al., SIGIR 2025).

A trained sequential model scores several perturbed copies of each user's history at
inference time and the full-catalogue score vectors are averaged. No retraining, no new
parameters: it wraps any registered sequential model that follows RecBole's interface
(``ITEM_SEQ``/``ITEM_SEQ_LEN`` in, ``full_sort_predict`` out), ours and RecBole's.

Operators (``docs/models/tta4sr.md`` has the details and the differences from the official code):

- ``TMask-R``: delete floor(sigma * n) random positions of the history, close the gaps.
- ``TMask-B``: replace the same positions by the padding id, so attention masks them out.
- ``TNoise``: uniform noise U[b, a) added to the input item embeddings (``input_passes``
  passes) or to the final hidden state (``output_passes`` passes, U[b1, a1)); all averaged.
- ``Mask``: replace the positions by a mask token (the zero vector: the backbone was never
  trained with a mask token, so the position keeps only its positional signal).
- ``Substitute``: replace the positions by each item's nearest neighbour in the backbone's
  own item-embedding space (cosine).

Our pipeline augments the **untruncated** history and then keeps the last ``max_len``
items; inside RecBole's own trainer only the truncated ``ITEM_SEQ`` exists, so the
augmentation sees the truncated history there (``augments`` says which).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import InputType

from recsys.models.protocol import config_defaults
from recsys.models.registry import get_model_spec, register_model

OPERATORS = ("TMask-R", "TMask-B", "TNoise", "Mask", "Substitute")

#: Per-dataset defaults from the paper's official scripts: sigma for (SASRec, GRU4Rec), TNoise's ranges.
SIGMA = {"beauty": (0.5, 0.5), "sports": (0.6, 0.7), "home": (0.6, 0.6), "yelp": (0.7, 0.7)}
NOISE = {"beauty": dict(noise_a=1.0, noise_b=0.5, input_passes=7, output_passes=5),
         "home": dict(noise_a=1.0, noise_b=0.5, input_passes=7, output_passes=5),
         "sports": dict(noise_a=2.0, noise_b=1.0, input_passes=7, output_passes=5),
         "yelp": dict(noise_a=2.0, noise_b=1.0, input_passes=5, output_passes=5, out_a=0.5, out_b=0.1)}
GENERIC = "beauty"  # datasets the paper did not tune get Beauty's values (recorded in the run's config)


@dataclass(frozen=True)
class TTAConfig:
    operator: str = "TMask-R"
    copies: int = 10  # m, for the sequence operators
    sigma: float = 0.5  # share of the history perturbed
    noise_a: float = 1.0  # TNoise input noise U[b, a)
    noise_b: float = 0.5
    out_a: float | None = None  # TNoise output noise U[b1, a1); None: the input range
    out_b: float | None = None
    input_passes: int = 7
    output_passes: int = 5
    include_original: bool = False  # also average in the un-augmented prediction
    seed: int = 0

    def __post_init__(self):
        if self.operator not in OPERATORS:
            raise ValueError(f"unknown TTA operator {self.operator!r}; choose one of {', '.join(OPERATORS)}")
        if not 0.0 <= self.sigma < 1.0:
            raise ValueError(f"TTA sigma must be in [0, 1), got {self.sigma}")
        if self.copies < 1:
            raise ValueError("TTA copies must be >= 1")

    def as_dict(self) -> dict:
        return asdict(self)


def tta_defaults(dataset: str, backbone: str, operator: str, **overrides) -> TTAConfig:
    """The paper's per-dataset defaults for ``operator`` on ``backbone`` (Beauty's for other datasets)."""
    key = next((k for k in SIGMA if k in dataset.lower()), GENERIC)
    sigma = SIGMA[key][1 if backbone.upper().startswith("GRU") else 0]
    cfg = TTAConfig(operator=operator, sigma=sigma, **NOISE[key])
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


def paper_defaults_for(dataset: str) -> str | None:
    """The paper dataset whose defaults ``dataset`` gets; None when it falls back to Beauty's (GENERIC)."""
    return next((k for k in SIGMA if k in dataset.lower()), None)


def label(backbone: str, operator: str) -> str:
    return f"TTA4SR({backbone}, {operator})"


@contextmanager
def _embedding_hook(model, fn):
    """Run ``fn`` on the output of every ``model.item_embedding(...)`` call inside the block."""
    handle = model.item_embedding.register_forward_hook(lambda mod, inp, out: fn(inp[0], out))
    try:
        yield
    finally:
        handle.remove()


class Augmenter:
    """Averaged full-catalogue scores of augmented copies of full (untruncated) histories."""

    def __init__(self, model, cfg: TTAConfig, max_len: int):
        self.model = model
        self.cfg = cfg
        self.max_len = max_len
        self._neighbours: torch.Tensor | None = None
        if cfg.operator in ("TNoise", "Mask", "Substitute") and not hasattr(model, "item_embedding"):
            raise ValueError(f"TTA operator {cfg.operator} needs the backbone's item_embedding; "
                             f"{type(model).__name__} has none (use TMask-R or TMask-B)")

    # -- the backbone's scores for left-aligned sequences --------------------------------------
    def _predict(self, seq: torch.Tensor, lengths: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        from recbole.data.interaction import Interaction

        m = self.model
        inter = Interaction({m.ITEM_SEQ: seq, m.ITEM_SEQ_LEN: lengths.clamp(min=1), m.USER_ID: users})
        return m.full_sort_predict(inter).reshape(len(seq), -1)

    def _truncate(self, seq: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep the last ``max_len`` items of left-aligned sequences."""
        start = (lengths - self.max_len).clamp(min=0)
        cols = start[:, None] + torch.arange(self.max_len)
        valid = cols < lengths[:, None]
        out = seq.gather(1, cols.clamp(max=seq.shape[1] - 1))
        return torch.where(valid, out, 0), lengths.clamp(max=self.max_len)

    def _chosen(self, lengths: torch.Tensor, width: int, gen: torch.Generator) -> torch.Tensor:
        """[B, width] bool: floor(sigma * n) random positions among each user's n items."""
        k = torch.floor(self.cfg.sigma * lengths.double()).long()
        keys = torch.rand((len(lengths), width), generator=gen)
        keys[torch.arange(width)[None, :] >= lengths[:, None]] = 2.0  # padding never chosen
        rank = keys.argsort(1).argsort(1)
        return rank < k[:, None]

    def neighbours(self) -> torch.Tensor:
        """Each item's most similar other item by cosine of the backbone's item embeddings."""
        if self._neighbours is None:
            w = torch.nn.functional.normalize(self.model.item_embedding.weight.detach(), dim=1)
            out = torch.zeros(len(w), dtype=torch.long)
            for a in range(0, len(w), 2048):
                sim = w[a: a + 2048] @ w.T
                sim[:, 0] = -2.0  # never the padding row
                sim[torch.arange(sim.shape[0]), torch.arange(a, a + sim.shape[0])] = -2.0  # nor itself
                out[a: a + 2048] = sim.argmax(1)
            self._neighbours = out
        return self._neighbours

    def _copy(self, seq, lengths, users, gen) -> torch.Tensor:
        op = self.cfg.operator
        chosen = self._chosen(lengths, seq.shape[1], gen)
        if op == "TMask-R":
            keep = (torch.arange(seq.shape[1])[None, :] < lengths[:, None]) & ~chosen
            order = (~keep).to(torch.int8).argsort(dim=1, stable=True)  # kept items first, in time order
            return self._predict(*self._truncate(seq.gather(1, order) * keep.gather(1, order),
                                                 keep.sum(1)), users)
        if op == "TMask-B":
            return self._predict(*self._truncate(seq.masked_fill(chosen, 0), lengths), users)
        if op == "Substitute":
            return self._predict(*self._truncate(torch.where(chosen, self.neighbours()[seq], seq), lengths), users)
        # Mask: the chosen positions' input embeddings become the zero vector
        tseq, tlen = self._truncate(seq, lengths)
        tmask, _ = self._truncate(chosen.long(), lengths)
        mask = tmask.bool()

        def zero(inp, out):
            if out.shape[:2] == mask.shape:
                return out.masked_fill(mask[..., None], 0.0)
            return out

        with _embedding_hook(self.model, zero):
            return self._predict(tseq, tlen, users)

    def _noise_passes(self, seq, lengths, users, gen):
        cfg = self.cfg
        tseq, tlen = self._truncate(seq, lengths)
        a, b = cfg.noise_a, cfg.noise_b
        for _ in range(cfg.input_passes):
            def add(inp, out):
                return out + (b + (a - b) * torch.rand(out.shape, generator=gen))
            with _embedding_hook(self.model, add):
                yield self._predict(tseq, tlen, users)
        a1 = cfg.noise_a if cfg.out_a is None else cfg.out_a
        b1 = cfg.noise_b if cfg.out_b is None else cfg.out_b
        if cfg.output_passes:
            h = self.model.forward(tseq, tlen.clamp(min=1))
            for _ in range(cfg.output_passes):
                noisy = h + (b1 + (a1 - b1) * torch.rand(h.shape, generator=gen))
                yield self.score_hidden(noisy)

    def score_hidden(self, h: torch.Tensor) -> torch.Tensor:
        if hasattr(self.model, "score_hidden"):
            return self.model.score_hidden(h)
        return h @ self.model.item_embedding.weight.T

    @torch.no_grad()
    def scores(self, seq: torch.Tensor, lengths: torch.Tensor, users: torch.Tensor, seed: int) -> torch.Tensor:
        """Mean score vectors over the augmented copies of left-aligned full histories ``seq``."""
        self.model.eval()
        gen = torch.Generator().manual_seed(int(seed))
        if self.cfg.operator == "TNoise":
            copies = self._noise_passes(seq, lengths, users, gen)
        else:
            copies = (self._copy(seq, lengths, users, gen) for _ in range(self.cfg.copies))
        if self.cfg.include_original:
            copies = _chain(self._predict(*self._truncate(seq, lengths), users), copies)
        mean, n = None, 0
        for s in copies:  # a running mean: identical copies give exactly the backbone's scores
            n += 1
            mean = s.clone() if mean is None else mean + (s - mean) / n
        return mean

    def score_function(self):
        """``score_fn(users, history)`` for ``recsys.eval.evaluate``: augments each user's full history."""
        calls = [0]

        def score(users: np.ndarray, history):
            full = int(history.lengths[users].max()) if len(users) else 1
            seq, lengths = history.window(users, max(full, 1))
            calls[0] += 1
            return self.scores(seq, lengths, torch.from_numpy(users), self.cfg.seed * 1_000_003 + calls[0])

        return score


def _chain(first, rest):
    yield first
    yield from rest


@register_model("TTA4SR", "sequential", run_type="tta",
                description="test-time augmentation around a trained sequential model")
class TTA4SR(SequentialRecommender):
    """RecBole model wrapping a backbone: trains it unchanged, augments its histories at inference.

    Config keys: ``backbone`` (a registered sequential model), ``tta_operator`` and optional
    ``tta_sigma``/``tta_copies``/``tta_include_original``/``tta_seed``; the backbone's own keys as usual.
    """

    input_type = InputType.POINTWISE  # RecBole asks; the loss is chosen by loss_type
    augments = "truncated"  # RecBole's trainer hands over ITEM_SEQ, already cut to MAX_ITEM_LIST_LENGTH

    TTA_KEYS = ("backbone", "tta_operator", "tta_sigma", "tta_copies", "tta_include_original", "tta_seed")

    @classmethod
    def known_config_keys(cls, overrides: dict, dataset: str) -> set[str]:
        """Its own keys plus its backbone's (RecBole's yaml and the backbone's defaults)."""
        from recsys.recbole.bridge import recbole_defaults

        keys = set(cls.TTA_KEYS)
        name = overrides.get("backbone")
        if isinstance(name, str) and name:
            backbone = get_model_spec(name).load()
            keys |= set(recbole_defaults(backbone, dataset)) | set(config_defaults(backbone))
        return keys

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        name = config["backbone"]
        if not name:
            raise ValueError("TTA4SR needs config key 'backbone' (e.g. SASRec or GRU4Rec)")
        spec = get_model_spec(name)
        if spec.task != "sequential" or spec.name == "TTA4SR":
            raise ValueError(f"TTA4SR's backbone must be a sequential model, got {name!r} ({spec.task})")
        _fill_model_defaults(config, spec.name)
        self.backbone = spec.load()(config, dataset)
        ds_name = str(config["dataset"] or "")
        cfg = tta_defaults(ds_name, spec.name, config["tta_operator"] or "TMask-R",
                           sigma=config["tta_sigma"], copies=config["tta_copies"],
                           include_original=config["tta_include_original"], seed=config["tta_seed"])
        self.augmenter = Augmenter(self.backbone, cfg, self.max_seq_length)

    def forward(self, item_seq, item_seq_len):
        return self.backbone.forward(item_seq, item_seq_len)

    def calculate_loss(self, interaction):
        return self.backbone.calculate_loss(interaction)

    def predict(self, interaction):
        return self.backbone.predict(interaction)

    def full_sort_predict(self, interaction):
        seq, lengths = interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN]
        return self.augmenter.scores(seq, lengths, interaction[self.USER_ID], self.augmenter.cfg.seed)


def _fill_model_defaults(config, model_name: str) -> None:
    """Give a wrapped RecBole backbone its own yaml defaults (RecBole loaded the wrapper's, not its)."""
    import importlib.resources

    import yaml

    path = importlib.resources.files("recbole") / "properties" / "model" / f"{model_name}.yaml"
    if not path.is_file():
        return
    loader = getattr(config, "yaml_loader", yaml.SafeLoader)  # RecBole's loader reads 1e-12 as a float
    for key, value in (yaml.load(path.read_text(), Loader=loader) or {}).items():
        if config[key] is None:
            config[key] = value
