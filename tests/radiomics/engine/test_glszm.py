"""The engine's GLSZM against PyRadiomics' ``RadiomicsGLSZM``, and its zones against SimpleITK.

Tolerance everywhere: 1e-6 relative, or 1e-9 absolute where PyRadiomics' |value| < 1e-3
(measured: below 1e-15 on every case). No GLSZM feature needs a wider one.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from radiomics import glszm

from core.radiomics.engine import glszm as engine_glszm
from tests.radiomics.engine.cases import CASE_NAMES, load_case
from tests.radiomics.engine.compare import DEVICES, SETTINGS, compare, float_case, pyradiomics_and_region, pyradiomics_names

def test_feature_names():
    assert set(engine_glszm.FEATURES) == pyradiomics_names(glszm.RadiomicsGLSZM)
    assert len(engine_glszm.FEATURES) == 16


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_matches_pyradiomics(name, settings):
    compare(glszm.RadiomicsGLSZM, engine_glszm, load_case(name), SETTINGS[settings])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ("ct_liver", "ct_tumor"))
def test_float_image_matches_pyradiomics(name, device):
    compare(glszm.RadiomicsGLSZM, engine_glszm, float_case(name), SETTINGS["binWidth5"], device)


@pytest.mark.parametrize("dimension", (0, 1, 2))
def test_force2d_matches_pyradiomics(dimension):
    settings = {"binWidth": 10, "force2D": True, "force2Ddimension": dimension, "label": 1}
    compare(glszm.RadiomicsGLSZM, engine_glszm, load_case("ct_liver"), settings)


def test_selected_names_and_unknown_name():
    _, _, region = pyradiomics_and_region(load_case("ct_tumor"), SETTINGS["paper"])
    assert list(engine_glszm.features(region, ["ZoneEntropy", "ZonePercentage"])) == ["ZoneEntropy", "ZonePercentage"]
    with pytest.raises(ValueError, match="ZoneEntropie"):
        engine_glszm.features(region, ["ZoneEntropie"])


def simpleitk_zones(levels: np.ndarray) -> Counter:
    """(level, size) of every 26-connected zone, by SimpleITK's ConnectedComponent per grey level."""
    zones = Counter()
    for level in np.unique(levels[levels > 0]):
        labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(
            sitk.GetImageFromArray((levels == level).astype(np.uint8)), True))
        zones.update((int(level), int(size)) for size in np.bincount(labels.ravel())[1:])
    return zones


def engine_zones(levels: np.ndarray) -> Counter:
    zone_levels, sizes = engine_glszm.zones(torch.from_numpy(levels))
    return Counter(zip(zone_levels.tolist(), sizes.tolist()))


def serpentine(shape=(6, 40, 40)) -> np.ndarray:
    """Level 1 on a one-voxel path snaking through every other row of every other slice and
    back the other way, level 2 around it: one zone whose flat index order zigzags."""
    levels = np.full(shape, 2, np.int64)
    path = []
    for z in range(0, shape[0], 2):
        rows = range(0, shape[1], 2) if z % 4 == 0 else range(shape[1] - 2, -1, -2)
        for k, y in enumerate(rows):
            xs = range(shape[2]) if k % 2 == 0 else range(shape[2] - 1, -1, -1)
            path += [(z, y, x) for x in xs]
            levels[z, y, :] = 1
            if k + 1 < len(rows):          # the step to the next row, at the end this row ran to
                levels[z, y + (1 if z % 4 == 0 else -1), path[-1][2]] = 1
        if z + 2 < shape[0]:
            levels[z + 1, path[-1][1], path[-1][2]] = 1
    return levels


@pytest.mark.parametrize("kind", ("random", "serpentine", "one_level", "checkerboard"))
def test_zones_match_simpleitk(kind):
    rng = np.random.default_rng(3)
    if kind == "random":           # many small, branching zones of three levels, and a hole in the mask
        levels = rng.integers(1, 4, (20, 30, 30))
        levels[5:9, 10:20, :] = 0
    elif kind == "serpentine":
        levels = serpentine()
    elif kind == "one_level":
        levels = np.ones((3, 4, 5), np.int64)
    else:                          # levels 1 and 2 alternating: each level connected only diagonally
        levels = np.indices((5, 6, 7)).sum(0) % 2 + 1
    expected = simpleitk_zones(levels)
    assert engine_zones(levels) == expected
    if kind == "serpentine":
        assert expected[(1, int((levels == 1).sum()))] == 1


def test_zones_in_plane():
    """With a plane dimension, zones are the 8-connected components of each slice."""
    levels = np.random.default_rng(5).integers(1, 3, (4, 12, 13))
    for axis in range(3):
        expected = sum((simpleitk_zones(np.expand_dims(plane, axis))
                        for plane in np.moveaxis(levels, axis, 0)), Counter())
        zone_levels, sizes = engine_glszm.zones(torch.from_numpy(levels), axis)
        assert Counter(zip(zone_levels.tolist(), sizes.tolist())) == expected

