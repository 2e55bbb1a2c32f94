"""The training loop: epochs, early stopping, clipping, schedulers, phases, NaN guard, progress.

It computes no metrics itself: validation goes through ``recsys.eval.evaluate``. The best
weights (by the validation metric) are kept in memory and restored at the end; a checkpoint
is a plain state dict plus a JSON config (``recsys.train.checkpoint``).

Under ``torchrun`` the same loop runs on every rank: losses go through DDP (built per phase),
the shuffling generator is re-synchronised after each epoch, validation metrics are computed
over all ranks' users (so every rank takes the same early-stopping decision), and only rank 0
shows progress.
"""

from __future__ import annotations

import copy
import math
import os
import re
import time
from dataclasses import dataclass, field

import torch

from recsys import distributed
from recsys.errors import RecsysError
from recsys.eval.evaluator import EvalResult
from recsys.eval.protocol import evaluate_task
from recsys.models.protocol import phase_hook
from recsys.train.objectives import Objective
from recsys.train.precision import check_precision, with_precision

SCHEDULERS = ("none", "cosine", "step", "plateau")


class TrainingDiverged(RecsysError, FloatingPointError):
    """The loss became NaN or infinite: the run stops and is recorded as failed."""


@dataclass
class Phase:
    """One stage of a multi-phase schedule: its own epochs, learning rate and trainable parameters."""

    epochs: int
    learning_rate: float
    trainable: str | None = None  # regex over parameter names; None = all
    name: str = "main"
    optimizer: str = "adam"  # adam | adamw
    weight_decay: float | None = None  # None: the run's weight_decay
    clip_grad_norm: float | None = None  # None: the run's clip_grad_norm
    scheduler: str | None = None  # None: the run's scheduler


@dataclass
class TrainerSettings:
    epochs: int = 50
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    stopping_step: int = 10  # patience, in evaluations
    valid_metric: str = "ndcg@10"
    eval_step: int = 1
    clip_grad_norm: float | None = None
    scheduler: str = "none"
    phases: list[Phase] = field(default_factory=list)
    tie_policy: str = "pessimistic"
    topk: tuple[int, ...] = (5, 10, 20)
    eval_batch_size: int = 1024
    progress: bool | None = None  # None: a bar on a terminal, one log line per evaluation elsewhere; False: silent
    precision: str = "fp32"  # fp32 | bf16: the forward pass of training steps (recsys.train.precision)
    min_epochs: int = 0  # patience counts only from this epoch on
    max_epochs: int | None = None  # convergence guard: a cap the run may be extended to (None: ``epochs``)
    max_minutes: float | None = None  # time budget: stop after the epoch that passes it, best weights kept


@dataclass
class FitLog:
    epochs_run: int = 0
    best_epoch: int = -1
    best_valid: dict = field(default_factory=dict)
    best_score: float = -math.inf
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    targets: int = 0
    losses: list[float] = field(default_factory=list)
    valid_history: list[float] = field(default_factory=list)
    stopped_early: bool = False
    stopped_by_time: bool = False
    epoch_caps: list[int] = field(default_factory=list)  # each phase's cap after the convergence guard
    converged: bool = True  # False: a phase's best epoch fell within its last ``patience`` epochs of its cap


def _progress_enabled(flag: bool | None) -> bool:
    if not distributed.current().is_main:
        return False
    if flag is not None:
        return flag
    import sys

    return sys.stderr.isatty() and not os.environ.get("CI")


def _scheduler(opt, name: str, epochs: int):
    if name == "none":
        return None
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=max(epochs // 3, 1), gamma=0.1)
    if name == "plateau" or name.startswith("plateau:"):  # plateau[:factor[:patience]] (in evaluations)
        parts = name.split(":")[1:]
        factor = float(parts[0]) if parts else 0.1
        patience = int(parts[1]) if len(parts) > 1 else 2
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=factor, patience=patience)
    raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {name!r}")


def still_improving(best_epoch: int, cap: int, patience_epochs: int) -> bool:
    """A run stopped at ``cap`` whose best epoch is within its last ``patience_epochs``: it may still improve."""
    return best_epoch > cap - patience_epochs


