"""Cases on which the torch engine is compared with PyRadiomics, feature by feature.

Each case is an image (SimpleITK, the pixel type ingest stores: int16 HU for CT), a label
mask on the same grid and the label of the region. Real data comes from ../shared/reference
(see its README); a case whose data is absent is skipped with the reason.

- ``ct_liver``: the real TotalSegmentator abdominal CT (``example_ct_sm``, 3 mm), its liver (label 5), cropped;
- ``ct_tumor``: a 12 mm-radius sphere inside that liver, on the same crop;
- ``ibsi_phantom``: the IBSI 1 digital phantom and its mask;
- ``brain1``: PyRadiomics' own test case (MR, label 1);
- adversarial, on the CT crop: ``one_slice`` (the liver in one axial slice), ``border`` (a
  region touching three faces of the image), ``constant`` (every voxel of the region has
  the same value), ``negative`` (fat: every value below 0 HU), ``anisotropic`` (the CT
  crop on a 0.7 x 0.7 x 5 mm grid, as the paper's CTs).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pytest
import SimpleITK as sitk

from tests.reference import reference_file


@dataclass(frozen=True)
class Case:
    name: str
    image: sitk.Image
    mask: sitk.Image
    label: int


def _image(array: np.ndarray, spacing, origin=(0.0, 0.0, 0.0)) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin(origin)
    return image


@lru_cache(maxsize=1)
def _ct_crop() -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """(z, y, x) int16 CT crop around the liver (with margin), its liver mask and spacing."""
    folder = reference_file("ct", "totalsegmentator")
    ct = sitk.ReadImage(str(folder / "example_ct_sm.nii.gz"))
    seg = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "example_seg.nii.gz")))
    liver = seg == 5
    box = tuple(slice(max(0, int(np.where(liver.any(axis=tuple(j for j in range(3) if j != a)))[0][0]) - 4),
                      int(np.where(liver.any(axis=tuple(j for j in range(3) if j != a)))[0][-1]) + 5)
                for a in range(3))
    array = sitk.GetArrayFromImage(ct)[box].astype(np.int16)
    return array, liver[box], ct.GetSpacing()


def _sphere(shape, centre, radius_vox: float) -> np.ndarray:
    grid = np.meshgrid(*(np.arange(s) for s in shape), indexing="ij")
    return sum((g - c) ** 2 for g, c in zip(grid, centre)) <= radius_vox ** 2


def _ct_case(name: str) -> Case:
    ct, liver, spacing = _ct_crop()
    mask = np.zeros(ct.shape, np.uint8)
    if name == "ct_liver":
        mask[liver] = 1
    elif name == "ct_tumor":
        inside = np.argwhere(liver)
        centre = inside[len(inside) // 2]
        mask[_sphere(ct.shape, centre, 4.0) & liver] = 1
    elif name == "one_slice":
        z = int(np.argmax(liver.sum(axis=(1, 2))))
        mask[z][liver[z]] = 1
    elif name == "border":
        mask[:6, :8, :10] = 1
    elif name == "constant":
        ct = ct.copy()
        region = _sphere(ct.shape, np.array(ct.shape) // 2, 3.0)
        ct[region] = 57
        mask[region] = 1
    elif name == "negative":
        fat = (ct < -30) & (ct > -200)
        mask[fat] = 1
    elif name == "anisotropic":
        mask[liver] = 1
        spacing = (0.7, 0.7, 5.0)
    else:
        raise KeyError(name)
    return Case(name, _image(ct, spacing), _image(mask, spacing), 1)


def _file_case(name: str, image: tuple[str, ...], mask: tuple[str, ...]) -> Case:
    img = sitk.ReadImage(str(reference_file(*image)))
    msk = sitk.ReadImage(str(reference_file(*mask)))
    msk.CopyInformation(img)
    return Case(name, img, msk, 1)


CT_CASES = ("ct_liver", "ct_tumor", "one_slice", "border", "constant", "negative", "anisotropic")
FILE_CASES = {
    "ibsi_phantom": (("ibsi", "phantom.nii.gz"), ("ibsi", "mask.nii.gz")),
    "brain1": (("pyradiomics", "brain1_image.nrrd"), ("pyradiomics", "brain1_label.nrrd")),
}
CASE_NAMES = (*CT_CASES, *FILE_CASES)


def load_case(name: str) -> Case:
    """The named case (skips the calling test when its reference data is absent)."""
    if name in FILE_CASES:
        return _file_case(name, *FILE_CASES[name])
    return _ct_case(name)


@pytest.fixture(params=CASE_NAMES)
def case(request) -> Case:
    return load_case(request.param)


# Cases built on the CT crop's grid for particular checks (not in CASE_NAMES).
def ct_with_mask(name: str, mask: np.ndarray) -> Case:
    """The CT crop of the cases with another region (label 1)."""
    case = load_case("ct_liver")
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    image.CopyInformation(case.mask)
    return Case(name, case.image, image, 1)


def liver_mask() -> np.ndarray:
    return sitk.GetArrayFromImage(load_case("ct_liver").mask) == 1


def lattice_case() -> Case:
    """Liver voxels with even z, y and x: no two are neighbours at distance 1 (every run has length 1)."""
    mask = liver_mask()
    z, y, x = np.indices(mask.shape)
    return ct_with_mask("lattice", mask & (z % 2 == 0) & (y % 2 == 0) & (x % 2 == 0))


def sheet_case() -> Case:
    """An oblique sheet, y = z + 20: along the 9 angles with a_y != a_z no line holds two of its voxels."""
    mask = np.zeros(liver_mask().shape, bool)
    z, y, x = np.indices(mask.shape)
    mask[(y == z + 20) & (x >= 10) & (x < 60)] = True
    return ct_with_mask("sheet", mask)


@lru_cache(maxsize=1)
def liver_sized_case() -> Case:
    """A 1.34 M-voxel ellipsoid in a 60 x 512 x 512 int16 CT on a 0.7 x 0.7 x 5 mm grid (noisy HU)."""
    rng = np.random.default_rng(3)
    z, y, x = np.ogrid[:60, :512, :512]
    mask = ((z - 30) / 29.0) ** 2 + ((y - 256) / 130.0) ** 2 + ((x - 230) / 85.0) ** 2 <= 1
    noise = rng.normal(0.0, 1.0, mask.shape)
    noise = (noise + np.roll(noise, 1, 2) + np.roll(noise, 1, 1)) / 1.7
    ct = np.round(-100 + 20 * noise + 160 * mask).astype(np.int16)
    images = [sitk.GetImageFromArray(a) for a in (ct, mask.astype(np.uint8))]
    for image in images:
        image.SetSpacing((0.7, 0.7, 5.0))
    return Case("liver_sized", *images, 1)
