"""Random-effects pooling against metafor::rma (values in tests/stats/r/metafor_rma.json, made by
metafor_rma.R beside it)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.stats.meta import random_effects

REFERENCE = json.loads((Path(__file__).parent / "r" / "metafor_rma.json").read_text())


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_pooling_equals_metafor(name):
    ref = REFERENCE[name]
    got = random_effects(ref["yi"], ref["vi"], method=ref["method"]).to_dict()
    for key in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q", "q_p", "pi_low", "pi_high"):
        # REML's tau^2 is iterated to metafor's own convergence threshold (1e-5 on tau^2)
        assert got[key] == pytest.approx(ref[key], rel=1e-6, abs=1e-6 if ref["method"] == "REML" else 1e-10), key


def test_refuses_what_cannot_be_pooled():
    with pytest.raises(ValueError, match="two or more"):
        random_effects([0.1], [0.01])
    with pytest.raises(ValueError, match="positive"):
        random_effects([0.1, 0.2], [0.01, 0.0])
    with pytest.raises(ValueError, match="method"):
        random_effects([0.1, 0.2], [0.01, 0.02], method="PM")
