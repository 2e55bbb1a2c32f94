"""Text generators: an OpenAI-compatible chat client, a local transformers directory, and named
non-LLM fallbacks. A fallback's output is marked ``[non-LLM: <method>]`` and ``is_llm = False``,
so nothing it writes can be mistaken for LLM output downstream.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from pathlib import Path

from recsys.errors import RecsysError
from recsys.llm.http import post_json


class GeneratorError(RecsysError):
    pass


class TextGenerator:
    name = "generator"
    model = ""
    is_llm = True
    batched = False  # True: generate_many runs prompts together (CachedGeneration sends batches)

    def __init__(self):
        self.calls = 0

    def generate(self, prompt: str, *, temperature: float = 0.0, max_tokens: int = 256, seed: int = 0,
                 system: str | None = None) -> str:
        self.calls += 1
        return self._generate(prompt, temperature=temperature, max_tokens=max_tokens, seed=seed, system=system)

    def _generate(self, prompt, **kw) -> str:
        raise NotImplementedError

    def generate_many(self, prompts: list[str], **params) -> list[str]:
        """Outputs for many prompts; batched backends (``batched = True``) share forward passes."""
        return [self.generate(p, **params) for p in prompts]

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model, "is_llm": self.is_llm}


class RateLimiter:
    """At most ``rate`` calls per second across threads (``rate <= 0``: no limit)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class OpenAIChatGenerator(TextGenerator):
    """Any OpenAI-compatible ``/v1/chat/completions`` server (vLLM, Ollama, hosted APIs)."""

    name = "openai-chat"

    def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY", timeout: float = 60.0,
                 max_retries: int = 3, rate: float = 0.0, concurrency: int = 4, backoff: float = 0.5):
        super().__init__()
        if not base_url:
            raise GeneratorError("the openai generator needs --base-url (e.g. http://127.0.0.1:8000)")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.api_key = os.environ.get(api_key_env, "")
        self.timeout, self.max_retries, self.backoff = timeout, max_retries, backoff
        self.concurrency = max(1, concurrency)
        self.limiter = RateLimiter(rate)
        self._local = threading.local()  # each request thread's last finish reason

    @property
    def last_finish_reason(self) -> str | None:
        """'stop' or 'length' (truncated) for the calling thread's last request, when the server says."""
        return getattr(self._local, "finish", None)

    def _generate(self, prompt, *, temperature, max_tokens, seed, system):
        messages = ([{"role": "system", "content": system}] if system else []) + \
            [{"role": "user", "content": prompt}]
        self.limiter.wait()
        body = post_json(f"{self.base_url}/v1/chat/completions",
                         {"model": self.model, "messages": messages, "temperature": temperature,
                          "max_tokens": max_tokens, "seed": seed},
                         self.api_key, self.timeout, self.max_retries, self.backoff, self.api_key_env)
        try:
            self._local.finish = body["choices"][0].get("finish_reason")
            return body["choices"][0]["message"]["content"].strip()
        except (KeyError, IndexError, TypeError) as exc:
            raise GeneratorError(f"{self.base_url}: unexpected response shape: {str(body)[:200]}") from exc


class TransformersGenerator(TextGenerator):
    """A local causal language model directory, run with transformers on this machine."""

    name = "transformers"

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        if not (self.path / "config.json").is_file():
            raise GeneratorError(f"{self.path}: not a transformers model directory (no config.json)")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._tok = AutoTokenizer.from_pretrained(self.path)
        self._model = AutoModelForCausalLM.from_pretrained(self.path)
        self.model = self.path.name

    def _generate(self, prompt, *, temperature, max_tokens, seed, system):
        import torch

        torch.manual_seed(seed)
        text = (system + "\n\n" if system else "") + prompt
        ids = self._tok(text, return_tensors="pt")
        out = self._model.generate(**ids, max_new_tokens=max_tokens, do_sample=temperature > 0,
                                   temperature=temperature or None)
        return self._tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()


_WORD = re.compile(r"[a-z][a-z\-']{2,}")
_STOP = frozenset("the and for with you your this that from are was were has have not but all any can our its "
                  "into than then them they their there these those who what when which while will would "
                  "categories keywords brand title description".split())


class KeywordProfileFallback(TextGenerator):
    """Not an LLM: the most distinctive words of the user's item texts (TF-IDF against the catalogue)."""

    name = "keywords-tfidf"
    model = "tfidf-top-words"
    is_llm = False

    def __init__(self, catalogue: list[str], top: int = 12):
        super().__init__()
        import math

        df = Counter()
        for text in catalogue:
            df.update(set(_WORD.findall((text or "").lower())))
        n = max(len(catalogue), 1)
        self.idf = {w: math.log(n / (1 + c)) + 1 for w, c in df.items()}
        self.top = top

    def _generate(self, prompt, **kw):
        body = prompt.split("ITEMS:", 1)[-1]
        tf = Counter(w for w in _WORD.findall(body.lower()) if w not in _STOP)
        ranked = sorted(tf, key=lambda w: (-tf[w] * self.idf.get(w, 1.0), w))[: self.top]
        return f"[non-LLM: {self.name}] interests: " + ", ".join(ranked)
