"""Synthetic PTLF cohorts for tests, benchmarks and demos (no real patient data).

``simulate_cohort`` draws a clinical table and a wide radiomics table whose columns mimic
PyRadiomics names ("region:imagetype_class_feature", 1,874 per region for the full set).
Features come in correlated blocks (a shared latent factor per block); a few blocks carry
the outcome signal, as do INR (higher) and albumin (lower).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

IMAGE_TYPES = (["original"] + [f"wavelet-{c}" for c in ("LLH", "LHL", "LHH", "HLL", "HLH", "HHL", "HHH", "LLL")]
               + [f"log-sigma-{s}-0-mm-3D" for s in range(1, 6)]
               + ["square", "squareroot", "logarithm", "exponential", "gradient", "lbp-3D-k"])
CLASSES = {"firstorder": 18, "glcm": 24, "glrlm": 16, "glszm": 16, "gldm": 14, "ngtdm": 5}
SHAPE = 14
REGIONS = ("liver", "tumor")


def feature_names(per_region: int | None = None) -> list[str]:
    """PyRadiomics-like names, liver then tumour; 1,874 per region unless ``per_region``."""
    base = [f"original_shape_F{i}" for i in range(SHAPE)]
    base += [f"{t}_{c}_F{i}" for t in IMAGE_TYPES for c, k in CLASSES.items() for i in range(k)]
    base = base[:per_region] if per_region else base
    return [f"{r}:{b}" for r in REGIONS for b in base]


def simulate_cohort(n: int = 210, *, n_features: int | None = None, event_rate: float = 0.25,
                    block_size: int = 12, n_informative_blocks: int = 4, signal: float = 2.0,
                    seed: int = 0, prefix: str = "P") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw ``n`` patients: (clinical, features), both indexed by patient_id.

    clinical: ptlf (0/1), age, sex, inr, alb, bilirubin, child_pugh, tumor_size_cm.
    features: n_features columns (default 3,748), block-correlated, a few informative and
    two constant columns. ``signal`` scales the radiomics part of the true log-odds.
    """
    rng = np.random.default_rng(seed)
    names = feature_names(None if n_features is None else n_features // 2)
    p = len(names)
    ids = [f"{prefix}{i:04d}" for i in range(n)]
    inr = np.exp(rng.normal(np.log(1.1), 0.12, n))
    alb = rng.normal(38.0, 4.5, n)
    blocks = rng.normal(size=(n, p // block_size + 1))
    radiomic_risk = blocks[:, :n_informative_blocks].mean(axis=1) * np.sqrt(n_informative_blocks)
    lp = 0.9 * np.log(inr / 1.1) / 0.12 - 0.8 * (alb - 38.0) / 4.5 + signal * radiomic_risk
    intercept = np.log(event_rate / (1 - event_rate))
    shift = np.linspace(-6, 6, 241)
    intercept += shift[np.argmin([abs(expit(intercept + s + lp).mean() - event_rate) for s in shift])]
    ptlf = (rng.random(n) < expit(intercept + lp)).astype(int)

    clinical = pd.DataFrame({
        "ptlf": ptlf,
        "age": np.round(rng.normal(60, 10, n)).astype(int),
        "sex": rng.choice(["female", "male"], n, p=[0.25, 0.75]),
        "inr": np.round(inr, 2),
        "alb": np.round(alb, 1),
        "bilirubin": np.round(np.exp(rng.normal(np.log(15), 0.4, n)), 1),
        "child_pugh": rng.choice(["A", "B"], n, p=[0.8, 0.2]),
        "tumor_size_cm": np.round(np.exp(rng.normal(np.log(5), 0.5, n)), 1),
    }, index=pd.Index(ids, name="patient_id"))

    block_of = np.arange(p) // block_size
    rng.shuffle(block_of)
    loading = rng.uniform(0.88, 0.99, p)
    values = blocks[:, block_of] * loading + rng.normal(size=(n, p)) * np.sqrt(1 - loading**2)
    scale = np.exp(rng.normal(0, 2, p))
    values = values * scale + rng.normal(0, 3, p) * scale
    values[:, :2] = 1.0                                   # constant features
    features = pd.DataFrame(values, index=clinical.index, columns=names)
    return clinical, features
