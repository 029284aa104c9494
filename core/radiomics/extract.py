"""Features of one case with PyRadiomics: each region of one CT and its mask.

Feature names are PyRadiomics' own (``original_firstorder_Mean``, ``wavelet-LLH_glcm_Idmn``).
The case is read and its regions checked by :mod:`core.radiomics.regions` (the validation
layer's reading; grid, empty, one voxel, too small, flat), as the torch engine does
(:mod:`core.radiomics.engine.case`), so a bad case fails fast with a message naming the
patient and the region.

Where the settings allow it (no resampling, preCrop, resegmentation or LBP3D, none of which
the shipped presets use), each filtered image is computed once and cropped to every region,
instead of once per region as ``RadiomicsFeatureExtractor.execute`` does; the values are
the same (``tests/radiomics/test_extraction_case.py`` compares both).
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Mapping

import numpy as np
import pandas as pd
import SimpleITK as sitk
from radiomics import imageoperations
from radiomics.featureextractor import RadiomicsFeatureExtractor

from core.radiomics.presets import Preset, load_preset
from core.radiomics.regions import REGION_LABELS, RegionError, Volume, blame, check_regions, checked_case, who

__all__ = ["RegionError", "check_regions", "extract_case"]


def extract_case(image: Volume, mask: Volume, preset: "str | os.PathLike | Preset" = "quick",
                 regions: Mapping[str, int] = REGION_LABELS, case_id: str | None = None) -> pd.DataFrame:
    """Features of every region: DataFrame(region, feature, value), one row per region and feature.

    ``image``: CT (HU) as a file path (read by :func:`core.cohort.checks.read_ct`) or a
    SimpleITK image; ``mask``: label map on the same grid (within 1e-3 relative, as ingest
    checks; the mask then takes the image's exact geometry). ``regions`` maps region names to
    mask labels. Values are float64 (NaN where PyRadiomics gives none). Raises
    :class:`RegionError` naming ``case_id`` when the case or any region is unusable.
    """
    preset = load_preset(preset)
    image, mask = checked_case(image, mask, regions, preset.settings, case_id)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # e.g. MCC of a flat region: NaN is the answer
        values = _features(preset.extractor(), image, mask, regions, who(case_id))
    return pd.DataFrame(
        [(region, name, float(value)) for region, features in values.items() for name, value in features.items()
         if not name.startswith("diagnostics_")],
        columns=["region", "feature", "value"])


def _features(extractor: RadiomicsFeatureExtractor, image: sitk.Image, mask: sitk.Image,
              regions: Mapping[str, int], case: str) -> dict[str, dict[str, Any]]:
    """{region: {feature: value}} following ``RadiomicsFeatureExtractor.execute`` step by step."""
    settings = extractor.settings
    if not _filters_shareable(settings, extractor.enabledImagetypes):
        out = {}
        for region, label in regions.items():
            with blame(f"{case}, {region}"):
                out[region] = extractor.execute(image, mask, label=label)
        return out

    first = next(iter(regions.values()))
    with blame(case):
        image, mask = extractor.loadImage(image, mask, None, **{**settings, "label": first})
    boxes, out = {}, {}
    for region, label in regions.items():
        with blame(f"{case}, {region}"):
            kwargs = {**settings, "label": label}
            boxes[region], _ = imageoperations.checkMask(image, mask, **kwargs)
            out[region] = dict(extractor.computeShape(image, mask, boxes[region], **kwargs))
    for image_type, custom in extractor.enabledImagetypes.items():
        with blame(f"{case}, {image_type} filter"):
            filtered_images = getattr(imageoperations, f"get{image_type}Image")(image, mask, **{**settings, **custom})
            for filtered, type_name, kwargs in filtered_images:
                for region, label in regions.items():
                    with blame(f"{case}, {region}, {type_name}"):
                        cropped, cropped_mask = imageoperations.cropToTumorMask(filtered, mask, boxes[region])
                        out[region].update(extractor.computeFeatures(cropped, cropped_mask, type_name,
                                                                     **{**kwargs, "label": label}))
    return out


def _filters_shareable(settings: Mapping[str, Any], image_types: Mapping[str, Any]) -> bool:
    """True when no step before the filters depends on the region's label."""
    resampled = settings.get("interpolator") is not None and settings.get("resampledPixelSpacing") is not None
    return not (resampled or settings.get("preCrop") or settings.get("resegmentRange") is not None
                or "LBP3D" in image_types)

