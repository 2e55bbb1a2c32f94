"""The ``recsys`` command: one module per command group, parsing and printing only; the work lives
in the packages (``recsys.data``, ``recsys.train``, ``recsys.bench``, ``recsys.llm``, ...)."""

from __future__ import annotations

import argparse
import logging
import sys

from recsys.cli import bench, claims, data, doctor, leaderboard, llm, merge, models, perf, train, tune
from recsys.cli.common import Parser, error_line, tee_output
from recsys.errors import RecsysError, Terminated

GROUPS = (data, doctor, perf, train, tune, merge, bench, llm, leaderboard, claims, models)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="recsys", description="Recommender-systems benchmark toolkit.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", required=True)

    for group in GROUPS:
        group.add_parser(sub)
    return parser


def _terminate_on_sigterm() -> None:
    """SIGTERM raises ``Terminated`` (in the main thread only, where signals are delivered)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        def stop(signum, frame):
            raise Terminated("SIGTERM")

        signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "check", None) is not None:  # a command's checks across options, after parsing
        args.check(parser, args)
    _terminate_on_sigterm()
    try:
        with tee_output(getattr(args, "log_file", None)):
            return args.func(args)
    except Terminated:
        print("terminated (SIGTERM): the running run is recorded as failed, finished runs are kept; "
              "the same command resumes", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        hint = (": finished runs are kept; the same command resumes where it stopped"
                if getattr(args, "command", None) == "bench" else "")
        print(f"interrupted{hint}", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001  (one line on stderr, exit 2; --verbose shows the traceback)
        if args.verbose and not isinstance(exc, RecsysError):
            raise
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 2
