"""Errors a user can act on: each names the file, line, column or key at fault and says how to fix it."""

from __future__ import annotations

from pathlib import Path


class RecsysError(Exception):
    """Base class for errors that the CLI prints without a traceback."""


class Terminated(BaseException):
    """SIGTERM arrived (a scheduler's stop, ``kill``): the running run is recorded as failed, the command
    stops. A BaseException, like Ctrl-C, so no ``except Exception`` swallows it and goes on."""


class DataError(RecsysError, ValueError):
    """Bad or missing input data. Carries the file and, where known, the line or column."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 column: str | None = None, hint: str | None = None):
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f", line {line}"
            if column is not None:
                where += f", column '{column}'"
            where += ": "
        elif column is not None:
            where = f"column '{column}': "
        text = where + message
        if hint:
            text += f" — hint: {hint}"
        super().__init__(text)
        self.path = path
        self.line = line
        self.column = column


class RecipeError(RecsysError, ValueError):
    """A dataset recipe that is unknown, incomplete or inconsistent."""

    def __init__(self, message: str, *, recipe: str | Path | None = None, key: str | None = None,
                 hint: str | None = None):
        where = f"recipe {recipe}" if recipe is not None else "recipe"
        if key is not None:
            where += f", key '{key}'"
        text = f"{where}: {message}"
        if hint:
            text += f" — hint: {hint}"
        super().__init__(text)
        self.recipe = recipe
        self.key = key


class ConfigError(RecsysError, KeyError):
    """A run's configuration key that is unknown, or a value of the wrong type or range."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


def check_section_keys(section: dict, allowed: set[str], recipe: str | Path, prefix: str) -> None:
    """An unknown key of a recipe section is an error naming it, with the closest allowed key."""
    import difflib

    extra = set(section) - allowed
    if extra:
        bad = sorted(extra)[0]
        close = difflib.get_close_matches(bad, allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {sorted(allowed)}"
        raise RecipeError("unknown key", recipe=recipe, key=f"{prefix}{bad}", hint=hint)
