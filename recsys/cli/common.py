"""What every command shares: argument types, config overrides, the results folder, one-line errors."""

from __future__ import annotations

import argparse
import os

from recsys.errors import RecsysError


def add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder with the raw data files (default: $RECSYS_DATA)")
    p.add_argument("--download", action="store_true",
                   help="fetch missing raw files from their upstream URL (verified by sha256)")


def dataset_arg(args):
    return args.recipe or args.name


def parse_value(text: str):
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def overrides_from(args) -> dict:
    import tomllib

    out = {}
    if getattr(args, "config", None):
        try:
            with open(args.config, "rb") as fh:
                out.update(tomllib.load(fh))
        except tomllib.TOMLDecodeError as exc:
            raise RecsysError(f"--config {args.config}: invalid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise RecsysError(f"--config {args.config}: not UTF-8 text (byte {exc.start})") from exc
        except IsADirectoryError as exc:
            raise RecsysError(f"--config {args.config}: a folder; give a TOML file of config keys") from exc
        except OSError as exc:
            raise RecsysError(f"--config {args.config}: {exc.strerror}") from exc
    for item in getattr(args, "set", None) or []:
        if "=" not in item:
            raise RecsysError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        if not key.strip():
            raise RecsysError(f"--set expects key=value, got {item!r} (no key)")
        out[key.strip()] = parse_value(value.strip())
    if getattr(args, "precision", None):  # --precision wins over a config file's key
        out["precision"] = args.precision
    return out


def add_precision(p) -> None:
    p.add_argument("--precision", choices=("fp32", "bf16"),
                   help="training precision (default fp32; bf16: autocast, float32 weights and loss, "
                        "fast only on CPUs with AVX512-BF16/AMX and on GPUs; see docs/performance.md)")


def results_dir(args) -> str:
    return args.results or os.environ.get("RECSYS_RESULTS") or "results"


def _integer(text: str, ok, what: str, when_not_int: str) -> int:
    """An argparse integer within a range: ``when_not_int`` names what was expected of non-numbers."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {when_not_int}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def whole_number(text: str) -> int:
    """argparse type: a whole number >= 1 (epochs, repeats, jobs, sizes)."""
    return _integer(text, lambda v: v >= 1, "a whole number >= 1", "a whole number >= 1")


def seed_number(text: str) -> int:
    """argparse type: a seed numpy and torch both accept (0 <= seed < 2**32)."""
    return _integer(text, lambda v: 0 <= v < 2 ** 32, "a seed in [0, 2**32)", "a whole number")


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (what is wrong, and where the help is), exit code 2."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def error_line(exc: BaseException) -> str:
    """One line for stderr: our errors as they are (they name the file, key or line); an OS error with its
    file; anything unexpected with its type and a pointer to ``--verbose``."""
    if isinstance(exc, (RecsysError, ValueError)):
        text = str(exc)
    elif isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"{where}{exc.strerror or exc}"
    else:
        text = (f"{type(exc).__name__}: {exc} (unexpected; rerun with --verbose for the traceback and report it, "
                f"with the command line)")
    return " ".join(part.strip() for part in text.splitlines() if part.strip()) or type(exc).__name__


def add_log_options(p) -> None:
    p.add_argument("--log-file", help="also append every printed line (epochs, trials, cells, results) to this "
                   "file; progress bars stay on the terminal")


class _Tee:
    """A stream that also appends complete lines to a log file (progress-bar redraws with '\\r' are not logged)."""

    def __init__(self, stream, log):
        self.stream, self.log, self.buffer = stream, log, ""

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            if "\r" not in line:
                self.log.write(line + "\n")
        self.log.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()
        self.log.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def tee_output(path: str | None):
    """A context in which stdout and stderr are also appended to ``path`` (None: nothing changes)."""
    import contextlib
    import sys

    if not path:
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def tee():
        with open(path, "a", encoding="utf-8") as log:
            out, err = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = _Tee(out, log), _Tee(err, log)
            try:
                yield
            finally:
                sys.stdout, sys.stderr = out, err

    return tee()
