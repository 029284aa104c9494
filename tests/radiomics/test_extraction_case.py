"""One case's extraction: feature counts of the presets on a real CT, the shared-filter path
equal to PyRadiomics' own execute(), and clear errors for unusable regions."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from core.radiomics import REGION_LABELS, RegionError, extract_case, load_preset
from tests.radiomics.conftest import synthetic_case

PAPER_IMAGE_TYPES = {"original", "square", "squareroot", "logarithm", "exponential", "gradient", "lbp-2D",
                     *(f"wavelet-{b}" for b in ("LLL", "LLH", "LHL", "LHH", "HLL", "HLH", "HHL", "HHH")),
                     *(f"log-sigma-{s}-0-mm-3D" for s in range(1, 6))}


@pytest.fixture(scope="module")
def real_case(reference):
    """A 16 x 40 x 40 crop (3 mm voxels) of a real abdominal CT: TotalSegmentator's liver as label 1
    and a synthetic spherical tumour (radius 3 voxels) as label 2."""
    folder = reference / "ct" / "totalsegmentator"
    crop = (slice(10, 26), slice(37, 77), slice(60, 100))
    ct = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "example_ct_sm.nii.gz")))[crop]
    liver = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "example_seg.nii.gz")))[crop] == 5
    mask = liver.astype(np.uint8)
    z, y, x = np.ogrid[:16, :40, :40]
    mask[((z - 8) ** 2 + (y - 20) ** 2 + (x - 20) ** 2 <= 9) & liver] = 2
    image, label = sitk.GetImageFromArray(ct), sitk.GetImageFromArray(mask)
    image.SetSpacing((3.0, 3.0, 3.0))
    label.CopyInformation(image)
    assert (mask == 1).sum() > 5000 and (mask == 2).sum() > 50
    return image, label


def test_paper_gives_1874_features_per_region_identical_to_pyradiomics_execute(real_case):
    image, mask = real_case
    preset = load_preset("paper")
    features = extract_case(image, mask, preset, case_id="crop")
    assert features.groupby("region").size().to_dict() == {"liver": 1874, "tumor": 1874}
    names = features.loc[features["region"] == "liver", "feature"]
    assert names.is_unique
    image_types = {n.rsplit("_", 2)[0] for n in names}
    assert image_types == PAPER_IMAGE_TYPES
    assert (names.str.contains("_shape_")).sum() == 14
    assert features["value"].notna().mean() > 0.99

    # filters shared between regions give exactly what PyRadiomics gives region by region
    extractor = preset.extractor()
    for region, label in REGION_LABELS.items():
        expected = {k: float(v) for k, v in extractor.execute(image, mask, label=label).items()}
        got = features[features["region"] == region].set_index("feature")["value"]
        assert set(got.index) == set(expected)
        np.testing.assert_array_equal(got.to_numpy(), [expected[k] for k in got.index])


def test_quick_gives_107_features_per_region(real_case):
    features = extract_case(*real_case, "quick")
    assert features.groupby("region").size().to_dict() == {"liver": 107, "tumor": 107}
    assert features["feature"].str.startswith("original_").all()
    assert list(features.columns) == ["region", "feature", "value"] and features["value"].dtype == np.float64


def test_several_tumours_are_one_region():
    ct, mask = synthetic_case(0)
    mask[mask == 2] = 1
    mask[2:5, 4:8, 4:8] = 2
    mask[5:8, 26:30, 26:30] = 2
    features = extract_case(_image(ct), _image(mask), "quick").set_index(["region", "feature"])["value"]
    assert features["tumor", "original_shape_VoxelVolume"] == pytest.approx(2 * 48 * 1.5 * 1.5 * 4.0)


def _image(array, spacing=(1.5, 1.5, 4.0)) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    return image


def _tumour(mask: np.ndarray, voxels: list[tuple[int, int, int]]) -> np.ndarray:
    mask = np.where(mask == 2, 1, mask).astype(np.uint8)
    for v in voxels:
        mask[v] = 2
    return mask


@pytest.mark.parametrize("change, expected", [
    (lambda m: _tumour(m, []), "patient P09: tumor (label 2) is empty"),
    (lambda m: _tumour(m, [(5, 18, 18)]), "patient P09: tumor (label 2) is a single voxel"),
    (lambda m: _tumour(m, [(5, 18, x) for x in range(15, 20)]), "tumor (label 2) is too small: 5 voxels, at least 27"),
    (lambda m: _tumour(m, [(5, 18, x) for x in range(2, 34)]), "tumor (label 2) is flat: it extends in 1 dimension"),
    (lambda m: np.where(m == 1, 0, m), "patient P09: liver (label 1) is empty"),
])
def test_unusable_region_raises_naming_patient_and_region(change, expected):
    ct, mask = synthetic_case(3)
    with pytest.raises(RegionError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        extract_case(_image(ct), _image(change(mask)), "quick", case_id="P09")


@pytest.mark.parametrize("mask_image, expected", [
    (lambda m: _image(m[:, :, :-2]), r"mask does not match the image: size \(34, 36, 10\) differs"),
    (lambda m: _image(m, spacing=(1.5, 1.5, 5.0)), "mask does not match the image: spacing"),
])
def test_mask_off_the_image_grid_raises(mask_image, expected):
    ct, mask = synthetic_case(4)
    with pytest.raises(RegionError, match=expected):
        extract_case(_image(ct), mask_image(mask), "quick", case_id="P04")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.nii.gz"):
        extract_case(tmp_path / "nope.nii.gz", tmp_path / "mask.nii.gz")
