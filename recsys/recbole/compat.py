"""Every workaround that makes RecBole 1.2.1 run on today's stack, in one place.

RecBole 1.2.1 (2023) predates numpy 2, torch >= 2.6, scipy >= 1.17 and pandas 3.
Rather than pinning the whole stack to 2021, ``apply()`` (called on ``import recsys``)
patches the few spots that break. Patches that touch RecBole are installed as
post-import hooks, so ``import recsys`` stays cheap and never imports torch or
RecBole itself; they take effect the moment RecBole's module is imported, whether
by us or by user code.

The breakages (numbers as in ``shared/design.md``):

1. ``recbole.quick_start`` imports Ray; we never import it, and RecBole is installed
   with ``--no-deps`` (see README). Nothing to patch here.
2. numpy 2 removed ``np.float``/``np.int``/... and ``np.float_``; RecBole's
   ``Config.compatibility_settings`` reads ``np.float_`` (AttributeError) and its
   metrics/layers use ``np.float`` and ``np.long``. We restore the 1.x meanings of the
   aliases (``np.float is float`` ...) and make ``compatibility_settings`` a no-op.
3. torch >= 2.6 loads checkpoints with ``weights_only=True``; RecBole pickles its whole
   ``Config`` object into every checkpoint, so ``Trainer.evaluate(load_best_model=True)``
   fails. Every checkpoint RecBole writes (trainer, S3Rec pre-training, decision trees) holds
   only tensors and plain values, and ``load_data_and_model`` rebuilds the Config from them
   (``recsys.recbole.checkpoints``).
4. pandas 3 copy-on-write turns RecBole's ``fillna(inplace=True)`` into a silent no-op:
   ``pandas<3`` is pinned, and importing RecBole under pandas 3 raises a clear error.
5. scipy >= 1.17 ``dok_matrix`` lost the private ``_update`` that LightGCN, NGCF, NCL,
   GCMC, SpectralCF, KGIN and MCCLK call: we restore it (a plain dict update, as before).
6. ``recbole/model/sequential_recommender/sine.py`` switches on
   ``torch.autograd.set_detect_anomaly(True)`` for the whole process (14-45% slower
   training): we switch it off right after that module is imported.
7. ``get_model`` cannot find external classes: the bridge passes the class itself to
   ``Config(model=cls)``. Nothing to patch.
8. ``Config`` ignores ``data_path`` for a dataset named ``ml-100k`` (it always reads
   its bundled copy): an explicit ``data_path`` that holds an ``ml-100k`` folder is honoured;
   one that does not keeps RecBole's bundled copy (RecBole's own behaviour and tests).
9. RecBole writes TensorBoard logs into ``./log_tensorboard`` of the current directory:
   we redirect them into the recsys cache directory.
10. RecBole runs ``eval()`` on configuration strings: ``Config._convert_config_dict`` on every
    string value of a config dict or ``--key=value`` argument, ``HyperTuning`` on each ``choice``
    line of a parameter file, ``KD_DAGFM`` on its ``teacher`` key. A value such as
    ``"__import__('os').system(...)"`` would run. Inside those three modules ``eval`` is replaced
    by a reader that accepts Python literals only (``ast.literal_eval``: numbers, strings, lists,
    dicts, tuples, True/False/None) and, for ``teacher``, the name of a class defined in that
    module. Anything else is treated exactly as RecBole treats a string it cannot evaluate (kept
    as the string). Expressions such as ``"2**10"`` therefore stay strings.
11. hyperopt >= 0.2.7 samples with ``Generator.integers``; ``HyperTuning``'s exhaustive search
    passes a legacy ``RandomState``: inside that module ``np.random.RandomState(seed)`` returns
    ``np.random.default_rng(seed)`` (install hyperopt with the ``[tune]`` extra).
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.util
import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Callable

#: Names of the patches that are active, for ``recsys doctor`` and provenance.
ACTIVE: dict[str, str] = {}

_NUMPY_ALIASES = {
    "float": float,
    "int": int,
    "complex": complex,
    "object": object,
    "str": str,
    "unicode": str,
}


def _numpy_aliases() -> None:
    import numpy as np

    added = []
    for name, value in _NUMPY_ALIASES.items():
        if name not in np.__dict__:
            setattr(np, name, value)
            added.append(name)
    if added:
        ACTIVE["numpy_aliases"] = "restored np." + ", np.".join(added) + " (removed in numpy 2)"


def _patch_configurator(module) -> None:
    _patch_literal_eval(module)

    def compatibility_settings(self):  # RecBole's version reads np.float_, gone in numpy 2
        _numpy_aliases()

    module.Config.compatibility_settings = compatibility_settings
    ACTIVE["config_compat"] = "Config.compatibility_settings no longer touches removed numpy names"

    original = module.Config._set_default_parameters

    def _set_default_parameters(self):  # RecBole sends 'ml-100k' to its bundled copy, ignoring data_path
        original(self)
        given = self.external_config_dict.get("data_path")
        # a data_path that holds an ml-100k folder is read; otherwise RecBole's bundled copy, as before
        if self.dataset == "ml-100k" and given and os.path.isdir(os.path.join(given, self.dataset)):
            self.final_config_dict["data_path"] = os.path.join(given, self.dataset)

    module.Config._set_default_parameters = _set_default_parameters
    ACTIVE["ml100k_data_path"] = "Config honours data_path for a dataset named 'ml-100k'"


def _patch_trainer(module) -> None:
    from recsys.recbole.checkpoints import patch_trainers

    patch_trainers(module, ACTIVE)

    def get_tensorboard(logger):
        from torch.utils.tensorboard import SummaryWriter

        from recsys.io.paths import cache_dir

        name = None
        for handler in logger.handlers:
            if hasattr(handler, "baseFilename"):
                name = Path(handler.baseFilename).stem
                break
        name = name or f"run-{os.getpid()}-{threading.get_ident()}"
        return SummaryWriter(str(cache_dir() / "recbole" / "log_tensorboard" / name))

    module.get_tensorboard = get_tensorboard
    ACTIVE["tensorboard_dir"] = "RecBole TensorBoard logs go to the recsys cache, not ./log_tensorboard"


def literal_only(source, *scope):
    """Stands in for ``eval`` inside RecBole: Python literals only, never a call, a name or an import.

    Raises ``NameError`` for anything else, the error RecBole already handles as "keep the string".
    """
    if scope or not isinstance(source, str):
        raise NameError("recsys: RecBole's eval() accepts a literal string only")
    try:
        return ast.literal_eval(source.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise NameError(f"recsys: {source[:60]!r} is not a Python literal; kept as a string") from None


def _patch_literal_eval(module) -> None:
    module.eval = literal_only  # a module global shadows the builtin for every function of the module
    ACTIVE.setdefault("no_eval", "RecBole's eval() of config values, --key=value arguments and hyper-parameter "
                                 "files reads Python literals only; it never runs code")


class _RandomWithGenerator:
    """``numpy.random`` whose ``RandomState(seed)`` is a seeded ``Generator``; everything else is numpy's."""

    def __init__(self, random):
        self._random = random

    def RandomState(self, seed=None):  # noqa: N802 - the name RecBole calls
        return self._random.default_rng(seed)

    def __getattr__(self, name):
        return getattr(self._random, name)


