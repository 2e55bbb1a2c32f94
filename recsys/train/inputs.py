"""The extra tensors a model declares in ``register_model(needs=...)``, built or loaded for a run.

Models never read the LLM cache or the data folder themselves: the pipeline resolves their
needs into arrays aligned with the model's item ids and passes them as config keys.

- ``item_text_embeddings``: the item-text embedding artefact (``recsys llm embed``), built
  with the run's ``text_encoder`` (default ``minilm``) when the cache does not have it yet;
- ``item_sids``: semantic IDs from those embeddings (``recsys llm sids``), ``sid_levels`` x
  ``sid_codes`` (default 4 x 128), collisions kept (the disambiguation column is dropped);
- ``item_cooccurrence``: PPMI co-occurrence neighbours from the **training** split only.

The metas of the LLM-side artefacts used are returned, so every result records its backends.
"""

from __future__ import annotations

import json

import numpy as np

from recsys.data.cooccurrence import ppmi_neighbours
from recsys.data.prepare import PreparedDataset
from recsys.data.tensors import DatasetTensors
from recsys.errors import RecsysError

#: Config keys that choose how needs are built (accepted for any model that has needs).
INPUT_KEYS = {"text_encoder": "minilm", "sid_levels": 4, "sid_codes": 128}


class MissingModelInput(RecsysError):
    pass


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
    if {"item_text_embeddings", "item_sids"} & set(needs):
        embeddings, embed_meta = text_embeddings(ds, cfg["text_encoder"])
        metas.append(embed_meta)
        if "item_text_embeddings" in needs:
            out["item_text_embeddings"] = embeddings
    if "item_sids" in needs:
        out["item_sids"], sid_meta = semantic_ids(ds, embeddings, embed_meta, int(cfg["sid_levels"]),
                                                  int(cfg["sid_codes"]))
        metas.append(sid_meta)
    if "item_cooccurrence" in needs:
        out["item_cooccurrence"] = ppmi_neighbours(tensors.train, tensors.n_items)
    unknown = set(needs) - set(out)
    if unknown:
        raise MissingModelInput(f"no builder for model input(s) {sorted(unknown)}")
    return out, metas


def align_to_recbole(recbole_dataset, ds: PreparedDataset, arrays: dict) -> dict:
    """Re-index arrays indexed by our ``item_idx`` to a RecBole dataset's internal item ids."""
    from recsys.data import schema as S

    tokens = recbole_dataset.field2id_token[recbole_dataset.iid_field]  # internal id -> token ([PAD] at 0)
    lookup = dict(zip(ds.items[S.ITEM].cast(str).to_list(), ds.items[S.ITEM_IDX].to_list()))
    ours = np.array([0] + [lookup[str(t)] for t in tokens[1:]], dtype=np.int64)
    out = {}
    for key, value in arrays.items():
        if hasattr(value, "tocsr"):
            out[key] = value.tocsr()[ours][:, ours]
        else:
            out[key] = np.asarray(value)[ours]
    return out
