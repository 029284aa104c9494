"""The engine's GLRLM against PyRadiomics' ``RadiomicsGLRLM``, and its run counts against PyRadiomics' C.

Tolerance everywhere: 1e-6 relative, or 1e-9 absolute where PyRadiomics' |value| < 1e-3
(measured over every comparison here: at most 1.1e-15 relative, 9e-19 absolute). The run length matrices equal
those of PyRadiomics' ``calculate_glrlm`` exactly. No GLRLM feature needs a wider tolerance.
"""
from __future__ import annotations

import numpy as np
import pytest
from radiomics import cMatrices, glrlm

from core.radiomics.engine import glrlm as engine_glrlm
from core.radiomics.engine.neighbourhood import region_angles
from tests.radiomics.engine.cases import CASE_NAMES, Case, lattice_case, liver_sized_case, load_case, sheet_case
from tests.radiomics.engine.compare import (DEVICES, SETTINGS, WEIGHTINGS, compare, float_case,
                                            pyradiomics_and_region, pyradiomics_names)


def test_feature_names():
    assert engine_glrlm.FEATURES == tuple(sorted(pyradiomics_names(glrlm.RadiomicsGLRLM)))
    assert len(engine_glrlm.FEATURES) == 16


@pytest.mark.parametrize("case", (*CASE_NAMES, "lattice", "sheet"))
def test_run_counts_equal_pyradiomics_c(case):
    case = {"lattice": lattice_case, "sheet": sheet_case}.get(case, lambda: load_case(case))()
    settings = {"binWidth": 10, "label": 1}
    image, mask, region = pyradiomics_and_region(case, settings)
    reference = glrlm.RadiomicsGLRLM(image, mask, **settings)
    ng = reference.coefficients["Ng"]
    longest = max(reference.imageArray.shape)
    expected, angles = cMatrices.calculate_glrlm(reference.imageArray, reference.maskArray, ng, longest, False, 0)
    expected = expected[0][reference.coefficients["grayLevels"] - 1].transpose(2, 0, 1)   # (A, G, Nr)
    ours = engine_glrlm.run_length_counts(region, region_angles(region.mask.shape, settings))
    np.testing.assert_array_equal(region_angles(region.mask.shape, settings), angles)
    np.testing.assert_array_equal(ours.numpy(), expected)


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_matches_pyradiomics(name, settings):
    compare(glrlm.RadiomicsGLRLM, engine_glrlm, load_case(name), SETTINGS[settings])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ("ct_liver", "ct_tumor"))
def test_float_image_matches_pyradiomics(name, device):
    compare(glrlm.RadiomicsGLRLM, engine_glrlm, float_case(name), SETTINGS["binWidth5"], device)


@pytest.mark.parametrize("norm", WEIGHTINGS)
def test_weighting_matches_pyradiomics(norm):
    compare(glrlm.RadiomicsGLRLM, engine_glrlm, load_case("anisotropic"),
            {"binWidth": 10, "weightingNorm": norm, "label": 1})


@pytest.mark.parametrize("dimension", (0, 1, 2))
def test_force2d_matches_pyradiomics(dimension):
    settings = {"binWidth": 10, "force2D": True, "force2Ddimension": dimension, "label": 1}
    compare(glrlm.RadiomicsGLRLM, engine_glrlm, load_case("ct_liver"), settings)


def angles_with_runs(case: Case) -> int:
    _, _, region = pyradiomics_and_region(case, SETTINGS["paper"])
    counts = engine_glrlm.run_length_counts(region, region_angles(region.mask.shape, {}))
    return int((counts.sum((1, 2)) > 0).sum())


def test_angles_without_two_voxels_on_a_line_are_dropped():
    """The sheet's matrices of 9 angles are zeroed (C's multiElement), so their features do not count."""
    compare(glrlm.RadiomicsGLRLM, engine_glrlm, sheet_case(), SETTINGS["paper"])
    assert angles_with_runs(sheet_case()) == 4


def test_runs_of_length_one_on_shared_lines_count():
    """On the lattice every run has length 1, yet lines hold several voxels: no angle is dropped."""
    reference = compare(glrlm.RadiomicsGLRLM, engine_glrlm, lattice_case(), SETTINGS["paper"])
    assert reference["ShortRunEmphasis"] == 1
    assert angles_with_runs(lattice_case()) == 13


@pytest.mark.slow
def test_liver_sized_region_matches_pyradiomics():
    compare(glrlm.RadiomicsGLRLM, engine_glrlm, liver_sized_case(), SETTINGS["paper"])


def test_selected_names_and_unknown_name():
    _, _, region = pyradiomics_and_region(load_case("ct_tumor"), SETTINGS["paper"])
    assert list(engine_glrlm.features(region, ["RunEntropy", "RunPercentage"])) == ["RunEntropy", "RunPercentage"]
    with pytest.raises(ValueError, match="RunEntropie"):
        engine_glrlm.features(region, ["RunEntropie"])