class _NumpyWithGenerator:
    """numpy as ``recbole.trainer.hyper_tuning`` sees it (see ``_patch_hyper_tuning``)."""

    def __init__(self, numpy):
        self._numpy = numpy
        self.random = _RandomWithGenerator(numpy.random)

    def __getattr__(self, name):
        return getattr(self._numpy, name)


def _patch_hyper_tuning(module) -> None:
    """hyperopt >= 0.2.7 samples with ``rng.integers``; RecBole's exhaustive search hands it a legacy
    ``RandomState`` (AttributeError on the first trial). The module's ``np`` gives a seeded Generator."""
    import numpy

    _patch_literal_eval(module)
    module.np = _NumpyWithGenerator(numpy)
    ACTIVE["hyperopt_rng"] = "HyperTuning's exhaustive search samples with a numpy Generator, as hyperopt >= 0.2.7 needs"


def _patch_kd_dagfm(module) -> None:
    def class_by_name(source, *scope):
        """``KD_DAGFM`` evals its ``teacher`` key to pick a class: only classes of that module are found."""
        found = module.__dict__.get(source) if isinstance(source, str) and not scope else None
        if not (isinstance(found, type) and found.__module__ == module.__name__):
            known = sorted(k for k, v in module.__dict__.items()
                           if isinstance(v, type) and v.__module__ == module.__name__)
            raise ValueError(f"KD_DAGFM: teacher = {str(source)[:60]!r}: expected one of {', '.join(known)}")
        return found

    module.eval = class_by_name
    ACTIVE["no_eval_teacher"] = "KD_DAGFM's teacher key names a class of its module; it is never evaluated"


