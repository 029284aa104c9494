"""The clinical table of a cohort: reading, column matching and value checks.

Returns the ``patients`` rows (patient_id, ptlf) and the ``clinical`` rows in long form
(patient_id, variable, value_num, value_text), plus every problem found, each naming the
file, patient, column and value and what was expected.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.cohort.catalogue import lookup, normalise_name

ID_NAMES = ("patient_id", "patientid", "patient", "id")
OUTCOME_NAMES = ("ptlf", "outcome", "liver_failure")
MISSING = ("", "na", "n/a", "nan", "null", "none", ".", "-")


def read_table(path: Path) -> pd.DataFrame:
    """All cells as stripped strings, missing cells as None (CSV or the first sheet of an XLSX)."""
    if path.suffix.lower() == ".xlsx":
        raw = pd.read_excel(path, dtype=str, keep_default_na=False)
    else:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    raw = raw.apply(lambda col: col.str.strip())
    missing = raw.apply(lambda col: col.str.lower().isin(MISSING))
    return raw.astype(object).where(~missing, None)


def find_column(columns, names: tuple[str, ...]) -> str | None:
    for col in columns:
        if normalise_name(col) in names:
            return col
    return None


def check_table(raw: pd.DataFrame, file: str) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Validate a clinical table; returns (patients, clinical long, problems)."""
    problems: list[str] = []
    id_col, outcome_col = find_column(raw.columns, ID_NAMES), find_column(raw.columns, OUTCOME_NAMES)
    if id_col is None:
        problems.append(f"{file}: no patient_id column (found columns: {', '.join(map(str, raw.columns))})")
    if outcome_col is None:
        problems.append(f"{file}: no ptlf outcome column (0 = no liver failure, 1 = liver failure)")
    if problems:
        return pd.DataFrame(), pd.DataFrame(), problems

    ids = raw[id_col]
    for row in np.flatnonzero(ids.isna()):
        problems.append(f"{file}: row {row + 2} has no patient_id")
    dup = ids[ids.duplicated(keep=False) & ids.notna()]
    for pid in sorted(set(dup)):
        rows = ", ".join(str(r + 2) for r in np.flatnonzero(ids == pid))
        problems.append(f"{file}: patient_id {pid!r} appears more than once (rows {rows})")

    outcome = []
    for pid, value in zip(ids, raw[outcome_col]):
        if value is None:
            problems.append(f"{file}: patient {pid}, column {outcome_col}: outcome is missing; expected 0 or 1")
        elif value not in ("0", "1", "0.0", "1.0"):
            problems.append(f"{file}: patient {pid}, column {outcome_col}: value {value!r} is not an outcome; "
                            "expected 0 or 1")
        outcome.append(int(float(value)) if value in ("0", "1", "0.0", "1.0") else None)
    patients = pd.DataFrame({"patient_id": ids, "ptlf": outcome})

    seen: dict[str, str] = {}
    rows = []
    for col in raw.columns:
        if col in (id_col, outcome_col):
            continue
        var = lookup(col)
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
            num = pd.to_numeric(values, errors="coerce")
            bad = values.notna() & num.isna()
            if var is None and bad.any():  # unknown text column: kept as text
                num, text = None, list(values)
            else:
                text = [None] * len(values)
                expected = var.describe() if var else "a number"
                for pid, v in zip(ids[bad], values[bad]):
                    problems.append(f"{file}: patient {pid}, column {col}: value {v!r} is not a number; "
                                    f"expected {expected}")
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
