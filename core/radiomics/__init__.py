"""Radiomics extraction: presets, one case's features, and parallel resumable extraction jobs."""
from core.radiomics.extract import RegionError, check_regions, extract_case
from core.radiomics.presets import REGION_LABELS, Preset, load_preset, preset_names
from core.radiomics.runner import ExtractionResult, run_extraction
from core.radiomics.tables import feature_table, write_table

__all__ = ["REGION_LABELS", "ExtractionResult", "Preset", "RegionError", "check_regions", "extract_case",
           "feature_table", "load_preset", "preset_names", "run_extraction", "write_table"]
