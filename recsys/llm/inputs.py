"""The extra tensors a model declares in ``register_model(needs=...)``, built or loaded before training.

Models never read the LLM cache or the data folder themselves, and training never calls an LLM
backend: the bench runner and the CLI call ``resolve_inputs`` first, which turns a model's needs
into arrays aligned with its item ids, and hand them to ``recsys.train.run.train_run(inputs=...)``.

- ``item_text_embeddings``: the item-text embedding artefact (``recsys llm embed``), built
  with the run's ``text_encoder`` (default ``minilm``) when the cache does not have it yet;
- ``item_sids``: semantic IDs from those embeddings (``recsys llm sids``), ``sid_levels`` x
  ``sid_codes`` (default 4 x 128), collisions kept (the disambiguation column is dropped);
- ``item_cooccurrence``: PPMI co-occurrence neighbours from the **training** split only;
- ``item_domains`` / ``item_has_text``: each item's domain code (0/1, padding -1) and whether it
  has real text (cross-domain models embed a text-less item by its domain's name, and give it
  a trainable ID residual);
- ``user_profile_embeddings``: LLM user profiles (``profile_kind``: hierarchical or domain,
  from the ``profile_generator``; training interactions only), embedded with the text encoder;
- ``training_augmentation``: not an array: the run's training sequences get the augmenter's
  items (``recsys.llm.augment``), see ``training_tensors``.

The metas of the LLM-side artefacts used are returned, so every result records its backends.
"""

from __future__ import annotations

import json

import numpy as np

from recsys.data.cooccurrence import ppmi_neighbours
from recsys.data.prepare import PreparedDataset
from recsys.data.tensors import DatasetTensors
from recsys.models.protocol import (
    INPUT_KEYS,
    MissingModelInput,
    ModelInputs,
    input_defaults,
)
from recsys.models.registry import get_model_spec


def resolve_inputs(model_name: str, ds: PreparedDataset, tensors: DatasetTensors,
                   settings: dict) -> ModelInputs | None:
    """The model's needs as ``ModelInputs`` (None for a model without needs): arrays for its config,
    the run's training tensors (with the augmenter's items when it asks for them), artefact metas.
    Under torchrun, rank 0 fills the artefact cache and the other ranks read it."""
    from recsys import distributed

    spec = get_model_spec(model_name)
    if not spec.needs:
        return None
    settings = {**input_defaults(spec.load()), **settings}
    with distributed.main_first():
        arrays, metas = model_inputs(spec.needs, ds, tensors, settings)
    if "training_augmentation" in spec.needs:  # the augmenter's items join the training sequences only
        real_text = arrays["item_text_embeddings"] * arrays["item_has_text"][:, None]
        tensors, aug_metas = training_tensors(spec.needs, ds, tensors, settings, real_text)
        metas = [*metas, *aug_metas]
    return ModelInputs(arrays, tensors, metas)


def _load_artefact(ds: PreparedDataset, name: str):
    from recsys.llm.artefacts import artefact_dir

    base = artefact_dir(ds)
    data, meta = base / f"{name}.npy", base / f"{name}.json"
    if data.is_file() and meta.is_file():
        return np.load(data, allow_pickle=False), json.loads(meta.read_text())
    return None, None


def text_embeddings(ds: PreparedDataset, encoder: str = "minilm") -> tuple[np.ndarray, dict]:
    from recsys.llm.embed import embed_items
    from recsys.llm.encoders import make_encoder

    vectors, meta = _load_artefact(ds, f"embeddings-{encoder}")
    if vectors is None:
        try:
            vectors, meta = embed_items(ds, make_encoder(encoder))
        except ValueError as exc:
            raise MissingModelInput(f"{exc}. This model needs item text (for its embeddings and semantic IDs) "
                                    "and refuses to run ID-only; use a dataset whose recipe has item text") from exc
        meta = {"artefact": f"embeddings-{encoder}", **meta}
    return vectors, meta


def semantic_ids(ds: PreparedDataset, embeddings: np.ndarray, embed_meta: dict, levels: int,
                 codes: int) -> tuple[np.ndarray, dict]:
    from recsys.llm.sids import build_sids

    name = f"sids-{embed_meta['backend']}-L{levels}-K{codes}"
    sids, meta = _load_artefact(ds, name)
    if sids is None:
        sids, meta = build_sids(ds, embeddings, embed_meta, levels=levels, codes=codes)
        meta = {"artefact": name, **meta}
    return sids[:, :levels], meta


