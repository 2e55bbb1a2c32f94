"""Publishing a suite's leaderboard: the options a suite declares, and the files (CSV, Markdown, plots,
HTML) written from a results store. Tables and tests live in ``leaderboard``; pages in ``html`` and
``plots``; this module only puts them together."""

from __future__ import annotations

from pathlib import Path

from recsys.bench.store import ResultsStore
from recsys.errors import RecsysError
from recsys.io.paths import inside, name_problem, writable_folder
from recsys.io.safe_write import atomic_write
from recsys.report.html import render_html
from recsys.report.leaderboard import DEFAULT_METRICS, leaderboard, markdown
from recsys.report.plots import metric_plot, time_accuracy_plot


def suite_options(suite: str, baseline: str | None, metrics: str | None,
                  store_root: str | Path | None = None) -> tuple[str, str | dict | None, tuple[str, ...]]:
    """(suite name, baseline, metrics) for a leaderboard: what the command line gives, else what the suite
    file declares (an entry's own ``baseline`` makes the baseline a per-entry dict), else the defaults.
    The suite file is a shipped suite, a path, or the copy ``recsys bench`` kept in the store
    (``<store>/suites/<name>.toml``); a name with none of these is taken as a suite name in the store."""
    from recsys.bench.suite import load_suite

    name = suite
    kept = Path(store_root) / "suites" / f"{suite}.toml" if store_root and not name_problem(suite) else None
    try:
        loaded = load_suite(str(kept) if kept is not None and kept.is_file() else suite)
        name = loaded.name  # a suite given as a file path is stored under its name
        baseline = baseline or (loaded.baselines if any(v != loaded.baseline for v in loaded.baselines.values())
                                else loaded.baseline)
        metrics = metrics or ",".join(loaded.metrics or [])
    except RecsysError:
        if suite.endswith(".toml") or Path(suite).exists():
            raise  # a suite file that does not load is an error, not a name
    chosen = tuple(m.strip() for m in (metrics or ",".join(DEFAULT_METRICS)).split(",") if m.strip())
    return name, baseline, chosen


def write_leaderboard(store: ResultsStore, out_dir: str | Path, suite: str, baseline: str | None,
                      metrics=DEFAULT_METRICS, alpha: float = 0.05, html: bool = True,
                      every_run: bool = False) -> tuple[Path, Path]:
    """``<suite>.csv`` and ``<suite>.md``; with ``html``, plots in ``<suite>-plots/`` and ``<suite>.html``.
    ``every_run``: every finished run in the store (``recsys train`` runs included), ``suite`` only names the files."""
    problem = name_problem(suite)
    if problem:
        raise ValueError(f"suite name {problem}; it names the leaderboard's files")
    board = leaderboard(store, None if every_run else suite, baseline, metrics, alpha=alpha)
    out = writable_folder(Path(out_dir), "the leaderboard folder", "give --out a writable folder")
    csv, md = inside(out, f"{suite}.csv"), inside(out, f"{suite}.md")
    text = f"# Leaderboard: suite `{suite}`\n\n" + markdown(board, alpha) + "\n"
    atomic_write(csv, board.write_csv)  # an interrupted run leaves the previous files, never half of one
    atomic_write(md, lambda p: Path(p).write_text(text))
    if html:
        plot_dir = inside(out, f"{suite}-plots")
        plot_dir.mkdir(exist_ok=True)
        plots = {}
        for dataset in sorted(set(board["dataset"].to_list())):
            plots[dataset] = [metric_plot(store, board, dataset, metrics[0], plot_dir),
                              time_accuracy_plot(store, dataset, metrics[0], plot_dir, None if every_run else suite)]
        page = render_html(store, board, suite, plots)
        atomic_write(out / f"{suite}.html", lambda p: Path(p).write_text(page))
    return csv, md


def write_latex(csv: str | Path) -> Path:
    """``<suite>.tex`` (booktabs tables) beside a written ``<suite>.csv``."""
    import polars as pl

    from recsys.report.leaderboard import latex

    tex = Path(csv).with_suffix(".tex")
    table = latex(pl.read_csv(csv, glob=False))
    atomic_write(tex, lambda p: p.write_text(table))
    return tex
