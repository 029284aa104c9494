"""Shared UI helpers of the dashboard: the study accessor, cached reads, tables with downloads,
number formatting, plot export settings, error messages and background work.

Pages import this module and :mod:`core.plots`; they never open the database
themselves and never compute statistics (that is ``core``'s work).

Caching: one :class:`core.store.Study` per study file and process (``st.cache_resource``);
reads go through :func:`read`, an ``st.cache_data`` keyed by the study's content version
(:meth:`Study.version` grows with every committed write), so a page rerun recomputes nothing
that has not changed and every write is seen at once.
"""
from __future__ import annotations

import argparse
import io
import math
import os
import sys
import threading
import traceback
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd
import streamlit as st

from core.store import Study, StudyError, is_finished

DEFAULT_STUDY = "data/demo.duckdb"
STUDY_PAGE = "views/study.py"


# ------------------------------------------------------------------------------- the study
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


# ------------------------------------------------------------------------------ formatting
def fmt_p(p: Any) -> str:
    """P values as journals print them: ``<0.001`` or three decimals."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return ""
    try:
        p = float(p)
    except (TypeError, ValueError):
        return str(p)
    if math.isnan(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_num(x: Any, digits: int = 3) -> str:
    if x is None:
        return ""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.00"


def fmt_ci(estimate: Any, low: Any, high: Any, digits: int = 3) -> str:
    """``0.812 (0.734-0.890)``."""
    if estimate is None:
        return ""
    text = fmt_num(estimate, digits)
    if low is None or high is None:
        return text
    return f"{text} ({fmt_num(low, digits)}\u2013{fmt_num(high, digits)})"


def fmt_duration(seconds: Any) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    return f"{seconds // 3600:.0f} h {(seconds % 3600) // 60:.0f} min"


P_COLUMNS = ("p", "p_value", "pvalue", "p value", "P", "P value", "p_univariate", "p_multivariate")


def format_table(df: pd.DataFrame, digits: dict[str, int] | None = None, p_columns: Iterable[str] = (),
                 default_digits: int | None = 3) -> pd.DataFrame:
    """A copy for display and download: P columns as ``<0.001``, floats rounded.

    ``digits`` maps column -> decimals; other float columns get ``default_digits`` (None: as is).
    Columns whose name looks like a P value are formatted as P values.
    """
    out = df.copy()
    p_cols = set(p_columns) | {c for c in out.columns if str(c) in P_COLUMNS or str(c).lower().startswith("p_")
                               or str(c).lower() in ("p", "pvalue", "p value")}
    for col in out.columns:
        if col in p_cols:
            out[col] = [fmt_p(v) for v in out[col]]
        elif pd.api.types.is_float_dtype(out[col]):
            d = (digits or {}).get(col, default_digits)
            if d is not None:
                out[col] = out[col].round(d)
    return out


# ------------------------------------------------------------------------- tables + downloads
def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("_") or "table"


@st.cache_data(show_spinner=False, max_entries=64)
def to_xlsx(df: pd.DataFrame, sheet: str = "table") -> bytes:
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        df.to_excel(writer, sheet_name=_slug(sheet)[:31] or "table", index=not isinstance(df.index, pd.RangeIndex))
    return buf.getvalue()


@st.cache_data(show_spinner=False, max_entries=64)
def to_csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=not isinstance(df.index, pd.RangeIndex)).encode("utf-8")


def downloads(df: pd.DataFrame, name: str, key: str | None = None) -> None:
    """CSV and XLSX download buttons for a table (files made only when clicked)."""
    key = key or _slug(name)
    slug = _slug(name)
    row = st.container(horizontal=True, gap="small")
    row.download_button("CSV", data=lambda: to_csv(df), file_name=f"{slug}.csv", mime="text/csv",
                        key=f"{key}-csv", icon=":material/download:", on_click="ignore")
    big = df.size > 200_000  # openpyxl writes roughly 40,000 cells a second
    row.download_button("XLSX", data=lambda: to_xlsx(df, slug), file_name=f"{slug}.xlsx",
                        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        key=f"{key}-xlsx", icon=":material/download:", on_click="ignore",
                        help=f"{df.size:,} cells: the workbook takes about {df.size / 40_000:.0f} s to make; "
                             "CSV is much faster." if big else None)


def table(df: pd.DataFrame, name: str, key: str | None = None, download: pd.DataFrame | None = None,
          **kwargs: Any) -> None:
    """A table with CSV/XLSX downloads (of ``download`` when given, else of what is shown)."""
    kwargs.setdefault("hide_index", isinstance(df.index, pd.RangeIndex))
    st.dataframe(df, **kwargs)
    downloads(df if download is None else download, name, key)


# ------------------------------------------------------------------------------------ plots
EXPORT_FORMATS = ("png", "svg")


def plot_config(name: str) -> dict[str, Any]:
    """Plotly config: the camera button saves ``name`` as PNG or SVG (choice in the sidebar)."""
    fmt = st.session_state.get("export_format", "png")
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": fmt, "filename": _slug(name), "scale": 3 if fmt == "png" else 1,
                                 "height": None, "width": None},
        "modeBarButtonsToRemove": ["select2d", "lasso2d"],
    }


@st.cache_resource(show_spinner=False, max_entries=128)
def _figure(name: str, _builder: Callable, args: tuple, kwargs: tuple):
    return _builder(*args, **dict(kwargs))


def figure(builder: Callable, *args: Any, **kwargs: Any):
    """``builder(*args, **kwargs)`` (a function of :mod:`core.plots`) built once per distinct input.

    Building and validating a plotly figure costs tens of milliseconds; the cached figure is
    shared, never modified (``st.plotly_chart`` serialises a copy).
    """
    return _figure(f"{builder.__module__}.{builder.__qualname__}", builder, args, tuple(sorted(kwargs.items())))


@st.cache_resource(show_spinner=False, max_entries=128)
def _figure_for(name: str, key: tuple, _build: Callable):
    return _build()


def figure_for(key: tuple, build: Callable):
    """``build()`` once per ``key`` (e.g. analysis id, centre, plot and settings): for figures drawn
    from large stored results, where hashing the inputs would cost more than the key says."""
    return _figure_for("keyed", tuple(key), build)


def chart(fig, name: str, key: str | None = None, **kwargs: Any) -> None:
    """Show a plotly figure with the export settings."""
    st.plotly_chart(fig, config=plot_config(name), key=key or f"chart-{_slug(name)}", **kwargs)


# ----------------------------------------------------------------------------------- errors
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


# ---------------------------------------------------------------------------- background work
class _Background:
    """Threads of this server process doing long work (one per name at a time)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.threads: dict[str, threading.Thread] = {}
        self.errors: dict[str, str] = {}
        self.results: dict[str, Any] = {}


