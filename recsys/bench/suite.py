"""Suite files: which models (entries) run on which datasets with which seeds, checked on load."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from recsys.errors import RecipeError
from recsys.io.paths import name_problem

#: The suites shipped inside the package (``recsys bench --suite NAME``).
SUITES_DIR = Path(__file__).parent / "suites"


@dataclass
class Suite:
    name: str
    datasets: list[str]
    seeds: list[int]
    models: dict[str, dict]
    defaults: dict = field(default_factory=dict)
    description: str = ""
    baseline: str | None = None  # the model every other is tested against in the leaderboard
    metrics: list[str] | None = None  # the leaderboard's columns (group metrics allowed, e.g. ndcg@10|item:tail)
    tune: dict | None = None  # [tune]: trials (equal for every entry), dataset, metric, pruner, seed
    tuning: dict = field(default_factory=dict)  # entry -> its study's summary, once tuned (recsys.bench.tuning)
    source: str = ""  # the suite file's text: kept in the results store so a leaderboard finds it by name

    @property
    def baselines(self) -> dict[str, str]:
        """Each entry's comparison: its own ``baseline`` key (GPRec vs its backbone) or the suite's baseline."""
        own = {m: o["baseline"] for m, o in self.models.items() if "baseline" in o}
        return {m: own.get(m, self.baseline) for m in self.models if own.get(m, self.baseline) is not None}

    def cells(self):
        """(dataset, entry, overrides, seed); an entry may limit itself with ``datasets``/``seeds`` keys."""
        for dataset in self.datasets:
            for model, overrides in self.models.items():
                overrides = dict(overrides)
                only_datasets = overrides.pop("datasets", None)
                only_seeds = overrides.pop("seeds", None)
                overrides.pop("baseline", None)  # this entry's own comparison (see ``baselines``)
                overrides.pop("search_space", None)  # what [tune] may change (recsys.bench.tuning)
                overrides.pop("tuned_as", None)  # whose tuned values it takes (recsys.bench.tuning)
                if only_datasets is not None and dataset not in only_datasets:
                    continue
                for seed in self.seeds:
                    if only_seeds is None or seed in only_seeds:
                        yield dataset, model, {**self.defaults, **overrides}, seed


SUITE_KEYS = {"name", "description", "datasets", "seeds", "baseline", "metrics", "defaults", "models", "tune"}
#: [tune] keys: (check, what is expected)
TUNE_RULES = {
    "trials": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1"),
    "dataset": (lambda v: isinstance(v, str) and v, "a dataset name (default: the suite's first)"),
    "metric": (lambda v: isinstance(v, str) and v, "a validation metric, e.g. ndcg@10"),
    "pruner": (lambda v: v in ("median", "hyperband", "none"), "median, hyperband or none"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
}


def load_suite(name_or_path: str) -> Suite:
    """A suite file, checked: every problem names the file and the key, with the expected type."""
    import difflib

    path = Path(name_or_path)
    if not path.is_file():
        path = SUITES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in SUITES_DIR.glob("*.toml"))
        raise RecipeError(f"unknown suite {name_or_path!r}; shipped suites: {known}, or give a TOML file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"invalid TOML: {exc}", recipe=path) from exc
    for key in ("name", "datasets", "seeds", "models"):
        if key not in raw:
            raise RecipeError("missing key", recipe=path, key=key)
    for key in raw:
        if key not in SUITE_KEYS:
            close = difflib.get_close_matches(key, SUITE_KEYS, n=1)
            raise RecipeError("unknown key", recipe=path, key=key,
                              hint=f"did you mean '{close[0]}'?" if close else f"allowed: {sorted(SUITE_KEYS)}")

    def expect(key, ok, what):
        if not ok(raw[key]):
            raise RecipeError(f"expected {what}, found {type(raw[key]).__name__} {raw[key]!r}", recipe=path, key=key)

    expect("name", lambda v: isinstance(v, str) and v, "a non-empty string")
    if name_problem(raw["name"]):
        raise RecipeError(f"the suite name {name_problem(raw['name'])}", recipe=path, key="name",
                          hint="it names the suite's leaderboard files: letters, digits, '-', '_' and '.' are safe")
    expect("datasets", lambda v: isinstance(v, list) and v and all(isinstance(x, str) for x in v),
           "a non-empty list of dataset names")
    expect("seeds", lambda v: isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool)
                                                                for x in v), "a non-empty list of integers")
    expect("models", lambda v: isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()),
           "a table of [models.NAME] tables")
    for key, what in (("defaults", "a table"), ("metrics", "a list of metric names"), ("baseline", "a model entry")):
        if key in raw:
            expect(key, {"defaults": lambda v: isinstance(v, dict),
                     "metrics": lambda v: isinstance(v, list) and v and all(isinstance(m, str) and m for m in v),
                         "baseline": lambda v: isinstance(v, str)}[key], what)
    for entry, options in raw["models"].items():
        _check_entry(entry, options, path)
    if "tune" in raw:
        expect("tune", lambda v: isinstance(v, dict) and "trials" in v, "a table with at least trials = N")
        _check_tune(raw["tune"], path)
    _check_references(raw, path)
    return Suite(name=raw["name"], datasets=list(raw["datasets"]), seeds=list(raw["seeds"]),
                 models={m: dict(v) for m, v in raw["models"].items()}, defaults=dict(raw.get("defaults", {})),
                 description=raw.get("description", ""), baseline=raw.get("baseline"),
                 metrics=raw.get("metrics"), tune=dict(raw["tune"]) if "tune" in raw else None,
                 source=path.read_text(encoding="utf-8"))



def _check_tune(tune: dict, path: Path) -> None:
    for key, value in tune.items():
        if key not in TUNE_RULES:
            raise RecipeError("unknown key", recipe=path, key=f"tune.{key}", hint=f"allowed: {sorted(TUNE_RULES)}")
        ok, what = TUNE_RULES[key]
        if not ok(value):
            raise RecipeError(f"expected {what}, found {value!r}", recipe=path, key=f"tune.{key}")


def _check_references(raw: dict, path: Path) -> None:
    """``tuned_as`` and ``baseline`` name entries of this suite (``tuned_as``: one tuned on its own)."""
    models = raw["models"]
    for entry, options in models.items():
        other = options.get("tuned_as")
        if other is not None and (other == entry or other not in models or "tuned_as" in models[other]):
            raise RecipeError(f"names {other!r}, which is not another entry tuned on its own", recipe=path,
                              key=f"models.{entry}.tuned_as", hint=f"entries: {', '.join(models)}")
    if "baseline" in raw and raw["baseline"] not in models:
        raise RecipeError(f"names {raw['baseline']!r}, which is not an entry", recipe=path, key="baseline",
                          hint=f"entries: {', '.join(models)}")

ENTRY_RULES = {  # suite entry keys the runner reads itself: (check, what is expected)
    "model": (lambda v: isinstance(v, str) and v, "a registered model name (recsys models)"),
    "datasets": (lambda v: isinstance(v, list) and v and all(isinstance(x, str) for x in v),
                 "a list of dataset names, e.g. [\"ml-100k\"]"),
    "seeds": (lambda v: isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v),
              "a list of integers"),
    "baseline": (lambda v: isinstance(v, str) and v, "an entry name"),
    "backbone": (lambda v: isinstance(v, str) and v, "an entry or model name"),
    "per_domain": (lambda v: isinstance(v, bool), "true or false"),
    "search_space": (lambda v: isinstance(v, dict), "a table of key = [kind, low, high] (recsys.tune.spaces)"),
    "tuned_as": (lambda v: isinstance(v, str) and v, "another entry's name (this entry takes its tuned values)"),
}


def _check_entry(entry: str, options: dict, path: Path) -> None:
    """An entry's own keys have the right types, and its label can name a results file."""
    if len(entry.encode("utf-8")) > 200 or any(ord(c) < 32 for c in entry):
        raise RecipeError("an entry name is at most 200 bytes, without control characters", recipe=path,
                          key=f"models.{entry[:40]}...")
    for key, (ok, what) in ENTRY_RULES.items():
        if key in options and not ok(options[key]):
            raise RecipeError(f"expected {what}, found {type(options[key]).__name__} {options[key]!r}"[:200],
                              recipe=path, key=f"models.{entry}.{key}")


def suite_entry(suite: Suite, entry: str) -> dict:
    own = {k: v for k, v in suite.models[entry].items() if k not in ("datasets", "seeds", "baseline", "search_space", "tuned_as")}
    return {**suite.defaults, **own}
