"""Whole cases for the engine's case test, and PyRadiomics' values of them: computed here, or
read from a file so that a machine without PyRadiomics (the GPU machine) checks the engine.

A case is a CT or reference image, a label mask and its regions ({name: label}); the cases are
those of :mod:`tests.radiomics.engine.cases`, with the CT crop's liver and tumour as one case
of two regions, as the extraction sees a patient. PyRadiomics' values come from
:func:`core.radiomics.extract.extract_case` (the project's PyRadiomics path), or its error
message where PyRadiomics refuses a region.

    python -m tests.radiomics.engine.reference write FILE.npz      # on a machine with PyRadiomics
    python -m tests.radiomics.engine.reference check FILE.npz [--devices cpu cuda] [--json OUT]

``check`` needs torch, numpy and SimpleITK only; it prints, per case and device, the features
compared and those beyond :mod:`~tests.radiomics.engine.tolerance`, and exits 1 if any is.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from tests.radiomics.engine.tolerance import within

PRESETS = ("paper", "quick")
# case -> (the cases.py cases it is made of, regions): a composite case takes each part's label-1 region
# under its own label (the CT crop's liver 1 and tumour 2, as a patient's mask holds them).
CASES: dict[str, tuple[tuple[str, ...], dict[str, int]]] = {
    "ct_liver_and_tumour": (("ct_liver", "ct_tumor"), {"liver": 1, "tumor": 2}),
    **{name: ((name,), {"roi": 1}) for name in ("ibsi_phantom", "brain1", "one_slice", "border", "constant",
                                                 "negative", "anisotropic")},
}
Values = "dict[str, dict[str, float]] | str"     # {region: {feature: value}}, or PyRadiomics' error message


def build(name: str) -> tuple[sitk.Image, sitk.Image, dict[str, int]]:
    """(image, mask, regions) of a case (skips the calling test when its reference data is absent)."""
    from tests.radiomics.engine.cases import load_case

    parts, regions = CASES[name]
    cases = [load_case(part) for part in parts]
    labels = np.zeros(sitk.GetArrayViewFromImage(cases[0].mask).shape, np.uint8)
    for case, label in zip(cases, regions.values(), strict=True):
        labels[sitk.GetArrayViewFromImage(case.mask) == case.label] = label
    mask = sitk.GetImageFromArray(labels)
    mask.CopyInformation(cases[0].image)
    return cases[0].image, mask, regions


def pyradiomics_values(image: sitk.Image, mask: sitk.Image, regions: dict[str, int], preset: str) -> Values:
    """PyRadiomics' values of the case, or the message of the RegionError it raises."""
    from core.radiomics.extract import extract_case
    from core.radiomics.regions import RegionError

    try:
        frame = extract_case(image, mask, preset, regions, case_id="reference")
    except RegionError as exc:
        return str(exc)
    return _nested(frame)


def engine_values(image: sitk.Image, mask: sitk.Image, regions: dict[str, int], params: dict[str, Any],
                  device: str) -> Values:
    """The torch engine's values of the case on ``device``, or the message of its RegionError."""
    from core.radiomics.engine.case import case_features
    from core.radiomics.regions import RegionError

    try:
        return case_features(image, mask, params, regions, "reference", device)
    except RegionError as exc:
        return str(exc)


def differences(ours: Values, reference: Values) -> list[str]:
    """What differs, one line each: a refusal on one side only, a missing or extra name (or another
    order), or a value beyond the tolerance (empty when the engine equals PyRadiomics)."""
    if isinstance(reference, str) or isinstance(ours, str):
        if isinstance(reference, str) and isinstance(ours, str):
            return []
        return [f"PyRadiomics: {reference if isinstance(reference, str) else 'values'}; "
                f"engine: {ours if isinstance(ours, str) else 'values'}"]
    lines = []
    for region, expected in reference.items():
        got = ours.get(region, {})
        if list(got) != list(expected):
            missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
            lines.append(f"{region}: names differ (missing {missing[:5]}, extra {extra[:5]}, "
                         f"or another order)")
        lines += [f"{region}:{feature}: engine {got[feature]!r}, PyRadiomics {value!r}"
                  for feature, value in expected.items() if feature in got and not within(got[feature], value)]
    return lines


def write(path: Path) -> None:
    """Every case's arrays, geometry and regions, the presets' effective parameters and PyRadiomics'
    values, into one .npz (``meta``: JSON; ``{case}/image``, ``{case}/mask``: arrays)."""
    import radiomics

    from core.radiomics.presets import load_preset

    meta = {"pyradiomics": radiomics.__version__, "params": {p: load_preset(p).effective for p in PRESETS},
            "cases": {}}
    arrays = {}
    for name in CASES:
        image, mask, regions = build(name)
        arrays[f"{name}/image"] = sitk.GetArrayFromImage(image)
        arrays[f"{name}/mask"] = sitk.GetArrayFromImage(mask)
        meta["cases"][name] = {"spacing": image.GetSpacing(), "origin": image.GetOrigin(),
                               "direction": image.GetDirection(), "regions": regions,
                               "values": {p: pyradiomics_values(image, mask, regions, p) for p in PRESETS}}
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)


def read(path: Path) -> tuple[dict[str, Any], dict[str, tuple[sitk.Image, sitk.Image, dict[str, int]]]]:
    """(meta, {case: (image, mask, regions)}) of a file :func:`write` wrote."""
    with np.load(path) as stored:
        meta = json.loads(stored["meta"].item())
        cases = {}
        for name, about in meta["cases"].items():
            volumes = []
            for part in ("image", "mask"):
                volume = sitk.GetImageFromArray(stored[f"{name}/{part}"])
                volume.SetSpacing(about["spacing"])
                volume.SetOrigin(about["origin"])
                volume.SetDirection(about["direction"])
                volumes.append(volume)
            cases[name] = (*volumes, about["regions"])
    return meta, cases


def check(path: Path, devices: list[str]) -> dict[str, Any]:
    """The engine on every case of the file and device, against the stored PyRadiomics values."""
    meta, cases = read(path)
    report = {"pyradiomics": meta["pyradiomics"], "runs": []}
    for device in devices:
        for name, (image, mask, regions) in cases.items():
            for preset in PRESETS:
                reference = meta["cases"][name]["values"][preset]
                start = time.perf_counter()
                ours = engine_values(image, mask, regions, meta["params"][preset], device)
                seconds = time.perf_counter() - start
                lines = differences(ours, reference)
                compared = 0 if isinstance(reference, str) else sum(map(len, reference.values()))
                report["runs"].append({"device": device, "case": name, "preset": preset, "compared": compared,
                                       "refused": isinstance(reference, str), "beyond": lines, "seconds": seconds})
                print(f"{device:>5} {name:<22} {preset:<6} {compared:>5} features"
                      + (" (both refuse the case)" if isinstance(reference, str) and not lines else "")
                      + f", {len(lines)} beyond tolerance, {seconds:.2f} s", flush=True)
                for line in lines[:10]:
                    print(f"      {line}")
    return report


def _nested(frame) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for region, feature, value in frame.itertuples(index=False):
        out.setdefault(region, {})[feature] = float(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("write").add_argument("file", type=Path)
    p = sub.add_parser("check")
    p.add_argument("file", type=Path)
    p.add_argument("--devices", nargs="+", default=["cpu"])
    p.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.verb == "write":
        write(args.file)
        print(f"wrote {args.file} ({args.file.stat().st_size / 2**20:.1f} MiB)")
        return 0
    report = check(args.file, args.devices)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if any(run["beyond"] for run in report["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
