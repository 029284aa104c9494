"""Benchmark: one full-size case with PyRadiomics, the project's extract_case and the torch engine.

The case: the real abdominal CT of ../shared/reference/ct/totalsegmentator (``example_ct_sm``,
3 mm) resampled to 512 x 512 x 60 voxels of 0.7 x 0.7 x 1.5 mm (linear interpolation, HU
rounded to int16, air outside the scan), its liver (TotalSegmentator label 5, interpolated
linearly and thresholded at 0.5) as label 1 and a sphere of about 30,000 voxels at the
liver's deepest point as the tumour (label 2). Each engine runs in a fresh process on the
same files (reading and checks included) and reports seconds per case (both regions; the
torch engines' last of ``--repeat`` runs, a warm process as a job's worker is), the ratio to
``extract_case``, its peak resident memory and, on CUDA, its peak device memory. Every
engine's values are compared with ``extract_case``'s (1e-6 relative, 1e-9 absolute below 1e-3).

Engines: ``pyradiomics`` (``RadiomicsFeatureExtractor.execute`` per region, as a plain
script would), ``extract_case`` (:func:`core.radiomics.extract.extract_case`, filters
shared between regions), ``torch-cpu`` and ``torch-cuda`` (:mod:`core.radiomics.engine.case`,
one torch thread on the CPU, as the extraction's workers).

    .venv/bin/python bench/extraction.py [--engines pyradiomics extract_case torch-cpu] [--preset paper]
    python bench/extraction.py --engines torch-cuda --params engine_reference.json --ct-folder DIR
    .venv/bin/python bench/extraction.py --demo [--cases 16] [--presets quick paper] [--engine auto]

``--params``: a JSON file holding a preset's effective parameters (``params``, as the
reference file of ``tests.radiomics.engine.reference`` does), for a machine without
PyRadiomics. ``--demo``: the runner on the demo cohort against a single-process PyRadiomics
loop (features per second, cases per hour; the earlier benchmark). Figures go to stdout and,
with ``--json`` (or ``$OUT``), to a JSON file.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CT_FOLDER = ROOT.parent / "shared" / "reference" / "ct" / "totalsegmentator"
SIZE = (512, 512, 60)                 # x, y, z voxels
SPACING = (0.7, 0.7, 1.5)             # x, y, z mm
TUMOUR_VOXELS = 30_000
ENGINES = ("pyradiomics", "extract_case", "torch-cpu", "torch-cuda")
REGIONS = {"liver": 1, "tumor": 2}


# ------------------------------------------------------------------------------ the full-size case
def full_size_case(folder: Path) -> tuple["sitk.Image", "sitk.Image"]:  # noqa: F821
    """(CT int16 HU, mask uint8: 1 liver, 2 tumour) on the 512 x 512 x 60, 0.7 x 0.7 x 1.5 mm grid."""
    import numpy as np
    import SimpleITK as sitk

    ct = sitk.ReadImage(str(folder / "example_ct_sm.nii.gz"), sitk.sitkFloat32)
    liver = sitk.Cast(sitk.ReadImage(str(folder / "example_seg.nii.gz")) == 5, sitk.sitkFloat32)
    extent = np.array(ct.GetSize()) * np.array(ct.GetSpacing())
    direction = np.array(ct.GetDirection()).reshape(3, 3)
    centre = np.array(ct.GetOrigin()) + direction @ ((extent - np.array(ct.GetSpacing())) / 2)
    origin = centre - direction @ ((np.array(SIZE) - 1) * np.array(SPACING) / 2)

    def resample(image, default):
        return sitk.Resample(image, SIZE, sitk.Transform(), sitk.sitkLinear, tuple(origin), SPACING,
                             ct.GetDirection(), default, sitk.sitkFloat32)

    hu = np.round(sitk.GetArrayFromImage(resample(ct, -1024.0))).astype(np.int16)
    mask = (sitk.GetArrayFromImage(resample(liver, 0.0)) >= 0.5).astype(np.uint8)
    image = sitk.GetImageFromArray(hu)
    labels = sitk.GetImageFromArray(mask)
    for volume in (image, labels):
        volume.SetSpacing(SPACING)
        volume.SetOrigin(tuple(origin))
        volume.SetDirection(ct.GetDirection())
    depth = sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(labels, insideIsPositive=True, useImageSpacing=True,
                                                                squaredDistance=False))
    deepest = np.unravel_index(np.argmax(depth), depth.shape)
    z, y, x = np.ogrid[:SIZE[2], :SIZE[1], :SIZE[0]]
    distance = np.sqrt(((z - deepest[0]) * SPACING[2]) ** 2 + ((y - deepest[1]) * SPACING[1]) ** 2
                       + ((x - deepest[2]) * SPACING[0]) ** 2)
    radius = np.sort(distance[mask == 1], axis=None)[TUMOUR_VOXELS]
    mask[(distance < radius) & (mask == 1)] = 2
    labels = sitk.GetImageFromArray(mask)
    labels.CopyInformation(image)
    return image, labels


# --------------------------------------------------------------------------------- one engine
def run_engine(engine: str, image: str, mask: str, params_file: str, repeat: int) -> dict:
    """Runs in a fresh process: ``repeat`` extractions of the case; seconds, memory, values."""
    params = json.loads(Path(params_file).read_text())["params"]
    seconds, frame, device_peak = [], None, None
    if engine.startswith("torch"):
        import torch

        from core.radiomics.engine.case import extract_case, provenance

        torch.set_num_threads(1)
        device = "cuda" if engine == "torch-cuda" else "cpu"

        def extract():
            return extract_case(image, mask, params, REGIONS, "bench", device)

        def sync():
            if device == "cuda":
                torch.cuda.synchronize()
    elif engine == "extract_case":
        from core.radiomics.extract import extract_case
        from core.radiomics.presets import Preset

        preset = Preset("bench", params["pyradiomics_params"])

        def extract():
            return extract_case(image, mask, preset, REGIONS, "bench")

        def sync():
            pass
    else:
        import pandas as pd

        from core.radiomics.presets import Preset

        extractor = Preset("bench", params["pyradiomics_params"]).extractor()

        def extract():
            rows = []
            for region, label in REGIONS.items():
                rows += [(region, k, float(v)) for k, v in extractor.execute(image, mask, label=label).items()
                         if not k.startswith("diagnostics_")]
            return pd.DataFrame(rows, columns=["region", "feature", "value"])

        def sync():
            pass
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        frame = extract()
        sync()
        seconds.append(time.perf_counter() - start)
    if engine == "torch-cuda":
        device_peak = torch.cuda.max_memory_allocated() / 2**30
    out = {"engine": engine, "seconds": seconds, "features": len(frame),
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "peak_device_gib": device_peak,
           "values": {f"{r}:{f}": v for r, f, v in frame.itertuples(index=False)}}
    if engine.startswith("torch"):
        out["device"] = provenance(device).device
    return out


def stored_params(path: Path, preset: str) -> dict:
    """A preset's parameters from a JSON file ({"params": ...}) or the engine's reference file (.npz)."""
    if path.suffix == ".npz":
        import numpy as np

        with np.load(path) as stored:
            return json.loads(stored["meta"].item())["params"][preset]
    return json.loads(path.read_text())["params"]


def differences(values: dict, reference: dict) -> dict:
    """Largest relative difference (where |reference| >= 1e-3) and features beyond the tolerance."""
    import math

    worst, beyond, missing = 0.0, [], sorted(set(reference) ^ set(values))
    for name in set(values) & set(reference):
        a, b = reference[name], values[name]
        if math.isnan(a) or math.isnan(b):
            if math.isnan(a) != math.isnan(b):
                beyond.append(name)
            continue
        if abs(a) < 1e-3:
            if abs(a - b) > 1e-9:
                beyond.append(name)
            continue
        relative = abs(a - b) / abs(a)
        worst = max(worst, relative)
        if relative > 1e-6:
            beyond.append(name)
    return {"max_relative": worst, "beyond_tolerance": sorted(beyond), "missing_or_extra": missing}


def case_bench(args: argparse.Namespace) -> dict:
    import SimpleITK as sitk

    with tempfile.TemporaryDirectory(prefix="bench-extraction-") as tmp:
        tmp = Path(tmp)
        if args.params:
            params = stored_params(Path(args.params), args.preset)
        else:
            from core.radiomics.presets import load_preset

            preset = load_preset(args.preset)
            params = {**preset.effective, "pyradiomics_params": preset.params}
        params_file = tmp / "params.json"
        params_file.write_text(json.dumps({"params": params}))
        t0 = time.perf_counter()
        image, mask = full_size_case(Path(args.ct_folder))
        labels = sitk.GetArrayViewFromImage(mask)
        sitk.WriteImage(image, str(tmp / "ct.nii.gz"), useCompression=True)
        sitk.WriteImage(mask, str(tmp / "mask.nii.gz"), useCompression=True)
        report = {"size_xyz": SIZE, "spacing_xyz_mm": SPACING, "liver_voxels": int((labels == 1).sum()),
                  "tumour_voxels": int((labels == 2).sum()), "cores": len(os.sched_getaffinity(0)), "runs": {}}
        print(f"full-size case {SIZE[0]} x {SIZE[1]} x {SIZE[2]} at {SPACING} mm: liver {report['liver_voxels']:,} "
              f"voxels, tumour {report['tumour_voxels']:,} voxels (built in {time.perf_counter() - t0:.0f} s); "
              f"{report['cores']} cores", flush=True)
        for engine in args.engines:
            repeat = args.repeat if engine.startswith("torch") else 1
            out = tmp / f"{engine}.json"
            command = [sys.executable, __file__, "--one", engine, "--image", str(tmp / "ct.nii.gz"),
                       "--mask", str(tmp / "mask.nii.gz"), "--params-file", str(params_file),
                       "--repeat", str(repeat), "--result", str(out)]
            subprocess.run(command, check=True, cwd=ROOT)
            run = json.loads(out.read_text())
            report["runs"][engine] = run
        for run in report["runs"].values():
            run["case_s"] = run["seconds"][-1]
        reference = report["runs"].get("extract_case")
        values_of = "extract_case" if reference is not None else "torch-cpu"   # where PyRadiomics is absent
        for engine, run in report["runs"].items():
            if reference is not None:
                run["speedup_vs_extract_case"] = reference["case_s"] / run["case_s"]
            if engine != values_of and values_of in report["runs"]:
                run[f"compared_with_{values_of}"] = differences(run["values"], report["runs"][values_of]["values"])
            report["features_per_region"] = run["features"] // len(REGIONS)
        for engine, run in report["runs"].items():
            line = (f"{engine:>13}: {run['case_s']:7.2f} s per case"
                    + (f" (first run {run['seconds'][0]:.2f} s)" if len(run["seconds"]) > 1 else "")
                    + (f", {run['speedup_vs_extract_case']:6.2f}x extract_case" if "speedup_vs_extract_case" in run
                       else "")
                    + f", peak host memory {run['peak_rss_mib']:.0f} MiB"
                    + (f", peak device memory {run['peak_device_gib']:.2f} GiB" if run["peak_device_gib"] else "")
                    + (f", on {run['device']}" if "device" in run else ""))
            compared = run.get(f"compared_with_{values_of}")
            if compared:
                line += (f"; vs {values_of}: max relative difference {compared['max_relative']:.1e}, "
                         f"{len(compared['beyond_tolerance'])} beyond tolerance")
            print(line, flush=True)
        for run in report["runs"].values():
            run["values"] = None if args.drop_values else run["values"]
    return report


# ---------------------------------------------------------------------------- the demo runner bench
def demo_bench(args: argparse.Namespace) -> dict:
    """The runner on the demo cohort against a plain single-process PyRadiomics loop."""
    from core.cohort.demo import CENTRES, write_demo
    from core.cohort.ingest import ingest
    from core.jobs import default_workers
    from core.radiomics import REGION_LABELS, load_preset, run_extraction
    from core.store import Study

    def plain_loop(preset, cases) -> dict:
        extractor = preset.extractor()
        start, seconds, features = time.perf_counter(), [], 0
        for image, mask in cases:
            t0 = time.perf_counter()
            for label in REGION_LABELS.values():
                features += sum(not k.startswith("diagnostics_") for k in extractor.execute(image, mask, label=label))
            seconds.append(time.perf_counter() - t0)
        return {"cases": len(cases), "wall_s": time.perf_counter() - start, "features": features,
                "case_s": statistics.median(seconds),
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}

    def runner(study, center, preset) -> dict:
        start = time.perf_counter()
        result = run_extraction(study, center, preset=preset, workers=args.workers, engine=args.engine)
        wall = time.perf_counter() - start
        assert result.state == "done" and result.extracted == result.total, result
        return {"cases": result.total, "wall_s": wall, "features": len(study.features(center, "manual",
                                                                                       preset.settings_hash)),
                "case_s": statistics.median(result.case_seconds.values()), "peak_rss_mib": result.peak_rss_mib,
                "engine": result.engine}

    def rates(run: dict) -> dict:
        per_s = 1 / run["wall_s"]
        return {**run, "features_per_s": run["features"] * per_s, "cases_per_h": run["cases"] * per_s * 3600}

    workers = args.workers or default_workers()
    report = {"cores": default_workers(), "workers": workers, "engine": args.engine, "presets": {}}
    with tempfile.TemporaryDirectory(prefix="bench-extraction-") as tmp:
        name, role, patients = CENTRES[0][:3]
        folder = next(f for f, r in write_demo(Path(tmp) / "cohort", scale=args.cases / patients) if r == role)
        with Study.open(Path(tmp) / "bench.duckdb") as study:
            ingest(study, folder, name, role)
            cases = list(zip(study.images(name)["path"], study.masks(name, "manual")["path"], strict=True))
            report["cases"] = len(cases)
            print(f"{len(cases)} demo cases (24 x 96 x 96 voxels), {report['cores']} cores, runner with {workers} "
                  f"workers, engine {args.engine}", flush=True)
            for spec in args.presets:
                preset = load_preset(spec)
                plain = rates(plain_loop(preset, cases))
                pooled = rates(runner(study, name, preset))
                report["presets"][spec] = {"plain": plain, "runner": pooled,
                                           "speedup": plain["wall_s"] / pooled["wall_s"]}
                for label, run in (("plain loop", plain), (f"runner ({pooled['engine']})", pooled)):
                    print(f"{spec:>6} {label:<18} {run['features']:>7} features in {run['wall_s']:7.1f} s: "
                          f"{run['features_per_s']:8.0f} features/s, {run['cases_per_h']:8.0f} cases/h, "
                          f"{run['case_s']:5.2f} s per case, peak memory {run['peak_rss_mib']:.0f} MiB per process",
                          flush=True)
                print(f"{spec:>6} runner / plain loop: {report['presets'][spec]['speedup']:.2f}x", flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=["pyradiomics", "extract_case", "torch-cpu"])
    parser.add_argument("--preset", default="paper", help="preset of the full-size case (default paper)")
    parser.add_argument("--params", help="the preset's parameters from this JSON file or engine reference file "
                                         "(.npz; no PyRadiomics needed)")
    parser.add_argument("--ct-folder", default=str(CT_FOLDER), help="folder of example_ct_sm.nii.gz, example_seg.nii.gz")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each torch engine in its process (default 2)")
    parser.add_argument("--drop-values", action="store_true", help="leave the feature values out of the JSON")
    parser.add_argument("--demo", action="store_true", help="the runner on the demo cohort instead")
    parser.add_argument("--cases", type=int, default=16, help="--demo: patients (default 16, at least 8)")
    parser.add_argument("--presets", nargs="+", default=["quick", "paper"], help="--demo: presets")
    parser.add_argument("--workers", type=int, help="--demo: runner processes (default: every core)")
    parser.add_argument("--engine", default="auto", choices=("auto", "torch", "pyradiomics"), help="--demo: engine")
    parser.add_argument("--json", default=None, help="write the figures to this JSON file (default $OUT/extraction.json)")
    parser.add_argument("--one", choices=ENGINES, help=argparse.SUPPRESS)      # a child process: one engine
    parser.add_argument("--image", help=argparse.SUPPRESS)
    parser.add_argument("--mask", help=argparse.SUPPRESS)
    parser.add_argument("--params-file", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        Path(args.result).write_text(json.dumps(run_engine(args.one, args.image, args.mask, args.params_file,
                                                           args.repeat)))
        return 0
    report = demo_bench(args) if args.demo else case_bench(args)
    out = args.json or (Path(os.environ["OUT"]) / "extraction.json" if os.environ.get("OUT") else None)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