class Trainer:
    def __init__(self, model: torch.nn.Module, objective: Objective, score_fn, tensors, settings: TrainerSettings,
                 seed: int = 0):
        self.model = model
        self.objective = objective
        self.score_fn = score_fn
        self.tensors = tensors
        self.s = settings
        self.gen = torch.Generator().manual_seed(seed)
        self.seed = seed
        self.log = FitLog()
        self.on_validation: list = []  # callables (epoch, score): a tuner's pruning hook may raise to stop
        check_precision(settings.precision, distributed.current().device)

    def validate(self) -> EvalResult:
        self.model.eval()
        t0 = time.perf_counter()
        result = evaluate_task(self.score_fn, self.tensors, "valid", self.s.topk, self.s.tie_policy,
                               self.s.eval_batch_size, seed=self.seed)
        self.log.eval_seconds += time.perf_counter() - t0
        return result

    def fit(self) -> FitLog:
        phases = self.s.phases or [Phase(self.s.epochs, self.s.learning_rate)]
        best_state = None
        self._t_start = time.perf_counter()  # the time budget (max_minutes) counts from here
        show = _progress_enabled(self.s.progress)
        for i, phase in enumerate(phases):
            if i and best_state is not None:  # a later phase starts from the best weights so far
                self.model.load_state_dict(best_state)
            best_state = self._fit_phase(phase, show, best_state)
        if best_state is not None:
            self.model.load_state_dict(best_state)
        return self.log

    def _fit_phase(self, phase: Phase, show: bool, best_state):
        """Train one phase: its epochs, validation every ``eval_step``, early stopping on patience
        (counted from ``min_epochs``), the time budget, and the convergence guard: a phase whose best
        epoch falls within its last ``patience`` epochs of its cap goes on from its current state with
        the cap doubled, up to ``max_epochs``; still so at that maximum, the run is marked unconverged."""
        params, opt, sched, clip = self._phase_optimizer(phase)
        # DDP over this phase's trainable parameters; the forward pass in the run's precision
        self.objective.run = with_precision(distributed.wrap(self.model), self.s.precision,
                                            distributed.current().device)
        patience, cap = 0, phase.epochs
        limit = max(cap, self.s.max_epochs or 0) if not self.s.phases else cap  # the guard extends single-phase runs
        patience_epochs = self.s.stopping_step * self.s.eval_step
        phase_best = -1
        bar = None
        if show:
            from tqdm import tqdm

            bar = tqdm(total=cap * self.objective.n_batches(), unit="batch", dynamic_ncols=True,
                       desc=f"{type(self.model).__name__} {phase.name}")
        epoch = 0
        try:
            while True:
                while epoch < cap:
                    self._train_epoch(opt, params, clip, bar)
                    epoch += 1
                    if sched is not None and not isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                        sched.step()
                    out_of_time = self._out_of_time()
                    if epoch % self.s.eval_step and epoch != cap and not out_of_time:
                        continue
                    improved, state = self._validate_epoch(sched, bar, phase, epoch, cap, show)
                    if improved:
                        best_state, patience, phase_best = state, 0, epoch
                    elif self.log.epochs_run >= self.s.min_epochs:
                        patience += 1
                    if out_of_time:
                        self.log.stopped_by_time = True
                        break
                    if patience >= self.s.stopping_step:
                        self.log.stopped_early = True
                        break
                stopped = self.log.stopped_early or self.log.stopped_by_time
                if stopped or not still_improving(phase_best, cap, patience_epochs) or cap >= limit:
                    break
                cap = min(2 * cap, limit)  # the convergence guard: go on from the current state
                self._say(f"{type(self.model).__name__} {phase.name}: best epoch {phase_best} is within the last "
                          f"{patience_epochs} epochs of the cap; continuing to {cap} epochs (max_epochs {limit})")
                if bar:
                    bar.total = cap * self.objective.n_batches()
        finally:
            if bar:
                bar.close()
        self.log.epoch_caps.append(cap)
        if not self.log.stopped_early and phase_best >= 0 and still_improving(phase_best, cap, patience_epochs):
            self.log.converged = False
        return best_state

    def _out_of_time(self) -> bool:
        if not self.s.max_minutes:
            return False
        spent = time.perf_counter() - self._t_start
        if distributed.current().active:  # every rank takes the same decision
            spent = distributed.all_reduce_sum(spent) / distributed.current().world_size
        return spent >= 60 * self.s.max_minutes

    def _say(self, line: str) -> None:
        """A log line for whoever reads a log file (the progress bar shows the rest on a terminal)."""
        if self.s.progress is not False and distributed.current().is_main:
            import sys

            print(line, file=sys.stderr, flush=True)

    def _phase_optimizer(self, phase: Phase):
        """(trainable parameters, optimizer, scheduler, clip norm) of a phase; freezes the rest."""
        for name, p in self.model.named_parameters():
            train = phase.trainable is None or re.search(phase.trainable, name) is not None
            p.requires_grad_(train)
        on_phase = phase_hook(self.model)
        if on_phase is not None:  # a model with its own phases (LLM-EDT) may freeze more
            on_phase(phase.name)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"phase {phase.name!r}: no parameter matches trainable={phase.trainable!r}")
        if phase.optimizer not in ("adam", "adamw"):
            raise ValueError(f"phase {phase.name!r}: optimizer must be adam or adamw, got {phase.optimizer!r}")
        decay = self.s.weight_decay if phase.weight_decay is None else phase.weight_decay
        opt = (torch.optim.AdamW if phase.optimizer == "adamw" else torch.optim.Adam)(
            params, lr=phase.learning_rate, weight_decay=decay)
        sched = _scheduler(opt, phase.scheduler or self.s.scheduler, phase.epochs)
        clip = self.s.clip_grad_norm if phase.clip_grad_norm is None else phase.clip_grad_norm
        return params, opt, sched, clip

    def _train_epoch(self, opt, params, clip, bar) -> None:
        """One pass over the objective's batches; the epoch's mean loss, targets and time go to the log."""
        self.model.train()
        t0 = time.perf_counter()
        total, n_batches, targets = 0.0, 0, 0
        for step, (loss, n) in enumerate(self.objective.epoch(self.gen)):
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"loss is {loss.item()} at epoch {self.log.epochs_run + 1}, batch {step + 1} "
                    f"({type(self.model).__name__}); lower the learning rate or enable clip_grad_norm")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
            total += float(loss.detach())
            n_batches += 1
            targets += n
            if bar:
                bar.update(1)
                bar.set_postfix(epoch=self.log.epochs_run + 1, loss=f"{total / n_batches:.4f}")
        info = distributed.current()
        if info.active:  # the epoch's loss over all ranks; the next shuffle the same everywhere
            total = distributed.all_reduce_sum(total) / info.world_size
            targets = int(distributed.all_reduce_sum(targets))
            distributed.sync_generator(self.gen)
        self.log.targets += targets
        self.log.train_seconds += time.perf_counter() - t0
        self.log.epochs_run += 1
        self.log.losses.append(total / max(n_batches, 1))

    def _validate_epoch(self, sched, bar, phase: Phase, epoch: int, cap: int, show: bool):
        """Validate; (improved, a copy of the weights when improved). Steps a plateau scheduler; off a
        terminal, logs one line (epoch, loss, metric, best so far, seconds, ETA)."""
        metric = self.s.valid_metric.lower()
        eval_before = self.log.eval_seconds
        valid = self.validate()
        if metric not in valid.summary:
            raise ValueError(f"valid_metric {self.s.valid_metric!r} is not computed; "
                             f"available: {sorted(valid.summary)}")
        score = valid.summary[metric]
        self.log.valid_history.append(score)
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(score)
        if bar:
            bar.set_postfix(epoch=self.log.epochs_run, loss=f"{self.log.losses[-1]:.4f}", **{metric: f"{score:.4f}"})
        improved = score > self.log.best_score
        if improved:
            self.log.best_score, self.log.best_epoch = score, self.log.epochs_run
            self.log.best_valid = dict(valid.summary)
        if not show:
            self._say(self._epoch_line(phase, epoch, cap, metric, score, self.log.eval_seconds - eval_before))
        for hook in self.on_validation:
            hook(self.log.epochs_run, score)
        return (True, copy.deepcopy(self.model.state_dict())) if improved else (False, None)

    def _epoch_line(self, phase: Phase, epoch: int, cap: int, metric: str, score: float, eval_s: float) -> str:
        n = self.log.epochs_run
        train_s = self.log.train_seconds / max(n, 1)
        left = max(cap - epoch, 0) * (train_s + eval_s / max(self.s.eval_step, 1))
        name = type(self.model).__name__ + (f" {phase.name}" if self.s.phases else "")
        return (f"{name} epoch {n}: loss {self.log.losses[-1]:.4f}, valid {metric} {score:.4f} "
                f"(best {self.log.best_score:.4f} at epoch {self.log.best_epoch}), train {train_s:.1f} s/epoch, "
                f"valid {eval_s:.1f} s, ETA {left / 60:.1f} min at most")
