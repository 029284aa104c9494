"""The command line: ``python -m core <verb> --help``.

Each stage adds its verbs through ``register(subparsers)`` in its ``cli`` module; a verb's
parser sets ``func(args) -> exit code``. Heavy imports happen inside the verbs, so
``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

CLI_MODULES = (
    "core.cohort.cli",
    "core.radiomics.cli",
    "core.segmentation.cli",
    "core.analysis_cli",
    "core.models.cli",
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
    return run_verb(args)


if __name__ == "__main__":
    sys.exit(main())
