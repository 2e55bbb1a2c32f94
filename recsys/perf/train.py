"""Training and evaluation speed: RecBole's own pipeline vs ours, same model, data and hyperparameters.

Each side runs in its own child process (so peak memory is measured per side), one after
the other on the same machine, for the same fixed epoch budget (no early stopping):

- RecBole: ``Config`` / ``create_dataset`` / ``data_preparation`` / ``Trainer._train_epoch``
  per epoch, then ``Trainer.evaluate`` on the test split (full ranking).
- recsys: ``train_run`` with the model's default objective, then the full-ranking evaluator.

Throughput is counted in training targets (next-item predictions, or (user, item) pairs for
general models) per second of training, evaluation in users per second.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import resource
import statistics
import time

import torch

#: Full-sort evaluations are short (tens of ms on ml-100k): each side is timed as the median of this many.
EVAL_REPEATS = 5


def _recbole_side(model: str, dataset: str, data_dir, hyper: dict, epochs: int, threads: int, seed: int,
                  queue) -> None:
    from recbole.data import create_dataset, data_preparation
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    import recsys  # noqa: F401
    from recsys.data import prepare
    from recsys.recbole.bridge import recbole_config

    torch.set_num_threads(threads)
    ds = prepare(dataset, data_dir, progress=False)
    config = recbole_config(model, ds, {**hyper, "epochs": epochs, "eval_batch_size": 4096, "seed": seed})
    init_seed(config["seed"], True)
    data = create_dataset(config)
    train, valid, test = data_preparation(config, data)
    init_seed(config["seed"], True)
    net = config.model_class(config, train.dataset).to(config["device"])
    trainer = Trainer(config, net)
    samples = len(train.dataset)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        trainer._train_epoch(train, epoch, show_progress=False)
    train_s = time.perf_counter() - t0
    times = []
    for _ in range(EVAL_REPEATS):
        t0 = time.perf_counter()
        result = trainer.evaluate(test, load_best_model=False, show_progress=False)
        times.append(time.perf_counter() - t0)
    eval_s = statistics.median(times)
    users = int(test._dataset.inter_feat.length if hasattr(test._dataset.inter_feat, "length")
                else len(test._dataset.inter_feat))
    queue.put({"train_seconds": train_s, "targets": samples * epochs, "eval_seconds": eval_s, "eval_users": users,
               "ndcg@10": float(result["ndcg@10"]), "recall@10": float(result["recall@10"]),
               "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _recsys_side(model: str, dataset: str, data_dir, hyper: dict, epochs: int, threads: int, seed: int,
                 objective: str, queue) -> None:
    import recsys  # noqa: F401
    from recsys.data import prepare
    from recsys.data.tensors import DatasetTensors
    from recsys.train.run import train_run

    torch.set_num_threads(threads)
    ds = prepare(dataset, data_dir, progress=False)
    tensors = DatasetTensors(ds)
    cfg = {**hyper, "epochs": epochs, "eval_step": epochs, "stopping_step": epochs + 1, "threads": threads,
           "objective": objective, "progress": False, "eval_batch_size": 4096}
    run = train_run(model, ds, cfg, seed=seed, tensors=tensors)
    if run.status != "ok":
        queue.put({"error": run.error})
        return
    test = run.test["test"]
    from recsys.eval.evaluator import evaluate

    times = []  # the same full-sort test evaluation train_run did, timed like RecBole's side
    for _ in range(EVAL_REPEATS):
        t0 = time.perf_counter()
        evaluate(run.score_fn, tensors, "test", tuple(cfg.get("topk", (5, 10, 20))), "pessimistic", 4096)
        times.append(time.perf_counter() - t0)
    queue.put({"train_seconds": run.fit["train_seconds"], "targets": run.fit["train_targets"],
               "eval_seconds": statistics.median(times),
               "eval_users": len(test.users), "ndcg@10": test.summary["ndcg@10"],
               "recall@10": test.summary["recall@10"], "objective": run.objective,
               "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _guarded(target, *args) -> None:
    """Run one side in the child; an error goes back to the parent as one line, not a child traceback."""
    queue = args[-1]
    try:
        target(*args)
    except Exception as exc:  # noqa: BLE001  (reported by the parent as a RecsysError)
        queue.put({"error": f"{target.__name__.strip('_').replace('_', ' ')}: {type(exc).__name__}: {exc}"})


def _child(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_guarded, args=(target, *args, queue))
    proc.start()
    import queue as queue_module

    while True:  # a child that dies without answering must not hang the benchmark
        try:
            result = queue.get(timeout=5)
            break
        except queue_module.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"{target.__name__} exited with code {proc.exitcode} and no result")
    proc.join()
    if "error" in result:
        from recsys.errors import RecsysError

        raise RecsysError(result["error"])
    return result


def compare_train(model: str = "SASRec", dataset: str = "ml-100k", data_dir=None, epochs: int = 2,
                  hyper: dict | None = None, threads: int | None = None, objective: str = "auto",
                  seed: int = 2024) -> dict:
    hyper = dict(hyper or {})
    threads = threads or torch.get_num_threads()
    theirs = _child(_recbole_side, model, dataset, data_dir, hyper, epochs, threads, seed)
    ours = _child(_recsys_side, model, dataset, data_dir, hyper, epochs, threads, seed, objective)
    rate = lambda side: side["targets"] / side["train_seconds"]  # noqa: E731
    users = lambda side: side["eval_users"] / side["eval_seconds"]  # noqa: E731
    return {
        "model": model, "dataset": dataset, "epochs": epochs, "threads": threads, "seed": seed,
        "hyperparameters": hyper,
        "objective_ours": ours.get("objective"),
        "train_targets_per_s_ours": rate(ours), "train_targets_per_s_recbole": rate(theirs),
        "train_speedup": rate(ours) / rate(theirs),
        "epoch_seconds_ours": ours["train_seconds"] / epochs, "epoch_seconds_recbole": theirs["train_seconds"] / epochs,
        "eval_users_per_s_ours": users(ours), "eval_users_per_s_recbole": users(theirs),
        "eval_speedup": users(ours) / users(theirs),
        "ndcg10_ours": ours["ndcg@10"], "ndcg10_recbole": theirs["ndcg@10"],
        "recall10_ours": ours["recall@10"], "recall10_recbole": theirs["recall@10"],
        "peak_memory_mb_ours": ours["peak_memory_mb"], "peak_memory_mb_recbole": theirs["peak_memory_mb"],
    }


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(compare_train(), indent=2))
