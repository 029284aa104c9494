"""Portable model bundles: one JSON file holding everything needed to score a new patient.

A bundle carries the three fitted models (coefficients, z-score means and SDs, the selected
features with their regions, the Radscore formula, the training cut-offs, the nomogram
scales), the extraction settings with their hash, the clinical predictors with units and
the ranges seen in training, training metrics and a cohort summary (counts and quantiles,
never a patient's row). A SHA-256 over the canonical JSON of the content is checked on load,
so an edited bundle is refused; so is one that lacks a key it needs (each one named). Package
versions that differ between the bundle's maker and this installation are named as a warning.

Anyone can recompute a SHA-256, so a bundle is also signed (``core.models.signing``): every
bundle file this installation writes carries an Ed25519 signature by its key over the
canonical content and the signer's label. Where a bundle comes in (``open_bundle``,
``import_bundle``) an unsigned one, one whose signature does not verify and one signed by a key
outside the trusted keys are refused, naming the problem and the key's fingerprint, unless the
user accepts it explicitly; the acceptance is written to the study's audit log. Bundles
registered in a study before signing existed still load, flagged as unsigned.
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
from core.models import signing
from core.models.signing import Provenance
from core.models.three import MODEL_NAMES, ThreeModels
from core.stats._json import jsonable
from core.versions import package_versions

SCHEMA = "ptlf-model-bundle/1"
KIND = "bundle"  # model kind under which an imported bundle is registered in a study
RESERVED = frozenset({"sha256", "signature"})  # keys of a bundle file beside its content


class BundleError(ValueError):
    """A bundle that cannot be used: tampered, of another schema, or not matching the data."""


class UntrustedBundleError(BundleError):
    """A bundle refused for its signature (unsigned, invalid, or by an untrusted key); ``provenance`` says which."""

    def __init__(self, message: str, provenance: Provenance):
        super().__init__(message)
        self.provenance = provenance


def canonical(content: dict[str, Any]) -> bytes:
    """The bytes the checksum covers: sorted keys, no whitespace, NaN as null."""
    return json.dumps(jsonable(content), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True)
class Bundle:
    """A loaded, checksum-verified bundle; ``content`` is the JSON without its checksum and
    signature; ``signature``: the signature block (None: unsigned), see ``provenance``.

    Content given with ``sha256`` or ``signature`` keys (a bundle file's JSON, edited) loses them:
    they belonged to other content, and the bundle is unsigned until ``signed``."""

    content: dict[str, Any]
    signature: dict[str, Any] | None = None

    def __post_init__(self):
        if not RESERVED.isdisjoint(self.content):
            object.__setattr__(self, "content", {k: v for k, v in self.content.items() if k not in RESERVED})

    @property
    def sha256(self) -> str:
        return hashlib.sha256(canonical(self.content)).hexdigest()

    @property
    def bundle_id(self) -> str:
        return f"bundle-{self.sha256[:12]}"

    @cached_property
    def models(self) -> ThreeModels:
        try:
            return ThreeModels.from_dict(self.content["models"])
        except KeyError as exc:
            raise BundleError(f"{self.bundle_id}: the bundle's fitted models lack key {exc}; export it again with "
                              "`python -m core bundle export`") from None

    @property
    def warnings(self) -> list[str]:
        """Warnings of the training fit stored in the bundle (separation, Firth, collinearity, ...)."""
        return [str(w) for w in self.content["models"].get("warnings") or []]

    def version_differences(self) -> list[str]:
        """Packages whose version differs between the bundle's maker and this installation."""
        here = package_versions()
        return [f"{package} {made} in the bundle, {here.get(package, 'not installed')} here"
                for package, made in sorted((self.content.get("software") or {}).items()) if here.get(package) != made]

    def version_warning(self) -> str | None:
        """A warning naming the package versions that differ, or None when they all agree."""
        if not self.content.get("software"):
            return "the bundle records no package versions: results here may differ from the training centre's"
        differences = self.version_differences()
        if not differences:
            return None
        return ("the bundle was made with other package versions than this installation ("
                + "; ".join(differences) + "): features and risks may differ slightly from the training centre's")

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

    def signed_message(self, block: dict[str, Any]) -> bytes:
        """The bytes a signature covers: the schema, the canonical content and the signature block
        without its value (the signer's key and label)."""
        return canonical({"schema": SCHEMA, "content": self.content, "signature": block})

    def provenance(self) -> Provenance:
        """Who signed the bundle and whether this installation trusts the key (read now, not cached:
        the trusted keys can change)."""
        return signing.verify(self.signature, self.signed_message)

    def signed(self) -> "Bundle":
        """This bundle signed by this installation's key (itself when already signed)."""
        if self.signature is not None:
            return self
        return Bundle(self.content, signing.signature_block(self.signed_message))

    def to_json(self) -> str:
        """The bundle file's text; an unsigned bundle is signed by this installation first, so no
        bundle file leaves it unsigned."""
        signature = self.signed().signature
        return json.dumps({**jsonable(self.content), "sha256": self.sha256, "signature": signature},
                          indent=1, sort_keys=True)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path

    @classmethod
    def from_json(cls, text: str, source: str = "bundle") -> "Bundle":
        """Parse and verify the schema, checksum and required keys (BundleError naming the problem); the
        signature is parsed, not judged: see ``check_signature``."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BundleError(f"{source}: not a JSON file ({exc})") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise BundleError(f"{source}: not a model bundle of schema {SCHEMA} "
                              f"(found {data.get('schema') if isinstance(data, dict) else type(data).__name__})")
        claimed, signature = data.pop("sha256", None), data.pop("signature", None)
        bundle = cls(data, signature)
        if claimed != bundle.sha256:
            raise BundleError(f"{source}: checksum mismatch (stored {str(claimed)[:12]}, content "
                              f"{bundle.sha256[:12]}): the bundle was changed after export; refused")
        missing = missing_keys(data)
        if missing:
            raise BundleError(f"{source}: the bundle lacks " + ", ".join(missing)
                              + "; it is incomplete: export it again with `python -m core bundle export`")
        return bundle

    @classmethod
    def load(cls, path: str | Path) -> "Bundle":
        path = Path(path)
        if not path.is_file():
            raise BundleError(f"{path}: no such bundle file")
        return cls.from_json(path.read_text(), path.name)


# What a bundle must hold: dotted key -> what it is (named when it is missing).
REQUIRED = {
    "analysis_id": "the analysis it was exported from",
    "models": "the fitted models", "models.models": "the fitted models' coefficients",
    "radscore_formula": "the Radscore formula", "radiomics_features": "the Radscore's features",
    "clinical_predictors": "the clinical predictors",
    "extraction": "the extraction settings", "extraction.preset": "the extraction preset's name",
    "extraction.settings_hash": "the extraction settings' hash", "extraction.settings": "the extraction settings",
    "extraction.mask_source": "the mask source of the training features",
    "cutoffs": "the training cut-offs", "nomogram": "the nomogram scales",
    "training": "the training cohort's summary", "training.centre": "the training centre's name",
    "training.n": "the number of training patients", "training.events": "the number of training events",
}
PREDICTOR_KEYS = {"name": "its name", "label": "its label", "unit": "its unit", "kind": "numeric or categorical"}
PREDICTOR_KIND_KEYS = {"numeric": ("train_min", "train_max"), "categorical": ("levels",)}


def missing_keys(content: dict[str, Any]) -> list[str]:
    """Each key a bundle needs and ``content`` lacks, as ``key (what it is)``."""
    absent = object()

    def get(path: str, default: Any = None):
        node: Any = content
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    missing = [f"key '{key}' ({what})" for key, what in REQUIRED.items() if get(key, absent) is absent
               and ("." not in key or isinstance(get(key.rsplit(".", 1)[0]), dict))]
    for name in get("models.models") or {}:
        if isinstance(get("cutoffs"), dict) and name not in content["cutoffs"]:
            missing.append(f"key 'cutoffs.{name}' (the {name} model's training cut-off)")
    for i, p in enumerate(get("clinical_predictors") or []):
        p = p if isinstance(p, dict) else {}
        missing += [f"key 'clinical_predictors[{i}].{k}' ({what})"
                    for k, what in PREDICTOR_KEYS.items() if k not in p]
        missing += [f"key 'clinical_predictors[{i}].{k}' (for {p.get('name', '?')})"
                    for k in PREDICTOR_KIND_KEYS.get(p.get("kind"), ()) if k not in p]
    missing += [f"key 'radiomics_features[{i}].feature' (the feature's name)"
                for i, f in enumerate(get("radiomics_features") or []) if not isinstance(f, dict) or "feature" not in f]
    return missing


def build_bundle(study, analysis_id: str | None = None) -> Bundle:
    """A bundle of a stored analysis (the newest when ``analysis_id`` is None)."""
    if analysis_id is None:
        analyses = study.analyses()
        if analyses.empty:
            raise BundleError(f"{study.path.name} has no analysis to export: run `python -m core analyze` first")
        analysis_id = analyses["analysis_id"].iloc[0]
    result = study.analysis(analysis_id)
    skipped = result.get("skipped_models") or {}
    if skipped:
        raise BundleError(f"analysis {analysis_id} cannot be shared as a bundle: a bundle carries all three models "
                          "(the combined one draws the nomogram and gives the patient risk), and here "
                          + "; ".join(f"the {name} model was not fitted ({why})" for name, why in skipped.items()))
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
    """Write the bundle of an analysis to ``out``, signed by this installation, and note it in the audit log."""
    bundle = build_bundle(study, analysis_id).signed()
    path = bundle.save(out)
    study.audit("export bundle", {"analysis_id": bundle.content["analysis_id"], "sha256": bundle.sha256,
                                  "path": path.name, "fingerprint": bundle.signature["fingerprint"]})
    return path


def open_bundle(path: str | Path, accept_untrusted: bool = False,
                how_to_accept: str = "--accept-untrusted") -> Bundle:
    """Load a bundle file and check its signature: UntrustedBundleError (naming the problem and the
    key's fingerprint) unless it is signed by a trusted key or ``accept_untrusted``."""
    bundle = Bundle.load(path)
    check_signature(bundle, Path(path).name, accept_untrusted, how_to_accept)
    return bundle


def check_signature(bundle: Bundle, source: str, accept_untrusted: bool = False,
                    how_to_accept: str = "--accept-untrusted") -> Provenance:
    """The bundle's provenance; UntrustedBundleError when it is not trusted and not accepted.

    how_to_accept: what the user does to accept it (an option, a checkbox), named in the message."""
    provenance = bundle.provenance()
    problem = provenance.problem()
    if problem is None or accept_untrusted:
        return provenance
    advice = {
        "unsigned": "ask its centre for a signed export (`python -m core bundle export` signs it)",
        "invalid": "obtain the bundle again from its centre",
        "untrusted": f"compare fingerprint {provenance.fingerprint} with the one its centre's "
                     "`python -m core keys show` prints, then trust the key (`python -m core keys trust --bundle "
                     "FILE`, or Trusted keys on the External validation page)",
    }[provenance.status]
    raise UntrustedBundleError(f"{source}: {problem}; refused. To use it, {advice}, or accept it knowingly "
                               f"({how_to_accept}; the acceptance is recorded in the study's audit log)", provenance)


def import_bundle(study, path: str | Path, accept_untrusted: bool = False,
                  how_to_accept: str = "--accept-untrusted") -> Bundle:
    """Verify a bundle file (checksum, keys, signature: see ``open_bundle``) and register it in ``study``."""
    bundle = open_bundle(path, accept_untrusted, how_to_accept)
    register_bundle(study, bundle, Path(path).name)
    return bundle


def register_bundle(study, bundle: Bundle, source: str = "") -> Provenance:
    """Register a checked bundle in ``study`` (kind 'bundle', id from its checksum) with its signature,
    and audit who signed it; a bundle without a trusted signature is audited as an explicit acceptance."""
    provenance = bundle.provenance()
    study.register_model(bundle.bundle_id, KIND, {**bundle.content, "sha256": bundle.sha256,
                                                  "signature": bundle.signature})
    study.audit("accept untrusted bundle" if not provenance.ok else "register bundle", {
        "bundle": bundle.bundle_id, "sha256": bundle.sha256, "source": source, "signature": provenance.status,
        "fingerprint": provenance.fingerprint, "signer": provenance.name, "signer_centre": provenance.centre,
        **({"problem": provenance.problem()} if not provenance.ok else {})})
    return provenance


def stored_bundle(study, bundle_id: str) -> Bundle:
    """A bundle registered in ``study``, its checksum verified again (its signature is not enforced:
    it was checked, or explicitly accepted, when it was registered; ``provenance()`` tells)."""
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
