"""The layering in docs/architecture.md, enforced: which package may import which, no import cycle,
short functions, and run types declared rather than guessed from model names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "recsys"

#: package -> packages it must never import (docs/architecture.md, "What each layer may import")
FORBIDDEN = {
    "models": {"data", "llm", "bench", "train", "eval", "merging", "report", "perf", "cli"},
    "nn": {"data", "llm", "bench", "train", "eval", "merging", "report", "perf", "cli", "models", "recbole"},
    "train": {"llm", "bench", "report", "perf", "cli"},
    "data": {"models", "train", "llm", "bench", "eval", "merging", "report", "perf", "cli", "recbole"},
    "eval": {"models", "train", "llm", "bench", "merging", "report", "perf", "cli"},
    "llm": {"train", "bench", "merging", "report", "perf", "cli"},
    "recbole": {"train", "llm", "bench", "merging", "report", "perf", "cli"},
    "io": {"data", "models", "train", "llm", "bench", "eval", "merging", "report", "perf", "cli", "recbole"},
    "bench": {"cli", "report", "perf"},
    "merging": {"bench", "cli", "report", "perf"},
    "report": {"cli", "train", "llm", "models"},
    "tune": {"cli", "report", "perf", "merging"},
}
MAX_LINES = 60
PARSER_BUILDERS = {"build_parser", "add_parser"}  # argparse declarations: long by nature, no logic


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = ("recsys",) + path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(tree: ast.AST, modules: set[str]) -> set[str]:
    """Every ``recsys...`` module a source imports, at any depth (function-level imports count too).
    ``from P import m`` names the submodule ``P.m`` when it is one (a package's ``__init__`` runs anyway,
    so it is no dependency of its own), else ``P`` itself."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                found.add(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m == "recsys" or m.startswith("recsys.")}


def sources(root: Path = PACKAGE) -> dict[str, ast.AST]:
    return {module_name(p, root): ast.parse(p.read_text(), str(p)) for p in sorted(root.rglob("*.py"))}


def layer_violations(trees: dict[str, ast.AST]) -> list[str]:
    out = []
    for name, tree in trees.items():
        layer = name.split(".")[1] if name.count(".") else ""
        for target in sorted(imports_of(tree, set(trees))):
            parts = target.split(".")
            if len(parts) > 1 and parts[1] in FORBIDDEN.get(layer, ()):
                out.append(f"{name} imports {target}")
    return out


def cycles(trees: dict[str, ast.AST]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), over module-level edges."""
    # ``import recsys`` (the root package, which applies the RecBole patches) runs before any submodule
    # anyway, like every package ``__init__``: it is no edge
    graph = {n: {m for m in imports_of(t, set(trees)) if m in trees and m not in (n, "recsys")}
             for n, t in trees.items()}
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def long_functions(trees: dict[str, ast.AST]) -> list[str]:
    return [f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
            for name, tree in trees.items() for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in PARSER_BUILDERS
            and node.end_lineno - node.lineno + 1 > MAX_LINES]


def name_tests(trees: dict[str, ast.AST], names=("TTA4SR", "Merge")) -> list[str]:
    """Comparisons (==, !=, in) against a model's name: run types must be declared, not guessed."""
    out = []
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                for part in [node.left, *node.comparators]:
                    if isinstance(part, ast.Constant) and isinstance(part.value, str) and part.value.lower() in {
                            n.lower() for n in names}:
                        out.append(f"{name}:{node.lineno} compares with {part.value!r}")
    return out


@pytest.fixture(scope="module")
def trees():
    return sources()


def test_layers_import_only_what_they_may(trees):
    assert layer_violations(trees) == []


def test_no_import_cycle_between_modules(trees):
    assert cycles(trees) == []


def test_no_function_over_sixty_lines(trees):
    assert long_functions(trees) == []


def test_run_types_are_declared_not_guessed_from_names(trees):
    chosen = {n: t for n, t in trees.items() if n.startswith(("recsys.cli", "recsys.bench"))}
    assert chosen and name_tests(chosen) == []


def test_the_checks_catch_what_they_are_for(tmp_path):
    """Each check fires on a small package that breaks its rule."""
    pkg = tmp_path / "recsys"
    (pkg / "models").mkdir(parents=True)
    (pkg / "bench").mkdir()
    (pkg / "models" / "bad.py").write_text("from recsys.data.prepare import prepare\nimport recsys.models.other\n")
    (pkg / "models" / "other.py").write_text("from recsys.models import bad\n")
    long_body = "\n".join(f"    x{i} = {i}" for i in range(61))
    (pkg / "bench" / "run.py").write_text(f"def f(m):\n{long_body}\n    return m == 'TTA4SR'\n")
    trees = sources(pkg)
    assert layer_violations(trees) == ["recsys.models.bad imports recsys.data.prepare"]
    assert cycles(trees) == [["recsys.models.bad", "recsys.models.other"]]
    assert long_functions(trees) == ["recsys.bench.run.f: 63 lines"]
    assert name_tests(trees) == ["recsys.bench.run:63 compares with 'TTA4SR'"]
