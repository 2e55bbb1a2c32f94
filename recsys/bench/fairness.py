"""What a fair comparison checks of a stored run (docs/fair-comparisons.md): the loss family it trained
with and whether it converged. Light (no torch): leaderboards and the claims ledger read it."""

from __future__ import annotations


def record_loss_family(record: dict) -> str:
    """The loss family a stored run trained with: recorded since the fair-comparison rules; for older
    records, read from their configuration the same way ``recsys.train.objectives.loss_family`` does."""
    if record.get("loss_family"):
        return record["loss_family"]
    cfg = record.get("config") or {}
    if "backbone_config" in cfg:  # a test-time method compares under its backbone's loss
        return record_loss_family({"config": cfg["backbone_config"], "objective": "full_sequence"})
    objective = record.get("objective", "")
    seq = cfg.get("sequence_loss", "model")
    if seq in ("bce", "gbce"):
        return seq
    if seq == "sampled":
        return "sampled-softmax"
    loss_type = str(cfg.get("loss_type", "")).upper()
    if "HNLMRec" in str(cfg.get("model", record.get("model"))) and cfg.get("hnlm_loss", "hinge") == "hinge":
        return "hinge"
    if objective == "pairwise" or loss_type == "BPR":
        return "bpr"
    if loss_type == "BCE":
        return "bce"
    if objective in ("ctr", "pointwise"):
        return "pointwise-bce"
    if objective in ("full_sequence", "prefix", "auto"):
        return "softmax-ce"
    return "none"


def record_converged(record: dict) -> bool:
    """False where a run stopped at its epoch cap while its best epoch lay within its last ``patience``
    evaluations (it may still have been improving). Recorded since the convergence guard; for older
    records, read from the epoch count, the best epoch and the patience."""
    fit = record.get("fit") or {}
    if record.get("objective") == "positives":  # counts (MostPop, Pop): one pass, nothing to converge
        return True
    if "converged" in fit:
        return bool(fit["converged"])
    if not fit.get("epochs_run") or fit.get("stopped_early") or fit.get("best_epoch", -1) < 0:
        return True
    cfg = record.get("config") or {}
    if cfg.get("phases"):
        return True  # a multi-phase schedule: its phases' caps are not recorded in older runs
    patience = int(cfg.get("stopping_step") or 10) * int(cfg.get("eval_step") or 1)
    return int(fit["best_epoch"]) <= int(fit["epochs_run"]) - patience  # recsys.train.trainer.still_improving
