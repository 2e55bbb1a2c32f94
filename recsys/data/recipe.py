"""Dataset recipes: one TOML file per dataset saying where its raw files are and how to prepare them.

A recipe has no code. Shipped recipes live in the package's ``recipes/``; a user's
own recipe file works the same way (``recsys data prepare --recipe FILE``). The format
is documented in ``docs/datasets.md``.
"""

from __future__ import annotations

import codecs
import datetime
import difflib
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from recsys.errors import RecipeError, check_section_keys
from recsys.io.paths import name_problem, recipes_dir, relative_path_problem

TASKS = ("sequential", "general", "cross_domain", "ctr", "multi_scenario")
#: Tasks whose data are labelled samples with feature fields (recsys.data.context), not rankings.
CTR_TASKS = ("ctr", "multi_scenario")
TOP_KEYS = {"name", "description", "task", "license", "citation", "files", "interactions", "filters",
            "split", "item_text", "notes", "llm_template", "domain_split", "context"}
FILE_KEYS = {"path", "sha256", "url", "embedded", "note"}
INTERACTION_KEYS = {"file", "format", "columns", "keep_extra", "constants", "on_bad_lines", "domain_offsets",
                    "item_map", "domains", "names", "encoding"}
FILTER_KEYS = {"rating_min", "time_window", "dedup", "user_core", "item_core"}
SPLIT_KEYS = {"method", "order_by", "valid", "test", "seed", "per_user", "files", "shift", "ood"}


@dataclass
class FileSpec:
    key: str
    path: str
    sha256: str | None = None
    url: str | None = None
    embedded: bool = False


@dataclass
class Recipe:
    """A parsed, validated recipe. ``raw`` is the TOML as a dict (it is hashed into the fingerprint)."""

    name: str
    source: Path
    raw: dict

    @property
    def task(self) -> str:
        return self.raw["task"]

    @property
    def description(self) -> str:
        return self.raw["description"]

    @property
    def files(self) -> dict[str, FileSpec]:
        return {k: FileSpec(key=k, **v) for k, v in self.raw.get("files", {}).items()}

    @property
    def interactions(self) -> dict:
        return self.raw.get("interactions", {})

    @property
    def filters(self) -> dict:
        return self.raw.get("filters", {})

    @property
    def split(self) -> dict:
        return self.raw["split"]

    @property
    def item_text(self) -> list[dict]:
        return self.raw.get("item_text", [])

    def digest(self) -> str:
        """sha256 of the recipe's content (not its path or comments)."""
        blob = json.dumps(self.raw, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()


def _require(section: dict, key: str, recipe: Path, prefix: str = ""):
    if key not in section:
        raise RecipeError("missing key", recipe=recipe, key=f"{prefix}{key}",
                          hint="see docs/datasets.md for the recipe format")
    return section[key]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _encoding_ok(v) -> bool:
    try:
        codecs.lookup(v)
    except (LookupError, TypeError):
        return False
    return True


def _time_bound(v) -> bool:
    return v is None or _is_num(v) or isinstance(v, (str, datetime.date, datetime.datetime))


def url_problem(value) -> str | None:
    """Why ``value`` cannot be a download source, or None: https only (http to this machine, for tests)."""
    from urllib.parse import urlsplit

    if not isinstance(value, str):
        return f"expected a string, found {type(value).__name__}"
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return None
    return f"{value[:80]!r}: downloads are fetched over https only (file://, ftp:// and plain http are refused)"


#: Value rules for recipe keys: (section, key) -> (check, what is expected).
VALUE_RULES = {
    ("", "description"): (lambda v: isinstance(v, str), "a string"),
    ("files", "sha256"): (lambda v: isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v.lower()),
                          "64 hexadecimal characters"),
    ("files", "embedded"): (lambda v: isinstance(v, bool), "true or false"),
    ("interactions", "format"): (lambda v: isinstance(v, str), "a format name (csv, tsv, dat, atomic ...)"),
    ("interactions", "columns"): (lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
                                  "a table {user_id = \"column\", item_id = \"column\", ...}"),
    ("interactions", "keep_extra"): (lambda v: isinstance(v, bool), "true or false"),
    ("interactions", "constants"): (lambda v: isinstance(v, dict), "a table {column = value}"),
    ("interactions", "on_bad_lines"): (lambda v: v in ("error", "skip"), "\"error\" or \"skip\""),
    ("interactions", "encoding"): (_encoding_ok, "a Python codec name, e.g. \"utf-8\" or \"latin-1\""),
    ("interactions", "names"): (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                                "a list of column names"),
    ("filters", "rating_min"): (_is_num, "a finite number"),
    ("filters", "time_window"): (lambda v: isinstance(v, list) and 1 <= len(v) <= 2 and all(_time_bound(x) for x in v),
                                 "a list [start] or [start, end] of unix seconds or ISO dates"),
    ("filters", "dedup"): (lambda v: v in ("none", "first", "last"), "\"none\", \"first\" or \"last\""),
    ("filters", "user_core"): (lambda v: _is_int(v) and v >= 0, "a whole number >= 0"),
    ("filters", "item_core"): (lambda v: _is_int(v) and v >= 0, "a whole number >= 0"),
    ("split", "valid"): (lambda v: _is_num(v) and 0 <= v < 1, "a share in [0, 1), e.g. 0.1"),
    ("split", "test"): (lambda v: _is_num(v) and 0 < v < 1, "a share in (0, 1), e.g. 0.1"),
    ("split", "ood"): (lambda v: _is_num(v) and 0 < v < 1, "a share in (0, 1), e.g. 0.2"),
    ("split", "seed"): (_is_int, "a whole number"),
    ("split", "per_user"): (lambda v: isinstance(v, bool), "true or false"),
    ("split", "order_by"): (lambda v: v in ("auto", "timestamp", "order"), "\"auto\", \"timestamp\" or \"order\""),
    ("split", "files"): (lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
                         "a table {train = \"file key\", ...}"),
}


