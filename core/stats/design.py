"""Encoding of clinical predictors into numeric model columns, frozen at fit time.

A variable is categorical when its column holds strings, categories or booleans (or when
named in ``categorical``); it becomes one 0/1 column per non-reference level, named
"variable[level]", with the first level in sorted order as reference (as R's factor).
Numeric columns (including 0/1 indicators) enter as they are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def is_categorical(series: pd.Series) -> bool:
    """True for string, object, category and boolean columns."""
    return not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def is_binary_numeric(series: pd.Series) -> bool:
    """True for numeric columns whose non-missing values are all 0 or 1 (at least one of each)."""
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return False
    values = set(pd.unique(series.dropna()))
    return len(values) == 2 and values <= {0, 1}


def _levels(series: pd.Series) -> list[str]:
    return sorted({str(v) for v in series.dropna()})


def missing_rows(df: pd.DataFrame, columns: list[str]) -> dict[str, list]:
    """Patients (index values) with a missing value, by column; only columns with any."""
    return {c: df.index[df[c].isna()].tolist() for c in columns if df[c].isna().any()}


@dataclass(frozen=True)
class Design:
    """Frozen encoding: ``variables`` in order and, for categorical ones, their levels
    (reference first). ``terms`` are the resulting numeric column names."""
    variables: tuple[str, ...]
    levels: dict[str, tuple[str, ...]]

    @classmethod
    def from_frame(cls, df: pd.DataFrame, variables: list[str], categorical: list[str] | None = None) -> "Design":
        missing = [v for v in variables if v not in df.columns]
        if missing:
            raise ValueError(f"columns not found: {missing}")
        forced = set(categorical or [])
        levels = {}
        for v in variables:
            if v in forced or is_categorical(df[v]):
                lv = _levels(df[v])
                if len(lv) < 2:
                    raise ValueError(f"categorical variable {v!r} has fewer than 2 levels: {lv}")
                levels[v] = tuple(lv)
        return cls(tuple(variables), levels)

    @property
    def terms(self) -> list[str]:
        out = []
        for v in self.variables:
            out += [f"{v}[{lv}]" for lv in self.levels[v][1:]] if v in self.levels else [v]
        return out

    def terms_of(self, variable: str) -> list[str]:
        """Model columns that encode ``variable``."""
        if variable in self.levels:
            return [f"{variable}[{lv}]" for lv in self.levels[variable][1:]]
        return [variable]

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """Numeric model columns (index kept). Missing values stay NaN; a level not seen at
        fit time raises a ValueError naming the column and the patients."""
        missing = [v for v in self.variables if v not in df.columns]
        if missing:
            raise ValueError(f"predictor column(s) missing: {missing}")
        cols = {}
        for v in self.variables:
            if v in self.levels:
                text = df[v].map(lambda x: np.nan if pd.isna(x) else str(x))
                unknown = text.notna() & ~text.isin(self.levels[v])
                if unknown.any():
                    raise ValueError(
                        f"column {v!r} has level(s) {sorted(set(text[unknown]))} not seen in training "
                        f"(patients {df.index[unknown].tolist()[:10]}); known levels: {list(self.levels[v])}")
                for lv in self.levels[v][1:]:
                    cols[f"{v}[{lv}]"] = np.where(text.isna(), np.nan, (text == lv).astype(float))
            else:
                values = pd.to_numeric(df[v], errors="coerce")
                bad = values.isna() & df[v].notna()
                if bad.any():
                    raise ValueError(f"column {v!r} is not numeric for patients {df.index[bad].tolist()[:10]}")
                cols[v] = values.astype(float).to_numpy()
        return pd.DataFrame(cols, index=df.index)

    def to_dict(self) -> dict:
        return {"variables": list(self.variables), "levels": {k: list(v) for k, v in self.levels.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "Design":
        return cls(tuple(d["variables"]), {k: tuple(v) for k, v in d["levels"].items()})
