"""Mask perturbations for feature robustness, and a simulated second reader's mask.

Where no second segmentation exists, Zwanenburg et al. (2019, Sci Rep 9:614) measure how
robust a feature is by recomputing it on perturbed masks. The perturbations here act on a
label map (0 background, 1 non-tumoral liver, 2 tumour), region by region, and return a new
label map on the same grid (uint8, the input's geometry) whose labels stay disjoint and
inside the image:

- :func:`erode`: each region loses its boundary voxels (those with a face neighbour outside
  the region); the liver therefore also draws back from the tumour;
- :func:`dilate`: each region gains the voxels just outside it; the liver grows into the
  background only, the tumour into the background and the liver (the liver-tumour boundary
  moves outward, as a reader who draws the tumour larger would move it);
- :func:`shift`: the whole label map moves by whole voxels; voxels moved off the grid are
  dropped, never wrapped around.

"One voxel" is in-plane by default (neighbours in the same slice): CT slices are often 3-7
times thicker than the in-plane pixels, so one voxel along z would be a much larger change,
and readers draw their contours slice by slice. A voxel outside the image counts as part of
the region when eroding, so a region cut off by the image edge is not eroded there.

:func:`second_reader` moves every boundary by a smooth random displacement (about one
in-plane voxel), as a second reader would draw; it is deterministic given its seed.

Every function raises :class:`PerturbationError` naming the case and the region when a
region would come out empty.
"""
from __future__ import annotations

import hashlib

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from core.radiomics.presets import REGION_LABELS

LIVER, TUMOUR = REGION_LABELS["liver"], REGION_LABELS["tumor"]
KINDS = ("erode", "dilate", "shift")
IN_PLANE_SHIFTS = tuple((dx, dy, 0) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0))


class PerturbationError(ValueError):
    """A perturbation that would leave a region empty; the message names the case and the region."""


def erode(mask: sitk.Image, in_plane: bool = True, case_id: str | None = None) -> sitk.Image:
    """Each region eroded by one voxel (face neighbours; in-plane unless ``in_plane`` is False)."""
    labels = _labels(mask)
    structure = _structure(in_plane)
    out = np.zeros_like(labels)
    for label in (LIVER, TUMOUR):
        out[ndimage.binary_erosion(labels == label, structure, border_value=1)] = label
    return _image(out, mask, "erosion", case_id)


def dilate(mask: sitk.Image, in_plane: bool = True, case_id: str | None = None) -> sitk.Image:
    """Each region dilated by one voxel: the liver into the background, the tumour into both."""
    labels = _labels(mask)
    structure = _structure(in_plane)
    out = labels.copy()
    out[ndimage.binary_dilation(labels == LIVER, structure) & (labels == 0)] = LIVER
    out[ndimage.binary_dilation(labels == TUMOUR, structure)] = TUMOUR
    return _image(out, mask, "dilation", case_id)


def shift(mask: sitk.Image, offset: tuple[int, int, int], case_id: str | None = None) -> sitk.Image:
    """The label map moved by ``offset`` = (x, y, z) whole voxels along the image's index axes."""
    labels = _labels(mask)
    zyx = tuple(int(o) for o in reversed(offset))
    out = np.zeros_like(labels)
    source = tuple(slice(max(0, -o), n - max(0, o)) for o, n in zip(zyx, labels.shape))
    target = tuple(slice(max(0, o), n - max(0, -o)) for o, n in zip(zyx, labels.shape))
    out[target] = labels[source]
    return _image(out, mask, f"a shift by {tuple(offset)} voxels", case_id)


def shift_offset(seed: int, case_id: str) -> tuple[int, int, int]:
    """The in-plane one-voxel shift (x, y, 0) of a case: one of the 8 neighbours, drawn from
    ``seed`` and the case id, so it does not depend on which other cases are perturbed."""
    return IN_PLANE_SHIFTS[int(_rng(seed, case_id).integers(len(IN_PLANE_SHIFTS)))]


