"""The variable catalogue: every known clinical variable's name, aliases, unit and range.

Column names in a cohort's table are matched case-insensitively against names and aliases
(spaces, dashes and dots count as underscores). Unknown columns are kept as they are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Variable:
    """A clinical variable: numeric with a plausible [low, high] range, or categorical with levels."""

    name: str
    label: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    levels: dict[str, str] = field(default_factory=dict)  # accepted spelling (lower case) -> level
    aliases: tuple[str, ...] = ()

    @property
    def categorical(self) -> bool:
        return bool(self.levels)

    def describe(self) -> str:
        if self.categorical:
            return f"one of {sorted(set(self.levels.values()))}"
        return f"a number in [{self.low:g}, {self.high:g}] {self.unit}".rstrip()


_YES_NO = {"yes": "yes", "y": "yes", "1": "yes", "true": "yes", "no": "no", "n": "no", "0": "no", "false": "no"}

CATALOGUE: tuple[Variable, ...] = (
    Variable("age", "Age", "years", 18, 100),
    Variable("sex", "Sex", levels={"m": "M", "male": "M", "f": "F", "female": "F"}, aliases=("gender",)),
    Variable("inr", "INR", "", 0.5, 10.0, aliases=("pt_inr", "international_normalized_ratio")),
    Variable("alb", "Albumin", "g/L", 10, 60, aliases=("albumin",)),
    Variable("tb", "Total bilirubin", "umol/L", 1, 800, aliases=("tbil", "bilirubin", "total_bilirubin")),
    Variable("plt", "Platelets", "10^9/L", 5, 1000, aliases=("platelets", "platelet")),
    Variable("afp", "AFP", "ng/mL", 0, 1_000_000, aliases=("alpha_fetoprotein",)),
    Variable("alt", "ALT", "U/L", 1, 5000),
    Variable("ast", "AST", "U/L", 1, 5000),
    Variable("pt", "Prothrombin time", "s", 8, 60, aliases=("prothrombin_time",)),
    Variable("child_pugh", "Child-Pugh class", levels={"a": "A", "b": "B", "c": "C"},
             aliases=("child_pugh_class", "cp", "childpugh")),
    Variable("bclc", "BCLC stage", levels={"0": "0", "a": "A", "b": "B", "c": "C", "d": "D"}),
    Variable("tumor_size", "Tumour size", "cm", 0.1, 30, aliases=("tumour_size", "max_tumor_diameter")),
    Variable("tumor_number", "Tumour number", levels={"single": "single", "1": "single",
                                                      "multiple": "multiple", ">1": "multiple"},
             aliases=("tumour_number",)),
    Variable("cirrhosis", "Cirrhosis", levels=_YES_NO),
    Variable("hbv", "HBV infection", levels=_YES_NO, aliases=("hepatitis_b",)),
    Variable("ascites", "Ascites", levels=_YES_NO),
)

BY_NAME = {v.name: v for v in CATALOGUE}
_LOOKUP = {key: v for v in CATALOGUE for key in (v.name, *v.aliases)}


def normalise_name(column: str) -> str:
    """Lower-case, with spaces, dashes and dots as underscores: 'Child-Pugh' -> 'child_pugh'."""
    return re.sub(r"[\s\-.]+", "_", str(column).strip().lower())


def lookup(column: str) -> Variable | None:
    """The catalogue variable a column name stands for, or None for an unknown column."""
    return _LOOKUP.get(normalise_name(column))