def _patch_quick_start(module) -> None:
    from recsys.recbole.checkpoints import patch_quick_start

    patch_quick_start(module, ACTIVE)


def _patch_sine(module) -> None:
    import torch

    torch.autograd.set_detect_anomaly(False)
    ACTIVE["anomaly_off"] = "autograd anomaly detection switched off after RecBole's sine.py"


def _patch_recbole(module) -> None:
    import pandas as pd

    major = int(pd.__version__.split(".")[0])
    if major >= 3:
        raise ImportError(
            f"RecBole 1.2.1 silently mis-fills missing values under pandas {pd.__version__} "
            "(copy-on-write makes its fillna(inplace=True) a no-op). "
            "Install pandas<3: pip install 'pandas>=2,<3'"
        )
    # RecBole's fillna(inplace=True) calls work under pandas 2 but warn about pandas 3 on every
    # dataset load; pandas 3 itself is refused above, so the warning is noise for our users.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"recbole\.")
    warnings.filterwarnings("ignore", message=r".*torch\.cuda\.amp\.GradScaler.*", category=FutureWarning)
    import scipy.sparse as sp

    if not hasattr(sp.dok_matrix, "_update"):

        def _update(self, data):  # scipy < 1.17 semantics: a raw dict update, no checks
            self._dict.update(data)

        sp.dok_matrix._update = _update
        ACTIVE["dok_update"] = "scipy.sparse.dok_matrix._update restored (removed in scipy 1.17)"
    _numpy_aliases()


_HOOKS: dict[str, Callable] = {
    "recbole": _patch_recbole,
    "recbole.config.configurator": _patch_configurator,
    "recbole.trainer.trainer": _patch_trainer,
    "recbole.model.sequential_recommender.sine": _patch_sine,
    "recbole.trainer.hyper_tuning": _patch_hyper_tuning,
    "recbole.quick_start.quick_start": _patch_quick_start,
    "recbole.model.context_aware_recommender.kd_dagfm": _patch_kd_dagfm,
}


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then the patch for that module."""

    def __init__(self, loader, hook):
        self._loader = loader
        self._hook = hook

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._hook(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    def __init__(self, hooks: dict[str, Callable]):
        self._hooks = hooks
        self._busy: set[str] = set()

    def find_spec(self, name, path, target=None):
        hook = self._hooks.get(name)
        if hook is None or name in self._busy:
            return None
        self._busy.add(name)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._busy.discard(name)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PatchingLoader(spec.loader, hook)
        return spec


_applied = False


def apply() -> None:
    """Install the patches (idempotent). Modules already imported are patched now."""
    global _applied
    if _applied:
        return
    _applied = True
    _numpy_aliases()
    for name, hook in _HOOKS.items():
        if name in sys.modules:
            hook(sys.modules[name])
    sys.meta_path.insert(0, _PostImportFinder(_HOOKS))
