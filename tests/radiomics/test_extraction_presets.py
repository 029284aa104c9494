"""Presets: shipped by name or read from a user's PyRadiomics file; the settings hash covers
what changes values and nothing else."""
from __future__ import annotations

import pickle

import pytest
import radiomics
import yaml

from core.radiomics import Preset, load_preset, preset_names
from core.radiomics.presets import PRESET_DIR


def test_shipped_presets_by_name():
    assert {"paper", "quick"} <= set(preset_names())
    paper = load_preset("paper")
    assert paper.name == "paper" and paper.settings["binWidth"] == 25 and not paper.settings["additionalInfo"]
    assert len(paper.effective["imageType"]) == 9 and paper.effective["imageType"]["LoG"]["sigma"] == [1, 2, 3, 4, 5]
    assert sorted(paper.effective["featureClass"]) == sorted(
        ["shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"])
    assert len(paper.effective["featureClass"]["glcm"]) == 24
    assert paper.effective["pyradiomics"] == radiomics.__version__
    assert load_preset(paper) is paper


def test_settings_hash_is_stable_and_follows_values_not_names(tmp_path):
    quick = load_preset("quick")
    assert len(quick.settings_hash) == 64 and quick.settings_hash == load_preset("quick").settings_hash
    assert quick.settings_hash != load_preset("paper").settings_hash

    params = yaml.safe_load((PRESET_DIR / "quick.yaml").read_text())
    same = tmp_path / "my_settings.yaml"
    same.write_text(yaml.safe_dump(params))
    assert load_preset(same).name == "my_settings" and load_preset(same).settings_hash == quick.settings_hash

    params["setting"]["label"] = 7                       # set per region by the extraction: no effect
    assert Preset.from_params("x", params).settings_hash == quick.settings_hash
    params["setting"]["binWidth"] = 10
    assert Preset.from_params("x", params).settings_hash != quick.settings_hash
    del params["setting"]["binWidth"]                   # PyRadiomics' default is 25, as in quick
    params["setting"]["label"] = 1
    assert Preset.from_params("x", params).settings_hash != quick.settings_hash, "written-out defaults count"


def test_preset_travels_to_workers():
    paper = load_preset("paper")
    copy = pickle.loads(pickle.dumps(paper))
    assert copy.settings_hash == paper.settings_hash and copy.params == paper.params


@pytest.mark.parametrize("content, message", [
    (None, "unknown preset"),
    ("setting: [1, 2", "not a readable YAML file"),
    ("- a list", "expected a PyRadiomics parameter mapping"),
    ("setting:\n  binWidht: 25\n", "not a valid PyRadiomics parameter set"),
])
def test_bad_presets_are_refused_with_a_reason(tmp_path, content, message):
    path = tmp_path / "custom.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_preset(path)
