"""Tables leaving the software as CSV or XLSX, safe to open in a spreadsheet.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a
formula by spreadsheet software (CSV or formula injection, OWASP); such a cell gets a leading
single quote. This applies to values, column names and the index (patient ids included).
Numbers stay numbers: a numeric value is never touched, nor is a text that is a plain negative
decimal number (``-0.25``, ``-1e-3``), which spreadsheets read as that number. Every download
and every command that writes a table goes through :func:`write_table`, :func:`csv_bytes` or
:func:`xlsx_bytes`.
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NEGATIVE_NUMBER = re.compile(r"-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
TABLE_SUFFIXES = (".csv", ".xlsx", ".parquet")


def neutralise(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NEGATIVE_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_table(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells, column names and index labels are neutralised."""
    out = df.copy()
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col]) and not pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].map(neutralise, na_action="ignore")
    out.columns = _labels(out.columns)
    out.index = _labels(out.index)
    return out


def _labels(index: pd.Index) -> pd.Index:
    """Index or column labels neutralised, level by level; numeric labels as they are."""
    if isinstance(index, pd.MultiIndex):
        return index.set_levels([_labels(level) for level in index.levels]).set_names(
            [neutralise(n) for n in index.names])
    if pd.api.types.is_numeric_dtype(index):
        return index.set_names(neutralise(index.name))
    return pd.Index([neutralise(v) for v in index], name=neutralise(index.name))


def _keeps_index(df: pd.DataFrame) -> bool:
    return not isinstance(df.index, pd.RangeIndex)


def csv_bytes(df: pd.DataFrame) -> bytes:
    """The table as UTF-8 CSV (index written unless it is a plain range), neutralised.

    Rows end in CRLF (RFC 4180), so a cell holding a bare carriage return is quoted and cannot
    start a row of its own.
    """
    return safe_table(df).to_csv(index=_keeps_index(df), lineterminator="\r\n").encode("utf-8")


def xlsx_bytes(df: pd.DataFrame, sheet: str = "table") -> bytes:
    """The table as an XLSX workbook of one sheet (at most 31 characters of ``sheet``), neutralised."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        safe_table(df).to_excel(writer, sheet_name=sheet[:31] or "table", index=_keeps_index(df))
    return buf.getvalue()


def write_table(df: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Write ``df`` as .csv, .xlsx (neutralised) or .parquet (typed, as is), by the suffix of ``out``."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{out}: choose a file name ending in {', '.join(TABLE_SUFFIXES)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        df.to_parquet(out)
    else:
        out.write_bytes(csv_bytes(df) if suffix == ".csv" else xlsx_bytes(df, out.stem))
    return out
