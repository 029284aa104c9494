"""A case's regions as both extraction engines see them: reading, the checks, the errors.

Regions are labels of one mask: 1 non-tumoral liver, 2 tumour (all tumour voxels together,
however many tumours). A case is read through the validation layer's header pass and its regions
are checked before any feature (grid, empty, one voxel, too small, flat), so a bad case
fails fast with a message naming the patient and the region. PyRadiomics' extraction and
the torch engine call the same functions here, so they refuse the same cases with the same
messages. Imports numpy and SimpleITK only.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import SimpleITK as sitk

from core.cohort.checks import nonfinite_problems, spacing_problems
from core.cohort.images import ImageReadError, geometry_mismatch, read_volume

REGION_LABELS = {"liver": 1, "tumor": 2}   # region name -> mask label
Volume = "str | os.PathLike | sitk.Image"


class RegionError(ValueError):
    """A case that cannot be extracted; the message names the patient, the region and the problem."""


def who(case_id: str | None) -> str:
    """How messages name the case: ``patient P01``, or ``case`` without an id."""
    return f"patient {case_id}" if case_id else "case"


def read_case(image: Volume, mask: Volume, case_id: str | None = None) -> tuple[sitk.Image, sitk.Image]:
    """The CT and its mask, each a file path or an image.

    A path is read by the validation layer's header pass (size limit, voxel data present:
    :func:`core.cohort.images.read_volume`), and the image's spacing and finite voxels are
    checked (:mod:`core.cohort.checks`). The cohort's own rules (HU range, labels 0-2) are
    ingest's: extraction also serves reference images and other label maps, whose regions
    :func:`check_regions` checks. A path that is not a file raises FileNotFoundError naming
    it; a file refused raises :class:`RegionError` naming the case and its problems. An image
    given as such is used as it is.
    """
    return (_read(image, "CT", case_id, lambda read: spacing_problems(read) + nonfinite_problems(read)),
            _read(mask, "mask", case_id, lambda read: []))


def checked_case(image: Volume, mask: Volume, regions: Mapping[str, int], settings: Mapping[str, Any],
                 case_id: str | None = None) -> tuple[sitk.Image, sitk.Image]:
    """:func:`read_case`, then :func:`check_regions`; the mask takes the image's exact geometry.

    Raises :class:`RegionError` naming ``case_id`` when any region is unusable.
    """
    image, mask = read_case(image, mask, case_id)
    problems = check_regions(image, mask, regions, settings)
    if problems:
        raise RegionError(f"{who(case_id)}: " + "; ".join(problems))
    mask = sitk.Image(mask)
    mask.CopyInformation(image)
    return image, mask


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


@contextmanager
def blame(where: str) -> Iterator[None]:
    """Re-raise an engine's errors as RegionError saying where they happened (``patient P01, liver, original``)."""
    try:
        yield
    except RegionError:
        raise
    except Exception as exc:
        raise RegionError(f"{where}: {type(exc).__name__}: {exc}") from exc


def _read(volume: Volume, what: str, case_id: str | None,
          problems: Callable[[sitk.Image], list[str]]) -> sitk.Image:
    """``volume`` itself, or the file read and checked; RegionError naming the case and ``what``."""
    if isinstance(volume, sitk.Image):
        return volume
    if not os.path.exists(volume):
        raise FileNotFoundError(f"{volume}: no such file")
    try:
        image = read_volume(volume)
    except ImageReadError as exc:
        raise RegionError(f"{who(case_id)}: {what}: " + "; ".join(exc.problems)) from exc
    found = problems(image)
    if found:
        raise RegionError(f"{who(case_id)}: {what}: " + "; ".join(found))
    return image
