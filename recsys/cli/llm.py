"""``recsys llm``: LLM-side artefacts (embeddings, semantic IDs, profiles), cached."""

from __future__ import annotations

from recsys.cli.common import positive_number, whole_number


def _llm_dataset(args):
    from recsys.data import prepare

    return prepare(args.dataset, args.data_dir, download=getattr(args, "download", False))


def _encoder(args, ds):
    from recsys.llm.encoders import make_encoder
    from recsys.llm.templates import ItemTemplate

    corpus = [t or "" for t in ItemTemplate.for_dataset(ds).render(ds.items.sort("item_idx"))]
    return make_encoder(args.encoder, corpus=corpus, base_url=getattr(args, "base_url", None),
                        model=getattr(args, "model", None), api_key_env=getattr(args, "api_key_env", "OPENAI_API_KEY"))


def cmd_llm_embed(args) -> int:
    from recsys.llm.embed import embed_items

    ds = _llm_dataset(args)
    enc = _encoder(args, ds)
    emb, meta = embed_items(ds, enc, limit=args.limit)
    print(f"{ds.name}: {meta['embedded']:,} of {meta['items']:,} items embedded with {enc.name} ({enc.model}), "
          f"{meta['dim']}-d; {enc.calls:,} encoded now, {meta['embedded'] - meta['encoded_now']:,} from the cache"
          + ("" if enc.is_neural else "  [non-neural fallback]"))
    return 0


def cmd_llm_sids(args) -> int:
    import numpy as np

    from recsys.llm.artefacts import artefact_dir
    from recsys.llm.embed import embed_items, pca
    from recsys.llm.sids import build_sids

    ds = _llm_dataset(args)
    enc = _encoder(args, ds)
    emb, meta = embed_items(ds, enc)
    if args.pca:
        emb = pca(emb, args.pca)
    sids, info = build_sids(ds, emb, meta, args.levels, args.codes, args.beam)
    print(f"{ds.name}: semantic IDs for {info['items']:,} items, {args.levels} levels x {args.codes} codes + "
          f"1 disambiguation level; collisions before disambiguation: {info['colliding_items']:,} items in "
          f"{info['collision_groups']:,} groups (largest {info['largest_group']}); relative quantisation error "
          f"{info['relative_quantization_error']:.3f}; unique tuples: "
          f"{len(np.unique(sids[1:][sids[1:, 0] >= 0], axis=0)):,}")
    print(f"  -> {artefact_dir(ds)}")
    return 0


def _generator(args, ds):
    from recsys.llm.backends import make_generator
    from recsys.llm.templates import ItemTemplate

    catalogue = [t or "" for t in ItemTemplate.for_dataset(ds).render(ds.items)]
    return make_generator(args.generator, catalogue=catalogue, base_url=args.base_url, model=args.model,
                          api_key_env=args.api_key_env, timeout=args.timeout, rate=args.rate,
                          concurrency=args.concurrency, batch_size=args.batch_size, threads=args.threads,
                          dtype=args.dtype, repetition_penalty=args.repetition_penalty)


def cmd_llm_profile(args) -> int:
    from recsys.llm.profiles import build_profiles

    ds = _llm_dataset(args)
    gen = _generator(args, ds)
    embeddings = None
    if args.kind == "hierarchical":
        from recsys.llm.embed import embed_items

        embeddings, _ = embed_items(ds, _encoder(args, ds))
    frame, meta = build_profiles(ds, gen, limit=args.limit, max_items=args.max_items, kind=args.kind,
                                 embeddings=embeddings, max_tokens=args.max_tokens)
    print(f"{ds.name}: {len(frame):,} user profiles from {gen.name} ({gen.model}); {meta['generated_now']:,} "
          f"generated now, the rest from the cache" + ("" if gen.is_llm else "  [non-LLM fallback]"))
    q = meta["outputs"]
    if gen.is_llm and q["outputs"]:
        problems = ", ".join(f"{k} {v}" for k, v in sorted(q["problems"].items())) or "none"
        print(f"  usable: {meta['usable_share']:.1%} ({q['usable_first_try']:,} at the first try, {q['retried']:,} "
              f"retried with sampling; problems at the first try: {problems})")
    print(f"  example: {frame['profile'][0][:200]}")
    return 0


def cmd_llm_describe_items(args) -> int:
    import numpy as np

    from recsys.data import schema as S
    from recsys.llm.artefacts import artefact_dir
    from recsys.llm.item_descriptions import build_item_descriptions, description_agreement

    ds = _llm_dataset(args)
    gen = _generator(args, ds)
    items = None
    if args.sample:
        trained = np.unique(ds.split(S.TRAIN)[S.ITEM_IDX].to_numpy())
        rng = np.random.default_rng(args.seed)
        items = sorted(rng.choice(trained, size=min(args.sample, len(trained)), replace=False).tolist())
    frame, meta = build_item_descriptions(ds, gen, items=items, neighbours=args.neighbours)
    label = "" if gen.is_llm else "  [non-LLM fallback]"
    print(f"{ds.name}: {meta['described']:,} of {meta['items']:,} items described by {gen.name} ({gen.model}){label}"
          + (f"; usable {meta['usable_share']:.1%}" if meta["usable_share"] is not None else ""))
    if items is not None and len(frame):
        agree = description_agreement(ds, frame, _encoder(args, ds))
        print(f"  description vs the item's own text: cosine {agree['own']:.3f} (a random item's text: "
              f"{agree['random']:.3f}); own text ranked {agree['median_rank']:.0f} of {agree['catalogue']:,} "
              f"(median), top-10 for {agree['top10']:.1%}")
    for row in frame.head(3).iter_rows(named=True):
        print(f"  item {row[S.ITEM_IDX]}: {row['description'][:160]}")
    if items is None:
        print(f"  -> {artefact_dir(ds)}")
    return 0


