"""Which evaluation a dataset gets: cross-domain datasets rank each case among its target domain's
items (``recsys.eval.domains``); every other dataset ranks the whole catalogue."""

from __future__ import annotations

from recsys.data.recipe import CTR_TASKS
from recsys.data.tensors import DatasetTensors
from recsys.eval.evaluator import DEFAULT_KS, EvalResult, ScoreFn, evaluate


def evaluate_task(score_fn: ScoreFn, tensors: DatasetTensors, phase: str = "test", ks=DEFAULT_KS,
                  tie_policy: str = "pessimistic", batch_size: int = 1024, seed: int = 0, **kwargs) -> EvalResult:
    if tensors.ds.task in CTR_TASKS:  # labelled samples, not rankings (recsys.eval.ctr)
        from recsys.eval.ctr import evaluate_ctr

        return evaluate_ctr(score_fn, tensors, phase, batch_size)
    if tensors.ds.task == "cross_domain":
        from recsys.eval.domains import evaluate_by_domain

        return evaluate_by_domain(score_fn, tensors, phase, ks, tie_policy, batch_size, seed=seed, **kwargs)
    return evaluate(score_fn, tensors, phase, ks, tie_policy, batch_size, seed=seed, **kwargs)


#: the suffix of a split evaluated under the papers' sampled protocol (``test`` -> ``test_sampled``)
SAMPLED_SUFFIX = "_sampled"


def evaluate_sampled(score_fn: ScoreFn, tensors: DatasetTensors, phase: str, n: int, ks=DEFAULT_KS,
                     tie_policy: str = "pessimistic", batch_size: int = 1024, seed: int = 0) -> EvalResult:
    """The papers' protocol beside ours: each target ranked among ``n`` negatives per user drawn once
    (``recsys.eval.domains.sampled_negatives``, the same for every model and seed; from the target's
    domain on cross-domain data). Stored as split ``<phase>_sampled``; full ranking stays the default."""
    from recsys.eval.domains import evaluate_by_domain, sampled_negatives

    if tensors.ds.task in CTR_TASKS:
        raise ValueError(f"eval_negatives applies to ranking datasets; {tensors.ds.name} is a CTR dataset")
    negatives = sampled_negatives(tensors, phase, n, seed=0)
    if tensors.ds.task == "cross_domain":
        result = evaluate_by_domain(score_fn, tensors, phase, ks, tie_policy, batch_size, seed=seed,
                                    negatives=negatives)
    else:
        result = evaluate(score_fn, tensors, phase, ks, tie_policy, batch_size, seed=seed, row_candidates=negatives)
        result.extra["protocol"] = "sampled"
    result.phase = phase + SAMPLED_SUFFIX
    result.extra["negatives"] = n
    return result
