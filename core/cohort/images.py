"""Reading CT volumes and masks, geometry checks, and de-identified NIfTI copies.

A volume is a NIfTI (.nii/.nii.gz), an NRRD (.nrrd) or a folder holding one DICOM series.
Whatever the input, what is kept is pixels plus geometry (size, spacing, origin,
direction): the copy is rebuilt from the pixel array, so no header text, DICOM tag or
other identifying metadata survives (the basic profile of DICOM PS3.15 removes far less).
"""
from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from core.cohort.headers import MAX_VOXEL_BYTES, file_problems, series_problems

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd")
MASK_LABELS = {0: "background", 1: "non-tumoral liver", 2: "tumour"}
_GEOMETRY_TOL = 1e-3  # relative tolerance on spacing/origin, absolute on direction cosines


class ImageReadError(ValueError):
    """A volume that cannot be used; ``problems`` lists every reason, the message names the file."""

    def __init__(self, path: str | os.PathLike, problems: list[str]):
        self.path, self.problems = Path(path), list(problems)
        super().__init__(f"{path}: " + "; ".join(self.problems))


def case_id(path: Path) -> str | None:
    """The patient id (NFC) a path under images/ or masks/ stands for (None when not a volume)."""
    if path.is_dir():
        return unicodedata.normalize("NFC", path.name)
    for suffix in IMAGE_SUFFIXES:
        if path.name.lower().endswith(suffix):
            return unicodedata.normalize("NFC", path.name[: -len(suffix)])
    return None


def source_format(path: Path) -> str:
    if path.is_dir():
        return "dicom"
    return "nrrd" if path.name.lower().endswith(".nrrd") else "nifti"


def read_volume(path: str | os.PathLike, max_bytes: int = MAX_VOXEL_BYTES) -> sitk.Image:
    """Read a NIfTI/NRRD file or a DICOM series folder; ImageReadError says why it failed.

    The header (every slice's header for DICOM) is checked first, so a file that promises
    more than ``max_bytes`` of voxel data, or more than it holds, is refused unread.
    """
    path = Path(path)
    if path.is_dir():
        reader = sitk.ImageSeriesReader()
        series = reader.GetGDCMSeriesIDs(str(path))
        if not series:
            raise ImageReadError(path, ["no DICOM series in this folder"])
        if len(series) > 1:
            raise ImageReadError(path, [f"{len(series)} DICOM series in one folder; expected one"])
        files = list(reader.GetGDCMSeriesFileNames(str(path), series[0]))
        problems = series_problems(files, max_bytes)
        reader.SetFileNames(files)
    else:
        problems = file_problems(path, max_bytes) if path.is_file() else ["no such file"]
    if problems:
        raise ImageReadError(path, problems)
    try:
        image = reader.Execute() if path.is_dir() else sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = next((line for line in first if "rror" in line or "nable" in line), first[-1] if first else "")
        raise ImageReadError(path, ["cannot read the volume (truncated or not NIfTI/NRRD/DICOM): "
                                    f"{detail.strip()[:200]}"]) from exc
    if image.GetDimension() != 3:
        raise ImageReadError(path, [f"expected a 3-D volume, found {image.GetDimension()}-D"])
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(path, ["expected one value per voxel, found "
                                    f"{image.GetNumberOfComponentsPerPixel()} (colour or vector image)"])
    return image


def clean_copy(image: sitk.Image, dtype: np.dtype | None = None) -> sitk.Image:
    """The pixels and geometry of ``image`` in a new image with no metadata at all."""
    array = sitk.GetArrayFromImage(image)
    if dtype is None:
        dtype = np.int16 if (np.issubdtype(array.dtype, np.integer) or np.all(np.mod(array, 1) == 0)) \
            and array.min() >= -32768 and array.max() <= 32767 else np.float32
    out = sitk.GetImageFromArray(array.astype(dtype, copy=False))
    out.SetSpacing(image.GetSpacing())
    out.SetOrigin(image.GetOrigin())
    out.SetDirection(image.GetDirection())
    return out


def write_nifti(image: sitk.Image, path: str | os.PathLike) -> None:
    sitk.WriteImage(image, str(path), useCompression=True)


def geometry(image: sitk.Image) -> dict:
    """Size (x, y, z voxels), spacing (mm), origin (mm) and direction cosines of a volume."""
    size, spacing = image.GetSize(), image.GetSpacing()
    return {
        "size_x": size[0], "size_y": size[1], "size_z": size[2],
        "spacing_x": spacing[0], "spacing_y": spacing[1], "spacing_z": spacing[2],
        "origin": ",".join(f"{v:.4f}" for v in image.GetOrigin()),
        "direction": ",".join(f"{v:.6f}" for v in image.GetDirection()),
    }


def geometry_mismatch(image: sitk.Image, mask: sitk.Image) -> list[str]:
    """Differences between an image's and a mask's grids, each as readable text."""
    problems = []
    if image.GetSize() != mask.GetSize():
        problems.append(f"size {mask.GetSize()} differs from the image's {image.GetSize()}")
    pairs = (("spacing", image.GetSpacing(), mask.GetSpacing()),
             ("origin", image.GetOrigin(), mask.GetOrigin()))
    for name, a, b in pairs:
        scale = max(1.0, *map(abs, a))
        if any(abs(x - y) > _GEOMETRY_TOL * scale for x, y in zip(a, b)):
            problems.append(f"{name} {_fmt(b)} differs from the image's {_fmt(a)}")
    if any(abs(x - y) > _GEOMETRY_TOL for x, y in zip(image.GetDirection(), mask.GetDirection())):
        problems.append(f"direction {_fmt(mask.GetDirection())} differs from the image's "
                        f"{_fmt(image.GetDirection())}")
    return problems


def label_problems(mask: sitk.Image) -> list[str]:
    """Problems with a mask's labels: values outside {0, 1, 2}, or an empty liver or tumour label."""
    array = sitk.GetArrayViewFromImage(mask)
    values = np.unique(array)
    extra = [v for v in values.tolist() if v not in MASK_LABELS]
    if extra:
        hint = ""
        if set(values.tolist()) <= {0, 255}:
            hint = " (a 0/255 mask looks like a binary image export: write 1 for liver, 2 for tumour)"
        shown = ", ".join(f"{v:g}" for v in extra[:5]) + (" ..." if len(extra) > 5 else "")
        return [f"labels {shown} found; expected only 0 (background), 1 (non-tumoral liver), 2 (tumour){hint}"]
    return [f"label {label} ({name}) is empty" for label, name in MASK_LABELS.items()
            if label and label not in values]


def mask_volumes(mask: sitk.Image) -> dict:
    """Voxel counts and volumes (mL) of the liver and tumour labels of a mask."""
    array = sitk.GetArrayViewFromImage(mask)
    voxel_ml = float(np.prod(mask.GetSpacing())) / 1000.0
    liver, tumor = int((array == 1).sum()), int((array == 2).sum())
    return {"liver_voxels": liver, "tumor_voxels": tumor, "liver_ml": liver * voxel_ml, "tumor_ml": tumor * voxel_ml}


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"