@st.cache_resource(show_spinner=False)
def _background() -> _Background:
    return _Background()


def start_background(name: str, fn: Callable, *args: Any, **kwargs: Any) -> bool:
    """Run ``fn(*args, **kwargs)`` in a daemon thread named ``name``; False if one is still running.

    The thread must not call ``st.*``; it works through the Study it is given. Its exception,
    if any, is kept for :func:`background_error`; its return value for :func:`background_result`.
    """
    bg = _background()
    with bg.lock:
        running = bg.threads.get(name)
        if running is not None and running.is_alive():
            return False
        bg.errors.pop(name, None)
        bg.results.pop(name, None)

        def target() -> None:
            try:
                bg.results[name] = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - reported on the page
                bg.errors[name] = f"{type(exc).__name__}: {exc}"

        thread = threading.Thread(target=target, name=f"ptlf-{name}", daemon=True)
        bg.threads[name] = thread
        thread.start()
    return True


def background_running(name: str) -> bool:
    thread = _background().threads.get(name)
    return thread is not None and thread.is_alive()


def background_error(name: str) -> str | None:
    return _background().errors.get(name)


def background_result(name: str) -> Any:
    return _background().results.get(name)


def wait_background(name: str, timeout: float | None = None) -> None:
    """Join the named thread (tests and benchmarks)."""
    thread = _background().threads.get(name)
    if thread is not None:
        thread.join(timeout)