def model_inputs(needs: tuple[str, ...], ds: PreparedDataset, tensors: DatasetTensors,
                 settings: dict) -> tuple[dict, list[dict]]:
    """({config key: array}, [artefact metas]) for a model's ``needs``."""
    cfg = {k: settings.get(k, v) for k, v in INPUT_KEYS.items()}
    out, metas = {}, []
    embeddings = embed_meta = None
    cross_domain = "item_domains" in needs
    if cross_domain:
        from recsys.eval.domains import item_domains

        _, out["item_domains"] = item_domains(tensors)
    if cross_domain and {"item_text_embeddings", "item_has_text", "user_profile_embeddings"} & set(needs):
        embeddings, embed_meta, has_text = cross_domain_embeddings(ds, cfg["text_encoder"], out["item_domains"])
        metas.append(embed_meta)
        out["item_text_embeddings"] = embeddings
        if "item_has_text" in needs:
            out["item_has_text"] = has_text
        if cfg["describe_items_without_text"] != "none":
            out["item_text_embeddings"] = embeddings = described(ds, embeddings, has_text, cfg, metas)
    elif {"item_text_embeddings", "item_sids", "hard_negative_pairs"} & set(needs):
        embeddings, embed_meta = text_embeddings(ds, cfg["text_encoder"])
        metas.append(embed_meta)
        if cfg["describe_items_without_text"] != "none":
            embeddings = described(ds, embeddings, np.abs(embeddings).sum(1) > 0, cfg, metas)
            embed_meta = {**embed_meta, "backend": f"{embed_meta['backend']}+described-{cfg['describe_items_without_text']}"}
        if "item_text_embeddings" in needs:
            out["item_text_embeddings"] = embeddings
    if "item_sids" in needs:
        out["item_sids"], sid_meta = semantic_ids(ds, embeddings, embed_meta, int(cfg["sid_levels"]),
                                                  int(cfg["sid_codes"]))
        metas.append(sid_meta)
    if "item_cooccurrence" in needs:
        out["item_cooccurrence"] = ppmi_neighbours(tensors.train, tensors.n_items)
    if "user_profile_embeddings" in needs:
        out["user_profile_embeddings"], profile_meta = profile_embeddings(ds, cfg, embeddings)
        metas.append(profile_meta)
    if "hard_negative_pairs" in needs:
        out["hard_negative_pairs"], out["hard_negative_vectors"], hn_meta = hard_negative_inputs(ds, cfg, embeddings)
        metas.append(hn_meta)
    unknown = set(needs) - set(out) - {"training_augmentation"}
    if unknown:
        raise MissingModelInput(f"no builder for model input(s) {sorted(unknown)}")
    return out, metas


def described(ds: PreparedDataset, embeddings: np.ndarray, has_text: np.ndarray, cfg: dict,
              metas: list[dict]) -> np.ndarray:
    """``embeddings`` with the items without text embedded by their generated descriptions
    (``describe_items_without_text``: a generator spec; recsys.llm.item_descriptions)."""
    from recsys.data import schema as S
    from recsys.llm.backends import make_generator
    from recsys.llm.encoders import make_encoder
    from recsys.llm.item_descriptions import fill_described
    from recsys.llm.templates import ItemTemplate

    texts = ItemTemplate.for_dataset(ds).render(ds.items.sort(S.ITEM_IDX))
    generator = make_generator(str(cfg["describe_items_without_text"]), catalogue=[t or "" for t in texts])
    filled, meta = fill_described(ds, embeddings, has_text, generator, make_encoder(str(cfg["text_encoder"])))
    metas.append(meta)
    return filled


