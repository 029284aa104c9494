"""Runs a command-line verb and turns expected failures into a message and an exit code."""
from __future__ import annotations

import argparse
import sys


def run_verb(args: argparse.Namespace) -> int:
    """Call ``args.func``; a user error (bad input, missing study) prints its message, exit 2."""
    from core.store import StudyError

    user_errors: tuple[type[BaseException], ...] = (StudyError, ValueError, FileNotFoundError, KeyError)
    try:
        return int(args.func(args) or 0)
    except user_errors as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished cases are stored; run the same command again to continue", file=sys.stderr)
        return 130
