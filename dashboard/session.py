"""The dashboard's study: which file a session works on, the one shared connection, cached reads.

One :class:`core.store.Study` per study file and process (``st.cache_resource``); reads go
through :func:`read`, an ``st.cache_data`` keyed by the study's content version
(:meth:`Study.version` grows with every committed write), so a page rerun recomputes nothing
that has not changed and every write is seen at once. Pages never open the database
themselves and never compute statistics (that is ``core``'s work).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import streamlit as st

from core.store import Study, StudyError, verify_file
from dashboard.figures import EXPORT_FORMATS

DEFAULT_STUDY = "data/demo.duckdb"
STUDY_PAGE = "views/study.py"


def _cli_study() -> str | None:
    """``--study PATH`` given after ``--`` to ``streamlit run dashboard/app.py``."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--study")
    try:
        args, _ = parser.parse_known_args(sys.argv[1:])
    except SystemExit:  # a malformed command line is not the page's problem
        return None
    return args.study


def default_study_path() -> str:
    """The study named on the command line, else ``PTLF_STUDY``, else data/demo.duckdb."""
    return _cli_study() or os.environ.get("PTLF_STUDY") or DEFAULT_STUDY


def study_path() -> Path:
    """The study file this session works on (absolute)."""
    raw = st.session_state.get("study_path") or default_study_path()
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    return path.resolve()


@st.cache_resource(show_spinner=False, max_entries=8)
def open_study(path: str) -> Study:
    """The one read-write Study of this file in this server process (shared by sessions and threads).

    Jobs left 'running' by a process that has ended are marked failed on opening.
    """
    study = Study.open(path, create=False)
    study.jobs.mark_stale()
    return study


def create_study(path: str | Path) -> Study:
    """Create an empty study file and open it through the shared accessor."""
    Study.open(path, create=True).close()
    return open_study(str(Path(path).resolve()))


def current_study(stop: bool = True) -> Study | None:
    """The session's open study; without one, a message and (with ``stop``) the end of the page."""
    path = study_path()
    if not path.exists():
        if not stop:
            return None
        st.warning(f"No study file at `{path}`. Open or create one on the Study page.")
        st.page_link(STUDY_PAGE, label="Go to the Study page", icon=":material/folder_open:")
        st.stop()
    try:
        return open_study(str(path))
    except StudyError as exc:
        if not stop:
            raise
        st.error(str(exc))
        st.page_link(STUDY_PAGE, label="Go to the Study page", icon=":material/folder_open:")
        st.stop()


@st.cache_data(show_spinner=False, max_entries=512)
def _read(path: str, version: int, method: str, args: tuple, kwargs: tuple) -> Any:
    return _call_method(path, method, args, kwargs)


def read(method: str, *args: Any, **kwargs: Any) -> Any:
    """``study.<method>(*args, **kwargs)`` cached until the study changes (e.g. ``read("centers")``,
    ``read("jobs.list")``, ``read("features_wide", "hospital_a", "manual", h)``)."""
    study = current_study()
    return _read(str(study.path), study.version(), method, tuple(args), tuple(sorted(kwargs.items())))


def read_keyed(key: tuple, method: str, *args: Any, **kwargs: Any) -> Any:
    """Like :func:`read`, but cached by ``key`` instead of the study's version: for large reads whose
    content is known to depend only on ``key`` (e.g. one feature set while another centre is extracted)."""
    study = current_study()
    return _read_keyed(str(study.path), tuple(key), method, tuple(args), tuple(sorted(kwargs.items())))


@st.cache_data(show_spinner=False, max_entries=16)
def _read_keyed(path: str, key: tuple, method: str, args: tuple, kwargs: tuple) -> Any:
    return _call_method(path, method, args, kwargs)


@st.cache_resource(show_spinner=False, max_entries=16)
def _read_shared(path: str, key: tuple, method: str, args: tuple) -> Any:
    return _call_method(path, method, args, ())


