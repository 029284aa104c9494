"""Command-line verbs of the segmentation stage: ``python -m core segment STEP --help``.

Steps: export, train, evaluate, predict, import-model, export-model. Heavy imports (torch,
nnU-Net, the study database) happen inside the steps so that ``--help`` stays fast.
"""
from __future__ import annotations

import argparse

from core.cli_types import SEED_MAX, integer, number, table_file

_DEVICES = ("auto", "cuda", "cpu")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``segment`` verb and its steps; each step's parser sets ``func``."""
    seg = subparsers.add_parser("segment", help="nnU-Net v2 liver/tumour segmentation: train, evaluate, predict",
                                description="Export manual masks as an nnU-Net dataset, train and evaluate "
                                            "models, segment whole cohorts, and share models as nnU-Net zips.")
    steps = seg.add_subparsers(dest="step", metavar="STEP", required=True)

    p = _step(steps, "export", "export patients with manual masks as an nnU-Net dataset",
              "Write the patients of the given centres that have a manual mask as an nnU-Net raw dataset, "
              "with a held-out test set and fixed cross-validation folds (splits_final.json).")
    p.add_argument("--center", nargs="+", required=True, help="centre(s) whose manual masks to export")
    p.add_argument("--name", default="Liver", help="dataset name (letters, digits, '-'; default Liver)")
    p.add_argument("--dataset-id", type=integer(1, 999),
                   help="nnU-Net dataset id 1..999 (default: next free from 501)")
    p.add_argument("--test-fraction", type=number(0, 1, high_open=True), default=0.2,
                   help="held-out test share (default 0.2)")
    p.add_argument("--folds", type=integer(2), default=5, help="cross-validation folds (default 5)")
    p.add_argument("--seed", type=integer(0, SEED_MAX), default=12345,
                   help="seed of the test draw and folds (default 12345)")
    p.set_defaults(func=_export)

    p = _step(steps, "train", "plan, preprocess and train folds (resumable job)",
              "Plan and preprocess an exported dataset, then train each fold in an nnU-Net subprocess; "
              "a rerun skips finished folds and resumes an interrupted one from its checkpoint. The trained "
              "model is stored in the models folder and registered in the study.")
    p.add_argument("--dataset", help="dataset id or DatasetXXX_Name (default: the newest export)")
    p.add_argument("--fold", type=integer(0), nargs="+", help="folds to train (default: all)")
    p.add_argument("--configuration", default="3d_fullres", help="nnU-Net configuration (default 3d_fullres)")
    p.add_argument("--trainer", default="nnUNetTrainer", help="nnU-Net trainer class (default nnUNetTrainer)")
    p.add_argument("--epochs", type=integer(1), help="epochs, through nnU-Net's nnUNetTrainer_<n>epochs (default 1000)")
    p.add_argument("--device", choices=_DEVICES, default="auto", help="default: cuda when there is a GPU")
    p.add_argument("--da-workers", type=integer(0), help="data-augmentation processes (default: nnU-Net's)")
    p.add_argument("--models-dir", help="where trained models are stored (default: the repository's models/)")
    p.set_defaults(func=_train)

    p = _step(steps, "evaluate", "Dice, Jaccard, precision, recall, HD95 per fold and test set (Table 1)",
              "Score a model on its cross-validation folds and held-out test cases (when trained in this "
              "study) and on centres' manual masks; store per-case metrics and print Table 1.")
    p.add_argument("--model", help="model id (default: the newest segmentation model)")
    p.add_argument("--center", nargs="+", default=(), help="also score the model's masks of these centres")
    _predictor_options(p)
    p.add_argument("--out", type=table_file,
                   help="write the per-case metrics (split, patient_id, label, metric, value) here: .csv, .xlsx "
                        "or .parquet")
    p.set_defaults(func=_evaluate)

    p = _step(steps, "predict", "segment a centre's patients in batch (resumable job)",
              "Segment every patient of a centre without a manual mask (or all, with --all) using one loaded "
              "model; masks are stored with the model id as source, post-checked, and flagged cases listed. "
              "A rerun skips patients that already have this model's mask.")
    p.add_argument("--center", required=True, help="centre to segment")
    p.add_argument("--model", help="model id (default: the newest segmentation model)")
    p.add_argument("--all", action="store_true", help="also patients that have a manual mask")
    _predictor_options(p)
    p.add_argument("--tile-step", type=number(0, 1, low_open=True), default=0.5,
                   help="sliding-window step, share of the patch (0.5)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="shard the cases over Dask workers: 'local' (one worker per visible GPU) or a scheduler "
                        "address (workers with --resources GPU=1; CTs are sent, the model folder must be on a "
                        "shared filesystem); default: this process")
    p.set_defaults(func=_predict)

    p = _step(steps, "import-model", "install an nnU-Net model zip and register it",
              "Install a model zip written by export-model or nnUNetv2_export_model_to_zip.")
    p.add_argument("zip", help="nnU-Net model zip")
    p.add_argument("--models-dir", help="where models are stored (default: the repository's models/)")
    p.set_defaults(func=_import_model)

    p = _step(steps, "export-model", "write a model as nnU-Net's model zip",
              "Write a registered model as an nnU-Net model zip (no case names inside) for another centre.")
    p.add_argument("--model", help="model id (default: the newest segmentation model)")
    p.add_argument("--out", required=True, help="zip file to write")
    p.set_defaults(func=_export_model)