def perturb(mask: sitk.Image, kind: str, seed: int = 0, case_id: str = "") -> sitk.Image:
    """The perturbation ``kind`` (one of ``KINDS``) of a case's mask; ``shift`` uses :func:`shift_offset`."""
    if kind == "erode":
        return erode(mask, case_id=case_id)
    if kind == "dilate":
        return dilate(mask, case_id=case_id)
    if kind == "shift":
        return shift(mask, shift_offset(seed, case_id), case_id=case_id)
    raise ValueError(f"perturbation {kind!r}; expected one of {', '.join(KINDS)}")


def second_reader(mask: sitk.Image, seed: int, displacement_mm: float | None = None,
                  smoothness_mm: float = 5.0, case_id: str | None = None) -> sitk.Image:
    """A plausible second reader's mask: every boundary moved along its normal by a smooth random field.

    The outline of the whole liver (labels 1 and 2) and that of the tumour each get their own
    field: Gaussian-smoothed white noise (``smoothness_mm`` the Gaussian's SD, mm) scaled to mean
    0 and SD ``displacement_mm`` (default: one in-plane voxel) over the region's bounding box;
    positive values move the boundary outward. The tumour is label 2 wherever its moved outline
    reaches, the rest of the moved liver label 1. Deterministic given ``seed`` (and the mask).
    """
    labels = _labels(mask)
    spacing = np.array(mask.GetSpacing()[::-1])                 # z, y, x (mm)
    displacement = float(min(spacing[1:])) if displacement_mm is None else float(displacement_mm)
    rng = np.random.default_rng(seed)
    pad = np.ceil(4 * displacement / spacing).astype(int) + 1
    box = _bounding_box(labels > 0, pad)
    crop = labels[box]
    moved = [_moved_region(region, spacing, displacement, smoothness_mm, rng)
             for region in (crop > 0, crop == TUMOUR)]
    out = np.zeros_like(labels)
    out[box][moved[0]] = LIVER
    out[box][moved[1]] = TUMOUR
    return _image(out, mask, "the simulated second reading", case_id)


def _moved_region(region: np.ndarray, spacing: np.ndarray, displacement: float, smoothness: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Voxels whose signed distance to the region's boundary (mm, boundary half a voxel from
    the voxel centres on either side) lies below a smooth random field of SD ``displacement``."""
    half = float(min(spacing[1:])) / 2
    inside = ndimage.distance_transform_edt(region, sampling=spacing)
    outside = ndimage.distance_transform_edt(~region, sampling=spacing)
    signed = np.where(region, half - inside, outside - half)
    field = ndimage.gaussian_filter(rng.standard_normal(region.shape), smoothness / spacing, mode="nearest")
    field = (field - field.mean()) * displacement / max(float(field.std()), 1e-12)
    return signed < field


def _bounding_box(region: np.ndarray, pad: np.ndarray) -> tuple[slice, ...]:
    where = np.argwhere(region)
    if not len(where):
        return tuple(slice(0, n) for n in region.shape)
    low, high = where.min(axis=0) - pad, where.max(axis=0) + pad + 1
    return tuple(slice(max(0, int(lo)), min(n, int(hi))) for lo, hi, n in zip(low, high, region.shape))


def _structure(in_plane: bool) -> np.ndarray:
    """Face neighbours: 4 in the slice, or 6 in 3-D; arrays are (z, y, x)."""
    structure = ndimage.generate_binary_structure(3, 1)
    if in_plane:
        structure[0] = structure[2] = False
    return structure


def _labels(mask: sitk.Image) -> np.ndarray:
    labels = sitk.GetArrayFromImage(mask)
    extra = sorted(set(np.unique(labels).tolist()) - {0, LIVER, TUMOUR})
    if extra:
        raise ValueError(f"mask labels {extra[:5]}; expected only 0, {LIVER} (liver) and {TUMOUR} (tumour)")
    return labels.astype(np.uint8)


def _image(labels: np.ndarray, like: sitk.Image, what: str, case_id: str | None) -> sitk.Image:
    for region, label in REGION_LABELS.items():
        if not (labels == label).any():
            who = f"patient {case_id}: " if case_id else ""
            raise PerturbationError(f"{who}{region} (label {label}) is empty after {what}; the region is "
                                    "too small (or too near the image's edge) to be perturbed so")
    out = sitk.GetImageFromArray(labels)
    out.CopyInformation(like)
    return out


def _rng(seed: int, case_id: str) -> np.random.Generator:
    digest = hashlib.sha256(case_id.encode()).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little")])
