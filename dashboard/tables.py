"""Tables for display and download: number and P-value formatting, CSV/XLSX downloads."""
from __future__ import annotations

import math
from typing import Any, Iterable

import pandas as pd
import streamlit as st

from core.exports import csv_bytes, xlsx_bytes


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


def slug(name: str) -> str:
    """A safe file name made of ``name`` (letters, digits, - _ .)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("_") or "table"


@st.cache_data(show_spinner=False, max_entries=64)
def to_xlsx(df: pd.DataFrame, sheet: str = "table") -> bytes:
    """The table as XLSX, formula-like text neutralised (core.exports)."""
    return xlsx_bytes(df, slug(sheet))


@st.cache_data(show_spinner=False, max_entries=64)
def to_csv(df: pd.DataFrame) -> bytes:
    """The table as CSV, formula-like text neutralised (core.exports)."""
    return csv_bytes(df)


def downloads(df: pd.DataFrame, name: str, key: str | None = None) -> None:
    """CSV and XLSX download buttons for a table (files made only when clicked)."""
    base = slug(name)
    key = key or base
    row = st.container(horizontal=True, gap="small")
    row.download_button("CSV", data=lambda: to_csv(df), file_name=f"{base}.csv", mime="text/csv",
                        key=f"{key}-csv", icon=":material/download:", on_click="ignore")
    big = df.size > 200_000  # openpyxl writes roughly 40,000 cells a second
    row.download_button("XLSX", data=lambda: to_xlsx(df, base), file_name=f"{base}.xlsx",
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
