"""Mask perturbations against SimpleITK's own morphology and resampling, region by region; the
simulated second reader's mask; refusals that name the patient and the region."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from core.radiomics.perturb import (IN_PLANE_SHIFTS, PerturbationError, dilate, erode, perturb, second_reader, shift,
                                    shift_offset)
from tests.radiomics.conftest import SPACING, synthetic_case

ORIGIN, DIRECTION = (-12.0, 30.0, 7.5), (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def _mask(seed: int = 0, labels: np.ndarray | None = None) -> sitk.Image:
    image = sitk.GetImageFromArray(synthetic_case(seed)[1] if labels is None else labels)
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    image.SetDirection(DIRECTION)
    return image


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def _region(mask: sitk.Image, label: int) -> sitk.Image:
    return sitk.Cast(mask == label, sitk.sitkUInt8)


def _same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    return (a.GetSize(), a.GetSpacing(), a.GetOrigin(), a.GetDirection()) == \
        (b.GetSize(), b.GetSpacing(), b.GetOrigin(), b.GetDirection())


@pytest.mark.parametrize("in_plane, radius", [(True, (1, 1, 0)), (False, (1, 1, 1))])
def test_erosion_is_simpleitks_binary_erosion_of_each_region(in_plane, radius):
    mask = _mask()
    out = erode(mask, in_plane=in_plane)
    assert _same_grid(out, mask) and out.GetPixelID() == sitk.sitkUInt8
    for label in (1, 2):
        expected = sitk.BinaryErode(_region(mask, label), radius, sitk.sitkCross, 0, 1, True)
        np.testing.assert_array_equal(_array(out) == label, _array(expected) == 1)


def test_erosion_keeps_a_region_cut_by_the_image_edge():
    labels = np.zeros((4, 10, 10), np.uint8)
    labels[:, :, :4] = 1          # the liver runs off the image on the left
    labels[1:3, 4:7, 6:9] = 2
    out = _array(erode(_mask(labels=labels)))
    assert (out[:, 1:-1, 0] == 1).all()  # not eroded at the image's edge
    assert (out[:, :, 3] == 0).all()     # eroded at its own boundary


@pytest.mark.parametrize("in_plane, radius", [(True, (1, 1, 0)), (False, (1, 1, 1))])
def test_dilation_grows_the_tumour_into_everything_and_the_liver_into_background(in_plane, radius):
    mask = _mask(1)
    out = _array(dilate(mask, in_plane=in_plane))
    tumour = _array(sitk.BinaryDilate(_region(mask, 2), radius, sitk.sitkCross, 0, 1)) == 1
    liver = (_array(sitk.BinaryDilate(_region(mask, 1), radius, sitk.sitkCross, 0, 1)) == 1) \
        & (_array(mask) != 2) & ~tumour
    np.testing.assert_array_equal(out == 2, tumour)
    np.testing.assert_array_equal(out == 1, liver)
    assert ((out == 1) & (_array(mask) == 0)).any() and ((out == 2) & (_array(mask) == 1)).any()


@pytest.mark.parametrize("offset", [(1, 0, 0), (-1, 1, 0), (0, -1, 2)])
def test_shift_is_a_nearest_neighbour_resampling_by_whole_voxels(offset):
    mask = _mask(2)
    # resampling maps each output point p to the input at p + t: t = -(offset in physical units)
    direction = np.array(DIRECTION).reshape(3, 3)
    translation = sitk.TranslationTransform(3, (-direction @ (np.array(offset) * SPACING)).tolist())
    expected = sitk.Resample(mask, mask, translation, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    out = shift(mask, offset)
    assert _same_grid(out, mask)
    np.testing.assert_array_equal(_array(out), _array(expected))


def test_shift_drops_what_leaves_the_grid():
    labels = np.zeros((3, 6, 6), np.uint8)
    labels[1, 2:4, 0:2] = 1
    labels[1, 2:4, 5] = 2
    out = _array(shift(_mask(labels=labels), (-1, 0, 0)))
    assert (out == 1).sum() == 2 and (out[1, 2:4, 0] == 1).all()   # column x=0 left the grid
    assert (out[1, 2:4, 4] == 2).all() and (out[:, :, 5] == 0).all()  # nothing wrapped around
    with pytest.raises(PerturbationError, match=r"patient P7: tumor \(label 2\) is empty after a shift"):
        shift(_mask(labels=labels), (1, 0, 0), case_id="P7")


def test_shift_offsets_are_in_plane_neighbours_drawn_per_patient_from_the_seed():
    ids = [f"P{i:03d}" for i in range(40)]
    offsets = [shift_offset(0, pid) for pid in ids]
    assert set(offsets) <= set(IN_PLANE_SHIFTS) and len(set(offsets)) == 8
    assert offsets == [shift_offset(0, pid) for pid in ids]            # deterministic
    assert shift_offset(0, "P005") == offsets[5]                         # whatever the other patients
    assert [shift_offset(1, pid) for pid in ids] != offsets
    np.testing.assert_array_equal(_array(perturb(_mask(), "shift", 0, "P005")),
                                  _array(shift(_mask(), offsets[5])))


def test_erosion_that_empties_a_region_names_the_patient_and_region():
    labels = np.zeros((3, 8, 8), np.uint8)
    labels[1, 1:7, 1:7] = 1
    labels[1, 3, 3] = 2
    with pytest.raises(PerturbationError, match=r"patient P3: tumor \(label 2\) is empty after erosion"):
        erode(_mask(labels=labels), case_id="P3")
    with pytest.raises(ValueError, match="expected one of erode, dilate, shift"):
        perturb(_mask(labels=labels), "rotate")
    labels[0, 0, 0] = 3
    with pytest.raises(ValueError, match=r"mask labels \[3\]; expected only 0, 1 \(liver\) and 2"):
        erode(_mask(labels=labels))


def test_second_reader_moves_every_boundary_by_about_one_voxel():
    mask = _mask(3)
    base = _array(mask)
    out = second_reader(mask, seed=11)
    moved = _array(out)
    assert _same_grid(out, mask) and set(np.unique(moved)) == {0, 1, 2}
    np.testing.assert_array_equal(moved, _array(second_reader(mask, seed=11)))      # deterministic
    assert (moved != _array(second_reader(mask, seed=12))).any()
    sampling = np.array(SPACING[::-1]) / SPACING[0]                                 # in-plane voxels
    for before, after in ((base > 0, moved > 0), (base == 2, moved == 2)):        # liver outline, tumour
        dice = 2 * (before & after).sum() / (before.sum() + after.sum())
        assert 0.85 < dice < 0.995, dice  # changed, as by another reader, but the same structure
        distance = ndimage.distance_transform_edt(before, sampling=sampling) + \
            ndimage.distance_transform_edt(~before, sampling=sampling)
        # the field's SD is one in-plane voxel: no change further than 4 SD from the boundary
        assert distance[before != after].max() <= 4, distance[before != after].max()
