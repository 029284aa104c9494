"""The one validation layer for inputs: every entry point reads CTs, masks and patient ids here.

Ingest (command line and upload page alike), the reading of a case for extraction and the
single-patient ``risk`` call :func:`read_ct` and :func:`read_mask`, and check every patient
id with :func:`check_patient_id`. A refusal names the file or patient, the value and what was
expected. What is checked:

- the header before the pixels (size limit, data actually present, DICOM slices evenly spaced:
  :mod:`core.cohort.headers`);
- a CT: at least 16-bit voxels, all finite, within the int16 range of Hounsfield units and
  spanning more than a mask or a normalised image would, voxel spacing of 0.1-20 mm;
- a mask (``masks/`` and a second reader's ``masks_reader2/`` alike): the CT's grid and labels
  0, 1, 2 only (with a hint for 0/255 exports);
- a patient id: NFC-normalised, a safe file name (letters, digits, ``_ - .``), never a path.
"""
from __future__ import annotations

import os
import re
import unicodedata
from collections import defaultdict
from typing import Iterable

import numpy as np
import SimpleITK as sitk

from core.cohort.headers import MAX_VOXEL_BYTES
from core.cohort.images import ImageReadError, clean_copy, geometry_mismatch, label_problems, read_volume

HU_RANGE = (-32768.0, 32767.0)   # what a CT in HU can hold (DICOM's signed 16 bits, padding included)
MIN_HU_SPAN = 20.0               # max - min below this is a mask, a constant or a normalised image, not HU
SPACING_MM = (0.1, 20.0)         # plausible voxel spacing of a clinical CT, each axis (mm)
MAX_ID_LENGTH = 64
_ID = re.compile(r"[^\W_][\w.\-]*")
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"{d}{i}" for d in ("com", "lpt") for i in range(1, 10))}
ID_RULE = (f"expected 1-{MAX_ID_LENGTH} letters, digits, '_', '-' or '.', starting with a letter or digit "
           "and not ending in '.' (an id is also a file name)")


def read_ct(path: str | os.PathLike, max_bytes: int = MAX_VOXEL_BYTES) -> sitk.Image:
    """A checked CT as a metadata-free copy (int16 where every value is whole, else float32).

    Raises :class:`ImageReadError` listing every problem with the header or the voxels.
    """
    image = read_volume(path, max_bytes)
    problems = ct_problems(image)
    if problems:
        raise ImageReadError(path, problems)
    return clean_copy(image)


def read_mask(path: str | os.PathLike, ct: sitk.Image, max_bytes: int = MAX_VOXEL_BYTES) -> sitk.Image:
    """A checked mask of ``ct`` as a uint8 copy carrying the CT's exact geometry.

    Raises :class:`ImageReadError` when the grid differs from the CT's (beyond 1e-3) or a
    label other than 0, 1, 2 appears or label 1 or 2 is empty.
    """
    mask = read_volume(path, max_bytes)
    problems = geometry_mismatch(ct, mask) + label_problems(mask)
    if problems:
        raise ImageReadError(path, problems)
    clean = clean_copy(mask, np.uint8)
    clean.CopyInformation(ct)
    return clean


def ct_problems(image: sitk.Image) -> list[str]:
    """Why these voxels are not a usable CT in Hounsfield units (empty when they are)."""
    problems = spacing_problems(image)
    array = sitk.GetArrayViewFromImage(image)
    if array.dtype.itemsize == 1:
        return problems + [f"voxels are {array.dtype} (8 bits): too few for Hounsfield units (air -1000, bone "
                           "above 1000); expected a CT saved as int16, int32 or float"]
    nonfinite = nonfinite_problems(image)
    if nonfinite:
        return problems + nonfinite
    low, high = float(array.min()), float(array.max())
    if low < HU_RANGE[0] or high > HU_RANGE[1]:
        problems.append(f"values run from {low:g} to {high:g}; expected Hounsfield units within "
                        f"[{HU_RANGE[0]:g}, {HU_RANGE[1]:g}]")
    elif high - low < MIN_HU_SPAN:
        problems.append(f"values span only {low:g} to {high:g}; a CT in Hounsfield units spans far more "
                        "(is it a mask, or a normalised image?)")
    return problems


def nonfinite_problems(image: sitk.Image) -> list[str]:
    """NaN or infinite voxels, counted and the first located, as one readable line (empty when none)."""
    array = sitk.GetArrayViewFromImage(image)
    if array.dtype.kind != "f":
        return []
    finite = np.isfinite(array)
    if finite.all():
        return []
    z, y, x = np.argwhere(~finite)[0]
    return [f"{int(finite.size - finite.sum())} voxels are NaN or infinite (the first at voxel x={x}, y={y}, "
            f"z={z}); expected a finite HU value in every voxel"]


def spacing_problems(image: sitk.Image) -> list[str]:
    """A voxel spacing outside ``SPACING_MM`` on any axis (mm), as one readable line."""
    spacing = image.GetSpacing()
    low, high = SPACING_MM
    if all(np.isfinite(s) and low <= s <= high for s in spacing):
        return []
    shown = " x ".join(f"{s:g}" for s in spacing)
    return [f"voxel spacing {shown} mm; expected {low:g} to {high:g} mm on each axis (a wrong header?)"]


def check_patient_id(raw: object) -> tuple[str, str | None]:
    """(the id NFC-normalised and stripped, the reason it is refused or None)."""
    pid = unicodedata.normalize("NFC", str(raw)).strip()
    reason = None
    if not pid:
        reason = "is empty"
    elif "/" in pid or "\\" in pid or pid in (".", ".."):
        reason = "is a path"
    elif len(pid) > MAX_ID_LENGTH:
        reason = f"is {len(pid)} characters long"
    elif not _ID.match(pid[0]):
        reason = f"starts with {pid[0]!r}"
    elif not _ID.fullmatch(pid):
        bad = next(c for c in pid if not _ID.fullmatch("a" + c))
        reason = f"holds {unicodedata.name(bad, 'a control character').lower()} ({bad!r})"
    elif pid.endswith("."):
        reason = "ends in '.'"
    elif pid.split(".")[0].lower() in _WINDOWS_DEVICES:
        reason = "is a device name on Windows"
    return pid, None if reason is None else f"patient_id {str(raw)!r} {reason}; {ID_RULE}"


def case_clashes(ids: Iterable[str]) -> list[list[str]]:
    """Groups of distinct ids equal but for letter case (one file name on Windows and macOS)."""
    groups = defaultdict(set)
    for pid in ids:
        groups[pid.casefold()].add(pid)
    return [sorted(g) for g in groups.values() if len(g) > 1]