def _check_values(section: dict, name: str, source: Path, prefix: str) -> None:
    for key, value in section.items():
        rule = VALUE_RULES.get((name, key))
        if rule is not None and not rule[0](value):
            raise RecipeError(f"expected {rule[1]}, found {type(value).__name__} {value!r}"[:200], recipe=source,
                              key=f"{prefix}{key}")


def _check_table(raw: dict, key: str, source: Path) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise RecipeError(f"expected a table [{key}], found {type(value).__name__}", recipe=source, key=key)
    return value


def _check_columns(inter: dict, source: Path) -> None:
    """Each file column plays one role: ``{user_id = "u", item_id = "u"}`` is an error, not a silent choice."""
    seen: dict[str, str] = {}
    for role, column in inter.get("columns", {}).items():
        if column in seen:
            raise RecipeError(f"column {column!r} is mapped to both {seen[column]!r} and {role!r}", recipe=source,
                              key=f"interactions.columns.{role}", hint="map each role to its own column")
        seen[column] = role


def validate(raw: dict, source: Path) -> Recipe:
    """Check a recipe's structure and value types; every problem names the recipe file and the key."""
    check_section_keys(raw, TOP_KEYS, source, "")
    name = _require(raw, "name", source)
    problem = name_problem(name)
    if problem:
        raise RecipeError(f"the dataset name {problem}", recipe=source, key="name",
                          hint="a name becomes a cache folder: letters, digits, '-', '_' and '.' are safe")
    _require(raw, "description", source)
    _check_values(raw, "", source, "")
    task = _require(raw, "task", source)
    if task not in TASKS:
        raise RecipeError(f"unknown task {task!r}; known: {TASKS}", recipe=source, key="task")
    files = _validate_files(raw, source)
    inter = _require(raw, "interactions", source)
    if not isinstance(inter, dict):
        raise RecipeError("expected a table [interactions]", recipe=source, key="interactions")
    check_section_keys(inter, INTERACTION_KEYS, source, "interactions.")
    _require(inter, "format", source, "interactions.")
    _check_values(inter, "interactions", source, "interactions.")
    _check_columns(inter, source)
    _validate_split(raw, inter, files, source)
    check_section_keys(_check_table(raw, "filters", source), FILTER_KEYS, source, "filters.")
    _check_values(raw.get("filters", {}), "filters", source, "filters.")
    from recsys.data.text import TextSource

    for i, spec in enumerate(raw.get("item_text", [])):
        src = TextSource.from_recipe(spec, str(source), i)
        for fkey in [src.file] + [hop.get("file") for hop in src.via or []]:
            _file_listed(fkey, files, source, f"item_text[{i}]")
    if "context" in raw:
        from recsys.data.context import validate_context

        validate_context(raw["context"], files, source)
    elif task in CTR_TASKS and "label" not in inter.get("columns", {}):
        raise RecipeError("a CTR dataset needs a label", recipe=source, key="context.label",
                          hint="map a column to 'label' under [interactions] columns, or set [context] label")
    return Recipe(name=name, source=source, raw=raw)


