"""Bootstrap optimism correction of apparent performance (Harrell; rms ``validate``).

For b = 1..B: draw n patients with replacement, rerun the model-building procedure on the
sample, score the sample (apparent_b) and the original patients (test_b); optimism is the
mean of apparent_b - test_b, and corrected = apparent - optimism (rms's predab.resample).
Metrics (``quick_performance``) and their rms::validate names: auc; dxy ("Dxy");
calibration_intercept, calibration-in-the-large (not reported by validate);
recalibration_intercept ("Intercept"); calibration_slope ("Slope"); brier ("B"). For a
fixed ML logistic model these equal validate(lrm(...))'s optimism on the same bootstrap
samples (tests/stats/r/validate_lrm.R).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from core.stats._checks import binary_outcome
from core.stats.calibration import quick_performance

Predictor = Callable[[np.ndarray], Mapping[str, np.ndarray]]
"""Given patient positions (int array), the risk of each model for those patients."""


def _checked_samples(samples, n: int) -> np.ndarray:
    arr = np.asarray(samples)
    if arr.ndim != 2 or arr.shape[1] != n or not len(arr):
        raise ValueError(f"samples must be a (B, n) array of patient positions with n = {n}, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= n:
        raise ValueError(f"samples must hold integer positions 0..{n - 1}; found {arr.dtype} values "
                         f"from {arr.min()} to {arr.max()}")
    return arr


def optimism_bootstrap(y, fit: Callable[[np.ndarray], Predictor], *, n_boot: int = 200,
                       seed: int = 0, samples=None) -> pd.DataFrame:
    """Optimism-corrected performance of one or more models built by ``fit``.

    y: 0/1 outcomes (n,). fit(positions) builds the models from the patients at those
    positions (with repeats) and returns a predictor (see ``Predictor``). samples: the
    bootstrap samples as a (B, n) array of 0-based positions (replaces n_boot and seed);
    default ``n_boot`` samples drawn with numpy's default_rng(seed). Replicates whose
    building fails (an exception, or one outcome class) are skipped and counted.
    Returns DataFrame with columns model, metric, apparent, optimism, corrected,
    n_boot (successful replicates), n_failed.
    """
    y = binary_outcome(y)
    n = len(y)
    everyone = np.arange(n)
    if samples is None:
        rng = np.random.default_rng(seed)
        samples = (rng.integers(0, n, n) for _ in range(n_boot))
    else:
        samples = _checked_samples(samples, n)
    apparent = {m: quick_performance(y, r) for m, r in fit(everyone)(everyone).items()}
    diffs = {m: {k: [] for k in perf} for m, perf in apparent.items()}
    failed = 0
    for sample in samples:
        if y[sample].min() == y[sample].max():
            failed += 1
            continue
        try:
            predict = fit(sample)
            on_sample, on_all = predict(sample), predict(everyone)
        except (ValueError, np.linalg.LinAlgError):
            failed += 1
            continue
        for m in apparent:
            boot = quick_performance(y[sample], on_sample[m])
            test = quick_performance(y, on_all[m])
            for k in boot:
                diffs[m][k].append(boot[k] - test[k])
    rows = []
    for m, perf in apparent.items():
        for k, value in perf.items():
            values = np.asarray(diffs[m][k], dtype=float)
            ok = np.isfinite(values)
            optimism = float(values[ok].mean()) if ok.any() else float("nan")
            rows.append({"model": m, "metric": k, "apparent": value, "optimism": optimism,
                         "corrected": value - optimism, "n_boot": int(ok.sum()), "n_failed": failed})
    return pd.DataFrame(rows)