def cmd_llm_status(args) -> int:
    from recsys.llm.artefacts import artefact_dir, backend_label, list_artefacts

    ds = _llm_dataset(args)
    arts = list_artefacts(ds)
    if not arts:
        print(f"{ds.name}: no LLM-side artefacts yet ({artefact_dir(ds)})")
        return 0
    for a in arts:
        print(f"{a['artefact']:<36} {backend_label(a):<36} model {a.get('model', '')!s:<40} "
              f"coverage {a.get('coverage', 0):.3f}  {a['created']}")
    return 0


def add_parser(sub) -> None:
    llm = sub.add_parser("llm", help="LLM-side artefacts: embeddings, profiles, semantic IDs (cached)")
    lsub = llm.add_subparsers(dest="llm_command", required=True)

    def llm_parser(name, func, text):
        q = lsub.add_parser(name, help=text)
        q.add_argument("dataset")
        q.add_argument("--data-dir")
        q.set_defaults(func=func)
        return q

    q = llm_parser("embed", cmd_llm_embed, "item text embeddings")
    q.add_argument("--encoder", default="minilm",
                   help="minilm | smollm2-135m (LLM embeddings) | tfidf | st:<dir> | openai")
    q.add_argument("--base-url", help="OpenAI-compatible server (encoder openai)")
    q.add_argument("--model", help="model name on that server")
    q.add_argument("--api-key-env", default="OPENAI_API_KEY")
    q.add_argument("--limit", type=whole_number, help="only the first N items (a trial run; no artefact written)")
    q = llm_parser("sids", cmd_llm_sids, "semantic IDs from item embeddings (residual quantisation)")
    q.add_argument("--encoder", default="minilm")
    q.add_argument("--levels", type=whole_number, default=3)
    q.add_argument("--codes", type=whole_number, default=256)
    q.add_argument("--beam", type=whole_number, default=1)
    q.add_argument("--pca", type=whole_number, help="reduce embeddings to this many dimensions first")
    q = llm_parser("profile", cmd_llm_profile, "user profiles from training interactions")
    _generator_options(q)
    q.add_argument("--max-items", type=whole_number, default=20, help="most recent training items per prompt")
    q.add_argument("--max-tokens", type=whole_number, default=160, help="longest answer, in tokens (a longer one "
                   "is kept up to its last full sentence, or retried)")
    q.add_argument("--kind", choices=("plain", "hierarchical", "domain"), default="plain",
                   help="hierarchical: per item-cluster notes then a summary; domain: per-domain notes")
    q.add_argument("--encoder", default="minilm", help="embeddings for --kind hierarchical")
    q.add_argument("--limit", type=whole_number, help="only the first N users (a trial run; no artefact written)")
    q = llm_parser("describe-items", cmd_llm_describe_items,
                   "descriptions for items without text, from the items their users also interacted with")
    _generator_options(q)
    q.add_argument("--neighbours", type=whole_number, default=15, help="co-interacted items shown per prompt")
    q.add_argument("--encoder", default="minilm", help="embeds descriptions for --sample's comparison")
    q.add_argument("--sample", type=whole_number, help="describe N random items that HAVE text, from their "
                   "neighbours only, and compare each description with the item's own text (a check of the step)")
    q.add_argument("--seed", type=int, default=0, help="which items --sample draws")
    llm_parser("status", cmd_llm_status, "which artefacts exist, their backend and coverage")


def _generator_options(q) -> None:
    q.add_argument("--generator", default="openai",
                   help="smollm2-135m (local, offline; docs/llm.md) | openai (a server) | transformers:<dir> | "
                        "keywords (non-LLM)")
    q.add_argument("--batch-size", type=whole_number, default=16, help="local models: prompts per forward pass")
    q.add_argument("--threads", type=whole_number, help="local models: torch threads (default: all cores)")
    q.add_argument("--repetition-penalty", type=float, help="smollm2-135m: CTRL's repetition penalty "
                   "(default 1.2: without it the 135M model loops; 1 turns it off)")
    q.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="local models: auto = bfloat16 where the CPU/GPU has native bf16, else float32")
    q.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000")
    q.add_argument("--model", help="model name on that server")
    q.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the key")
    q.add_argument("--timeout", type=positive_number, default=60.0)
    q.add_argument("--rate", type=float, default=0.0, help="max requests per second (0: no limit)")
    q.add_argument("--concurrency", type=whole_number, default=4)
