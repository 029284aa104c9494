"""Features of one case: PyRadiomics on each region of one CT and its mask.

Regions are labels of one mask: 1 non-tumoral liver, 2 tumour (all tumour voxels together,
however many tumours). Feature names are PyRadiomics' own (``original_firstorder_Mean``,
``wavelet-LLH_glcm_Idmn``). The regions are checked first (grid, empty, one voxel, too
small, flat), so a bad case fails fast with a message naming the patient and the region.

Where the settings allow it (no resampling, preCrop, resegmentation or LBP3D, none of which
the shipped presets use), each filtered image is computed once and cropped to every region,
instead of once per region as ``RadiomicsFeatureExtractor.execute`` does; the values are
the same (``tests/radiomics/test_extraction_case.py`` compares both).
"""
from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd
import SimpleITK as sitk
from radiomics import imageoperations
from radiomics.featureextractor import RadiomicsFeatureExtractor

from core.cohort.images import geometry_mismatch
from core.radiomics.presets import REGION_LABELS, Preset, load_preset

Volume = "str | os.PathLike | sitk.Image"


class RegionError(ValueError):
    """A case that cannot be extracted; the message names the patient, the region and the problem."""


def extract_case(image: Volume, mask: Volume, preset: "str | os.PathLike | Preset" = "quick",
                 regions: Mapping[str, int] = REGION_LABELS, case_id: str | None = None) -> pd.DataFrame:
    """Features of every region: DataFrame(region, feature, value), one row per region and feature.

    ``image``: CT (HU) as a file path or SimpleITK image; ``mask``: label map on the same grid
    (within 1e-3 relative, as ingest checks; the mask then takes the image's exact geometry).
    ``regions`` maps region names to mask labels. Values are float64 (NaN where PyRadiomics
    gives none). Raises :class:`RegionError` naming ``case_id`` when any region is unusable.
    """
    preset = load_preset(preset)
    who = f"patient {case_id}" if case_id else "case"
    image, mask = _read(image), _read(mask)
    problems = check_regions(image, mask, regions, preset.settings)
    if problems:
        raise RegionError(f"{who}: " + "; ".join(problems))
    mask = sitk.Image(mask)
    mask.CopyInformation(image)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # e.g. MCC of a flat region: NaN is the answer
        values = _features(preset.extractor(), image, mask, regions, who)
    return pd.DataFrame(
        [(region, name, float(value)) for region, features in values.items() for name, value in features.items()
         if not name.startswith("diagnostics_")],
        columns=["region", "feature", "value"])


def check_regions(image: sitk.Image, mask: sitk.Image, regions: Mapping[str, int],
                  settings: Mapping[str, Any]) -> list[str]:
    """Problems that stop extraction, one readable line each (empty when all regions are usable).

    Uses PyRadiomics' ``minimumROISize`` (voxels) and ``minimumROIDimensions`` settings.
    """
    problems = [f"mask does not match the image: {p}" for p in geometry_mismatch(image, mask)]
    if problems:
        return problems
    labels = sitk.GetArrayViewFromImage(mask)
    min_size = settings.get("minimumROISize") or 2
    min_dims = settings.get("minimumROIDimensions", 2)
    for region, label in regions.items():
        inside = labels == label
        voxels = int(inside.sum())
        where = f"{region} (label {label})"
        if voxels == 0:
            problems.append(f"{where} is empty")
        elif voxels == 1:
            problems.append(f"{where} is a single voxel")
        elif voxels < min_size:
            problems.append(f"{where} is too small: {voxels} voxels, at least {min_size} needed")
        else:
            spans = sum(int(np.any(inside, axis=tuple(a for a in range(inside.ndim) if a != d)).sum() > 1)
                        for d in range(inside.ndim))
            if spans < min_dims:
                problems.append(f"{where} is flat: it extends in {spans} dimension(s), at least {min_dims} needed")
    return problems


def _features(extractor: RadiomicsFeatureExtractor, image: sitk.Image, mask: sitk.Image,
              regions: Mapping[str, int], who: str) -> dict[str, dict[str, Any]]:
    """{region: {feature: value}} following ``RadiomicsFeatureExtractor.execute`` step by step."""
    settings = extractor.settings
    if not _filters_shareable(settings, extractor.enabledImagetypes):
        out = {}
        for region, label in regions.items():
            with _blame(f"{who}, {region}"):
                out[region] = extractor.execute(image, mask, label=label)
        return out

    first = next(iter(regions.values()))
    with _blame(who):
        image, mask = extractor.loadImage(image, mask, None, **{**settings, "label": first})
    boxes, out = {}, {}
    for region, label in regions.items():
        with _blame(f"{who}, {region}"):
            kwargs = {**settings, "label": label}
            boxes[region], _ = imageoperations.checkMask(image, mask, **kwargs)
            out[region] = dict(extractor.computeShape(image, mask, boxes[region], **kwargs))
    for image_type, custom in extractor.enabledImagetypes.items():
        with _blame(f"{who}, {image_type} filter"):
            filtered_images = getattr(imageoperations, f"get{image_type}Image")(image, mask, **{**settings, **custom})
            for filtered, type_name, kwargs in filtered_images:
                for region, label in regions.items():
                    with _blame(f"{who}, {region}, {type_name}"):
                        cropped, cropped_mask = imageoperations.cropToTumorMask(filtered, mask, boxes[region])
                        out[region].update(extractor.computeFeatures(cropped, cropped_mask, type_name,
                                                                     **{**kwargs, "label": label}))
    return out


def _filters_shareable(settings: Mapping[str, Any], image_types: Mapping[str, Any]) -> bool:
    """True when no step before the filters depends on the region's label."""
    resampled = settings.get("interpolator") is not None and settings.get("resampledPixelSpacing") is not None
    return not (resampled or settings.get("preCrop") or settings.get("resegmentRange") is not None
                or "LBP3D" in image_types)


@contextmanager
def _blame(where: str) -> Iterator[None]:
    """Re-raise PyRadiomics' errors as RegionError saying where they happened."""
    try:
        yield
    except RegionError:
        raise
    except Exception as exc:
        raise RegionError(f"{where}: {type(exc).__name__}: {exc}") from exc


def _read(volume: Volume) -> sitk.Image:
    if isinstance(volume, sitk.Image):
        return volume
    if not os.path.isfile(volume):
        raise FileNotFoundError(f"{volume}: no such file")
    return sitk.ReadImage(str(volume))
