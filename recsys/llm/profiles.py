"""User profiles from training interactions only, through a generator and the text cache.

A profile prompt lists a user's most recent training items (templated text); the output is
cached under the prompt's key, so a re-run makes no calls. Requests run concurrently up to
the generator's limit; results reach the cache every ``flush_every`` users, so an
interruption (a timeout, Ctrl-C) keeps the work done and the next run continues from there.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

import polars as pl

from recsys.data import schema as S
from recsys.data.prepare import PreparedDataset
from recsys.errors import RecsysError
from recsys.llm.artefacts import artefact_dir, write_meta
from recsys.llm.cache import TextCache, cache_key, text_hash
from recsys.llm.generators import TextGenerator
from recsys.llm.http import LLMServerError
from recsys.llm.templates import ItemTemplate

SYSTEM = "You describe a shopper's or viewer's preferences for a recommender system. Be concise and factual."
PROMPT = ("Here are the items a user interacted with, oldest first.\nITEMS:\n{items}\n\n"
          "In two or three sentences, describe this user's preferences (themes, categories, brands, style). "
          "Do not list the items.")


class ProfileStepInterrupted(RecsysError):
    pass


def profile_prompts(ds: PreparedDataset, template: ItemTemplate, max_items: int = 20,
                    limit: int | None = None) -> tuple[list[int], list[str]]:
    """(user_idx, prompt) for users with training items; only the ``train`` split is read."""
    texts = dict(zip(ds.items.sort(S.ITEM_IDX)[S.ITEM_IDX].to_list(), template.render(ds.items.sort(S.ITEM_IDX))))
    train = ds.split(S.TRAIN)
    keys = [S.USER_IDX] + ([S.TIME] if S.TIME in train.columns and train[S.TIME].null_count() == 0 else []) + [S.ORDER]
    grouped = (train.sort(keys).group_by(S.USER_IDX, maintain_order=True)
               .agg(pl.col(S.ITEM_IDX).tail(max_items)).sort(S.USER_IDX))
    if limit is not None:
        grouped = grouped.head(limit)
    users, prompts = [], []
    for user, items in grouped.iter_rows():
        lines = [f"- {texts.get(i) or '(item without text)'}" for i in items]
        users.append(int(user))
        prompts.append(PROMPT.format(items="\n".join(lines)))
    return users, prompts


def build_profiles(ds: PreparedDataset, generator: TextGenerator, template: ItemTemplate | None = None,
                   max_items: int = 20, limit: int | None = None, max_tokens: int = 160, seed: int = 0,
                   flush_every: int = 50, progress: bool = True) -> tuple[pl.DataFrame, dict]:
    template = template or ItemTemplate.for_dataset(ds)
    users, prompts = profile_prompts(ds, template, max_items, limit)
    params = {"temperature": 0.0, "max_tokens": max_tokens, "seed": seed, "system": SYSTEM}
    cache = TextCache(f"profiles-{generator.name}")
    keys = [cache_key(backend=generator.name, model=generator.model, prompt=p, **params) for p in prompts]
    todo = [i for i, k in enumerate(keys) if k not in cache]
    pending: list[dict] = []
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=f"profiles {ds.name} ({generator.name})", unit="user", disable=None)

    def one(i: int) -> dict:
        t0 = time.perf_counter()
        out = generator.generate(prompts[i], temperature=0.0, max_tokens=max_tokens, seed=seed, system=SYSTEM)
        return {"key": keys[i], "backend": generator.name, "model": generator.model, "is_llm": generator.is_llm,
                "params": json.dumps(params, sort_keys=True), "prompt_hash": text_hash(prompts[i]),
                "prompt": prompts[i], "output": out, "latency": time.perf_counter() - t0,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    workers = getattr(generator, "concurrency", 1)
    done, failure = 0, None
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(one, i): i for i in todo}
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
                if len(pending) >= flush_every:
                    cache.put(pending)
                    pending = []
    finally:
        cache.put(pending)
        if bar:
            bar.close()
    if failure is not None:
        i, exc = failure
        user_id = ds.users.filter(pl.col(S.USER_IDX) == users[i])[S.USER][0]
        raise ProfileStepInterrupted(
            f"stopped at user {user_id!r} (user_idx {users[i]}): {exc}\n  {done} profiles from this run were "
            f"kept ({len(cache)} in the cache); re-run the same command to continue") from exc
    rows = [cache.get(k) for k in keys]
    id_of = dict(zip(ds.users[S.USER_IDX].to_list(), ds.users[S.USER].to_list()))
    frame = pl.DataFrame({S.USER_IDX: users, S.USER: [id_of[u] for u in users],
                          "profile": [r["output"] for r in rows], "backend": generator.name,
                          "model": generator.model, "is_llm": generator.is_llm})
    meta = {**generator.describe(), "users": len(users), "generated_now": len(todo),
            "coverage": len(users) / ds.describe()["users"], "max_items": max_items, "params": params,
            "template": template.describe(), "limit": limit, "source_split": "train"}
    if limit is None:
        name = f"profiles-{generator.name}"
        frame.write_parquet(artefact_dir(ds) / f"{name}.parquet")
        write_meta(ds, name, {**meta, "file": f"{name}.parquet"})
    return frame, meta
