"""The engine's GLCM against PyRadiomics' ``RadiomicsGLCM``; its angles and counts against PyRadiomics' C.

Tolerance everywhere: 1e-6 relative, or 1e-9 absolute where PyRadiomics' |value| < 1e-3
(measured over every comparison here: at most 1.0e-12 relative, Imc2 on the liver-sized
region, where HXY2 - HXY is small; 4e-19 absolute). MCC's eigenvalues come from LAPACK's
geev in both. The co-occurrence counts equal those of PyRadiomics' ``calculate_glcm``
exactly. No GLCM feature needs a wider tolerance.
"""
from __future__ import annotations

import numpy as np
import pytest
from radiomics import cMatrices, glcm

from core.radiomics.engine import glcm as engine_glcm
from core.radiomics.engine.neighbourhood import generate_angles, region_angles
from tests.radiomics.engine.cases import CASE_NAMES, lattice_case, liver_sized_case, load_case, sheet_case
from tests.radiomics.engine.compare import (DEVICES, SETTINGS, WEIGHTINGS, compare, float_case,
                                            pyradiomics_and_region, pyradiomics_names)

SLOW = {("brain1", "binWidth5")}    # 157 levels: MCC's 62 eigenvalue problems take PyRadiomics ~30 s
CASES_AND_SETTINGS = [pytest.param(name, settings, marks=pytest.mark.slow if (name, settings) in SLOW else ())
                      for name in CASE_NAMES for settings in SETTINGS]


def test_feature_names():
    assert engine_glcm.FEATURES == tuple(sorted(pyradiomics_names(glcm.RadiomicsGLCM)))
    assert len(engine_glcm.FEATURES) == 24


@pytest.mark.parametrize("size", [(5, 5, 5), (1, 5, 5), (5, 1, 5), (2, 3, 4), (1, 1, 6), (3, 2, 1), (40, 3, 40)])
def test_angles_equal_pyradiomics_c(size):
    """generate_angles against ``cMatrices.generate_angles``, where it raises included."""
    for distances in ([1], [2], [1, 2], [3], [2, 4]):
        for force2d, dimension in ((False, 0), (True, 0), (True, 1), (True, 2)):
            for bidirectional in (False, True):
                arguments = (np.array(size), np.array(distances), bidirectional, force2d, dimension)
                ours = (size, distances, dimension if force2d else None, bidirectional)
                try:
                    expected = cMatrices.generate_angles(*arguments)
                except RuntimeError:
                    with pytest.raises(ValueError, match="no angle"):
                        generate_angles(*ours)
                    continue
                np.testing.assert_array_equal(generate_angles(*ours), expected, err_msg=str(arguments))


@pytest.mark.parametrize("case", ("ct_liver", "one_slice", "border", "anisotropic", "brain1", "lattice", "sheet"))
def test_counts_equal_pyradiomics_c(case):
    case = {"lattice": lattice_case, "sheet": sheet_case}.get(case, lambda: load_case(case))()
    settings = {"binWidth": 10, "distances": [1, 2], "label": 1}
    image, mask, region = pyradiomics_and_region(case, settings)
    reference = glcm.RadiomicsGLCM(image, mask, **settings)
    expected, angles = cMatrices.calculate_glcm(reference.imageArray, reference.maskArray, np.array([1, 2]),
                                                reference.coefficients["Ng"], False, 0)
    present = reference.coefficients["grayLevels"] - 1
    expected = expected[0][np.ix_(present, present)].transpose(2, 0, 1)   # (A, G, G)
    ours = engine_glcm.cooccurrence_counts(region, region_angles(region.mask.shape, settings, [1, 2]))
    np.testing.assert_array_equal(region_angles(region.mask.shape, settings, [1, 2]), angles)
    np.testing.assert_array_equal(ours.numpy(), expected)


@pytest.mark.parametrize("name, settings", CASES_AND_SETTINGS)
def test_matches_pyradiomics(name, settings):
    compare(glcm.RadiomicsGLCM, engine_glcm, load_case(name), SETTINGS[settings])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ("ct_liver", "ct_tumor"))
def test_float_image_matches_pyradiomics(name, device):
    compare(glcm.RadiomicsGLCM, engine_glcm, float_case(name), SETTINGS["binWidth5"], device)


@pytest.mark.parametrize("norm", WEIGHTINGS)
def test_weighting_matches_pyradiomics(norm):
    compare(glcm.RadiomicsGLCM, engine_glcm, load_case("anisotropic"),
            {"binWidth": 10, "distances": [1, 2], "weightingNorm": norm, "label": 1})


def test_asymmetric_matches_pyradiomics():
    compare(glcm.RadiomicsGLCM, engine_glcm, load_case("ct_liver"),
            {"binWidth": 10, "distances": [1, 2], "symmetricalGLCM": False, "label": 1})


@pytest.mark.parametrize("dimension", (0, 1, 2))
def test_force2d_matches_pyradiomics(dimension):
    settings = {"binWidth": 10, "distances": [1, 3], "force2D": True, "force2Ddimension": dimension, "label": 1}
    compare(glcm.RadiomicsGLCM, engine_glcm, load_case("ct_liver"), settings)


def test_flat_region_special_values():
    """One level: Correlation and MCC 1, IMC1 and IMC2 0, as PyRadiomics sets them."""
    reference = compare(glcm.RadiomicsGLCM, engine_glcm, load_case("constant"), SETTINGS["paper"])
    assert [reference[name] for name in ("Correlation", "MCC", "Imc1", "Imc2")] == [1, 1, 0, 0]


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value encountered")   # PyRadiomics'
@pytest.mark.parametrize("norm", (None, "euclidean"))
def test_region_without_pairs_is_nan(norm):
    """No two lattice voxels are neighbours at distance 1: every angle is empty (or, weighted,
    the one summed matrix is) and PyRadiomics gives NaN for every feature; at distance 2 none is."""
    settings = {"binWidth": 10, "weightingNorm": norm, "label": 1}
    reference = compare(glcm.RadiomicsGLCM, engine_glcm, lattice_case(), settings)
    assert all(np.isnan(value) for value in reference.values())
    reference = compare(glcm.RadiomicsGLCM, engine_glcm, lattice_case(), {**settings, "distances": [2]})
    assert not any(np.isnan(value) for value in reference.values())


@pytest.mark.slow
def test_liver_sized_region_matches_pyradiomics():
    compare(glcm.RadiomicsGLCM, engine_glcm, liver_sized_case(), SETTINGS["paper"])


def test_selected_names_and_unknown_name():
    _, _, region = pyradiomics_and_region(load_case("ct_tumor"), SETTINGS["paper"])
    assert list(engine_glcm.features(region, ["MCC", "Imc2"])) == ["MCC", "Imc2"]
    with pytest.raises(ValueError, match="Homogeneity1"):
        engine_glcm.features(region, ["Homogeneity1"])
