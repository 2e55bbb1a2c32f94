"""Where a suite's cells run: this process, a local process pool, or an existing Ray cluster.

An executor takes ``Job``s (plain data: the suite, the cell, the data folder) and yields
``Outcome``s as cells finish, in any order. Workers never touch the results store: the driver
(``run_suite``) writes each outcome as it arrives, so the store stays the only shared state, a
cluster needs no shared results folder, and a stopped suite resumes from what the store holds.
Every record's provenance says which executor ran it (``describe()``).

- ``LocalExecutor(jobs=1)``: in this process, one cell after the other (the default).
- ``LocalExecutor(jobs=N)``: N worker processes (spawned: forking a process that has used polars
  can deadlock), each with ``cores // N`` torch threads unless the entry sets ``threads``.
- ``RayExecutor(address)``: one Ray task per cell on an existing cluster (``address="auto"`` or
  ``ray://host:port``), or on a local Ray instance started for the suite (``address=None``).
  Every node needs recsys installed and the data folder (``--data-dir`` / ``$RECSYS_DATA``) readable.
"""

from __future__ import annotations

import os
import socket
from typing import Iterator

from recsys.bench.jobs import Job, Outcome, run_job
from recsys.errors import RecsysError

EXECUTORS = ("local", "ray")
#: environment a worker must share with the driver (data folder, caches, offline switches)
FORWARDED_ENV = ("RECSYS_DATA", "RECSYS_CACHE", "RECSYS_RESULTS", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                 "TQDM_DISABLE", "RECSYS_LLM_BASE_URL", "RECSYS_LLM_MODEL")


class ExecutorError(RecsysError):
    """An executor could not start (Ray missing, cluster unreachable) or lost a worker."""


class LocalExecutor:
    def __init__(self, jobs: int = 1):
        if not isinstance(jobs, int) or jobs < 1:
            raise ExecutorError(f"--jobs must be an integer >= 1, got {jobs!r}")
        self.jobs = jobs
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.threads = None if jobs == 1 else max(1, cores // jobs)

    @property
    def in_process(self) -> bool:
        return self.jobs == 1

    def describe(self) -> dict:
        return {"kind": "local", "jobs": self.jobs, "host": socket.gethostname()}

    def run(self, jobs: list[Job]) -> Iterator[Outcome]:
        if self.in_process:
            for job in jobs:
                yield run_job(job)
            return
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        pool = ProcessPoolExecutor(max_workers=min(self.jobs, max(len(jobs), 1)), mp_context=mp.get_context("spawn"))
        pending = {pool.submit(run_job, job): job for job in jobs}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    job = pending.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool as exc:
                        left = [j.cell for j in [job, *pending.values()]]
                        raise ExecutorError(
                            f"a worker process died (killed, or out of memory) while {len(left)} cells were "
                            f"unfinished, e.g. {left[0].entry} on {left[0].dataset} seed {left[0].seed}; finished "
                            "cells are stored and the same command resumes the rest (try fewer --jobs)") from exc
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """One Ray task per cell; ``cpus_per_run`` is both Ray's CPU reservation and the task's torch threads."""

    in_process = False

    def __init__(self, address: str | None = None, cpus_per_run: int = 1, num_cpus: int | None = None):
        try:
            import ray
        except ImportError as exc:
            raise ExecutorError("--executor ray needs Ray: pip install 'recsys[ray]' (ray>=2.40, numpy-2 "
                                "compatible; RecBole's pin on ray<=2.6.3 is not used, see docs/scaling.md)") from exc
        if cpus_per_run < 1:
            raise ExecutorError(f"--ray-cpus-per-run must be >= 1, got {cpus_per_run}")
        self.address = address
        self.threads = cpus_per_run
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        if not ray.is_initialized():
            try:
                ray.init(address=address, num_cpus=num_cpus if address is None else None,
                         include_dashboard=False, log_to_driver=False, configure_logging=False,
                         runtime_env={"env_vars": env} if env else None)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ExecutorError(f"could not reach a Ray cluster at {address!r}: {exc} (start one with "
                                    "`ray start --head`, then --address auto or ray://HOST:10001)") from exc
        self._started_here = address is None
        self._task = ray.remote(num_cpus=cpus_per_run, max_retries=0)(run_job)

    def describe(self) -> dict:
        import ray

        return {"kind": "ray", "address": self.address or "local", "cpus_per_run": self.threads,
                "ray": ray.__version__, "driver_host": socket.gethostname()}

    def run(self, jobs: list[Job]) -> Iterator[Outcome]:
        import ray

        pending = {self._task.remote(job): job for job in jobs}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    job = pending.pop(ref)
                    try:
                        yield ray.get(ref)
                    except ray.exceptions.RayError as exc:  # the task's process died (run_job catches errors)
                        c = job.cell
                        raise ExecutorError(f"Ray lost the task of {c.entry} on {c.dataset} seed {c.seed}: {exc}; "
                                            "finished cells are stored and the same command resumes") from exc
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        import ray

        if self._started_here and ray.is_initialized():
            ray.shutdown()


def make_executor(kind: str = "local", jobs: int = 1, address: str | None = None, cpus_per_run: int = 1):
    if kind == "local":
        if address:
            raise ExecutorError("--address applies to --executor ray")
        return LocalExecutor(jobs)
    if kind == "ray":
        if jobs != 1:
            raise ExecutorError("--jobs applies to --executor local; Ray runs as many cells as the cluster has "
                                "CPUs for (see --ray-cpus-per-run)")
        return RayExecutor(address, cpus_per_run)
    raise ExecutorError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "ExecutorError", "LocalExecutor", "RayExecutor", "make_executor"]
