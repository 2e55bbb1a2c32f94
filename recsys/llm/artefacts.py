"""Where LLM-side artefacts live and what each records: ``<cache>/artefacts/<dataset>/<fp16>/``.

Each artefact is a data file plus ``<name>.json`` with its backend, model, parameters,
coverage and creation time; ``recsys llm status`` lists them, and results record the backends
of the artefacts a run used.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from recsys.data.prepare import PreparedDataset
from recsys.io.paths import cache_dir, inside
from recsys.io.safe_write import atomic_write


def artefact_dir(ds: PreparedDataset) -> Path:
    path = inside(cache_dir() / "artefacts", ds.name, ds.fingerprint[:16])  # a name never leads out of the cache
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_meta(ds: PreparedDataset, name: str, meta: dict) -> Path:
    path = inside(artefact_dir(ds), f"{name}.json")
    meta = {"artefact": name, "dataset": ds.name, "fingerprint": ds.fingerprint,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **meta}
    text = json.dumps(meta, indent=2, default=str)
    atomic_write(path, lambda p: p.write_text(text))  # the meta last: an artefact counts once it exists
    return path


def save_npy(path: Path, array) -> None:
    """``np.save`` to exactly ``path`` (no ``.npy`` appended to a temporary name), never pickling."""
    import numpy as np

    with open(path, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def list_artefacts(ds: PreparedDataset) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(artefact_dir(ds).glob("*.json"))]


def backend_label(meta: dict) -> str:
    """How a result names the producer of an artefact, e.g. ``minilm`` or ``keywords-tfidf (non-LLM fallback)``."""
    fallback = meta.get("is_llm") is False or meta.get("is_neural") is False
    return meta["backend"] + (" (non-LLM fallback)" if fallback else "")
