"""Radiomics extraction: presets, one case's features, and parallel resumable extraction jobs.

Names are imported on first use, so the command line's ``--help`` does not load PyRadiomics.
"""
from importlib import import_module

_WHERE = {
    "RegionError": "extract", "check_regions": "extract", "extract_case": "extract",
    "REGION_LABELS": "presets", "Preset": "presets", "load_preset": "presets", "preset_names": "presets",
    "ExtractionResult": "runner", "run_extraction": "runner",
    "feature_table": "tables", "write_table": "tables",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'core.radiomics' has no attribute {name!r}")
    return getattr(import_module(f"core.radiomics.{_WHERE[name]}"), name)
