"""GPU check of batch segmentation: the project's batch path against nnU-Net's own single-case call.

Writes synthetic CTs (default 62 x 512 x 512 voxels at 5 x 0.75 x 0.75 mm), plans nnU-Net's
default 3d_fullres configuration on two of them, saves an untrained model (random weights of
the planned network; speed does not depend on the weights), then predicts N cases with one
loaded predictor, with and without test-time mirroring:

- project: ``core.segmentation.predict.predict_cases`` (read, preprocess, predict, write);
- nnU-Net: ``nnUNetPredictor.predict_single_npy_array`` per case, after reading the CT with
  nnU-Net's SimpleITKIO, writing the mask itself (same predictor, same settings).

Prints seconds per case for both, their ratio, the voxels where the masks differ (expected
0) and the peak GPU memory; writes the same as JSON to ``$OUT`` (or ``--out``).

    python bench/segmentation_gpu.py --n 5              # on the GPU machine (a few minutes)
    python bench/segmentation_gpu.py --n 3 --tiny       # on a CPU: small volume, tiny network

Needs nnunetv2, torch, SimpleITK, numpy, pandas, scipy; not duckdb or the dashboard.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.segmentation.dataset import make_split, write_dataset  # noqa: E402  (sets nnU-Net's defaults first)
from core.segmentation.paths import NnunetPaths, model_folder, nnunet_env, quiet  # noqa: E402
from core.segmentation.synthetic import write_synthetic_cases  # noqa: E402

FULL = {"shape": (62, 512, 512), "trainer": "nnUNetTrainer"}
TINY = {"shape": (24, 128, 128), "trainer": "nnUNetTrainerTiny"}
SPACING = (5.0, 0.75, 0.75)
CONFIGURATION = "3d_fullres"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5, help="cases timed per path and setting (default 5)")
    parser.add_argument("--tiny", action="store_true", help="small volume and tiny network (for a CPU)")
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    parser.add_argument("--work", help="new working folder to keep (default: a temporary one)")
    parser.add_argument("--out", default=os.environ.get("OUT"), help="folder for the JSON result (default $OUT)")
    args = parser.parse_args(argv)
    setup = TINY if args.tiny else FULL
    with tempfile.TemporaryDirectory(prefix="seg-bench-") as tmp:
        work = Path(args.work or tmp)
        t0 = time.perf_counter()
        model_dir, cases = prepare(work, setup["shape"], setup["trainer"], args.n)
        print(f"prepared {args.n + 2} cases of {setup['shape']} and an untrained {setup['trainer']} "
              f"in {time.perf_counter() - t0:.0f} s", flush=True)
        runs = [run(model_dir, cases, work / "pred", args.device, mirroring) for mirroring in (False, True)]
    result = {"shape_zyx": setup["shape"], "spacing_zyx_mm": SPACING, "trainer": setup["trainer"], "n_cases": args.n,
              "runs": runs}
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "segmentation_gpu.json").write_text(json.dumps(result, indent=2))
    return 0


def prepare(work: Path, shape: tuple[int, int, int], trainer: str, n: int) -> tuple[Path, list[Path]]:
    """Synthetic cases, nnU-Net's default plan on two of them, and an untrained model folder."""
    import torch
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprint_dataset, \
        plan_experiment_dataset
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    cases = write_synthetic_cases(work / "cases", n + 2, shape, SPACING)
    paths = NnunetPaths(work / "nnunet")
    plan_cases = cases[:2]
    raw = write_dataset(paths, 999, "Bench", plan_cases, make_split([c[0] for c in plan_cases], 0.0, 2))
    with nnunet_env(nnUNet_raw=paths.raw, nnUNet_preprocessed=paths.preprocessed, nnUNet_results=paths.results), \
            quiet():
        extract_fingerprint_dataset(999, num_processes=2, show_progress_bar=False)
        plan_experiment_dataset(999)
        trainer_class = recursive_find_trainer_class_by_name(trainer)
    plans = json.loads((paths.preprocessed / raw.name / "nnUNetPlans.json").read_text())
    dataset_json = json.loads((raw / "dataset.json").read_text())
    manager = PlansManager(plans)
    network = trainer_class.build_network_architecture(manager, manager.get_configuration(CONFIGURATION), 1,
                                                       len(dataset_json["labels"]), enable_deep_supervision=False)
    model_dir = model_folder(paths.results, raw.name, trainer, CONFIGURATION)
    (model_dir / "fold_0").mkdir(parents=True)
    (model_dir / "plans.json").write_text(json.dumps(plans))
    (model_dir / "dataset.json").write_text(json.dumps(dataset_json))
    torch.save({"network_weights": network.state_dict(), "trainer_name": trainer,
                "init_args": {"configuration": CONFIGURATION}, "inference_allowed_mirroring_axes": (0, 1, 2)},
               model_dir / "fold_0" / "checkpoint_final.pth")
    print(f"plan: patch {manager.get_configuration(CONFIGURATION).patch_size}, "
          f"{sum(p.numel() for p in network.parameters()) / 1e6:.1f} M parameters", flush=True)
    return model_dir, [image for _, image, _ in cases[2:]]


def run(model_dir: Path, images: list[Path], out: Path, device: str, mirroring: bool) -> dict:
    """Time both paths with one predictor; compare their masks."""
    import numpy as np
    import SimpleITK as sitk
    import torch
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    from core.segmentation.predict import load_predictor, predict_cases

    predictor = load_predictor(model_dir, device=device, use_mirroring=mirroring)
    name = "mirroring" if mirroring else "no-mirroring"
    project_dir, nnunet_dir = out / f"project-{name}", out / f"nnunet-{name}"
    nnunet_dir.mkdir(parents=True, exist_ok=True)

    def project(batch: list[Path]) -> None:
        for p in predict_cases(predictor, [(i.name, i, project_dir / i.name) for i in batch]):
            if p.error:
                raise RuntimeError(p.error)

    def nnunet(batch: list[Path]) -> None:
        for image in batch:
            data, properties = SimpleITKIO().read_images([str(image)])
            predictor.predict_single_npy_array(data, properties, None, str(nnunet_dir / image.name[:-7]), False)

    nnunet(images[:1])  # warm-up (cuDNN autotuning, allocator), not timed
    project(images[:1])
    seconds = {}
    for label, path in (("nnunet", nnunet), ("project", project)):
        _sync(torch)
        t = time.perf_counter()
        path(images)
        _sync(torch)
        seconds[label] = (time.perf_counter() - t) / len(images)
    differ = sum(int(np.count_nonzero(sitk.GetArrayFromImage(sitk.ReadImage(str(project_dir / i.name)))
                                      != sitk.GetArrayFromImage(sitk.ReadImage(str(nnunet_dir / i.name)))))
                 for i in images)
    row = {"mirroring": mirroring, "device": str(predictor.device), "nnunet_s_per_case": seconds["nnunet"],
           "project_s_per_case": seconds["project"], "ratio_project_to_nnunet": seconds["project"] / seconds["nnunet"],
           "differing_voxels": differ,
           "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None}
    print(f"{name:>12} on {row['device']}: nnU-Net {row['nnunet_s_per_case']:.2f} s/case, project "
          f"{row['project_s_per_case']:.2f} s/case, ratio {row['ratio_project_to_nnunet']:.2f}, "
          f"differing voxels {differ}" + (f", peak GPU {row['peak_gpu_gib']:.1f} GiB" if row["peak_gpu_gib"] else ""),
          flush=True)
    return row


def _sync(torch) -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


if __name__ == "__main__":
    sys.exit(main())
