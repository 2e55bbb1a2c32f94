"""Transferable item augmentation for cross-domain data (LLM-EDT's augmenter).

Users whose *training* history is dominated by one domain (``min_share`` of it or more) get a
few plausible items of the other domain inserted into their training sequences, so that the
cross-domain models see transitions between domains for them too. For each such user:

1. **candidates**: the other domain's ``pool`` items (with text, never in the user's training
   history) nearest to the mean text embedding of the user's training items;
2. **choice**: an LLM picks up to ``per_user`` of them from the user's recent item titles
   (a real generator backend, cached like every LLM output), or, with no generator, the
   named non-LLM fallback ``nearest-text`` takes the ``per_user`` nearest. Without item text
   (Food-Kitchen has none), the fallback ``nearest-interactions`` reads item vectors from the
   training interactions instead (``interaction_vectors``: a truncated SVD of the user x item
   matrix), so "nearest" means "had by the same users";
3. **filter**: picks whose cosine similarity to the user's profile vector is below
   ``min_similarity`` are dropped as irrelevant;
4. **position**: each kept item goes right after the user's training item most similar to it.

Only the training split is read. The rows are training inputs and targets only: they never
become validation or test targets, and evaluation reads the real histories
(``recsys.data.tensors.with_training_items``). The official LLM-EDT repository ships no
augmenter; this follows the paper's description (docs/models/llm-edt.md).
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from recsys.data import schema as S
from recsys.data.prepare import PreparedDataset
from recsys.data.tensors import ordered
from recsys.io.safe_write import atomic_write
from recsys.llm.artefacts import artefact_dir, write_meta
from recsys.llm.embed import unit_rows
from recsys.llm.generation import usable_share

FALLBACK = "nearest-text"
#: the fallback on item vectors from training interactions (no text needed)
COLLABORATIVE = "nearest-interactions"
SYSTEM = "You help a recommender system transfer a user's interests between product domains. Answer with numbers only."
PROMPT = ("A user interacted with these {src} items, oldest first:\n{history}\n\n"
          "Candidate {dst} items:\n{candidates}\n\n"
          "Which of the candidates would this user most plausibly interact with? Reply with up to {k} "
          "candidate numbers, most plausible first, separated by commas. Reply 'none' if none fits.")


def candidate_title(text: str | None) -> str:
    """The title part of a candidate's templated text ("Antz (1998). Categories: ..." -> "antz (1998)")."""
    return (text or "").split(". Categories:")[0].split(". Brand:")[0].strip().rstrip(".").lower()


def parse_picks(text: str, titles: list[str], k: int) -> tuple[list[int], str]:
    """0-based candidate indices an answer picks, and how they were read: ``title`` (candidate titles the
    answer names, in the order it names them: small models answer with titles, not numbers), ``number``
    (candidate numbers), ``none`` or ``unread``."""
    low = (text or "").lower()
    named = sorted((low.find(t), i) for i, t in enumerate(titles) if len(t) >= 3 and t in low)
    if named:
        return [i for _, i in named][:k], "title"
    picks = parse_choice(text, len(titles), k)
    if picks:
        return picks, "number"
    return [], "none" if re.search(r"\bnone\b", low) else "unread"


def parse_choice(text: str, n_candidates: int, k: int) -> list[int]:
    """Candidate numbers (1-based in the prompt) -> 0-based indices; unknown numbers ignored, order kept."""
    out: list[int] = []
    for token in re.findall(r"\d+", text or ""):
        i = int(token) - 1
        if 0 <= i < n_candidates and i not in out:
            out.append(i)
        if len(out) == k:
            break
    return out


def _numbers_or_none(text: str) -> str | None:
    """The augmentation answer's format: candidate numbers, or 'none'."""
    return None if re.search(r"\d|\bnone\b", text, re.IGNORECASE) else "no candidate number and not 'none'"