def hard_negative_inputs(ds: PreparedDataset, cfg: dict, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """([n, 3] (user_idx, item_idx, negative item), [n, D] hard-negative vectors, meta) of the training pairs."""
    from recsys.data import schema as S
    from recsys.llm.hard_negatives import (
        FALLBACK,
        FALLBACKS,
        artefact_name,
        build_hard_negatives,
        load_hard_negatives,
    )

    spec = str(cfg["hard_negative_generator"])
    generator = encoder = None
    fallback = spec if spec in FALLBACKS else FALLBACK
    if spec not in ("none", *FALLBACKS):
        from recsys.llm.encoders import make_encoder
        from recsys.llm.backends import make_generator

        generator, encoder = make_generator(spec), make_encoder(str(cfg["text_encoder"]))
    label = generator.name if generator is not None else fallback
    per_user = int(cfg["hard_negative_pairs_per_user"])
    saved = load_hard_negatives(ds, label, per_user)
    frame, vectors, meta = saved if saved is not None else build_hard_negatives(
        ds, embeddings, generator, encoder, progress=False, fallback=fallback, per_user=per_user)
    pairs = np.stack([frame[S.USER_IDX].to_numpy(), frame[S.ITEM_IDX].to_numpy(),
                      frame["negative_item"].to_numpy()], axis=1)
    return pairs, np.asarray(vectors, dtype=np.float32), {"artefact": artefact_name(label, per_user), **meta}


def cross_domain_embeddings(ds: PreparedDataset, encoder: str, domains: np.ndarray) -> tuple[np.ndarray, dict, np.ndarray]:
    """(embeddings, meta, has_text): items without text are embedded by their domain's name (the
    spec's last resort), so a model can still tell the domains apart; ``has_text`` marks real text."""
    from recsys.llm.encoders import make_encoder

    try:
        vectors, meta = text_embeddings(ds, encoder)
    except MissingModelInput:
        vectors, meta = None, {"artefact": f"embeddings-{encoder}", "backend": encoder, "coverage": 0.0}
    names = sorted(ds.items["domain"].drop_nulls().unique().to_list())
    enc = make_encoder(encoder)
    name_vectors = np.asarray(enc.encode(names), dtype=np.float32)
    if vectors is None:
        vectors = np.zeros((len(domains), name_vectors.shape[1]), dtype=np.float32)
    has_text = np.abs(vectors).sum(1) > 0
    has_text[0] = False
    vectors = vectors.copy()
    fill = (~has_text) & (domains >= 0)
    vectors[fill] = name_vectors[domains[fill]]
    meta = {**meta, "text_coverage": float(has_text[1:].mean()), "domain_name_fallback": int(fill.sum())}
    return vectors, meta, has_text


def profile_embeddings(ds: PreparedDataset, cfg: dict, item_embeddings: np.ndarray | None) -> tuple[np.ndarray, dict]:
    """[n_users + 1, D] embeddings of the users' profiles (0 for users without one), and the profiles' meta."""
    import polars as pl

    from recsys.data import schema as S
    from recsys.llm.artefacts import artefact_dir
    from recsys.llm.embed import embed_texts
    from recsys.llm.encoders import make_encoder
    from recsys.llm.backends import make_generator
    from recsys.llm.profiles import build_profiles
    from recsys.llm.templates import ItemTemplate

    kind = str(cfg["profile_kind"])
    catalogue = [t or "" for t in ItemTemplate.for_dataset(ds).render(ds.items.sort(S.ITEM_IDX))]
    generator = make_generator(str(cfg["profile_generator"]), catalogue=catalogue)
    name = f"profiles-{kind}-{generator.name}"
    path = artefact_dir(ds) / f"{name}.parquet"
    meta_path = path.with_suffix(".json")
    if path.is_file() and meta_path.is_file():
        frame, meta = pl.read_parquet(path, glob=False), json.loads(meta_path.read_text())
    else:
        frame, meta = build_profiles(ds, generator, kind=kind, embeddings=item_embeddings,
                                     n_clusters=int(cfg["profile_clusters"]), max_items=int(cfg["profile_items"]),
                                     progress=False)
        meta = {"artefact": name, **meta}
    enc = make_encoder(str(cfg["text_encoder"]))
    vectors = embed_texts(enc, frame["profile"].to_list())
    n_users = int(ds.users[S.USER_IDX].max())
    out = np.zeros((n_users + 1, vectors.shape[1]), dtype=np.float32)
    out[frame[S.USER_IDX].to_numpy()] = vectors
    return out, {**meta, "embedded_with": enc.name}


def training_tensors(needs: tuple[str, ...], ds: PreparedDataset, tensors: DatasetTensors, settings: dict,
                     embeddings: np.ndarray | None) -> tuple[DatasetTensors, list[dict]]:
    """The run's tensors with the augmenter's items in the training sequences (``training_augmentation``)."""
    cfg = {k: settings.get(k, v) for k, v in INPUT_KEYS.items()}
    if "training_augmentation" not in needs or not cfg["augment"]:
        return tensors, []
    from recsys.data.tensors import with_training_items
    from recsys.llm.augment import COLLABORATIVE, FALLBACK, augment_training, interaction_vectors

    generator, fallback = None, FALLBACK
    if str(cfg["augment_generator"]) == COLLABORATIVE:  # no text needed: item vectors from training interactions
        embeddings, fallback = interaction_vectors(ds), COLLABORATIVE
    elif str(cfg["augment_generator"]) not in ("none", FALLBACK):
        from recsys.llm.backends import make_generator

        # a pick list copies candidate titles or numbers from the prompt: no repetition penalty (docs/llm.md)
        generator = make_generator(str(cfg["augment_generator"]), repetition_penalty=1.0)
    rows, meta = augment_training(ds, embeddings, generator, per_user=int(cfg["augment_per_user"]),
                                  min_share=float(cfg["augment_min_share"]), pool=int(cfg["augment_pool"]),
                                  min_similarity=float(cfg["augment_min_similarity"]), progress=False,
                                  fallback=fallback)
    return with_training_items(tensors, rows), [{"artefact": f"augment-{meta['backend']}", **meta}]
