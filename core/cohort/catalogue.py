"""The variable catalogue: every known clinical variable's name, aliases, unit and range.

Column names in a cohort's table are matched case-insensitively against names and aliases
(spaces, dashes and dots count as underscores); a unit in brackets after the name
(``Albumin (g/L)``) is split off and must be the catalogue's. Unknown columns are kept as
they are.
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

_TUMOUR_NUMBER = {"single": "single", "solitary": "single", "1": "single",
                  "multiple": "multiple", ">1": "multiple", ">=2": "multiple", "2+": "multiple",
                  **{str(n): "multiple" for n in range(2, 10)}}
_LOBES = {"left": "left", "left lobe": "left", "l": "left", "right": "right", "right lobe": "right", "r": "right",
          "both": "both", "both lobes": "both", "bilateral": "both", "left and right": "both"}

# The paper's Table 2 with the units of its laboratories; ranges hold every plausible patient
# and refuse a value written in another unit (albumin 3.8 g/dL, haemoglobin 13 g/dL) or mistyped.
CATALOGUE: tuple[Variable, ...] = (
    Variable("age", "Age", "years", 18, 100),
    Variable("sex", "Sex", levels={"m": "M", "male": "M", "f": "F", "female": "F"}, aliases=("gender",)),
    Variable("wbc", "White blood cells", "10^9/L", 0.1, 100, aliases=("white_blood_cells", "leukocytes")),
    Variable("neut_pct", "Neutrophils", "%", 0, 100,
             aliases=("neutrophil_%", "neutrophils_%", "neutrophil_pct", "neutrophil_percent", "neutrophil",
                      "neutrophils", "neu%", "neu_%", "neut_%", "neut%")),
    Variable("rbc", "Red blood cells", "10^12/L", 0.5, 10, aliases=("red_blood_cells", "erythrocytes")),
    Variable("hb", "Haemoglobin", "g/L", 20, 250, aliases=("hgb", "haemoglobin", "hemoglobin")),
    Variable("plt", "Platelets", "10^9/L", 5, 1000, aliases=("platelets", "platelet")),
    Variable("pt", "Prothrombin time", "s", 8, 60, aliases=("prothrombin_time",)),
    Variable("tt", "Thrombin time", "s", 5, 120, aliases=("thrombin_time",)),
    Variable("inr", "INR", "", 0.5, 10.0, aliases=("pt_inr", "international_normalized_ratio")),
    Variable("aptt", "APTT", "s", 10, 200, aliases=("activated_partial_thromboplastin_time", "ptt")),
    Variable("ast", "AST", "U/L", 1, 5000, aliases=("aspartate_aminotransferase", "sgot")),
    Variable("alt", "ALT", "U/L", 1, 5000, aliases=("alanine_aminotransferase", "sgpt")),
    Variable("tb", "Total bilirubin", "umol/L", 1, 800, aliases=("tbil", "bilirubin", "total_bilirubin")),
    Variable("glu", "Glucose", "mmol/L", 0.5, 60, aliases=("glucose", "blood_glucose", "fbg")),
    Variable("ggt", "GGT", "U/L", 1, 5000, aliases=("gamma_gt", "gamma_glutamyl_transferase", "r_gt")),
    Variable("afp", "AFP", "ng/mL", 0, 1_000_000, aliases=("alpha_fetoprotein",)),
    Variable("alb", "Albumin", "g/L", 10, 60, aliases=("albumin",)),
    Variable("portal_vein_embolus", "Portal vein embolus", levels=_YES_NO,
             aliases=("pvtt", "portal_vein_tumor_thrombus", "portal_vein_tumour_thrombus",
                      "portal_vein_thrombus", "portal_vein_emboli")),
    Variable("child_pugh", "Child-Pugh class", levels={"a": "A", "b": "B", "c": "C"},
             aliases=("child_pugh_class", "cp", "childpugh", "ctp", "child_turcotte_pugh", "child_pugh_grade")),
    Variable("bclc", "BCLC stage", levels={"0": "0", "a": "A", "b": "B", "c": "C", "d": "D"}),
    Variable("tumor_location", "Tumour location", levels=_LOBES, aliases=("tumour_location", "location")),
    Variable("tumor_number", "Tumour number", levels=_TUMOUR_NUMBER, aliases=("tumour_number",)),
    Variable("tumor_size", "Tumour size", "cm", 0.1, 30, aliases=("tumour_size", "max_tumor_diameter")),
    Variable("tumor_diameter_sum", "Sum of tumour diameters", "cm", 0.1, 100,
             aliases=("tumour_diameter_sum", "sum_of_tumor_diameters", "sum_of_tumour_diameters",
                      "total_tumor_diameter", "total_tumour_diameter")),
    Variable("cirrhosis", "Cirrhosis", levels=_YES_NO),
    Variable("hbv", "HBV infection", levels=_YES_NO, aliases=("hepatitis_b",)),
    Variable("ascites", "Ascites", levels=_YES_NO, aliases=("hydroperitoneum",)),
)

BY_NAME = {v.name: v for v in CATALOGUE}
_LOOKUP = {key: v for v in CATALOGUE for key in (v.name, *v.aliases)}
_UNIT = re.compile(r"^(.*?)\s*[(\[]([^()\[\]]*)[)\]]\s*$")
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_UNIT_WORDS = {"sec": "s", "secs": "s", "seconds": "s", "iu/l": "u/l", "yrs": "years", "y": "years",
               "year": "years"}


def split_unit(column: str) -> tuple[str, str | None]:
    """('Albumin', 'g/L') for 'Albumin (g/L)' or 'Albumin [g/L]'; (column, None) without brackets."""
    match = _UNIT.match(str(column).strip())
    return (match.group(1), match.group(2).strip()) if match and match.group(1) else (str(column), None)


def same_unit(a: str, b: str) -> bool:
    """Whether two spellings name one unit: case, spaces, 'µ'/'u', '10^9', '10*9' and '×10⁹' alike."""
    def canonical(unit: str) -> str:
        unit = unit.translate(_SUPERSCRIPTS).lower().replace("µ", "u").replace("μ", "u")
        unit = re.sub(r"[\s×*^]", "", unit)
        return _UNIT_WORDS.get(unit, unit)
    return canonical(a) == canonical(b)


def normalise_name(column: str) -> str:
    """Lower-case, with spaces, dashes and dots as underscores: 'Child-Pugh' -> 'child_pugh'."""
    return re.sub(r"[\s\-.]+", "_", str(column).strip().lower())


def lookup(column: str) -> Variable | None:
    """The catalogue variable a column name (with or without a unit in brackets) stands for, or None."""
    return _LOOKUP.get(normalise_name(column)) or _LOOKUP.get(normalise_name(split_unit(column)[0]))
