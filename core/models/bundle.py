"""Portable model bundles: one JSON file holding everything needed to score a new patient.

A bundle carries the three fitted models (coefficients, z-score means and SDs, the selected
features with their regions, the Radscore formula, the training cut-offs, the nomogram
scales), the extraction settings with their hash, the clinical predictors with units and
the ranges seen in training, training metrics and a cohort summary (counts and quantiles,
never a patient's row). A SHA-256 over the canonical JSON of the content is checked on load,
so an edited bundle is refused.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.cohort.catalogue import BY_NAME
from core.models.three import MODEL_NAMES, ThreeModels
from core.stats._json import jsonable
from core.versions import package_versions

SCHEMA = "ptlf-model-bundle/1"
KIND = "bundle"  # model kind under which an imported bundle is registered in a study


class BundleError(ValueError):
    """A bundle that cannot be used: tampered, of another schema, or not matching the data."""


def canonical(content: dict[str, Any]) -> bytes:
    """The bytes the checksum covers: sorted keys, no whitespace, NaN as null."""
    return json.dumps(jsonable(content), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True)
class Bundle:
    """A loaded, verified bundle; ``content`` is the JSON without its checksum."""

    content: dict[str, Any]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(canonical(self.content)).hexdigest()

    @property
    def bundle_id(self) -> str:
        return f"bundle-{self.sha256[:12]}"

    @cached_property
    def models(self) -> ThreeModels:
        return ThreeModels.from_dict(self.content["models"])

    @property
    def predictors(self) -> list[dict[str, Any]]:
        """Clinical predictors: name, label, unit, kind, training range or levels, plausible range."""
        return self.content["clinical_predictors"]

    @property
    def settings_hash(self) -> str:
        return self.content["extraction"]["settings_hash"]

    def preset(self):
        """The extraction preset rebuilt from the bundle's settings (same settings hash)."""
        from core.radiomics.presets import Preset

        effective = self.content["extraction"]["settings"]
        if not all(k in effective for k in ("setting", "imageType", "featureClass")):
            raise BundleError("the bundle holds no PyRadiomics settings (its features were imported, not extracted "
                              "here): features cannot be extracted for a new patient")
        preset = Preset.from_params(self.content["extraction"]["preset"], {
            k: effective[k] for k in ("setting", "imageType", "featureClass")})
        if preset.settings_hash != self.settings_hash:
            raise BundleError(f"the bundle's extraction settings rebuild to hash {preset.settings_hash[:12]}, "
                              f"not {self.settings_hash[:12]} (another PyRadiomics version?)")
        return preset

    def to_json(self) -> str:
        return json.dumps({**jsonable(self.content), "sha256": self.sha256}, indent=1, sort_keys=True)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path

    @classmethod
    def from_json(cls, text: str, source: str = "bundle") -> "Bundle":
        """Parse and verify; BundleError when the schema or the checksum does not match."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BundleError(f"{source}: not a JSON file ({exc})") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise BundleError(f"{source}: not a model bundle of schema {SCHEMA} "
                              f"(found {data.get('schema') if isinstance(data, dict) else type(data).__name__})")
        claimed = data.pop("sha256", None)
        bundle = cls(data)
        if claimed != bundle.sha256:
            raise BundleError(f"{source}: checksum mismatch (stored {str(claimed)[:12]}, content "
                              f"{bundle.sha256[:12]}): the bundle was changed after export; refused")
        return bundle

    @classmethod
    def load(cls, path: str | Path) -> "Bundle":
        path = Path(path)
        if not path.is_file():
            raise BundleError(f"{path}: no such bundle file")
        return cls.from_json(path.read_text(), path.name)


def build_bundle(study, analysis_id: str | None = None) -> Bundle:
    """A bundle of a stored analysis (the newest when ``analysis_id`` is None)."""
    if analysis_id is None:
        analyses = study.analyses()
        if analyses.empty:
            raise BundleError(f"{study.path.name} has no analysis to export: run `python -m core analyze` first")
        analysis_id = analyses["analysis_id"].iloc[0]
    result = study.analysis(analysis_id)
    data, train = result["data"], result["training"]["name"]
    fitted = _strip_patients(result["fitted"])
    risks = study.predictions(analysis_id)
    train_risk = risks[(risks["center"] == train) & (risks["model"] == "combined")].set_index("patient_id")["risk"]
    train_risk = train_risk.dropna()
    clinical = study.clinical(train).reindex(train_risk.index)  # the patients the combined model was fitted on
    levels = fitted["models"]["combined"]["design"].get("levels", {})
    sets = study.feature_sets(train)
    presets = sets.loc[sets["settings_hash"] == data["settings_hash"], "preset"].dropna()
    preset_name = presets.iloc[0] if len(presets) else None
    content = {
        "schema": SCHEMA,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "analysis_id": analysis_id,
        "software": package_versions(),
        "models": fitted,
        "radscore_formula": result["radiomics"]["radscore_formula"],
        "radiomics_features": fitted["selector"]["selected"],
        "clinical_predictors": [_predictor(name, clinical[name], levels.get(name)) for name in fitted["predictors"]],
        "extraction": {"preset": preset_name or "custom", "settings_hash": data["settings_hash"],
                       "settings": data.get("extraction", {}), "mask_source": data["mask_source"],
                       "segmentation_model": None if data["mask_source"] in ("manual", "imported")
                       else data["mask_source"]},
        "cutoffs": fitted["cutoffs"],
        "training": {
            "centre": train, "n": int(result["training"].get("n_with_outcome", len(clinical))),
            "events": int(result["training"]["n_events"]),
            "metrics": {m: result["models"][m]["metrics"].get(train, {}) for m in MODEL_NAMES},
            "optimism": {m: result["models"][m].get("optimism", {}) for m in MODEL_NAMES},
            "combined_risk_quantiles": {f"{q:.2f}": float(train_risk.quantile(q)) for q in np.linspace(0, 1, 21)}
            if len(train_risk) else {},
        },
        "nomogram": fitted["nomogram"],
    }
    return Bundle(jsonable(content))


def export_bundle(study, out: str | Path, analysis_id: str | None = None) -> Path:
    """Write the bundle of an analysis to ``out`` and note it in the audit log."""
    bundle = build_bundle(study, analysis_id)
    path = bundle.save(out)
    study.audit("export bundle", {"analysis_id": bundle.content["analysis_id"], "sha256": bundle.sha256,
                                  "path": path.name})
    return path


def import_bundle(study, path: str | Path) -> Bundle:
    """Verify a bundle file and register it in ``study`` (kind 'bundle', id from its checksum)."""
    bundle = Bundle.load(path)
    study.register_model(bundle.bundle_id, KIND, {**bundle.content, "sha256": bundle.sha256})
    return bundle


def stored_bundle(study, bundle_id: str) -> Bundle:
    """A bundle registered in ``study``, verified again."""
    return Bundle.from_json(json.dumps(study.model(bundle_id)), bundle_id)


def _predictor(name: str, values: pd.Series, levels: list[str] | None) -> dict[str, Any]:
    """What the bundle tells about a predictor: label, unit, training range, or the fitted levels."""
    var = BY_NAME.get(name)
    info: dict[str, Any] = {"name": name, "label": var.label if var else name, "unit": var.unit if var else ""}
    numeric = pd.to_numeric(values, errors="coerce")
    if levels is None and numeric.notna().sum() and numeric.notna().sum() == values.notna().sum():
        info.update(kind="numeric", train_min=float(numeric.min()), train_max=float(numeric.max()),
                    train_median=float(numeric.median()))
        if var is not None and not var.categorical:
            info.update(plausible_low=var.low, plausible_high=var.high)
    else:
        info.update(kind="categorical", levels=[str(v) for v in (levels or sorted(values.dropna().astype(str).unique()))])
    return info


def _strip_patients(fitted: dict) -> dict:
    """The fitted models without any patient identifier (lists of excluded patients become counts)."""
    def walk(obj):
        if isinstance(obj, dict):
            out = {k: walk(v) for k, v in obj.items()}
            if isinstance(obj.get("excluded"), list):
                out["excluded"], out["n_excluded"] = [], len(obj["excluded"])
            return out
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj
    return walk(fitted)
