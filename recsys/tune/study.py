"""Tuning one model on one dataset: an Optuna study (TPE, seeded; pruning on per-epoch validation) kept
in the results store, so a killed ``recsys tune`` loses at most the trial that was running and the
same command resumes the same study.

Layout under the store root::

    tuning/<study>.db                   Optuna's SQLite storage (trials, parameters, per-epoch values)
    tuning/<study>/trial-0007.json      one record per trial: parameters, epoch curve, wall time, state

Only validation data is read: a trial trains on the training split and reports its validation metric;
no test split is evaluated. A trial that diverges (NaN loss) is recorded and counted as pruned: it used
its share of the budget and is never chosen.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from recsys.errors import RecsysError
from recsys.io.paths import writable_folder
from recsys.io.safe_write import atomic_write

PRUNERS = ("median", "hyperband", "none")
#: keys that change what is evaluated after training, not what a trial trains: the same study serves them
EVALUATION_ONLY = ("eval_negatives", "eval_batch_size", "progress")


class StudyBusy(RecsysError):
    """Another process is tuning the same study."""


@dataclass
class TuneResult:
    study: str
    model: str
    dataset: str
    metric: str
    best_params: dict
    best_value: float
    trials: int  # finished trials (complete + pruned), what the budget counts
    complete: int
    pruned: int
    lost: int  # trials a killed process left running, marked failed on resume
    seconds: float  # summed wall time of this study's trials
    space: dict = field(default_factory=dict)

    def as_record(self) -> dict:
        """What a run tuned by this study records (``record["tuning"]``) and the leaderboard shows."""
        return {"study": self.study, "trials": self.trials, "params": self.best_params, "metric": self.metric,
                "best_valid": self.best_value, "dataset": self.dataset, "seconds": round(self.seconds, 1)}


def study_name(model: str, ds_name: str, fingerprint: str, overrides: dict, space: dict, metric: str,
               seed: int) -> str:
    """The same command names the same study (and so resumes it); any change of what it tunes starts another."""
    from recsys.bench.store import safe_name

    fixed = {k: v for k, v in overrides.items() if k not in EVALUATION_ONLY}
    key = json.dumps({"m": model, "f": fingerprint, "o": fixed, "s": space, "v": metric, "seed": seed},
                     sort_keys=True, default=str)
    return f"{safe_name(model)[:60]}-{safe_name(ds_name)[:40]}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def _sampler(seed: int, trials: int, offset: int):
    """TPE, seeded; a third of the budget (at least 3 trials) explores at random before TPE models the rest
    (Optuna's default of 10 random trials would leave a 10-trial budget without any TPE step). A resumed
    study seeds with ``seed + trials already in it``: deterministic given where it stopped, never repeating."""
    import optuna

    return optuna.samplers.TPESampler(seed=seed + offset, n_startup_trials=max(3, trials // 3))


def _pruner(name: str, max_epochs: int, warmup: int = 1):
    """``warmup``: the run's ``min_epochs``. A trial is never pruned before the epoch where early stopping
    may first stop it: a slow starter (a low learning rate, a model with an alignment loss) is judged on
    the same epochs as the rest."""
    import optuna

    warmup = max(int(warmup), 1)
    if name == "median":  # a trial below the median of earlier trials at the same epoch stops
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=warmup)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=warmup, max_resource=max(max_epochs, warmup + 1))
    if name == "none":
        return optuna.pruners.NopPruner()
    raise RecsysError(f"--pruner {name!r}: expected one of {', '.join(PRUNERS)}")


def tune(model: str, ds, overrides: dict | None, trials: int, store_root: str | Path, *, metric: str | None = None,
         timeout: float | None = None, jobs: int = 1, seed: int = 1, pruner: str = "median",
         space: dict | None = None, name: str | None = None, progress: bool | None = None,
         echo=print, executor: str = "local", address: str | None = None, threads: int = 1) -> TuneResult:
    """Run (or resume) the study of ``model`` on ``ds`` until it has ``trials`` finished trials.

    ``executor="local"``: ``jobs`` trials at once in this process (threads). ``executor="ray"``: ``jobs``
    Ray workers (each ``threads`` CPUs), every one running trials against the same study database, so a
    killed worker loses its running trial only (Optuna over Ray; the store must be on a filesystem the
    workers share: a local Ray, or a cluster with the results folder mounted on every node)."""
    import optuna

    from recsys.data.context_tensors import tensors_for
    from recsys.train.config import DEFAULTS

    spec, overrides, settings, metric, space = _checked(model, ds, overrides, trials, metric, space)
    name = name or study_name(spec.name, ds.name, ds.fingerprint, overrides, space, metric, seed)
    folder = writable_folder(Path(store_root) / "tuning", "the tuning folder", "give --results a writable folder")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with _study_lock(folder, name):
        storage = optuna.storages.RDBStorage(f"sqlite:///{folder / name}.db")
        max_epochs = int(settings.get("epochs", DEFAULTS["epochs"]))
        warmup = int(settings.get("min_epochs") or 1)
        study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True, direction="maximize",
                                    sampler=_sampler(seed, trials, 0), pruner=_pruner(pruner, max_epochs, warmup))
        lost = _fail_orphans(study, folder / name)
        if study.trials:  # resumed: a sampler seeded as at the start would repeat its first random points
            study.sampler = _sampler(seed, trials, len(study.trials))
        remaining = trials - _finished(study)
        if executor == "ray":
            if remaining > 0:
                _tune_on_ray(dict(study=name, storage=f"sqlite:///{folder / name}.db", model=spec.name, ds=ds,
                                  overrides=overrides, space=space, metric=metric, seed=seed,
                                  trial_dir=str(folder / name), trials=trials, timeout=timeout, pruner=pruner,
                                  max_epochs=max_epochs, warmup=warmup, threads=max(int(threads), 1)),
                             max(int(jobs), 1), address, echo)
            study = optuna.load_study(study_name=name, storage=storage)
            return _summary(study, spec.name, ds.name, metric, lost, space)
        if executor != "local":
            raise RecsysError(f"--executor {executor!r}: expected local or ray")
        objective = _objective(spec.name, ds, tensors_for(ds), overrides, space, metric, seed, folder / name)
        bar = _Progress(trials, _finished(study), metric, progress, echo)
        if remaining > 0:
            study.optimize(objective, n_trials=remaining, timeout=timeout, n_jobs=max(int(jobs), 1),
                           callbacks=[bar.update], gc_after_trial=True)
        bar.close()
        return _summary(study, spec.name, ds.name, metric, lost, space)


def _checked(model: str, ds, overrides: dict | None, trials, metric: str | None, space: dict | None):
    """The model's spec, overrides, run settings, metric and search space, or an error saying what to change."""
    from recsys.eval.ctr import LOWER_IS_BETTER
    from recsys.models.registry import get_model_spec
    from recsys.train.config import run_settings
    from recsys.tune.spaces import search_space

    spec = get_model_spec(model)
    if spec.run_type not in ("train",):
        raise RecsysError(f"{spec.name} runs as {spec.run_type!r}; tune the model it wraps (its backbone)")
    if not isinstance(trials, int) or trials < 1:
        raise RecsysError(f"--trials {trials!r}: expected an integer >= 1")
    overrides = {k: v for k, v in dict(overrides or {}).items() if k != "progress"}
    settings = run_settings(spec, ds, overrides)
    metric = (metric or settings["valid_metric"]).lower()
    if metric.split("|")[0] in LOWER_IS_BETTER:
        raise RecsysError(f"--metric {metric}: tuning maximises its metric; tune on auc (or another "
                          "higher-is-better metric)")
    space = search_space(spec.name, space)
    if not space:
        raise RecsysError(f"{spec.name} has nothing to tune (no search space: it trains no settings)")
    return spec, overrides, settings, metric, space


@contextlib.contextmanager
def _study_lock(folder: Path, name: str):
    """One process tunes a study at a time (a second gets StudyBusy, not a corrupted study)."""
    lock = open(folder / f"{name}.lock", "a+")
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        lock.close()
        raise StudyBusy(f"study {name} is being tuned by another process ({folder / name}.lock)") from exc
    try:
        yield
    finally:
        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        lock.close()


def _tune_on_ray(job: dict, workers: int, address: str | None, echo) -> None:
    """``workers`` Ray tasks optimise one study through its database until it holds ``trials`` finished
    trials (each counts the others' running trials, so the budget is not overshot once all have started)."""
    from recsys.bench.executors import ExecutorError

    try:
        import ray
    except ImportError as exc:
        raise ExecutorError("--executor ray needs Ray: pip install 'recsys[ray]'") from exc
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, num_cpus=workers * job["threads"] if address is None else None,
                     include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ExecutorError(f"could not reach a Ray cluster at {address!r}: {exc} (start one with "
                                "`ray start --head`, then --address auto or ray://HOST:10001)") from exc
    try:
        task = ray.remote(num_cpus=job["threads"], max_retries=0)(_ray_worker)
        ds_ref = ray.put(job["ds"])
        plain = {k: v for k, v in job.items() if k != "ds"}  # the dataset goes once, as a top-level argument
        refs = [task.remote({**plain, "worker": w}, ds_ref) for w in range(workers)]
        for w, ref in enumerate(refs):
            try:
                done = ray.get(ref)
                echo(f"  ray worker {w}: {done} trials")
            except ray.exceptions.RayError as exc:  # its running trial is failed by the next resume
                last = [x for x in str(exc).splitlines() if x.strip()][-1:] or [type(exc).__name__]
                echo(f"  ray worker {w} failed: {last[0][:300]}")
    finally:
        if started and address is None:
            ray.shutdown()


def _ray_worker(job: dict, ds) -> int:
    """One Ray worker: load the study from its database and run trials until the budget is reached."""
    import optuna
    import torch
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    from recsys.data.context_tensors import tensors_for

    torch.set_num_threads(job["threads"])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(job["storage"], engine_kwargs={"connect_args": {"timeout": 60}})
    study = optuna.load_study(study_name=job["study"], storage=storage,  # SQLite: wait out another's write
                              sampler=_sampler(job["seed"] + 7919 * job["worker"], job["trials"], 0),
                              pruner=_pruner(job["pruner"], job["max_epochs"], job["warmup"]))
    study.sampler = _sampler(job["seed"] + 7919 * job["worker"], job["trials"], len(study.trials))
    if _finished(study) >= job["trials"]:
        return 0
    objective = _objective(job["model"], ds, tensors_for(ds), job["overrides"], job["space"], job["metric"],
                           job["seed"], Path(job["trial_dir"]))
    mine = []
    stop = MaxTrialsCallback(job["trials"], states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
    study.optimize(objective, timeout=job["timeout"], gc_after_trial=True,
                   callbacks=[stop, lambda study, trial: mine.append(trial.number)])
    return len(mine)


def _finished(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _fail_orphans(study, trial_dir: Path) -> int:
    """Trials still 'running' in the database belong to a killed process (we hold the study's lock): mark them
    failed, and their records ``lost`` (a kill between writing the record and the database's commit leaves a
    record that says complete for a trial the study never finished)."""
    from optuna.trial import TrialState

    orphans = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in orphans:
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        path = trial_dir / f"trial-{t.number:04d}.json"
        if path.is_file():
            _save_trial(trial_dir, {**json.loads(path.read_text()), "state": "lost"})
    return len(orphans)


def _objective(model: str, ds, tensors, overrides: dict, space: dict, metric: str, seed: int, trial_dir: Path):
    import optuna

    from recsys.llm.inputs import resolve_inputs
    from recsys.train.run import prepare_run
    from recsys.train.trainer import TrainingDiverged
    from recsys.tune.spaces import suggest

    def objective(trial) -> float:
        params = suggest(trial, space)
        cfg = {**overrides, **params, "valid_metric": metric, "progress": False}
        t0 = time.perf_counter()
        run = prepare_run(model, ds, cfg, seed, tensors, resolve_inputs(model, ds, tensors, cfg), None, None)

        def report(epoch: int, score: float) -> None:
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        run.trainer.on_validation.append(report)
        state = "complete"
        try:
            run.trainer.fit()
        except optuna.TrialPruned:
            state = "pruned"
            raise
        except TrainingDiverged as exc:
            state = "diverged"
            raise optuna.TrialPruned(str(exc)) from exc
        finally:
            log = run.trainer.log
            trial.set_user_attr("epochs_run", log.epochs_run)
            trial.set_user_attr("state", state)
            _save_trial(trial_dir, {"trial": trial.number, "state": state, "model": model, "dataset": ds.name,
                                    "fingerprint": ds.fingerprint, "seed": seed, "metric": metric,
                                    "params": params, "value": log.best_score if math.isfinite(log.best_score) else None,
                                    "valid_history": log.valid_history, "losses": log.losses,
                                    "epochs_run": log.epochs_run, "best_epoch": log.best_epoch,
                                    "converged": log.converged, "wall_seconds": time.perf_counter() - t0,
                                    "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        return log.best_score

    return objective


def _save_trial(folder: Path, record: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"trial-{record['trial']:04d}.json"
    atomic_write(path, lambda p: Path(p).write_text(json.dumps(record, indent=1, default=float)))


def trial_records(store_root: str | Path, study: str) -> list[dict]:
    """The per-trial records of a study, in trial order."""
    folder = Path(store_root) / "tuning" / study
    return [json.loads(p.read_text()) for p in sorted(folder.glob("trial-*.json"))]


def _summary(study, model: str, dataset: str, metric: str, lost: int, space: dict) -> TuneResult:
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    pruned = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    seconds = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in [*done, *pruned]
                  if t.datetime_complete and t.datetime_start)
    if not done:
        raise RecsysError(f"study {study.study_name}: no trial completed ({len(pruned)} pruned or diverged); "
                          "widen the search space or lower the learning rate range")
    best = max(done, key=lambda t: t.value)
    return TuneResult(study=study.study_name, model=model, dataset=dataset, metric=metric, best_params=best.params,
                      best_value=float(best.value), trials=len(done) + len(pruned), complete=len(done),
                      pruned=len(pruned), lost=lost, seconds=seconds, space=space)


class _Progress:
    """A bar with the best value so far on a terminal; one line per trial elsewhere (log files, and with
    ``progress = False``, as ``recsys bench`` prints a line per cell)."""

    def __init__(self, total: int, done: int, metric: str, show: bool | None, echo):
        import sys

        self.metric, self.echo, self.total, self.done = metric, echo, total, done
        self.bar = None
        if show is None:
            show = sys.stderr.isatty()
        if show:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit="trial", dynamic_ncols=True, desc="tuning")

    def update(self, study, trial) -> None:
        from optuna.trial import TrialState

        self.done += 1
        try:
            best = f"{study.best_value:.4f}"
        except ValueError:
            best = "-"
        if self.bar:
            self.bar.update(1)
            self.bar.set_postfix(best=best)
            return
        if trial.state == TrialState.COMPLETE:
            what = f"{self.metric} {trial.value:.4f}"
        else:
            what = f"{trial.user_attrs.get('state', trial.state.name.lower())} after {trial.user_attrs.get('epochs_run', '?')} epochs"
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds() if trial.datetime_complete else 0
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
        self.echo(f"trial {self.done}/{self.total}: {what} (best {best}), {seconds:.0f} s; {params}")

    def close(self) -> None:
        if self.bar:
            self.bar.close()
