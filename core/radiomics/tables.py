"""Feature tables out of the study: one row per patient, columns ``region:feature``."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from core import exports
from core.radiomics.presets import Preset, load_preset
from core.store import Study


def feature_table(study: Study, center: str, mask_source: str = "manual",
                  preset: "str | os.PathLike | Preset" = "quick") -> pd.DataFrame:
    """Wide features of a centre (index patient_id); ValueError if none were extracted so."""
    preset = load_preset(preset)
    wide = study.features_wide(center, mask_source, preset.settings_hash)
    if wide.empty:
        raise ValueError(f"no features for centre {center!r} from mask source {mask_source!r} with preset "
                         f"{preset.name!r}: run `python -m core extract` first")
    return wide


def write_table(table: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Write ``table`` (index kept as the first column) as .csv, .xlsx or .parquet, by the suffix of ``out``.

    CSV and XLSX cells that a spreadsheet would run as formulas are neutralised (core.exports).
    """
    return exports.write_table(table, out)
