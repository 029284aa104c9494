"""The command line: ``python -m core <verb> --help``.

Each stage adds its verbs through ``register(subparsers)`` in its ``cli`` module; a verb's
parser sets ``func(args) -> exit code``. Heavy imports happen inside the verbs, so
``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

CLI_MODULES = (
    "core.cohort.cli",
    "core.radiomics.cli",
    "core.radiomics.robustness_cli",
    "core.segmentation.cli",
    "core.analysis_cli",
    "core.models.cli",
    "core.store.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description=(
        "Predict post-TACE liver failure from CT radiomics and clinical data: cohorts, segmentation, "
        "extraction, analysis and validation over a study database."))
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name in CLI_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from core.cli_errors import run_verb
    with _signals_unwind():
        return run_verb(args)


@contextmanager
def _signals_unwind() -> Iterator[None]:
    """SIGTERM and SIGHUP end a verb as an exception does: ``finally`` blocks, context managers
    and temporary folders clean up; exit status 128 + the signal number. Further signals while
    unwinding are ignored so the clean-up finishes (SIGKILL still ends the process)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]

    def stop(signum, frame):
        for s in signals:
            signal.signal(s, signal.SIG_IGN)
        print(f"stopped by {signal.Signals(signum).name}: removing temporary files", file=sys.stderr)
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, stop) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)


if __name__ == "__main__":
    sys.exit(main())
