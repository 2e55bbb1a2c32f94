"""User profiles from training interactions only, through a generator and the text cache.

A profile prompt lists a user's most recent training items (templated text); the output is
cached under the prompt's key, so a re-run makes no calls. Requests run concurrently up to
the generator's limit; results reach the cache every ``flush_every`` users, so an
interruption (a timeout, Ctrl-C) keeps the work done and the next run continues from there.
"""

from __future__ import annotations

import polars as pl

from recsys.data import schema as S
from recsys.data.prepare import PreparedDataset
from recsys.data.tensors import ordered
from recsys.io.safe_write import atomic_write
from recsys.llm.artefacts import artefact_dir, write_meta
from recsys.llm.generation import CachedGeneration, usable_share
from recsys.llm.generators import TextGenerator
from recsys.llm.output_checks import sentences_check
from recsys.llm.templates import ItemTemplate

SYSTEM = "You describe a shopper's or viewer's preferences for a recommender system. Be concise and factual."
PROMPT = ("Here are the items a user interacted with, oldest first.\nITEMS:\n{items}\n\n"
          "In two or three sentences, describe this user's preferences (themes, categories, brands, style). "
          "Do not list the items.")


KINDS = ("plain", "hierarchical", "domain")
GROUP_PROMPT = ("Here are some items a user interacted with{where}.\nITEMS:\n{items}\n\n"
                "In one or two sentences, say what these items tell about the user's taste.")
SUMMARY_PROMPT = ("Here are notes about one user's tastes, one per group of items they interacted with.\n"
                  "NOTES:\n{notes}\n\nCombine them into a two- or three-sentence profile of the user.")


def _train_histories(ds: PreparedDataset, max_items: int, limit: int | None) -> pl.DataFrame:
    """(user_idx, [item_idx...]) of the most recent ``max_items`` training items; train split only."""
    grouped = (ordered(ds.split(S.TRAIN)).group_by(S.USER_IDX, maintain_order=True)
               .agg(pl.col(S.ITEM_IDX).tail(max_items)).sort(S.USER_IDX))
    return grouped.head(limit) if limit is not None else grouped


def _item_texts(ds: PreparedDataset, template: ItemTemplate) -> dict[int, str | None]:
    items = ds.items.sort(S.ITEM_IDX)
    return dict(zip(items[S.ITEM_IDX].to_list(), template.render(items)))


def _lines(items, texts) -> str:
    return "\n".join(f"- {texts.get(i) or '(item without text)'}" for i in items)


def profile_prompts(ds: PreparedDataset, template: ItemTemplate, max_items: int = 20,
                    limit: int | None = None) -> tuple[list[int], list[str]]:
    """(user_idx, prompt) for plain profiles of users with training items."""
    texts = _item_texts(ds, template)
    grouped = _train_histories(ds, max_items, limit)
    users = [int(u) for u in grouped[S.USER_IDX].to_list()]
    prompts = [PROMPT.format(items=_lines(items, texts)) for items in grouped[S.ITEM_IDX].to_list()]
    return users, prompts


def _groups(kind: str, ds: PreparedDataset, items: list[int], clusters: dict[int, int] | None) -> dict:
    if kind == "domain":
        dom = dict(zip(ds.items[S.ITEM_IDX].to_list(), ds.items[S.DOMAIN].to_list()))
        out: dict = {}
        for i in items:
            out.setdefault(dom.get(i) or "unknown", []).append(i)
        return out
    out = {}
    for i in items:
        out.setdefault(clusters.get(i, -1), []).append(i)
    return out


def item_clusters(embeddings, n_clusters: int = 16, seed: int = 0) -> dict[int, int]:
    """Catalogue-wide k-means on item embeddings: item_idx -> cluster (items without text are left out)."""
    import faiss
    import numpy as np

    has = np.flatnonzero(np.abs(embeddings).sum(1) > 0)
    has = has[has > 0]
    km = faiss.Kmeans(embeddings.shape[1], min(n_clusters, len(has)), niter=20, seed=seed, verbose=False)
    x = np.ascontiguousarray(embeddings[has], dtype=np.float32)
    km.train(x)
    _, assign = km.index.search(x, 1)
    return dict(zip(has.tolist(), assign[:, 0].tolist()))


