"""The clinical table of a cohort: reading, column matching and value checks.

A CSV may be separated by commas, semicolons or tabs, and a semicolon- or tab-separated one
may write decimals with a comma (as spreadsheet software does in much of Europe); both are
detected from the file. Returns the ``patients`` rows (patient_id, ptlf) and the ``clinical``
rows in long form (patient_id, variable, value_num, value_text), plus every problem found,
each naming the file, patient, column and value and what was expected.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from core.cohort.catalogue import lookup, normalise_name, same_unit, split_unit
from core.cohort.checks import case_clashes, check_patient_id

ID_NAMES = ("patient_id", "patientid", "patient", "id")
OUTCOME_NAMES = ("ptlf", "outcome", "liver_failure")
MISSING = ("", "na", "n/a", "nan", "null", "none", ".", "-")
SEPARATORS = (",", ";", "\t")
_COMMA_DECIMAL = re.compile(r"[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?")
_POINT_DECIMAL = re.compile(r"[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?")
_NON_FINITE = "is not a finite number"


class TableError(ValueError):
    """A table that cannot be read as rows and named columns; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def read_table(path: Path) -> tuple[pd.DataFrame, str]:
    """(cells as stripped strings with None for missing, the decimal mark '.' or ',').

    CSV (separator sniffed) or the first sheet of an XLSX. TableError when the file is not
    UTF-8 text, has no header, duplicate or unnamed columns, or rows of another width.
    """
    if path.suffix.lower() == ".xlsx":
        rows = pd.read_excel(path, dtype=str, header=None, keep_default_na=False).values.tolist()
        separator = None
    else:
        data = path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TableError([f"{path.name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start}); "
                              "save it as 'CSV UTF-8'"]) from None
        separator = _sniff(text)
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=separator))
    rows = [[str(c).strip() for c in row] for row in rows if any(str(c).strip() for c in row)]
    if not rows:
        raise TableError([f"{path.name} is empty; expected a header row (patient_id, ptlf, ...) and one row "
                          "per patient"])
    header, body = rows[0], rows[1:]
    while header and not header[-1] and all(len(r) < len(header) or not r[len(header) - 1] for r in body):
        header = header[:-1]  # a trailing separator after the last column
    problems = [f"{path.name}: column {i + 1} has no name in the header row" for i, h in enumerate(header) if not h]
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name and name in seen:
            problems.append(f"{path.name}: columns {seen[name] + 1} and {i + 1} are both named {name!r}; keep one")
        seen.setdefault(name, i)
    for number, row in enumerate(body, start=2):
        if len(row) < len(header) or any(row[len(header):]):
            problems.append(f"{path.name}: row {number} has {len(row)} fields, the header {len(header)}"
                            + (" (a separator inside a value?)" if len(row) > len(header) else ""))
    if problems:
        raise TableError(problems[:20])
    raw = pd.DataFrame([row[: len(header)] for row in body], columns=header, dtype=object)
    missing = raw.apply(lambda col: col.str.lower().isin(MISSING))
    raw = raw.where(~missing, None)
    decimal = "," if separator in (";", "\t") and raw.apply(
        lambda col: col.map(lambda v: v is not None and bool(_COMMA_DECIMAL.fullmatch(v)))).to_numpy().any() else "."
    return raw, decimal


