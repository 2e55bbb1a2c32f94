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
from recsys.llm.output_checks import problem, trim_to_sentence


class ProfileStepInterrupted(RecsysError):
    """A generation step stopped by a server error; the outputs before it are kept in the cache."""


def usable_share(quality: dict) -> float | None:
    """Share of outputs usable after retries (None when nothing was generated or read)."""
    return round(quality["usable"] / quality["outputs"], 4) if quality["outputs"] else None


RETRY_TEMPERATURE = 0.7  # a retry samples (greedy decoding would repeat the unusable output), seeded


class CachedGeneration:
    """Runs prompts through a generator, concurrently (or in batches), through the text cache; keeps work
    on failure. An LLM's outputs are checked (``recsys.llm.output_checks``); an unusable one is retried up
    to ``retries`` times with seeded sampling, and ``quality`` counts what was usable. ``whole_text=False``:
    the step reads picks out of the text (augmentation), so an answer cut at ``max_tokens`` is judged by
    ``check`` alone, not called truncated."""

    def __init__(self, ds, generator: TextGenerator, max_tokens: int, seed: int, flush_every: int,
                 progress: bool, system: str, namespace: str = "profiles", retries: int = 2, check=None,
                 whole_text: bool = True):
        self.ds, self.g = ds, generator
        self.params = {"temperature": 0.0, "max_tokens": max_tokens, "seed": seed, "system": system}
        self.cache = TextCache(f"{namespace}-{generator.name}")
        self.flush_every, self.progress = flush_every, progress
        self.retries, self.check, self.whole_text = retries, check, whole_text
        self.generated = 0
        self.unusable: set[int] = set()
        self.quality = {"outputs": 0, "usable_first_try": 0, "trimmed": 0, "retried": 0, "usable": 0,
                        "problems": {}}

    def key(self, prompt: str, params: dict | None = None) -> str:
        variant = {"variant": self.g.variant} if getattr(self.g, "variant", "") else {}  # e.g. the dtype
        return cache_key(backend=self.g.name, model=self.g.model, prompt=prompt, **variant, **(params or self.params))

    def run(self, prompts: list[str], owners: list[int] | None, label: str) -> list[str]:
        """Outputs for ``prompts``; ``owners`` (user_idx per prompt, or None) name the user an error stopped at."""
        rows = self._run(prompts, owners, label, self.params)
        outputs = [r["output"] for r in rows]
        q = self.quality
        q["outputs"] += len(rows)
        if not self.g.is_llm:  # a named algorithm's output is what it is; nothing to retry
            q["usable_first_try"] += len(rows)
            q["usable"] += len(rows)
            self.unusable = set()
            return outputs
        bad = []
        for i, r in enumerate(rows):
            reason = problem(r["output"], self._finish(r), self.check)
            if reason is not None:
                q["problems"][reason] = q["problems"].get(reason, 0) + 1
                kept = self._trimmed(r)
                if kept is None:
                    bad.append(i)
                else:
                    outputs[i] = kept
        q["usable_first_try"] += len(rows) - len(bad)
        q["retried"] += len(bad)
        for attempt in range(1, self.retries + 1):
            if not bad:
                break
            params = {**self.params, "temperature": RETRY_TEMPERATURE, "seed": self.params["seed"] + attempt}
            again = self._run([prompts[i] for i in bad], None if owners is None else [owners[i] for i in bad],
                              f"{label} (retry {attempt})", params)
            still = []
            for i, r in zip(bad, again):
                kept = r["output"] if problem(r["output"], self._finish(r), self.check) is None else self._trimmed(r)
                if kept is None:
                    still.append(i)
                else:
                    outputs[i] = kept
            bad = still
        q["usable"] += len(rows) - len(bad)
        self.unusable = set(bad)  # of this call's prompts: still unusable after the retries (kept, flagged)
        return outputs

    def _finish(self, row: dict) -> str | None:
        return row.get("finish") if self.whole_text else None

    def _trimmed(self, row: dict) -> str | None:
        """A truncated output's complete sentences, when they pass every check (counted in ``quality``)."""
        if row.get("finish") != "length":
            return None
        text = trim_to_sentence(row["output"])
        if text is None or problem(text, None, self.check) is not None:
            return None
        self.quality["trimmed"] += 1
        return text

    def _run(self, prompts: list[str], owners: list[int] | None, label: str, params: dict) -> list[dict]:
        keys = [self.key(p, params) for p in prompts]
        seen, unique = set(), []
        for i in (i for i, k in enumerate(keys) if k not in self.cache):  # identical prompts: generated once
            if keys[i] not in seen:
                seen.add(keys[i])
                unique.append(i)
        bar = None
        if self.progress and unique:
            from recsys.io.progress import progress_bar

            bar = progress_bar(len(unique), f"{label} {self.ds.name} ({self.g.name})", "prompt")
        job = _Job(prompts, keys, params, bar)
        try:
            if getattr(self.g, "batched", False):
                self._batched(job, unique)
            else:
                self._threaded(job, unique)
        finally:
            self.cache.put(job.pending)
            self.generated += job.done
            if bar:
                bar.close()
        if job.failure is not None:
            i, exc = job.failure
            if owners is None:  # prompts that belong to no user (item descriptions)
                where = f"prompt {i + 1} of {len(prompts)}"
            else:
                user_id = self.ds.users.filter(pl.col(S.USER_IDX) == owners[i])[S.USER][0]
                where = f"user {user_id!r} (user_idx {owners[i]})"
            raise ProfileStepInterrupted(
                f"stopped at {where}: {exc}\n  {job.done} outputs from this run "
                f"were kept ({len(self.cache)} in the cache); re-run the same command to continue") from exc
        return [self.cache.get(k) for k in keys]

    def _row(self, job: "_Job", i: int, out: str, seconds: float, finish: str | None) -> dict:
        return {"key": job.keys[i], "backend": self.g.name, "model": self.g.model, "is_llm": self.g.is_llm,
                "params": json.dumps(job.params, sort_keys=True), "prompt_hash": text_hash(job.prompts[i]),
                "prompt": job.prompts[i], "output": out, "latency": seconds, "finish": finish,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def _batched(self, job: "_Job", unique: list[int]) -> None:
        """A batched backend: ``flush_every`` prompts per call (it splits them into its batches)."""
        p = job.params
        for a in range(0, len(unique), self.flush_every):
            idx = unique[a:a + self.flush_every]
            t0 = time.perf_counter()
            outs = self.g.generate_many([job.prompts[i] for i in idx], temperature=p["temperature"],
                                        max_tokens=p["max_tokens"], seed=p["seed"], system=p["system"])
            finishes = getattr(self.g, "last_finishes", None) or [None] * len(idx)
            seconds = (time.perf_counter() - t0) / max(len(idx), 1)
            self.cache.put([self._row(job, i, o, seconds, f) for i, o, f in zip(idx, outs, finishes)])
            job.advance(len(idx))

    def _threaded(self, job: "_Job", unique: list[int]) -> None:
        """One prompt per call, ``concurrency`` calls in flight; a server error stops new calls but keeps
        what the calls already in flight return."""
        p = job.params

        def one(i: int) -> dict:
            t0 = time.perf_counter()
            out = self.g.generate(job.prompts[i], temperature=p["temperature"], max_tokens=p["max_tokens"],
                                  seed=p["seed"], system=p["system"])
            return self._row(job, i, out, time.perf_counter() - t0, getattr(self.g, "last_finish_reason", None))

        with ThreadPoolExecutor(max_workers=getattr(self.g, "concurrency", 1)) as pool:
            futures = {pool.submit(one, i): i for i in unique}
            for fut in as_completed(futures):
                if fut.cancelled():
                    continue
                try:
                    job.pending.append(fut.result())
                except LLMServerError as exc:
                    if job.failure is None:
                        job.failure = (futures[fut], exc)
                        for f in futures:
                            f.cancel()
                    continue
                job.advance(1)
                if len(job.pending) >= self.flush_every:
                    self.cache.put(job.pending)
                    job.pending = []


class _Job:
    """One ``_run``'s state: its prompts and keys, the rows not yet flushed, the count and the failure."""

    def __init__(self, prompts: list[str], keys: list[str], params: dict, bar):
        self.prompts, self.keys, self.params, self.bar = prompts, keys, params, bar
        self.pending: list[dict] = []
        self.done = 0
        self.failure: tuple[int, Exception] | None = None

    def advance(self, n: int) -> None:
        self.done += n
        if self.bar:
            self.bar.update(n)