def interaction_vectors(ds: PreparedDataset, dim: int = 64) -> np.ndarray:
    """[n_items + 1, dim] item vectors from the training split alone: a truncated SVD of the binary
    user x item matrix with each user's row scaled to unit norm (items had by the same users lie close);
    items absent from training get a zero row (neither candidates nor evidence)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import svds

    train = ds.split(S.TRAIN).select(S.USER_IDX, S.ITEM_IDX).unique()
    n_items = int(ds.items[S.ITEM_IDX].max()) + 1
    users, items = train[S.USER_IDX].to_numpy(), train[S.ITEM_IDX].to_numpy()
    counts = np.bincount(users)
    matrix = csr_matrix((1.0 / np.sqrt(counts[users]), (users, items)), shape=(int(users.max()) + 1, n_items))
    k = max(1, min(dim, min(matrix.shape) - 1))
    _, s, vt = svds(matrix, k=k, random_state=0)
    out = (vt.T * s).astype(np.float32)
    out[0] = 0.0
    return out


def augment_training(ds: PreparedDataset, embeddings: np.ndarray, generator=None, per_user: int = 3,
                     min_share: float = 0.8, pool: int = 20, min_similarity: float = 0.3, history_items: int = 15,
                     save: bool = True, progress: bool = True, fallback: str = FALLBACK) -> tuple[pl.DataFrame, dict]:
    """(rows ``user_idx, item_idx, after, similarity``, meta) of augmented training interactions.

    ``after`` is the 0-based position, in the user's time-ordered training sequence, of the item
    the new one follows. ``embeddings``: [n_items + 1, D] item text embeddings (rows of text-less
    items are 0; such items are neither candidates nor evidence), or ``interaction_vectors`` with
    ``fallback = COLLABORATIVE``.
    """
    items = ds.items.sort(S.ITEM_IDX)
    domains, code = _domain_codes(ds, items, len(embeddings))
    unit = unit_rows(np.asarray(embeddings, dtype=np.float32))
    has_text = np.abs(embeddings).sum(1) > 0
    has_text[0] = False
    pools = [np.flatnonzero((code == d) & has_text) for d in (0, 1)]
    titles = dict(zip(items[S.ITEM_IDX].to_list(), (items["text"].to_list() if "text" in items.columns
                                                     else [None] * len(items))))
    train = ordered(ds.split(S.TRAIN)).group_by(S.USER_IDX, maintain_order=True).agg(pl.col(S.ITEM_IDX))
    label = generator.name if generator is not None else fallback
    gen = None
    if generator is not None:
        from recsys.llm.generation import CachedGeneration

        gen = CachedGeneration(ds, generator, max_tokens=32, seed=0, flush_every=50, progress=progress,
                               system=SYSTEM, namespace="augment", check=_numbers_or_none, whole_text=False)
    plans, prompts = [], []
    for user, seq in zip(train[S.USER_IDX].to_list(), train[S.ITEM_IDX].to_list()):
        plan = _plan(user, np.asarray(seq, dtype=np.int64), code, has_text, unit, pools, min_share, pool)
        if plan is None:
            continue
        plans.append(plan)
        if gen is not None:
            _, seq, major, cand, _, _ = plan
            recent = [titles.get(int(i)) or "(item without text)" for i in seq[-history_items:]]
            prompts.append(PROMPT.format(src=domains[major], dst=domains[1 - major], k=per_user,
                                         history="\n".join(f"- {t}" for t in recent),
                                         candidates="\n".join(f"{n}. {titles.get(int(i)) or ''}"
                                                              for n, i in enumerate(cand, 1))))
    answers = gen.run(prompts, [p[0] for p in plans], "augment") if gen is not None else None
    cand_titles = [[candidate_title(titles.get(int(i))) for i in p[3]] for p in plans]
    rows, proposed, read_as = _kept_rows(plans, answers, cand_titles, unit, per_user, min_similarity)
    frame = pl.DataFrame(rows, schema={S.USER_IDX: pl.Int64, S.ITEM_IDX: pl.Int64, "after": pl.Int64,
                                       "similarity": pl.Float64})
    meta = {**(generator.describe() if generator is not None else {}),
            "backend": label, "model": getattr(generator, "model", "cosine"),
            "is_llm": bool(getattr(generator, "is_llm", False)), "per_user": per_user, "min_share": min_share,
            "pool": pool, "min_similarity": min_similarity,
            "outputs": gen.quality if gen is not None else None,
            "usable_share": usable_share(gen.quality) if gen is not None else None,
            "dominated_users": len(plans), "proposed": proposed, "answers_read_as": read_as or None,
            "kept": len(frame), "users": int(train.height), "source_split": "train",
            "item_vectors": "interactions" if fallback == COLLABORATIVE else "text",
            "vector_coverage": float(has_text[1:].mean()) if len(has_text) > 1 else 0.0}
    if save:
        name = f"augment-{label}"
        atomic_write(artefact_dir(ds) / f"{name}.parquet", frame.write_parquet)
        write_meta(ds, name, {**meta, "file": f"{name}.parquet"})
    return frame, meta


def _domain_codes(ds: PreparedDataset, items: pl.DataFrame, n_rows: int) -> tuple[list[str], np.ndarray]:
    """(the two domain names, each item row's domain code: 0, 1 or -1); anything but two domains is an error."""
    if S.DOMAIN not in ds.items.columns:
        raise ValueError(f"{ds.name} has no item domains; the augmenter needs a cross-domain dataset")
    domains = sorted(items[S.DOMAIN].drop_nulls().unique().to_list())
    if len(domains) != 2:
        raise ValueError(f"{ds.name}: the augmenter needs two domains, found {domains}")
    code = np.full(n_rows, -1, dtype=np.int64)
    code[items[S.ITEM_IDX].to_numpy()] = [domains.index(d) if d in domains else -1 for d in items[S.DOMAIN].to_list()]
    return domains, code


def _plan(user: int, seq: np.ndarray, code, has_text, unit, pools, min_share: float, pool: int):
    """(user, seq, major domain, candidates, similarities, profile) for a user dominated by one domain
    (share >= ``min_share``): the other domain's items nearest the user's text profile; None otherwise."""
    counts = np.bincount(code[seq][code[seq] >= 0], minlength=2)
    if counts.sum() == 0:
        return None
    major = int(counts.argmax())
    if counts[major] / counts.sum() < min_share or not len(pools[1 - major]):
        return None
    evidence = seq[has_text[seq]]
    if not len(evidence):
        return None
    profile = unit_rows(unit[evidence].mean(0))
    cand = pools[1 - major]
    cand = cand[~np.isin(cand, seq)]
    sims = unit[cand] @ profile
    top = np.argsort(-sims, kind="stable")[:pool]
    return user, seq, major, cand[top], sims[top], profile


def _kept_rows(plans: list, answers: list[str] | None, cand_titles: list[list[str]], unit, per_user: int,
               min_similarity: float):
    """The picked candidates at or above ``min_similarity``, each placed after its most similar history item;
    (rows, how many were proposed, how the answers were read: title / number / none / unread counts)."""
    rows: dict[str, list] = {S.USER_IDX: [], S.ITEM_IDX: [], "after": [], "similarity": []}
    proposed, read_as = 0, {}
    for n, (user, seq, major, cand, sims, profile) in enumerate(plans):
        if answers is None:
            picks = list(range(min(per_user, len(cand))))
        else:
            picks, how = parse_picks(answers[n], cand_titles[n], per_user)
            read_as[how] = read_as.get(how, 0) + 1
        proposed += len(picks)
        for i in picks:
            if sims[i] < min_similarity:
                continue
            item = int(cand[i])
            anchor = int(np.argmax(unit[seq] @ unit[item]))
            rows[S.USER_IDX].append(user)
            rows[S.ITEM_IDX].append(item)
            rows["after"].append(anchor)
            rows["similarity"].append(float(sims[i]))
    return rows, proposed, read_as