def _file_listed(fkey, files: dict, source: Path, key: str) -> None:
    if fkey not in files:
        raise RecipeError(f"names file {fkey!r}, which is not under [files]", recipe=source, key=key)


def _validate_files(raw: dict, source: Path) -> dict:
    """The [files] tables: each has a path; a downloaded one a safe https url and a relative path."""
    files = _require(raw, "files", source)
    if not files or not isinstance(files, dict):
        raise RecipeError("no files listed", recipe=source, key="files")
    for key, spec in files.items():
        if not isinstance(spec, dict):
            raise RecipeError("each file must be a table with at least 'path'", recipe=source, key=f"files.{key}")
        check_section_keys(spec, FILE_KEYS, source, f"files.{key}.")
        path = _require(spec, "path", source, f"files.{key}.")
        if not isinstance(path, str) or not path.strip() or "\0" in path:
            raise RecipeError(f"expected a file path, found {type(path).__name__} {path!r}"[:200], recipe=source,
                              key=f"files.{key}.path")
        if "url" in spec:  # a downloaded file is written under the cache: its path must stay inside it
            if url_problem(spec["url"]):
                raise RecipeError(url_problem(spec["url"]), recipe=source, key=f"files.{key}.url")
            problem = None if spec.get("embedded") else relative_path_problem(path)
            if problem:
                raise RecipeError(f"path {problem}", recipe=source, key=f"files.{key}.path",
                                  hint="a file with a url is downloaded into the cache, so its path is relative")
        _check_values(spec, "files", source, f"files.{key}.")
    return files


def _validate_split(raw: dict, inter: dict, files: dict, source: Path) -> None:
    """The [split] table: a known method, and every file it (or [interactions]) names listed under [files]."""
    split = _require(raw, "split", source)
    if not isinstance(split, dict):
        raise RecipeError("expected a table [split]", recipe=source, key="split")
    check_section_keys(split, SPLIT_KEYS, source, "split.")
    _check_values(split, "split", source, "split.")
    method = _require(split, "method", source, "split.")
    from recsys.data.splits import METHODS

    if method not in METHODS:
        raise RecipeError(f"unknown split method {method!r}; known: {METHODS}", recipe=source, key="split.method")
    if method == "given":
        for part, fkey in _require(split, "files", source, "split.").items():
            _file_listed(fkey, files, source, f"split.files.{part}")
    else:
        _file_listed(_require(inter, "file", source, "interactions."), files, source, "interactions.file")
    if "item_map" in inter:
        _file_listed(inter["item_map"], files, source, "interactions.item_map")