def build_profiles(ds: PreparedDataset, generator: TextGenerator, template: ItemTemplate | None = None,
                   max_items: int = 20, limit: int | None = None, max_tokens: int = 160, seed: int = 0,
                   flush_every: int = 50, progress: bool = True, kind: str = "plain",
                   embeddings=None, n_clusters: int = 16) -> tuple[pl.DataFrame, dict]:
    """Profiles of every user with training items.

    - ``plain``: one prompt with the user's most recent training items.
    - ``hierarchical``: items grouped by catalogue-wide k-means clusters of their embeddings
      (``embeddings`` required), one note per group, then a summary of the notes.
    - ``domain``: one note per domain (cross-domain datasets), then a summary of the notes.
    """
    if kind not in KINDS:
        raise ValueError(f"profile kind must be one of {KINDS}, got {kind!r}")
    template = template or ItemTemplate.for_dataset(ds)
    texts = _item_texts(ds, template)
    grouped = _train_histories(ds, max_items, limit)
    users = [int(u) for u in grouped[S.USER_IDX].to_list()]
    histories = grouped[S.ITEM_IDX].to_list()
    gen = CachedGeneration(ds, generator, max_tokens, seed, flush_every, progress, system=SYSTEM,
                           check=sentences_check())
    if kind == "plain":
        outputs = gen.run([PROMPT.format(items=_lines(h, texts)) for h in histories], users, "profiles")
    else:
        if kind == "domain" and (S.DOMAIN not in ds.items.columns or ds.items[S.DOMAIN].null_count() == len(ds.items)):
            raise ValueError(f"{ds.name} has no item domains; domain-aware profiles need a cross-domain dataset")
        if kind == "hierarchical" and embeddings is None:
            raise ValueError("hierarchical profiles need item embeddings (run `recsys llm embed` first)")
        clusters = item_clusters(embeddings, n_clusters, seed) if kind == "hierarchical" else None
        notes_prompts, owners, spans = [], [], []
        for u, h in zip(users, histories):
            groups = _groups(kind, ds, h, clusters)
            start = len(notes_prompts)
            for name, items in sorted(groups.items(), key=lambda kv: str(kv[0])):
                where = f" in the {name} domain" if kind == "domain" else ""
                notes_prompts.append(GROUP_PROMPT.format(where=where, items=_lines(items, texts)))
                owners.append(u)
            spans.append((start, len(notes_prompts), sorted(groups, key=str)))
        notes = gen.run(notes_prompts, owners, f"{kind} notes")
        summaries = []
        for (a, b, names) in spans:
            label = (lambda n: f"[{n}]") if kind == "domain" else (lambda n: "-")
            summaries.append(SUMMARY_PROMPT.format(notes="\n".join(f"{label(n)} {t}" for n, t in
                                                                   zip(names, notes[a:b]))))
        outputs = gen.run(summaries, users, f"{kind} profiles")
    id_of = dict(zip(ds.users[S.USER_IDX].to_list(), ds.users[S.USER].to_list()))
    frame = pl.DataFrame({S.USER_IDX: users, S.USER: [id_of[u] for u in users], "profile": outputs,
                          "usable": [i not in gen.unusable for i in range(len(users))], "backend": generator.name, "model": generator.model, "is_llm": generator.is_llm})
    meta = {**generator.describe(), "kind": kind, "users": len(users), "generated_now": gen.generated,
            "coverage": len(users) / ds.describe()["users"], "max_items": max_items, "params": gen.params,
            "template": template.describe(), "limit": limit, "source_split": "train",
            "outputs": gen.quality, "usable_share": usable_share(gen.quality)}
    if limit is None:
        name = f"profiles-{kind}-{generator.name}"
        atomic_write(artefact_dir(ds) / f"{name}.parquet", frame.write_parquet)
        write_meta(ds, name, {**meta, "file": f"{name}.parquet"})
    return frame, meta
