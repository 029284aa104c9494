"""Feature robustness: perturbed masks in the study, and the ICC of every feature across mask sources.

A feature is reproducible when it changes little against the differences between patients
once the region is drawn again: by a second reader (mask source ``reader2``, ingested from
``masks_reader2/``), by a segmentation model (its model id), or by perturbing the masks that
exist (:func:`perturb_center`, sources ``perturbed-erode``, ``perturbed-dilate`` and
``perturbed-shift``). Each source is extracted as any other (``python -m core extract
--mask-source SOURCE``) with the same settings as the base source.

With several alternative sources, :func:`feature_icc` computes one ICC per feature over the
n patients x k measurements table (k = 1 + number of alternatives), as Zwanenburg et al.
(2019) compute one ICC over all perturbed versions of each image, not the worst of the
pairwise ICCs: it weighs every version alike and its confidence interval uses all of them.
They use the one-way ICC(1,1) because their perturbations are random draws; here each source
is a fixed, named way of drawing the regions (erosion, dilation, shift; a reader; a model),
the two-way design of ICC(2,1) (absolute agreement) and ICC(3,1) (consistency).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import SimpleITK as sitk

from core.radiomics.perturb import KINDS, PerturbationError, perturb
from core.stats.icc import icc
from core.store import Study, sha256_file

PERTURBED = "perturbed"          # --against perturbed: every perturbed source of the base
ICC_KINDS = ("ICC(2,1)", "ICC(3,1)")   # absolute agreement (two-way random), consistency (two-way mixed)
ICC_COLUMNS = ["region", "image_type", "feature_class", "icc", "ci_low", "ci_high", "n", "k", "kind"]
_EXACT = 1e-12                   # residual (relative to the largest value) under which the additive fit is exact


@dataclass(frozen=True)
class PerturbResult:
    """What :func:`perturb_center` did, per mask source: masks stored (new or changed), unchanged,
    and the patients it could not perturb (patient -> message)."""

    base: str
    stored: dict[str, int]
    unchanged: dict[str, int]
    failures: dict[str, dict[str, str]]


def perturbed_sources(base: str = "manual") -> dict[str, str]:
    """Perturbation kind -> the mask source its masks are stored as, for masks derived from ``base``:
    ``perturbed-erode`` etc. from ``manual``, ``perturbed-erode-from-<base>`` from any other source."""
    suffix = "" if base == "manual" else f"-from-{base}"
    return {kind: f"{PERTURBED}-{kind}{suffix}" for kind in KINDS}


def perturb_center(study: Study, center: str, base: str = "manual", seed: int = 0) -> PerturbResult:
    """Store the eroded, dilated and shifted masks (:mod:`core.radiomics.perturb`) of every patient
    of ``center`` with a mask from ``base``, as the sources :func:`perturbed_sources` names.

    Masks go through the study's normal mask path (content-addressed): running it again with the
    same seed stores nothing new. A patient whose region would vanish is listed in ``failures``;
    the other patients are stored.
    """
    study.role(center)  # StudyError naming the known centres
    masks = study.masks(center, base)
    if masks.empty:
        sources = ", ".join(study.mask_sources(center)) or "none"
        raise ValueError(f"centre {center!r} has no masks from source {base!r} (sources: {sources})")
    targets = perturbed_sources(base)
    held = {source: _mask_shas(study, center, source) for source in targets.values()}
    written: dict[str, dict[str, Path]] = {source: {} for source in targets.values()}
    failures: dict[str, dict[str, str]] = {source: {} for source in targets.values()}
    with tempfile.TemporaryDirectory(prefix="perturb-") as work:
        for pid, sha in zip(masks["patient_id"], masks["sha256"]):
            what = f"mask of patient {pid} (centre {center}, mask source {base})"
            mask = sitk.ReadImage(str(study.files.verified(sha, what)))
            for kind, source in targets.items():
                try:
                    out = perturb(mask, kind, seed, pid)
                except PerturbationError as exc:
                    failures[source][pid] = str(exc)
                    continue
                path = Path(work) / f"{kind}_{pid}.nii.gz"
                sitk.WriteImage(out, str(path), useCompression=True)
                if held[source].get(pid) != sha256_file(path):
                    written[source][pid] = path
        for source, files in written.items():
            study.add_masks(center, source, files)
    stored = {source: len(files) for source, files in written.items()}
    unchanged = {source: len(masks) - stored[source] - len(failures[source]) for source in targets.values()}
    study.audit("perturb masks", {"center": center, "base": base, "seed": seed, "stored": stored,
                                  "failed": {s: sorted(f) for s, f in failures.items() if f}})
    return PerturbResult(base, stored, unchanged, failures)


def _mask_shas(study: Study, center: str, source: str) -> dict[str, str]:
    """patient_id -> SHA-256 of the stored masks of one source."""
    masks = study.masks(center, source)
    return dict(zip(masks["patient_id"], masks["sha256"]))


def alternative_sources(study: Study, center: str, base: str, against: str) -> list[str]:
    """The mask sources to compare ``base`` with: ``perturbed`` stands for every perturbed source of
    ``base`` that the centre holds; any other name is one source (``reader2``, a model id)."""
    study.role(center)
    held = study.mask_sources(center)
    wanted = list(perturbed_sources(base).values()) if against == PERTURBED else [against]
    found = [s for s in wanted if s in held]
    if not found:
        hint = (f"run `python -m core robustness perturb --center {center} --from {base}` first"
                if against == PERTURBED else f"mask sources of the centre: {', '.join(held) or 'none'}")
        raise ValueError(f"centre {center!r} has no masks from {', '.join(wanted)}; {hint}")
    if base in found:
        raise ValueError(f"the base mask source {base!r} is also an alternative; choose another")
    return found


def feature_icc(study: Study, center: str, base: str, others: Sequence[str], settings_hash: str,
                kind: str = "ICC(2,1)", level: float = 0.95) -> pd.DataFrame:
    """ICC of every feature of ``center`` between mask source ``base`` and the sources ``others``,
    all extracted with the settings ``settings_hash``: see :func:`icc_table` for the columns."""
    _check_kind(kind)
    sources = [base, *others]
    if len(set(sources)) != len(sources):
        raise ValueError(f"mask sources {sources}: each may appear once")
    measurements = {}
    for source in sources:
        wide = study.features_wide(center, source, settings_hash)
        if wide.empty:
            raise ValueError(f"centre {center!r} has no features from mask source {source!r} with settings "
                             f"{settings_hash[:12]}: run `python -m core extract --center {center} --mask-source "
                             f"{source}` with the same preset as for {base!r}")
        measurements[source] = wide
    table = icc_table(measurements, kind, level)
    table.attrs.update({"center": center, "base": base, "others": list(others), "settings_hash": settings_hash})
    return table


def icc_table(measurements: Mapping[str, pd.DataFrame], kind: str = "ICC(2,1)", level: float = 0.95) -> pd.DataFrame:
    """ICC per feature over k >= 2 measurements of the same patients.

    ``measurements``: source name -> wide features (index patient_id, columns
    ``region:imagetype_class_feature``); the patients and features every table holds are used.
    Returns one row per feature (index ``feature``) with columns region, image_type,
    feature_class, icc, ci_low and ci_high (``level`` interval, McGraw & Wong), n (patients
    with a value from every source), k (sources) and kind (``ICC_KINDS``). The ICC is NaN where
    n < 2 or every value is the same. Where the values are exactly patient effect + source
    effect (no residual, e.g. identical for every source) the F-based interval is undefined:
    ICC(3,1) is then 1 (interval 1 to 1) and ICC(2,1) is s2(patient means) / (s2(patient means)
    + s2(source means)), its interval NaN (1 to 1 when the sources agree exactly).
    """
    _check_kind(kind)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if len(measurements) < 2:
        raise ValueError(f"an ICC needs at least 2 measurements per patient, got {len(measurements)}")
    tables = list(measurements.values())
    patients = tables[0].index
    features = tables[0].columns
    for table in tables[1:]:
        patients, features = patients.intersection(table.index), features.intersection(table.columns)
    if len(patients) < 2:
        raise ValueError(f"{len(patients)} patient(s) measured by every source ({', '.join(measurements)}); "
                         "an ICC needs at least 2")
    if not len(features):
        raise ValueError(f"no feature is common to every source ({', '.join(measurements)})")
    ratings = np.stack([t.loc[patients, features].to_numpy(dtype=float) for t in tables], axis=1)  # (n, k, f)
    rows = [_one_feature(ratings[:, :, j], kind, level) for j in range(len(features))]
    out = pd.DataFrame(rows, columns=["icc", "ci_low", "ci_high", "n"], index=pd.Index(features, name="feature"))
    parts = pd.DataFrame([split_feature_name(f) for f in features], index=out.index,
                         columns=["region", "image_type", "feature_class", "name"])
    out = parts[["region", "image_type", "feature_class"]].join(out).assign(k=len(tables), kind=kind)
    out["n"] = out["n"].astype(int)
    return out[ICC_COLUMNS]


def _check_kind(kind: str) -> None:
    if kind not in ICC_KINDS:
        raise ValueError(f"kind must be one of {', '.join(ICC_KINDS)}, got {kind!r}")


def _one_feature(ratings: np.ndarray, kind: str, level: float) -> tuple[float, float, float, int]:
    """(icc, ci_low, ci_high, n) of one feature's (n, k) ratings; patients with a missing value left out."""
    complete = ratings[np.isfinite(ratings).all(axis=1)]
    n = len(complete)
    if n < 2 or np.ptp(complete) == 0:
        return np.nan, np.nan, np.nan, n
    patient, source = complete.mean(axis=1), complete.mean(axis=0)
    residual = complete - patient[:, None] - source[None, :] + complete.mean()
    if np.abs(residual).max() <= _EXACT * np.abs(complete).max():
        agree = np.ptp(source) <= _EXACT * np.abs(complete).max()
        if kind == "ICC(3,1)" or agree:
            return 1.0, 1.0, 1.0, n
        between = patient.var(ddof=1)
        return between / (between + source.var(ddof=1)), np.nan, np.nan, n
    result = icc(complete, kind, level=level)
    return result["icc"], result["ci_low"], result["ci_high"], n