def load_recipe_file(path: str | Path) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise RecipeError("file not found", recipe=path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"invalid TOML: {exc}", recipe=path) from exc
    except UnicodeDecodeError as exc:
        raise RecipeError(f"not UTF-8 text (byte {exc.start}); TOML files are UTF-8", recipe=path) from exc
    except OSError as exc:
        raise RecipeError(f"cannot read: {exc.strerror}", recipe=path) from exc
    return validate(raw, path.resolve())


def shipped() -> dict[str, Path]:
    """Shipped recipes by dataset name."""
    folder = recipes_dir()
    return {p.stem: p for p in sorted(folder.glob("*.toml"))} if folder.is_dir() else {}


def available() -> dict[str, Path]:
    """Shipped recipes and the user's registered ones (``recsys data add``), by dataset name."""
    return {**user_recipes(), **shipped()}


def _registry() -> Path:
    from recsys.io.paths import cache_dir

    return cache_dir() / "recipes.json"


def user_recipes() -> dict[str, Path]:
    """Recipes registered with ``recsys data add``: name -> the recipe file where it lives (raw paths in a
    recipe stay relative to its own folder, so the file is referenced, not copied)."""
    path = _registry()
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"not a recipe registry ({exc}); delete it and add the recipes again", recipe=path) from exc
    return {str(k): Path(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def add_recipe(path: str | Path) -> Recipe:
    """Register a recipe file under its ``name`` so every command accepts that name; checked first."""
    from recsys.io.safe_write import atomic_write

    recipe = load_recipe_file(path)
    if recipe.name in shipped():
        raise RecipeError(f"the name {recipe.name!r} is a shipped dataset; give your recipe another name",
                          recipe=path, key="name")
    mine = {k: str(v) for k, v in user_recipes().items()}
    mine[recipe.name] = str(Path(path).resolve())
    atomic_write(_registry(), lambda p: p.write_text(json.dumps(mine, indent=1, sort_keys=True), encoding="utf-8"))
    return recipe


def remove_recipe(name: str) -> Path:
    from recsys.io.safe_write import atomic_write

    mine = user_recipes()
    if name not in mine:
        raise RecipeError(f"{name!r} is not a registered recipe (registered: {', '.join(mine) or 'none'})")
    gone = mine.pop(name)
    atomic_write(_registry(), lambda p: p.write_text(json.dumps({k: str(v) for k, v in mine.items()}, indent=1,
                                                                sort_keys=True), encoding="utf-8"))
    return gone


def find_recipe(name_or_path: str | Path) -> Recipe:
    """A shipped recipe by name, or a recipe file by path. Unknown names list close matches."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.is_file():
        return load_recipe_file(candidate)
    known = available()
    if str(name_or_path) not in known:
        close = difflib.get_close_matches(str(name_or_path), known, n=3, cutoff=0.5)
        hint = (f"did you mean {', '.join(close)}?" if close else "") + \
            f" Known datasets: {', '.join(known) or '(none)'}; or pass --recipe FILE (or register it: recsys data add FILE)."
        raise RecipeError(f"unknown dataset {name_or_path!r}", hint=hint.strip())
    return load_recipe_file(known[str(name_or_path)])


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to a recipe")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def dump_recipe(raw: dict) -> str:
    """A recipe dict as TOML (the subset recipes use: tables, arrays of tables, scalars, lists, inline tables)."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in raw.items() if not isinstance(v, (dict, list))
             or (isinstance(v, list) and not any(isinstance(x, dict) for x in v))]
    for key, value in raw.items():
        if isinstance(value, dict):
            nested = {k: v for k, v in value.items() if isinstance(v, dict) and key == "files"}
            flat = {k: v for k, v in value.items() if k not in nested}
            if flat:
                lines += ["", f"[{_toml_key(key)}]"] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in flat.items()]
            for sub, table in nested.items():
                lines += ["", f"[{_toml_key(key)}.{_toml_key(sub)}]"]
                lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]
        elif isinstance(value, list) and any(isinstance(x, dict) for x in value):
            for table in value:
                lines += ["", f"[[{_toml_key(key)}]]"] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"
