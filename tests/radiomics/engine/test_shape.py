"""The engine's 3D shape features against PyRadiomics' ``RadiomicsShape`` (its C marching cubes).

Tolerance: 1e-6 relative, or 1e-9 absolute where PyRadiomics' |value| < 1e-3 (measured: at most
1.2e-12 relative on the cases, 3.2e-12 on the liver-sized region: SurfaceArea and MeshVolume
summed in another order; the PCA features 3e-13). The four maximum
diameters are asserted bit-identical: they are maxima of the same floating-point distances.
No shape feature needs a wider tolerance.
"""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from radiomics import shape

from core.radiomics.engine import shape as engine_shape
from tests.radiomics.engine.cases import CASE_NAMES, Case, load_case
from tests.radiomics.engine.compare import (DEVICES, SETTINGS, assert_matches, pyradiomics_and_region,
                                            pyradiomics_names)

DIAMETERS = ("Maximum3DDiameter", "Maximum2DDiameterSlice", "Maximum2DDiameterColumn", "Maximum2DDiameterRow")


def compare_shape(case: Case, device: str = "cpu") -> dict:
    """Assert the engine's shape features equal PyRadiomics' on the case; PyRadiomics' values."""
    image, mask, region = pyradiomics_and_region(case, SETTINGS["paper"], device)
    reference = shape.RadiomicsShape(image, mask, **SETTINGS["paper"]).execute()
    ours = engine_shape.features(region)
    assert_matches(ours, reference, device)
    for name in DIAMETERS:
        assert float(ours[name]) == float(reference[name]), name
    return reference


def test_feature_names():
    assert set(engine_shape.FEATURES) == pyradiomics_names(shape.RadiomicsShape)
    assert len(engine_shape.FEATURES) == 14


@pytest.mark.parametrize("name", CASE_NAMES)
def test_matches_pyradiomics(name):
    compare_shape(load_case(name))


@pytest.mark.parametrize("device", DEVICES)
def test_matches_pyradiomics_on_device(device):
    compare_shape(load_case("ct_liver"), device)


def numpy_cube_indices(mask: np.ndarray) -> np.ndarray:
    """cshape.c's 8-bit index of every 2 x 2 x 2 cube of the zero-padded mask (corner k -> bit k)."""
    padded = np.pad(mask.astype(np.int64), 1)
    corners = ((0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 0, 0), (1, 0, 1), (1, 1, 1), (1, 1, 0))
    z, y, x = (s - 1 for s in padded.shape)
    return sum(padded[a:a + z, b:b + y, c:c + x] << bit for bit, (a, b, c) in enumerate(corners))


def random_case(seed: int, spacing: tuple[float, float, float]) -> Case:
    """A random 11 x 12 x 13 mask (densities from sparse to full), on an image of noise."""
    rng = np.random.default_rng(seed)
    mask = (rng.random((11, 12, 13)) < rng.uniform(0.2, 0.8)).astype(np.uint8)
    images = [sitk.GetImageFromArray(a) for a in (rng.integers(0, 100, mask.shape).astype(np.int16), mask)]
    for image in images:
        image.SetSpacing(spacing)
    return Case(f"random{seed}", *images, 1)


def test_random_masks_cover_every_cube_index():
    """Every one of the 256 cube configurations occurs, on isotropic and anisotropic grids."""
    seen = set()
    for seed in range(12):
        case = random_case(seed, ((1.0, 1.0, 1.0), (0.7, 0.8, 5.0), (2.5, 0.6, 1.3))[seed % 3])
        seen.update(np.unique(numpy_cube_indices(sitk.GetArrayFromImage(case.mask))).tolist())
        compare_shape(case)
    assert seen == set(range(256))


def test_two_distant_lobes():
    """A non-convex region: two ellipsoids joined by a thin bar, far apart on a diagonal."""
    z, y, x = np.meshgrid(np.arange(30), np.arange(90), np.arange(80), indexing="ij")
    mask = (((z - 8) / 6) ** 2 + ((y - 15) / 12) ** 2 + ((x - 14) / 9) ** 2 <= 1) \
        | (((z - 20) / 7) ** 2 + ((y - 70) / 14) ** 2 + ((x - 62) / 11) ** 2 <= 1) \
        | ((abs(z - 14) <= 1) & (abs(y - x) <= 1) & (y > 14) & (y < 70))
    images = [sitk.GetImageFromArray(a) for a in (np.zeros(mask.shape, np.int16), mask.astype(np.uint8))]
    for image in images:
        image.SetSpacing((0.7, 0.7, 2.0))
    compare_shape(Case("lobes", *images, 1))


@pytest.mark.slow
def test_liver_sized_region():
    """A 1.29 M-voxel ellipsoid with a notch on a 60 x 512 x 512, 0.7 x 0.7 x 5 mm grid (PyRadiomics: ~25 s)."""
    z, y, x = np.meshgrid(np.arange(60), np.arange(512), np.arange(512), indexing="ij", sparse=True)
    mask = ((z - 30) / 27.5) ** 2 + ((y - 256) / 117) ** 2 + ((x - 240) / 96) ** 2 <= 1
    mask &= ~((abs(y - 256) < 20) & (x > 300))
    images = [sitk.GetImageFromArray(a) for a in (np.zeros(mask.shape, np.int16), mask.astype(np.uint8))]
    for image in images:
        image.SetSpacing((0.7, 0.7, 5.0))
    reference = compare_shape(Case("liver_sized", *images, 1))
    assert reference["VoxelVolume"] > 1.2e6 * 0.7 * 0.7 * 5


def test_flat_region_has_zero_least_axis():
    """One axial slice: the least eigenvalue is (rounded to) 0, so LeastAxisLength and Flatness are 0."""
    reference = compare_shape(load_case("one_slice"))
    assert reference["LeastAxisLength"] == 0 and reference["Flatness"] == 0


def test_selected_names_and_unknown_name():
    _, _, region = pyradiomics_and_region(load_case("ct_tumor"), SETTINGS["paper"])
    assert list(engine_shape.features(region, ["Sphericity", "Elongation"])) == ["Sphericity", "Elongation"]
    with pytest.raises(ValueError, match="Spherisity"):
        engine_shape.features(region, ["Spherisity"])