def split_feature_name(column: str) -> tuple[str, str, str, str]:
    """``region:imagetype_class_feature`` (e.g. ``liver:wavelet-LLH_glcm_Idmn``) -> (region, image
    type, class, feature); a name not of that form (features imported from elsewhere) gets
    image type and class ``other``."""
    region, sep, rest = column.partition(":")
    if not sep:
        raise ValueError(f"feature column {column!r}: expected 'region:feature' (e.g. liver:original_firstorder_Mean)")
    parts = rest.split("_", 2)
    if len(parts) < 3:
        return region, "other", "other", rest
    return region, parts[0], parts[1], parts[2]


def icc_frame(icc: Mapping[str, float]) -> pd.DataFrame:
    """A feature -> ICC mapping (as a fitted selection stores it) as ``icc_table``'s region,
    image_type, feature_class and icc columns, for ``robust_summary`` and the ICC plot."""
    rows = [dict(zip(("region", "image_type", "feature_class"), split_feature_name(f)[:3]), icc=v, feature=f)
            for f, v in icc.items()]
    return pd.DataFrame(rows, columns=["feature", "region", "image_type", "feature_class", "icc"]).set_index("feature")


def robust_summary(table: pd.DataFrame, threshold: float = 0.75) -> pd.DataFrame:
    """Per region and image type: features, features with ICC >= ``threshold``, their share, median ICC."""
    grouped = table.assign(robust=table["icc"] >= threshold).groupby(["region", "image_type"], sort=True)
    out = pd.DataFrame({"features": grouped.size(), "robust": grouped["robust"].sum().astype(int),
                        "median_icc": grouped["icc"].median()})
    out.insert(2, "share", out["robust"] / out["features"])
    return out.reset_index()
