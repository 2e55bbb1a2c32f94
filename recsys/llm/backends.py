"""Which generator a spec names (``smollm2-135m``, ``openai``, ``transformers:<dir>``, ``keywords``):
the one place that builds one, so the local model's module and the clients' module need not import
each other.
"""

from __future__ import annotations

import os

from recsys.llm.generators import (GeneratorError, KeywordProfileFallback, OpenAIChatGenerator, TextGenerator,
                                   TransformersGenerator)
from recsys.llm.local_llm import LOCAL_MODELS, LocalChatGenerator

GENERATORS = ("smollm2-135m", "openai", "transformers:<dir>", "keywords")


def make_generator(spec: str, catalogue: list[str] | None = None, **kw) -> TextGenerator:
    """The generator ``spec`` names; ``catalogue`` (item texts) feeds the keywords fallback's idf."""
    if spec == "openai":
        return OpenAIChatGenerator(kw.get("base_url") or os.environ.get("RECSYS_LLM_BASE_URL", ""),
                                   kw.get("model") or os.environ.get("RECSYS_LLM_MODEL", ""),
                                   kw.get("api_key_env", "OPENAI_API_KEY"), kw.get("timeout", 60.0),
                                   kw.get("max_retries", 3), kw.get("rate", 0.0), kw.get("concurrency", 4))
    if spec.startswith("transformers:"):
        return TransformersGenerator(spec.split(":", 1)[1])
    if spec == "keywords":
        return KeywordProfileFallback(catalogue or [])
    if spec in LOCAL_MODELS:
        penalty = kw.get("repetition_penalty") or os.environ.get("RECSYS_LLM_REPETITION_PENALTY")
        # (a step may fix it: augmentation decodes without, whatever the environment says)
        return LocalChatGenerator(spec, batch_size=kw.get("batch_size") or 16, threads=kw.get("threads"),
                                  dtype=kw.get("dtype") or os.environ.get("RECSYS_LLM_DTYPE", "auto"),
                                  **({"repetition_penalty": float(penalty)} if penalty else {}))
    raise GeneratorError(f"unknown generator {spec!r}; known: {', '.join(GENERATORS)}")
