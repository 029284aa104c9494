"""Every feature of whole cases, as the extraction computes them: the torch engine against
PyRadiomics for the ``paper`` (1,874 per region) and ``quick`` presets, on the real CT crop with
a liver and a tumour, the IBSI phantom, brain1 and the adversarial cases (a region of one
slice, one touching the image border, a constant one, whose Square, SquareRoot, Logarithm and
Exponential images hold a single grey level too, negative HU only, 0.7 x 0.7 x 5 mm spacing).

Tolerance: :mod:`tests.radiomics.engine.tolerance` for every feature; names and their order
must be PyRadiomics'. On the CPU here; on CUDA wherever one is visible. Without PyRadiomics (the GPU machine), the
values come from the file named by ``$ENGINE_REFERENCE`` (``reference.py write``).
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import pytest
import torch

from tests.radiomics.engine import reference
from tests.radiomics.engine.reference import CASES, PRESETS

# (case, preset, feature) -> why it may differ beyond the tolerance. None at present: every feature
# of every case is within it. A new entry needs its reason here, and nothing is skipped silently.
EXCEPTIONS: dict[tuple[str, str, str], str] = {}
DEVICES = ("cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                  reason="no CUDA device")))


@lru_cache(maxsize=None)
def _stored() -> tuple[dict, dict] | None:
    path = os.environ.get("ENGINE_REFERENCE")
    return reference.read(Path(path)) if path else None


@lru_cache(maxsize=None)
def _case(name: str):
    stored = _stored()
    return stored[1][name] if stored else reference.build(name)


@lru_cache(maxsize=None)
def _expected(name: str, preset: str):
    stored = _stored()
    if stored:
        return stored[0]["cases"][name]["values"][preset]
    return reference.pyradiomics_values(*_case(name), preset)


def _params(preset: str) -> dict:
    stored = _stored()
    if stored:
        return stored[0]["params"][preset]
    from core.radiomics.presets import load_preset

    return load_preset(preset).effective


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("name", CASES)
def test_every_feature_equals_pyradiomics(name, preset, device):
    expected = _expected(name, preset)
    regions = CASES[name][1]
    # every case is computed by PyRadiomics, so every feature is compared (none refused, none skipped)
    assert not isinstance(expected, str), expected
    assert {region: len(values) for region, values in expected.items()} == {
        region: 1874 if preset == "paper" else 107 for region in regions}
    ours = reference.engine_values(*_case(name), _params(preset), device)
    excused = tuple(f"{region}:{feature}:" for (case, listed, feature) in EXCEPTIONS if (case, listed) == (name, preset)
                    for region in regions)
    lines = [line for line in reference.differences(ours, expected) if not line.startswith(excused or ("\0",))]
    assert not lines, "\n".join(lines[:20])
