"""Benchmark: the extraction runner against a plain single-process loop over PyRadiomics.

Builds a temporary study from the demo cohort generator (24 x 96 x 96 CTs, 1.6 x 1.6 x 5 mm,
liver and tumour masks), then per preset times (1) a loop calling
``RadiomicsFeatureExtractor.execute`` for each case and region in this process, as a script
would, and (2) ``run_extraction`` with its worker pool writing to the study. Prints features
per second, cases per hour, their ratio, seconds per case and peak memory per process.

    .venv/bin/python bench/extraction.py [--cases 16] [--presets quick paper] [--workers N] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.cohort.demo import CENTRES, write_demo  # noqa: E402
from core.cohort.ingest import ingest  # noqa: E402
from core.jobs import default_workers  # noqa: E402
from core.radiomics import REGION_LABELS, load_preset, run_extraction  # noqa: E402
from core.store import Study  # noqa: E402


def plain_loop(preset, cases) -> dict:
    """One process, one case after another, PyRadiomics' execute() per region."""
    extractor = preset.extractor()
    start, seconds, features = time.perf_counter(), [], 0
    for image, mask in cases:
        t0 = time.perf_counter()
        for label in REGION_LABELS.values():
            features += sum(not k.startswith("diagnostics_") for k in extractor.execute(image, mask, label=label))
        seconds.append(time.perf_counter() - t0)
    wall = time.perf_counter() - start
    return {"cases": len(cases), "wall_s": wall, "features": features, "case_s": statistics.median(seconds),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def runner(study: Study, center: str, preset, workers: int | None) -> dict:
    start = time.perf_counter()
    result = run_extraction(study, center, preset=preset, workers=workers)
    wall = time.perf_counter() - start
    assert result.state == "done" and result.extracted == result.total, result
    features = len(study.features(center, "manual", preset.settings_hash))
    return {"cases": result.total, "wall_s": wall, "features": features,
            "case_s": statistics.median(result.case_seconds.values()), "peak_rss_mib": result.peak_rss_mib}


def rates(run: dict) -> dict:
    per_s = 1 / run["wall_s"]
    return {**run, "features_per_s": run["features"] * per_s, "cases_per_h": run["cases"] * per_s * 3600}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=16, help="demo patients to extract (default 16, at least 8)")
    parser.add_argument("--presets", nargs="+", default=["quick", "paper"])
    parser.add_argument("--workers", type=int, help="runner processes (default: every core)")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)

    workers = args.workers or default_workers()
    report = {"cores": default_workers(), "workers": workers, "presets": {}}
    with tempfile.TemporaryDirectory(prefix="bench-extraction-") as tmp:
        name, role, patients = CENTRES[0][:3]
        folder = next(f for f, r in write_demo(Path(tmp) / "cohort", scale=args.cases / patients) if r == role)
        with Study.open(Path(tmp) / "bench.duckdb") as study:
            ingest(study, folder, name, role)
            cases = list(zip(study.images(name)["path"], study.masks(name, "manual")["path"], strict=True))
            report["cases"] = len(cases)
            print(f"{len(cases)} demo cases (24 x 96 x 96 voxels), {report['cores']} cores, runner with {workers} "
                  "workers", flush=True)
            for spec in args.presets:
                preset = load_preset(spec)
                plain = rates(plain_loop(preset, cases))
                pooled = rates(runner(study, name, preset, workers))
                report["presets"][spec] = {"plain": plain, "runner": pooled,
                                           "speedup": plain["wall_s"] / pooled["wall_s"]}
                for label, run in (("plain loop", plain), ("runner", pooled)):
                    print(f"{spec:>6} {label:<10} {run['features']:>7} features in {run['wall_s']:7.1f} s: "
                          f"{run['features_per_s']:8.0f} features/s, {run['cases_per_h']:8.0f} cases/h, "
                          f"{run['case_s']:5.2f} s per case, peak memory {run['peak_rss_mib']:.0f} MiB per process",
                          flush=True)
                print(f"{spec:>6} runner / plain loop: {report['presets'][spec]['speedup']:.2f}x", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