def read_shared(key: tuple, method: str, *args: Any) -> Any:
    """Like :func:`read_keyed`, but the one cached object is shared, not copied: for large results
    written once (stored analyses) that pages only read, never modify."""
    study = current_study()
    return _read_shared(str(study.path), tuple(key), method, tuple(args))


def _call_method(path: str, method: str, args: tuple, kwargs: tuple) -> Any:
    target: Any = open_study(path)
    for part in method.split("."):
        target = getattr(target, part)
    return target(*args, **dict(kwargs))


def cached_call(fn: Callable, *args: Any, key: tuple | None = None, **kwargs: Any) -> Any:
    """``fn(study, *args, **kwargs)`` cached until the study changes, or while ``key`` stays the same
    when one is given (e.g. :func:`center_key`). ``fn`` calls into ``core``; its result depends only
    on the study's content and the arguments (it is identified by its file and name)."""
    study = current_study()
    name = f"{fn.__code__.co_filename}:{fn.__qualname__}"
    stamp = ("key", tuple(key)) if key is not None else ("version", study.version())
    return _call(str(study.path), stamp, name, fn, tuple(args), tuple(sorted(kwargs.items())))


@st.cache_data(show_spinner=False, max_entries=256)
def _call(path: str, stamp: tuple, name: str, _fn: Callable, args: tuple, kwargs: tuple) -> Any:
    return _fn(open_study(path), *args, **dict(kwargs))


def centers() -> pd.DataFrame:
    return read("centers")


def center_key(center: str) -> tuple:
    """What identifies a centre's stored cohort (changes when it is replaced, deleted or re-added)."""
    row = centers().set_index("center").reindex([center]).iloc[0]
    return (center, str(row.get("created_at")), row.get("patients"), row.get("images"), row.get("manual_masks"),
            row.get("model_masks"))


def center_names(role: str | None = None) -> list[str]:
    df = centers()
    if role is not None:
        df = df[df["role"] == role]
    return list(df["center"])


def pick_center(label: str = "Centre", key: str = "center", default_role: str | None = "training",
                options: list[str] | None = None, **kwargs) -> str | None:
    """A centre selectbox (training centre first); None with a message when the study has none."""
    df = centers()
    names = options if options is not None else list(df["center"])
    if not names:
        st.info("The study has no centres yet: upload a cohort on the Cohorts page.")
        st.page_link("views/cohorts.py", label="Go to Cohorts", icon=":material/upload:")
        return None
    roles = dict(zip(df["center"], df["role"]))
    index = next((i for i, c in enumerate(names) if roles.get(c) == default_role), 0)
    return st.selectbox(label, names, index=index, key=key,
                        format_func=lambda c: f"{c} ({roles.get(c, '?')})", **kwargs)


def sidebar() -> None:
    """Study in use and the plot export format."""
    with st.sidebar:
        path = study_path()
        st.caption(f"Study: `{path.name}`" if path.exists() else f"No study at `{path.name}`")
        st.radio("Plot export (camera button)", EXPORT_FORMATS, key="export_format", horizontal=True,
                 format_func=str.upper)


def not_available(what: str, module: str) -> None:
    st.info(f"{what} is not available yet: this installation lacks `{module}`.", icon=":material/hourglass_empty:")


@st.cache_data(show_spinner=False, max_entries=16)
def volume(sha256: str, path: str) -> tuple[Any, tuple[float, float, float]]:
    """A stored volume as a (z, y, x) array and its (x, y, z) spacing; cached by content hash
    (checked against it when read: a file changed on disk is named, not shown)."""
    import SimpleITK as sitk

    image = sitk.ReadImage(str(verify_file(path, sha256, "stored volume")))
    return sitk.GetArrayFromImage(image), tuple(float(s) for s in image.GetSpacing())


def module_available(name: str) -> bool:
    """True when ``core`` has the module (stages land one by one)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