def _step(steps: argparse._SubParsersAction, name: str, help: str, description: str) -> argparse.ArgumentParser:
    p = steps.add_parser(name, help=help, description=description)
    p.add_argument("--study", required=True, help="study database (.duckdb)")
    return p


def _predictor_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=_DEVICES, default="auto", help="default: cuda when there is a GPU")
    p.add_argument("--no-mirroring", action="store_true",
                   help="no test-time mirroring (1 network pass per tile instead of 8)")


def _open(args: argparse.Namespace):
    from core.store import Study

    return Study.open(args.study, create=False)


def _models_dir(args: argparse.Namespace):
    from core.segmentation.models import DEFAULT_MODELS_DIR

    return args.models_dir or DEFAULT_MODELS_DIR


def _export(args: argparse.Namespace) -> int:
    from core.segmentation.dataset import read_split
    from core.segmentation.study import export_dataset

    with _open(args) as study:
        raw = export_dataset(study, args.center, args.name, args.dataset_id, args.test_fraction, args.folds, args.seed)
    split = read_split(raw)
    print(f"exported {raw.name}: {len(split.train)} training cases in {len(split.folds)} folds, "
          f"{len(split.test)} test cases\n{raw}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from core.segmentation.study import train

    bar = _EpochBar()
    with _open(args) as study:
        try:
            info = train(study, args.dataset, args.fold, args.configuration, args.trainer, args.epochs, args.device,
                         args.da_workers, _models_dir(args), on_progress=bar)
        finally:
            bar.close()
    print(f"model {info.model_id} (folds {', '.join(map(str, info.folds))})\n{info.path}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from core.segmentation.study import evaluate, model_info

    with _open(args) as study:
        table = evaluate(study, args.model, args.center, args.device, not args.no_mirroring)
        metrics = study.seg_metrics(model_info(study, args.model).model_id) if args.out else None
    print(table.to_string(float_format="{:.3f}".format))
    if metrics is not None:
        from core.exports import write_table
        print(f"wrote {len(metrics)} per-case metric(s) to {write_table(metrics, args.out)}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from core.segmentation.study import flagged, predict

    bar = _CaseBar()
    with _open(args) as study:
        try:
            job_id = predict(study, args.center, args.model, args.all, args.device, not args.no_mirroring,
                             args.tile_step, progress=bar, dask=args.dask)
        finally:
            bar.close()
        job, flags = study.jobs.get(job_id), flagged(study, args.center, args.model)
        failures = study.jobs.cases(job_id).query("state == 'failed'")
    print(f"job {job_id}: {job['state']}; {job['message']}")
    for row in failures.itertuples():
        print(f"failed  {row.case_id}: {row.error}")
    if len(flags):
        print(f"{len(flags)} flagged mask(s); review them before use:")
        print(flags.to_string(index=False, float_format="{:.1f}".format))
    return 1 if job["state"] == "failed" else 0


def _import_model(args: argparse.Namespace) -> int:
    from core.segmentation.study import import_model

    with _open(args) as study:
        info = import_model(study, args.zip, _models_dir(args))
    print(f"model {info.model_id} (folds {', '.join(map(str, info.folds))})\n{info.path}")
    return 0


def _export_model(args: argparse.Namespace) -> int:
    from core.segmentation.study import export_model

    with _open(args) as study:
        print(export_model(study, args.out, args.model))
    return 0


class _EpochBar:
    """A tqdm bar per fold over its epochs, with loss and pseudo-Dice."""

    def __init__(self):
        self.bar, self.fold = None, None

    def __call__(self, progress) -> None:
        from tqdm import tqdm

        if progress.epochs is None:
            return
        if self.bar is None or progress.fold != self.fold:
            self.close()
            self.bar, self.fold = tqdm(total=progress.epochs, desc=f"fold {progress.fold}", unit="epoch"), progress.fold
        if progress.epoch is not None:
            self.bar.update(progress.epoch + 1 - self.bar.n)
            self.bar.set_postfix(loss=progress.train_loss, dice="/".join(f"{d:.2f}" for d in progress.pseudo_dice))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _CaseBar:
    """A tqdm bar over a job's cases (those finished by an earlier run start it off)."""

    def __init__(self):
        self.bar = None

    def __call__(self, progress) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=progress.total, initial=progress.cached, unit="case")
        self.bar.update(progress.finished - self.bar.n)
        if progress.failed:
            self.bar.set_postfix(failed=progress.failed)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
