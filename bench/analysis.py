"""Benchmark of the whole paper analysis on a simulated study of the paper's size.

210 patients x 3,748 radiomics features (1,874 per region), 147 training / 63 validation,
about 25% events, correlated feature blocks with a few informative ones, INR and albumin
informative. Prints seconds per step.

    python bench/analysis.py [--bootstrap 200] [--seed 0] [--refit final|full]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.analysis import run_analysis  # noqa: E402
from core.stats.simulate import simulate_cohort  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", type=int, default=200, help="optimism bootstrap replicates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--refit", choices=("final", "full"), default="final", help="bootstrap refit mode")
    args = parser.parse_args()

    clock = time.perf_counter()
    clinical, features = simulate_cohort(210, seed=args.seed)
    simulate_s = time.perf_counter() - clock
    train = (clinical.iloc[:147], features.iloc[:147])
    validation = (clinical.iloc[147:], features.iloc[147:])

    result = run_analysis(*train, {"validation": validation}, seed=args.seed, bootstrap=args.bootstrap,
                          bootstrap_refit=args.refit)
    print(f"simulated {features.shape[0]} patients x {features.shape[1]} features "
          f"({int(clinical.ptlf.sum())} events) in {simulate_s:.2f} s")
    print(f"counts: {' -> '.join(f'{k} {v}' for k, v in result.models.selector_.counts_.items())}")
    print(f"independent clinical predictors: {result.independent_predictors}")
    print("\nseconds per step")
    for step, seconds in result.timings.items():
        print(f"  {step:<42s}{seconds:8.2f}")
    print("\nAUC (95% CI)")
    for _, row in result.metrics.iterrows():
        print(f"  {row['centre']:<12s}{row['model']:<11s}{row['auc']:.3f} "
              f"({row['auc_ci_low']:.3f}-{row['auc_ci_high']:.3f})")


if __name__ == "__main__":
    main()
