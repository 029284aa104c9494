"""Exceptions on a page become messages: user errors plainly, others with details folded away."""
from __future__ import annotations

import traceback
from contextlib import contextmanager
from functools import wraps
from typing import Callable

import streamlit as st

from core.store import StudyError


def show_error(exc: BaseException, what: str | None = None) -> None:
    """An exception as a message: user errors plainly, others with details folded away."""
    user = isinstance(exc, (StudyError, ValueError, FileNotFoundError, KeyError, PermissionError))
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    head = f"{what}: " if what else ""
    if user:
        st.error(f"{head}{message}", icon=":material/error:")
        return
    st.error(f"{head}{type(exc).__name__}: {message}", icon=":material/error:")
    with st.expander("Details for a bug report"):
        st.code("".join(traceback.format_exception(exc))[-6000:], language="text")

@contextmanager


def guard(what: str | None = None):
    """Show an exception in the block as a message instead of a traceback page."""
    try:
        yield
    except Exception as exc:  # st.stop / st.rerun are BaseException and pass through
        show_error(exc, what)


def guarded(fn: Callable) -> Callable:
    """Decorator form of :func:`guard` (fragments rerun outside the page's own guard)."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        with guard():
            return fn(*args, **kwargs)
    return wrapper