def _sniff(text: str) -> str:
    """The separator of the header row: the one of ',', ';', tab that splits it into most fields."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {sep: len(next(csv.reader([first], delimiter=sep), [])) for sep in SEPARATORS}
    return max(SEPARATORS, key=lambda sep: counts[sep])


def parse_numbers(values: pd.Series, decimal: str = ".") -> tuple[pd.Series, pd.Series]:
    """(float values with NaN where missing or refused, the reason for each refused cell or None).

    With ``decimal=','`` a cell like ``1,25`` is 1.25 and a cell like ``1.250`` is refused
    (a decimal point or a thousands separator: the file cannot say which).
    """
    text = values.astype(object)
    reasons = pd.Series(None, index=values.index, dtype=object)
    if decimal == ",":
        point = text.map(lambda v: v is not None and bool(_POINT_DECIMAL.fullmatch(v)))
        reasons[point] = ("has a decimal point but this file writes decimals with a comma (or is it a thousands "
                          "separator?); write it as 1,25 or without the point")
        text = text.map(lambda v: v.replace(",", ".") if v is not None and _COMMA_DECIMAL.fullmatch(v) else v)
        text = text.where(~point, None)
    numbers = pd.to_numeric(text, errors="coerce").astype(float)
    present = text.notna()
    reasons[present & numbers.isna() & reasons.isna()] = "is not a number"
    reasons[present & np.isinf(numbers)] = _NON_FINITE
    return numbers.where(np.isfinite(numbers)), reasons


def find_column(columns, names: tuple[str, ...]) -> str | None:
    for col in columns:
        if normalise_name(col) in names:
            return col
    return None


def check_ids(ids: pd.Series, where: str, problems: list[str]) -> pd.Series:
    """Patient ids NFC-normalised; a missing, unsafe or case-clashing id is added to ``problems``."""
    checked = []
    for row, value in enumerate(ids, start=2):
        if value is None:
            problems.append(f"{where}: row {row} has no patient_id")
            checked.append(None)
            continue
        pid, problem = check_patient_id(value)
        if problem:
            problems.append(f"{where}: row {row}: {problem}")
        checked.append(pid)
    out = pd.Series(checked, index=ids.index, dtype=object)
    for group in case_clashes(set(out.dropna())):
        problems.append(f"{where}: patient ids {', '.join(map(repr, group))} differ only in letter case; "
                        "their files would clash on Windows and macOS: make them distinct")
    return out


def check_table(raw: pd.DataFrame, file: str, decimal: str = ".") -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Validate a clinical table; returns (patients, clinical long, problems)."""
    problems: list[str] = []
    id_col, outcome_col = find_column(raw.columns, ID_NAMES), find_column(raw.columns, OUTCOME_NAMES)
    if id_col is None:
        problems.append(f"{file}: no patient_id column (found columns: {', '.join(map(str, raw.columns))})")
    if outcome_col is None:
        problems.append(f"{file}: no ptlf outcome column (0 = no liver failure, 1 = liver failure)")
    if raw.empty:
        problems.append(f"{file}: the table has a header but no rows; expected one row per patient")
    if problems:
        return pd.DataFrame(), pd.DataFrame(), problems

    ids = check_ids(raw[id_col], file, problems)
    dup = ids[ids.duplicated(keep=False) & ids.notna()]
    for pid in sorted(set(dup)):
        rows = ", ".join(str(r + 2) for r in np.flatnonzero(ids == pid))
        problems.append(f"{file}: patient_id {pid!r} appears more than once (rows {rows})")

    numbers, _ = parse_numbers(raw[outcome_col], decimal)
    outcome = []
    for pid, value, number in zip(ids, raw[outcome_col], numbers):
        if value is None:
            problems.append(f"{file}: patient {pid}, column {outcome_col}: outcome is missing; expected 0 or 1")
        elif number not in (0.0, 1.0):
            problems.append(f"{file}: patient {pid}, column {outcome_col}: value {value!r} is not an outcome; "
                            "expected 0 or 1")
        outcome.append(int(number) if number in (0.0, 1.0) else None)
    patients = pd.DataFrame({"patient_id": ids, "ptlf": outcome})

    seen: dict[str, str] = {}
    rows = []
    for col in raw.columns:
        if col in (id_col, outcome_col):
            continue
        var, stated = lookup(col), split_unit(col)[1]
        if var is not None and var.unit and stated and not same_unit(stated, var.unit):
            problems.append(f"{file}: column {col!r} gives the unit {stated}; {var.label} is expected in "
                            f"{var.unit}: convert the values (a range check cannot tell every unit apart)")
            continue
        name = var.name if var else normalise_name(col)
        if name in seen:
            problems.append(f"{file}: columns {seen[name]!r} and {col!r} both give {name}; keep one")
            continue
        seen[name] = col
        values = raw[col]
        if var is not None and var.categorical:
            num, text = None, []
            for pid, v in zip(ids, values):
                level = None if v is None else var.levels.get(v.lower())
                if v is not None and level is None:
                    problems.append(f"{file}: patient {pid}, column {col}: value {v!r} not recognised; "
                                    f"expected {var.describe()}")
                text.append(level)
        else:
            num, reasons = parse_numbers(values, decimal)
            if var is None and (reasons == "is not a number").any():  # unknown text column: kept as text
                num, text = None, list(values)
            else:
                text = [None] * len(values)
                expected = var.describe() if var else "a number"
                bad = reasons.notna()
                for pid, v, why in zip(ids[bad], values[bad], reasons[bad]):
                    problems.append(f"{file}: patient {pid}, column {col}: value {v!r} {why}; expected {expected}")
                if var is not None:
                    out = num.notna() & ((num < var.low) | (num > var.high))
                    for pid, v in zip(ids[out], values[out]):
                        problems.append(f"{file}: patient {pid}, column {col}: value {v} is outside the "
                                        f"plausible range; expected {var.describe()}")
        rows.append(pd.DataFrame({"patient_id": ids, "variable": name,
                                  "value_num": np.nan if num is None else num.astype(float),
                                  "value_text": text}))
    clinical = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["patient_id", "variable", "value_num", "value_text"])
    clinical = clinical[clinical["value_num"].notna() | clinical["value_text"].notna()]
    return patients, clinical, problems
