"""Prompts through a generator, concurrently, through the text cache: the machinery every LLM-side
step that writes text shares (profiles, augmentation, hard negatives).

Outputs are cached under the prompt's key (backend, model, prompt, sampling parameters), so a re-run
makes no calls; results reach the cache every ``flush_every`` prompts, so an interruption keeps the
work done and the next run continues from there.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

import polars as pl

from recsys.data import schema as S
from recsys.errors import RecsysError
from recsys.llm.cache import TextCache, cache_key, text_hash
from recsys.llm.generators import TextGenerator
from recsys.llm.http import LLMServerError


class ProfileStepInterrupted(RecsysError):
    """A generation step stopped by a server error; the outputs before it are kept in the cache."""


class CachedGeneration:
    """Runs prompts through a generator, concurrently, through the text cache; keeps work on failure."""

    def __init__(self, ds, generator: TextGenerator, max_tokens: int, seed: int, flush_every: int,
                 progress: bool, system: str, namespace: str = "profiles"):
        self.ds, self.g = ds, generator
        self.params = {"temperature": 0.0, "max_tokens": max_tokens, "seed": seed, "system": system}
        self.cache = TextCache(f"{namespace}-{generator.name}")
        self.flush_every, self.progress = flush_every, progress
        self.generated = 0

    def key(self, prompt: str) -> str:
        return cache_key(backend=self.g.name, model=self.g.model, prompt=prompt, **self.params)

    def run(self, prompts: list[str], owners: list[int], label: str) -> list[str]:
        """Outputs for ``prompts``; ``owners`` (user_idx per prompt) name the user an error stopped at."""
        keys = [self.key(p) for p in prompts]
        seen, unique = set(), []
        for i in (i for i, k in enumerate(keys) if k not in self.cache):  # identical prompts: generated once
            if keys[i] not in seen:
                seen.add(keys[i])
                unique.append(i)
        bar = None
        if self.progress and unique:
            from recsys.io.progress import progress_bar

            bar = progress_bar(len(unique), f"{label} {self.ds.name} ({self.g.name})", "prompt")
        p = self.params

        def one(i: int) -> dict:
            t0 = time.perf_counter()
            out = self.g.generate(prompts[i], temperature=p["temperature"], max_tokens=p["max_tokens"],
                                  seed=p["seed"], system=p["system"])
            return {"key": keys[i], "backend": self.g.name, "model": self.g.model, "is_llm": self.g.is_llm,
                    "params": json.dumps(p, sort_keys=True), "prompt_hash": text_hash(prompts[i]),
                    "prompt": prompts[i], "output": out, "latency": time.perf_counter() - t0,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

        pending: list[dict] = []
        done, failure = 0, None
        try:
            with ThreadPoolExecutor(max_workers=getattr(self.g, "concurrency", 1)) as pool:
                futures = {pool.submit(one, i): i for i in unique}
                for fut in as_completed(futures):
                    if fut.cancelled():
                        continue
                    try:
                        pending.append(fut.result())
                    except LLMServerError as exc:
                        if failure is None:  # keep what the other requests in flight still return
                            failure = (futures[fut], exc)
                            for f in futures:
                                f.cancel()
                        continue
                    done += 1
                    if bar:
                        bar.update(1)
                    if len(pending) >= self.flush_every:
                        self.cache.put(pending)
                        pending = []
        finally:
            self.cache.put(pending)
            self.generated += done
            if bar:
                bar.close()
        if failure is not None:
            i, exc = failure
            user_id = self.ds.users.filter(pl.col(S.USER_IDX) == owners[i])[S.USER][0]
            raise ProfileStepInterrupted(
                f"stopped at user {user_id!r} (user_idx {owners[i]}): {exc}\n  {done} profiles from this run "
                f"were kept ({len(self.cache)} in the cache); re-run the same command to continue") from exc
        return [self.cache.get(k)["output"] for k in keys]
