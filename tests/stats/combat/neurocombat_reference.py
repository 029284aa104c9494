"""neurocombat_reference.py -> features.csv, neurocombat.json

What: the fixture of tests/stats/test_combat.py and neuroCombat's harmonisation of it.
  features.csv     52 synthetic patients (centres A 25, B 15, C 12) x 10 radiomics-like
                   features of very different magnitudes; each centre has its own location
                   and scale per feature (a simulated scanner effect).
  neurocombat.json per configuration (parametric, eb, mean_only, ref_batch): neuroCombat's
                   harmonised features (patients x features, in the order of features.csv)
                   and its estimates var.pooled, stand.mean, gamma.star, delta.star
                   (batches in sorted order: A, B, C).
Ran with: Python 3.11, neuroCombat 0.2.12, numpy 1.23.5, pandas 1.5.3 (neuroCombat's
ref_batch branch calls np.int, removed in numpy 1.24, so it needs numpy < 1.24):
  python3.11 -m venv venv && venv/bin/pip install neuroCombat==0.2.12 numpy==1.23.5 pandas==1.5.3
  venv/bin/python neurocombat_reference.py      (in this folder; then run sva_reference.R)
"""
import json

import numpy as np
import pandas as pd
from neuroCombat import neuroCombat

CENTRES = {"A": 25, "B": 15, "C": 12}
FEATURES = ["liver:original_firstorder_Mean", "liver:original_firstorder_Energy",
            "liver:original_glcm_Contrast", "liver:original_glcm_Idm", "liver:original_glrlm_RunEntropy",
            "liver:original_shape_Sphericity", "tumor:original_firstorder_Skewness",
            "tumor:original_gldm_DependenceVariance", "tumor:wavelet-LLH_firstorder_Median",
            "tumor:log-sigma-3-0-mm-3D_glszm_ZoneEntropy"]
MAGNITUDE = np.array([60.0, 3e8, 25.0, 0.4, 4.5, 0.7, 0.3, 12.0, -40.0, 6.0])
SPREAD = np.array([15.0, 8e7, 9.0, 0.08, 0.6, 0.06, 0.5, 4.0, 20.0, 0.7])

CONFIGS = {
    "parametric": dict(parametric=True, eb=True, mean_only=False, ref_batch=None),
    "parametric_ref_A": dict(parametric=True, eb=True, mean_only=False, ref_batch="A"),
    "nonparametric": dict(parametric=False, eb=True, mean_only=False, ref_batch=None),
    "nonparametric_ref_A": dict(parametric=False, eb=True, mean_only=False, ref_batch="A"),
    "mean_only": dict(parametric=True, eb=True, mean_only=True, ref_batch=None),
    "mean_only_ref_A": dict(parametric=True, eb=True, mean_only=True, ref_batch="A"),
    "no_eb": dict(parametric=True, eb=False, mean_only=False, ref_batch=None),
    "no_eb_ref_A": dict(parametric=True, eb=False, mean_only=False, ref_batch="A"),
}


def simulate() -> pd.DataFrame:
    rng = np.random.default_rng(20240613)
    latent = rng.normal(size=(10, 10)) / 3 + np.eye(10)
    frames = []
    for k, (centre, n) in enumerate(CENTRES.items()):
        z = rng.normal(size=(n, 10)) @ latent
        shift = k * rng.normal(0.0, 0.6, 10)
        scale = np.exp(k * rng.normal(0.0, 0.25, 10))
        x = MAGNITUDE + SPREAD * (shift + scale * z)
        frame = pd.DataFrame(x, columns=FEATURES)
        frame.insert(0, "centre", centre)
        frame.insert(0, "patient_id", [f"{centre}{i:02d}" for i in range(n)])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    features = simulate()
    features.to_csv("features.csv", index=False, float_format="%.17g")
    dat = features[FEATURES].to_numpy(float).T  # features x patients, float64 (a DataFrame becomes float32)
    covars = features[["centre"]]
    out = {}
    for name, cfg in CONFIGS.items():
        res = neuroCombat(dat.copy(), covars, "centre", eb=cfg["eb"], parametric=cfg["parametric"],
                          mean_only=cfg["mean_only"], ref_batch=cfg["ref_batch"])
        est = res["estimates"]
        out[name] = {**cfg,
                     "data": res["data"].T.tolist(),
                     "var_pooled": np.ravel(est["var.pooled"]).tolist(),
                     "stand_mean": np.asarray(est["stand.mean"])[:, 0].tolist(),
                     "gamma_star": np.asarray(est["gamma.star"], float).tolist(),
                     "delta_star": np.asarray(est["delta.star"], float).tolist()}
    with open("neurocombat.json", "w") as fh:
        json.dump({"library": "neuroCombat 0.2.12", "numpy": np.__version__, "features": FEATURES,
                   "batches": sorted(CENTRES), "configs": out}, fh)


if __name__ == "__main__":
    main()
