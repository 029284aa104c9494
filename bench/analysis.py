"""Benchmark of the radiomics selection and the internal validation on a study of the paper's size.

210 simulated patients x 3,748 radiomics features (1,874 per region), 147 training, about 25%
events, correlated feature blocks with a few informative ones (core.stats.simulate). Prints, in
one run and against the same steps of the code at ``--baseline`` (a git revision, loaded into
this process as a renamed package, so both run on the same data, machine and moment):

- the selection pipeline (z-score, Spearman, univariate, LASSO path + 10-fold CV): the paper's
  order (filters once before the CV) and the default (filters refitted in every CV fold);
- one bootstrap replicate of the full procedure (every fitted step), and the projected and
  measured time of ``--bootstrap`` replicates on every core.

    python bench/analysis.py [--bootstrap 200] [--seed 0] [--baseline ebf8ed9] [--repeat 3]
"""
from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.analysis import run_analysis  # noqa: E402
from core.analysis_params import AnalysisParams  # noqa: E402
from core.internal_validation import bootstrap_validation  # noqa: E402
from core.jobs import default_workers  # noqa: E402
from core.stats.simulate import simulate_cohort  # noqa: E402

BASELINE = "ebf8ed9"   # the release before selection inside the CV folds and the full bootstrap


def load_baseline(revision: str, folder: Path):
    """The ``core`` package at ``revision`` imported as ``core_baseline`` (None without git)."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "core"], check=True,
                                 capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"baseline {revision} not available ({exc}); only the current code is timed")
        return None
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    shutil.move(folder / "core", folder / "core_baseline")
    for path in (folder / "core_baseline").rglob("*.py"):
        path.write_text(re.sub(r"\bcore\.", "core_baseline.", path.read_text()))
    sys.path.insert(0, str(folder))
    import core_baseline.stats.selection as selection

    return selection


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", type=int, default=200, help="replicates for the measured full bootstrap")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline", default=BASELINE, help=f"git revision to compare with (default {BASELINE})")
    parser.add_argument("--repeat", type=int, default=3, help="timings are the best of this many runs")
    args = parser.parse_args()

    clinical, features = simulate_cohort(210, seed=args.seed)
    X, y = features.iloc[:147], clinical["ptlf"].iloc[:147]
    print(f"{X.shape[0]} training patients x {X.shape[1]} features, {int(y.sum())} events; "
          f"{default_workers()} cores", flush=True)
    params = AnalysisParams(seed=args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as tmp:
        old = load_baseline(args.baseline, Path(tmp))
        for mode in ("outside", "inside"):
            selector = params.selector()
            selector.set_params(cv_selection=mode)
            now = best_of(args.repeat, lambda: selector.fit(X, y, funnel=False))
            then = None
            if old is not None and mode == "outside":      # the baseline filters only outside the CV
                then = best_of(args.repeat, lambda: old.RadiomicsSelector(seed=args.seed).fit(X, y))
            rows.append((f"selection pipeline, filters {mode} the CV", then, now))

    result = run_analysis(clinical.iloc[:147], features.iloc[:147], bootstrap=0, dca_bootstrap=0, seed=args.seed)
    one = AnalysisParams(seed=args.seed, bootstrap=1, workers=1)
    replicate = best_of(args.repeat, lambda: bootstrap_validation(result.models, clinical.iloc[:147], X, one))
    rows.append(("one full bootstrap replicate (1 core)", None, replicate))
    workers = default_workers()
    print("\nseconds                                             baseline    current    ratio")
    for label, then, now in rows:
        ratio = f"{then / now:8.1f}x" if then else "        "
        print(f"  {label:<48s}{then if then else float('nan'):9.3f}  {now:9.3f}  {ratio}")
    print(f"  projected {args.bootstrap} replicates on {workers} cores: {replicate * args.bootstrap / workers:7.1f} s",
          flush=True)
    if args.bootstrap:
        full = AnalysisParams(seed=args.seed, bootstrap=args.bootstrap)
        start = time.perf_counter()
        boot = bootstrap_validation(result.models, clinical.iloc[:147], X, full)
        seconds = time.perf_counter() - start
        auc = boot.optimism.set_index(["model", "metric"]).loc[("combined", "auc")]
        print(f"  measured {args.bootstrap} full replicates on {workers} cores: {seconds:7.1f} s "
              f"({boot.n_boot} usable; combined AUC {auc['apparent']:.3f} apparent, {auc['corrected']:.3f} corrected)")


if __name__ == "__main__":
    main()