# ------------------------------------------------------------------------------------- jobs
def jobs(kind: str | None = None, center: str | None = None) -> pd.DataFrame:
    df = read("jobs.list")
    if kind is not None:
        df = df[df["kind"] == kind]
    if center is not None:
        df = df[df["center"] == center]
    return df


def job_is_active(state: str) -> bool:
    return not is_finished(str(state))


def job_progress(job: pd.Series | dict) -> None:
    """Progress bar and one line: cases done of total, failures, rate, time left."""
    total = int(job.get("total") or 0)
    done = int(job.get("done") or 0)
    failed = int(job.get("failed") or 0)
    seconds = float(job.get("seconds") or 0.0) if pd.notna(job.get("seconds")) else 0.0
    state = str(job.get("state"))
    finished = done + failed
    frac = min(1.0, finished / total) if total else (1.0 if is_finished(state) else 0.0)
    parts = [f"**{state}**", f"{finished} of {total or '?'} cases"]
    if failed:
        parts.append(f"{failed} failed")
    if finished and seconds > 0 and not job.get("message"):  # core's message carries its own rate and ETA
        rate = finished / seconds
        parts.append(f"{rate * 60:.1f} cases/min" if rate < 1 else f"{rate:.2f} cases/s")
        if job_is_active(state) and total > finished:
            parts.append(f"about {fmt_duration((total - finished) / rate)} left")
    parts.append(f"elapsed {fmt_duration(seconds)}")
    st.progress(frac, text=" \u00b7 ".join(parts))
    if job.get("message"):
        st.caption(str(job["message"]))


def job_monitor(kind: str, center: str | None = None, key: str = "monitor",
                background: str | None = None, show_last: bool = True) -> pd.Series | None:
    """The latest job of ``kind`` (and centre) with live progress, polled every 2 s while active.

    When the job ends the whole page reruns, so results below it refresh. Returns the job row.
    """
    df = jobs(kind, center)
    latest = df.iloc[0] if len(df) else None
    active = (latest is not None and job_is_active(latest["state"])) or bool(background and background_running(background))
    if latest is None and not active:
        return None
    if not show_last and not active:
        return latest

    @st.fragment(run_every=2 if active else None)
    def _monitor() -> None:
        with guard():
            rows = jobs(kind, center)
            job = rows.iloc[0] if len(rows) else None
            if job is None:
                st.info("Starting\u2026")
                return
            st.markdown(f"Job {int(job['job_id'])} \u00b7 {job['kind']}" + (f" \u00b7 {job['center']}" if job["center"] else ""))
            job_progress(job)
            still = job_is_active(job["state"]) or bool(background and background_running(background))
            if job_is_active(job["state"]) and st.button("Cancel", key=f"{key}-cancel", icon=":material/stop:"):
                current_study().jobs.request_cancel(int(job["job_id"]))
                st.toast(f"Asked job {int(job['job_id'])} to stop after the cases in flight.")
            if active and not still:
                st.rerun()

    _monitor()
    return latest


def sidebar() -> None:
    """Study in use and the plot export format."""
    with st.sidebar:
        path = study_path()
        st.caption(f"Study: `{path.name}`" if path.exists() else f"No study at `{path.name}`")
        st.radio("Plot export (camera button)", EXPORT_FORMATS, key="export_format", horizontal=True,
                 format_func=str.upper)


def not_available(what: str, module: str) -> None:
    st.info(f"{what} is not available yet: this installation lacks `{module}`.", icon=":material/hourglass_empty:")


# ---------------------------------------------------------------------------------- volumes
@st.cache_data(show_spinner=False, max_entries=16)
def volume(sha256: str, path: str) -> tuple[Any, tuple[float, float, float]]:
    """A stored volume as a (z, y, x) array and its (x, y, z) spacing; cached by content hash."""
    import SimpleITK as sitk

    image = sitk.ReadImage(path)
    return sitk.GetArrayFromImage(image), tuple(float(s) for s in image.GetSpacing())


def module_available(name: str) -> bool:
    """True when ``core`` has the module (stages land one by one)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
