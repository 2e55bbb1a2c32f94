"""Which RecBole models cannot run on this install, and why: an optional package they import is absent.

Found by reading each model module's imports (no import is attempted, so a missing package costs
nothing here), for every RecBole model package, including those recsys does not list as baselines
(knowledge-aware, decision trees). ``recsys models`` flags them and ``recsys doctor`` lists them.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from functools import lru_cache
from pathlib import Path

#: Every RecBole 1.2.1 model package.
RECBOLE_MODEL_PACKAGES = ("recbole.model.general_recommender", "recbole.model.sequential_recommender",
                          "recbole.model.context_aware_recommender", "recbole.model.knowledge_aware_recommender",
                          "recbole.model.exlib_recommender")
#: pip names where they differ from the import name.
PIP_NAMES = {"torch_scatter": "torch-scatter", "torch_geometric": "torch-geometric", "sklearn": "scikit-learn",
             "community": "python-louvain", "kmeans_pytorch": "kmeans-pytorch"}


def _module_file(module: str) -> Path | None:
    top = importlib.util.find_spec(module.split(".")[0])
    if top is None or top.submodule_search_locations is None:
        return None
    path = Path(top.submodule_search_locations[0]).joinpath(*module.split(".")[1:])
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def _names(nodes) -> set[str]:
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def imported_packages(path: Path) -> tuple[set[str], set[str]]:
    """(top-level names imported when the module loads, those imported only inside its functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f)}
    on_load = _names(n for n in ast.walk(tree) if id(n) not in inside)
    return on_load, _names(n for n in ast.walk(tree) if id(n) in inside) - on_load


def _absent(names: set[str]) -> list[str]:
    return sorted(n for n in names if n not in sys.stdlib_module_names and importlib.util.find_spec(n) is None)


def missing_packages(path: Path) -> tuple[list[str], list[str]]:
    """(absent packages the module cannot load without, absent packages only some of its code paths import)."""
    on_load, in_functions = imported_packages(path)
    return _absent(on_load), _absent(in_functions)


@lru_cache(maxsize=1)
def unavailable_models() -> dict[str, tuple[list[str], list[str]]]:
    """{RecBole model class: (absent packages it imports on load, absent packages some of its code paths import)}."""
    from recsys.models.registry import recbole_model_modules

    out = {}
    for package in RECBOLE_MODEL_PACKAGES:
        for name, module in recbole_model_modules(package):
            path = _module_file(module)
            missing = missing_packages(path) if path is not None else ([], [])
            if missing[0] or missing[1]:
                out[name] = missing
    return out


def why_unavailable(name: str) -> str | None:
    """One line: what is absent for a RecBole model (None when nothing is)."""
    on_load, in_functions = unavailable_models().get(name, ([], []))
    if not on_load and not in_functions:
        return None
    missing = on_load or in_functions
    install = "pip install " + " ".join(PIP_NAMES.get(m, m) for m in missing)
    if on_load:
        return f"cannot run here: needs {', '.join(on_load)} ({install})"
    return f"may fail here: imports {', '.join(in_functions)} where it uses it ({install})"


def tuning_available() -> bool:
    """RecBole's ``HyperTuning`` needs hyperopt (``pip install 'recsys[tune]'``)."""
    return importlib.util.find_spec("hyperopt") is not None
