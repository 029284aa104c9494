"""Dashboard render times on a 1,000-patient study: AppTest run time per page, first (cold
caches) and second (cached) render, and their ratio.

    .venv/bin/python bench/dashboard.py [--study PATH] [--scale 4.8] [--features-per-region 1874]

The study is built once (and kept at ``--study``, default ``artifacts/bench/dashboard.duckdb``):
the demo generator's clinical tables at ``--scale`` (4.8 gives 706 + 302 patients) without
CT volumes, synthetic radiomics rows written per case through ``Study.write_case_features``
(as an extraction would), and an analysis through core's API where it is installed.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # not bench/: this file is itself named dashboard.py

PAGES = ["views/study.py", "views/cohorts.py", "views/jobs.py", "views/segmentation.py", "views/extraction.py",
         "views/clinical.py", "views/selection.py", "views/models.py", "views/nomogram.py"]
SETTINGS = "synthetic-paper"


def _clinical_only_demo(out: Path, scale: float) -> list[tuple[Path, str]]:
    """The demo cohorts' clinical tables (no volumes: those would take minutes and are not benchmarked)."""
    from core.cohort import demo

    real_volume, real_write = demo._volume, demo._write
    demo._volume = lambda rng, z, offset, noise: (None, None, float(np.clip(rng.lognormal(np.log(2.2), 0.3), 1, 5)))
    demo._write = lambda array, path: None
    try:
        written = demo.write_demo(out, scale=scale)
    finally:
        demo._volume, demo._write = real_volume, real_write
    for folder, _ in written:
        for sub in ("images", "masks"):
            (folder / sub).rmdir()
    return written


def _feature_structure(per_region: int, seed: int = 0) -> dict:
    """What every centre's synthetic features share: names, block membership, loadings, units."""
    from core.stats.simulate import feature_names

    names = feature_names(per_region)
    p = len(names)
    rng = np.random.default_rng(seed)
    return {"names": names, "block_of": rng.permutation(np.arange(p) // 12), "loading": rng.uniform(0.85, 0.99, p),
            "scale": np.exp(rng.normal(0, 1.5, p)), "offset": rng.normal(0, 3, p)}


def _synthetic_features(study, center: str, structure: dict, seed: int) -> None:
    """Block-correlated features, a few blocks shifted with the outcome, one case per transaction."""
    names, block_of, loading = structure["names"], structure["block_of"], structure["loading"]
    patients = study.patients(center)
    y = patients["ptlf"].to_numpy()
    rng = np.random.default_rng(seed)
    n, p = len(patients), len(names)
    blocks = rng.normal(size=(n, block_of.max() + 1))
    blocks[:, :4] += 0.9 * (y[:, None] - y.mean())
    values = blocks[:, block_of] * loading + rng.normal(size=(n, p)) * np.sqrt(1 - loading**2)
    values = values * structure["scale"] + structure["offset"] * structure["scale"]
    regions = [c.split(":", 1)[0] for c in names]
    features = [c.split(":", 1)[1] for c in names]
    for i, pid in enumerate(patients["patient_id"]):
        frame = pd.DataFrame({"region": regions, "feature": features, "value": values[i]})
        study.write_case_features(center, pid, "manual", SETTINGS, None, None, frame)


def build_study(path: Path, scale: float, per_region: int) -> None:
    from core.cohort.ingest import ingest
    from core.store import Study

    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (path, path.with_suffix(".duckdb.wal")):
        leftover.unlink(missing_ok=True)
    t0 = time.perf_counter()
    written = _clinical_only_demo(path.parent / "bench_cohort", scale)
    with Study.open(path) as study:
        for folder, role in written:
            ingest(study, folder, folder.name, role)
        study.register_settings(SETTINGS, "synthetic", {"note": "synthetic rows for bench/dashboard.py",
                                                        "per_region": per_region})
        t1 = time.perf_counter()
        structure = _feature_structure(per_region)
        for i, center in enumerate(study.centers()["center"]):
            _synthetic_features(study, center, structure, seed=i + 1)
        t2 = time.perf_counter()
        n = int(study.centers()["patients"].sum())
        print(f"built {path}: {n} patients in {t1 - t0:.1f} s, features ({2 * per_region} per patient) "
              f"in {t2 - t1:.1f} s")
        _analysis(study)


def _analysis(study) -> None:
    """Run and store an analysis with core's API, when that stage is installed."""
    if importlib.util.find_spec("core.analysis_cli") is None:
        print("core.analysis_cli not installed: analysis pages are measured without a stored analysis")
        return
    from core.analysis_cli import run_study_analysis

    t = time.perf_counter()
    run_study_analysis(study, "hospital_a", ["hospital_b"], mask_source="manual", settings_hash=SETTINGS,
                       bootstrap=50)
    print(f"analysis stored in {time.perf_counter() - t:.1f} s")


def measure(path: Path, repeats: int) -> pd.DataFrame:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard import figures, session

    os.environ["PTLF_STUDY"] = str(path)
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=600)
    at.run()
    rows = []
    for page in PAGES:
        # Cold: every cached read, figure and stored analysis dropped (the open Study is kept).
        st.cache_data.clear()
        for cache in (figures._figure, figures._figure_for, session._read_shared):
            cache.clear()
        t = time.perf_counter()
        at.switch_page(page).run()
        first = time.perf_counter() - t
        problems = [e.value for e in at.exception] + [e.value for e in at.error]
        seconds = []
        for _ in range(repeats):
            t = time.perf_counter()
            at.run()
            seconds.append(time.perf_counter() - t)
        second = min(seconds)
        rows.append({"page": page.split("/")[-1][:-3], "first_s": first, "cached_s": second,
                     "cached/first": second / first if first else float("nan"),
                     "problems": "; ".join(problems)[:80]})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", default=str(ROOT / "artifacts" / "bench" / "dashboard.duckdb"))
    parser.add_argument("--scale", type=float, default=4.8, help="demo scale (4.8: about 1,000 patients)")
    parser.add_argument("--features-per-region", type=int, default=1874)
    parser.add_argument("--rebuild", action="store_true", help="build the study even if it exists")
    parser.add_argument("--repeats", type=int, default=3, help="cached renders per page (the fastest counts)")
    args = parser.parse_args()
    path = Path(args.study).resolve()
    if args.rebuild or not path.exists():
        build_study(path, args.scale, args.features_per_region)
    table = measure(path, args.repeats)
    with pd.option_context("display.width", 140, "display.max_columns", 10):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"total first {table['first_s'].sum():.2f} s, cached {table['cached_s'].sum():.2f} s, "
          f"ratio {table['cached_s'].sum() / table['first_s'].sum():.3f}")


if __name__ == "__main__":
    main()
