"""The OpenAI-compatible client end to end against a local server (127.0.0.1 only)."""

import re

import polars as pl
import pytest

from recsys.llm.encoders import OpenAIEmbeddingEncoder
from recsys.llm.generation import ProfileStepInterrupted
from recsys.llm.generators import OpenAIChatGenerator
from recsys.llm.http import LLMAuthError, LLMServerError
from recsys.llm.profiles import build_profiles


def generator(server, model="fake-model", **kw):
    opts = dict(api_key_env="RECSYS_TEST_KEY", timeout=5.0, max_retries=3, concurrency=2, backoff=0.01)
    opts.update(kw)
    return OpenAIChatGenerator(server.url, model, **opts)


def test_profiles_come_back_are_cached_and_rerun_makes_no_request(llm_server, ml100k):
    frame, meta = build_profiles(ml100k, generator(llm_server), limit=30, progress=False)
    assert len(frame) == 30 and meta["generated_now"] == 30
    assert frame["profile"].str.starts_with("Likes").all() and frame["is_llm"].all()
    assert llm_server.requests == 30
    again, meta2 = build_profiles(ml100k, generator(llm_server), limit=30, progress=False)
    assert llm_server.requests == 30 and meta2["generated_now"] == 0  # all from the cache
    assert again["profile"].to_list() == frame["profile"].to_list()


def test_server_errors_are_retried(llm_server):
    llm_server.fail_next = 2
    g = generator(llm_server)
    assert g.generate("hello wonderful world").startswith("Likes")
    assert llm_server.requests == 3  # two 500s, then the answer


def test_bad_key_is_a_clear_error(llm_server, monkeypatch):
    monkeypatch.setenv("RECSYS_TEST_KEY", "wrong")
    with pytest.raises(LLMAuthError, match=r"HTTP 401.*RECSYS_TEST_KEY"):
        generator(llm_server).generate("hi")
    assert llm_server.requests == 1  # not retried


def test_unreachable_server_is_a_clear_error():
    g = OpenAIChatGenerator("http://127.0.0.1:9", "m", max_retries=0, timeout=2)
    with pytest.raises(LLMServerError, match="cannot reach http://127.0.0.1:9"):
        g.generate("hi")


def test_timeout_names_the_user_and_keeps_the_work_done(llm_server, ml100k):
    from recsys.llm.profiles import profile_prompts
    from recsys.llm.templates import ItemTemplate

    users, prompts = profile_prompts(ml100k, ItemTemplate(), limit=12)
    others = "\n".join(p for i, p in enumerate(prompts) if i != 7)
    llm_server.slow_marker = next(line for line in prompts[7].split("\n")[2:] if line not in others)
    llm_server.delay = 1.5
    g = generator(llm_server, "fake-model-slow", timeout=0.5, max_retries=1, concurrency=1)
    with pytest.raises(ProfileStepInterrupted, match=r"(?s)stopped at user '\d+' \(user_idx 8\).*no answer within"
                                                     r".*outputs from this run were kept") as err:
        build_profiles(ml100k, g, limit=12, progress=False, flush_every=3)
    kept = int(re.search(r"(\d+) outputs from this run were kept", str(err.value)).group(1))
    assert 7 <= kept <= 8  # users 1-7, and user 9 if the worker started it before the stop
    llm_server.slow_marker = None
    before = llm_server.requests
    frame, meta = build_profiles(ml100k, generator(llm_server, "fake-model-slow"), limit=12, progress=False)
    assert meta["generated_now"] == 12 - kept and llm_server.requests - before == 12 - kept  # only the missing


def test_embeddings_endpoint(llm_server):
    enc = OpenAIEmbeddingEncoder(llm_server.url, "fake-embed", api_key_env="RECSYS_TEST_KEY", batch_size=2)
    out = enc.encode(["a b c", "hello", "x y"])
    assert out.shape == (3, 3) and enc.calls == 3
    assert (abs((out ** 2).sum(1) - 1) < 1e-5).all()
    assert llm_server.requests == 2  # batches of two


def test_fallback_profiles_are_labelled(ml100k):
    from recsys.llm.generators import KeywordProfileFallback
    from recsys.llm.templates import ItemTemplate

    gen = KeywordProfileFallback([t or "" for t in ItemTemplate().render(ml100k.items)])
    frame, meta = build_profiles(ml100k, gen, limit=5, progress=False)
    assert frame["profile"].str.starts_with("[non-LLM: keywords-tfidf]").all()
    assert not frame["is_llm"].any() and meta["is_llm"] is False
    assert isinstance(frame, pl.DataFrame)


def test_hierarchical_profiles_summarise_cluster_notes(llm_server, ml100k):
    from recsys.llm.embed import embed_items
    from recsys.llm.encoders import TfidfSvdEncoder
    from recsys.llm.templates import ItemTemplate

    corpus = [t or "" for t in ItemTemplate().render(ml100k.items.sort("item_idx"))]
    emb, _ = embed_items(ml100k, TfidfSvdEncoder(corpus, dim=16), progress=False)
    frame, meta = build_profiles(ml100k, generator(llm_server, "fake-hier"), limit=4, kind="hierarchical",
                                 embeddings=emb, n_clusters=4, progress=False)
    assert len(frame) == 4 and meta["kind"] == "hierarchical"
    assert llm_server.requests == meta["generated_now"] > 4  # notes per cluster, then one summary per user


def test_domain_profiles_need_domains_and_use_them(ml100k, shared_data):
    from recsys.data import prepare
    from recsys.llm.generators import KeywordProfileFallback

    gen = KeywordProfileFallback([])
    with pytest.raises(ValueError, match="no item domains"):
        build_profiles(ml100k, gen, limit=2, kind="domain", progress=False)
    cdr = prepare("cdr-food-kitchen", shared_data, progress=False)
    frame, meta = build_profiles(cdr, gen, limit=3, kind="domain", progress=False)
    assert len(frame) == 3 and meta["generated_now"] >= 3 * 2  # at least one note + one summary per user
    assert frame["profile"].str.starts_with("[non-LLM").all()
