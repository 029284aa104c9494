"""Extraction presets: PyRadiomics parameter files kept in ``presets/``, or a user's own file.

``paper`` is the study's extraction (1,874 features per region), ``quick`` its Original-image
part (107 per region) for demos and tests. A preset's *settings hash* is the SHA-256 of the
canonical JSON of everything that changes values: the effective settings (defaults filled
in), the image types with their arguments, every enabled feature by name, the region labels
and the PyRadiomics version. It is stored with every value, so features extracted
differently never mix.

``preCrop`` stays off in the shipped presets. It was measured on a real CT (TotalSegmentator
example, 3 mm): the Square, SquareRoot, Logarithm and Exponential filters rescale by the
maximum of the image they get, so cropping first changes those 372 features wholesale
(a relative difference of 1e12 in ``square_glszm_ZoneVariance`` of a tumour), and LoG
sigma 4-5 mm features differ by up to 5% with the default padDistance. Instead the
extraction filters each image once for both regions (see :mod:`core.radiomics.extract`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import radiomics
import yaml
from radiomics.featureextractor import RadiomicsFeatureExtractor

from core.radiomics.regions import REGION_LABELS

PRESET_DIR = Path(__file__).with_name("presets")

# PyRadiomics logs each step at INFO and prints WARNING and above through its own stderr
# handler. A library stays quiet: records from WARNING up still reach the application's logging.
radiomics.handler.setLevel(logging.CRITICAL + 1)
radiomics.logger.setLevel(logging.WARNING)


def preset_names() -> list[str]:
    """The presets shipped in the repository."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


@dataclass(frozen=True, eq=False)
class Preset:
    """A named PyRadiomics parameter dict (keys ``setting``, ``imageType``, ``featureClass``)."""

    name: str
    params: dict[str, Any]

    @classmethod
    def from_params(cls, name: str, params: dict[str, Any]) -> "Preset":
        """Check ``params`` against PyRadiomics' schema; ValueError naming the preset if invalid."""
        preset = cls(name, params)
        try:
            preset.extractor()
        except Exception as exc:  # pykwalify raises its own SchemaError and friends
            raise ValueError(f"preset {name!r} is not a valid PyRadiomics parameter set: {exc}") from exc
        return preset

    def extractor(self) -> RadiomicsFeatureExtractor:
        """A fresh extractor with these parameters."""
        return RadiomicsFeatureExtractor(self.params)

    @property
    def settings(self) -> dict[str, Any]:
        """PyRadiomics' effective settings (its defaults filled in)."""
        return self.effective["setting"]

    @cached_property
    def effective(self) -> dict[str, Any]:
        """Everything that changes the values, as JSON-ready data (what the hash covers)."""
        extractor = self.extractor()
        classes = radiomics.getFeatureClasses()
        features = {
            name: sorted(enabled or (f for f, deprecated in classes[name].getFeatureNames().items() if not deprecated))
            for name, enabled in extractor.enabledFeatures.items()}
        return json.loads(json.dumps({
            "pyradiomics": radiomics.__version__,
            "setting": {k: v for k, v in extractor.settings.items() if k != "label"},
            "imageType": extractor.enabledImagetypes,
            "featureClass": features,
            "regions": REGION_LABELS,
        }, default=str))

    @cached_property
    def settings_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of :attr:`effective`."""
        canonical = json.dumps(self.effective, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def load_preset(spec: "str | os.PathLike | Preset") -> Preset:
    """A shipped preset by name (``paper``, ``quick``), or a PyRadiomics YAML/JSON parameter file."""
    if isinstance(spec, Preset):
        return spec
    path = PRESET_DIR / f"{spec}.yaml" if str(spec) in preset_names() else Path(spec)
    if not path.is_file():
        raise ValueError(f"unknown preset {str(spec)!r}: use one of {', '.join(preset_names())} "
                         "or the path of a PyRadiomics parameter file (.yaml)")
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not a readable YAML file: {exc}") from exc
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a PyRadiomics parameter mapping (setting, imageType, featureClass)")
    return Preset.from_params(path.stem, params)
