"""The segmentation stage on a study: export, train, evaluate, predict, import and export models.

Each function takes an open :class:`core.store.Study` (the one writer), records its work as a
job or in the audit log, and keeps nnU-Net's folders under ``<study.root>/nnunet``. Case ids
of an export are ``<centre>_<patient_id>`` (characters outside letters, digits, '_' and '-'
become '-'); ``cases.csv`` in the raw dataset maps them back.
"""
from __future__ import annotations

import re
import shutil
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import pandas as pd

from core.segmentation import evaluate as ev
from core.segmentation import models, qc
from core.segmentation import train as tr
from core.segmentation.dataset import make_split, read_split, write_dataset
from core.segmentation.metrics import evaluate_files
from core.segmentation.paths import NnunetPaths, dataset_id, model_folder
from core.segmentation.predict import Prediction, load_predictor, predict_cases, resolve_device

if TYPE_CHECKING:
    from distributed import Client

    from core.jobs.tracker import ProgressCallback
    from core.store import Study

KIND = "segmentation"
MANUAL = "manual"


def nnunet_paths(study: "Study") -> NnunetPaths:
    """The study's nnU-Net folders: ``<study.root>/nnunet/{raw,preprocessed,results}``."""
    return NnunetPaths.for_study_root(study.root)


def export_dataset(study: "Study", centers: Sequence[str], name: str = "Liver", dataset_id: int | None = None,
                   test_fraction: float = 0.2, n_folds: int = 5, seed: int = 12345) -> Path:
    """Export the patients with manual masks of ``centers`` as a new nnU-Net dataset; returns its raw folder."""
    rows = []
    for center in centers:
        images = _verified(study, study.images(center))
        masks = _verified(study, study.masks(center, MANUAL))
        for patient_id in masks.index.intersection(images.index):
            rows.append({"case_id": re.sub(r"[^A-Za-z0-9_-]", "-", f"{center}_{patient_id}"), "center": center,
                         "patient_id": patient_id, "image": images[patient_id], "mask": masks[patient_id]})
    cases = pd.DataFrame(rows, columns=["case_id", "center", "patient_id", "image", "mask"])
    if cases.empty:
        raise ValueError(f"no patient of {', '.join(centers)} has both an image and a manual mask")
    clashes = sorted(cases.loc[cases["case_id"].duplicated(), "case_id"])
    if clashes:
        raise ValueError(f"case ids clash after replacing unusual characters: {clashes}")
    paths = nnunet_paths(study)
    dataset_id = paths.next_dataset_id() if dataset_id is None else dataset_id
    split = make_split(cases["case_id"], test_fraction, n_folds, seed)
    raw = write_dataset(paths, dataset_id, name, cases[["case_id", "image", "mask"]].itertuples(index=False), split)
    cases.assign(subset=["test" if c in split.test else "train" for c in cases["case_id"]]) \
        .drop(columns=["image", "mask"]).to_csv(raw / "cases.csv", index=False)
    study.audit("segmentation export", {"dataset": raw.name, "centers": list(centers), "cases": len(cases),
                                        "test": len(split.test), "folds": n_folds, "seed": seed})
    return raw


def resolve_dataset(study: "Study", dataset: int | str | None) -> str:
    """The dataset folder name for an id (501), a name (Dataset501_Liver) or None (the newest export)."""
    paths = nnunet_paths(study)
    if dataset is None:
        exported = sorted(p.name for p in paths.raw.glob("Dataset*_*")) if paths.raw.is_dir() else []
        if not exported:
            raise ValueError(f"no exported dataset in {paths.raw}: run `segment export` first")
        return exported[-1]
    return paths.dataset_name(dataset_id(str(dataset)) if str(dataset).startswith("Dataset") else int(dataset))


def train(study: "Study", dataset: int | str | None = None, folds: Sequence[int] | None = None,
          configuration: str = tr.CONFIGURATION, trainer: str = tr.TRAINER, epochs: int | None = None,
          device: str = "auto", da_workers: int | None = None, models_dir: str | Path = models.DEFAULT_MODELS_DIR,
          on_progress: Callable[[tr.TrainProgress], None] | None = None,
          cancel: threading.Event | None = None) -> models.ModelInfo:
    """Plan, preprocess and train ``folds`` (default all) as one job; store and register the model.

    Runs again after an interruption: preprocessing and finished folds are skipped and an
    unfinished fold resumes from its checkpoint. ``cancel`` (or the job's ``cancelling``
    state) stops the training at the next poll. Job progress counts epochs over all folds.
    """
    paths, dataset_name = nnunet_paths(study), resolve_dataset(study, dataset)
    trainer = tr.trainer_for_epochs(epochs, trainer)
    folds = list(range(len(read_split(paths.raw / dataset_name).folds)) if folds is None else folds)
    device = resolve_device(device)
    params = {"dataset": dataset_name, "folds": folds, "configuration": configuration, "trainer": trainer,
              "device": device}
    job_id = study.jobs.create("segmentation training", None, params, total=len(folds))
    try:
        study.jobs.update(job_id, message="planning and preprocessing")
        tr.plan_and_preprocess(paths, dataset_name, configuration)
        for i, fold in enumerate(folds):
            started = time.perf_counter()
            reporter = _FoldReporter(study, job_id, len(folds), i, on_progress, cancel)
            tr.train_fold(paths, dataset_name, fold, configuration, trainer, device, da_workers, reporter)
            study.jobs.case(job_id, f"fold {fold}", "done", seconds=time.perf_counter() - started)
        trained_dir = model_folder(paths.results, dataset_name, trainer, configuration)
        info = models.store_trained(trained_dir, models_dir, folds)
        _register(study, info, trained_dir=str(trained_dir), source="trained", job_id=job_id)
        study.jobs.update(job_id, state="done", message=f"model {info.model_id}")
        return info
    except tr.TrainingCancelled as exc:
        study.jobs.update(job_id, state="cancelled", message=str(exc))
        raise
    except BaseException as exc:
        study.jobs.abort(job_id, exc)
        raise


class _FoldReporter:
    """Turns one fold's :class:`TrainProgress` into job updates (when it changes); answers "go on?"."""

    def __init__(self, study: "Study", job_id: int, n_folds: int, index: int,
                 on_progress: Callable[[tr.TrainProgress], None] | None, cancel: threading.Event | None):
        self.study, self.job_id, self.n_folds, self.index = study, job_id, n_folds, index
        self.on_progress, self.cancel, self.last = on_progress, cancel, ""

    def __call__(self, progress: tr.TrainProgress) -> bool:
        if progress.summary() != self.last:
            self.last = progress.summary()
            epochs = progress.epochs or 1
            done = self.index * epochs + (0 if progress.epoch is None else progress.epoch + 1)
            self.study.jobs.update(self.job_id, total=self.n_folds * epochs, done=done, message=self.last)
            if self.on_progress is not None:
                self.on_progress(progress)
        cancelled = self.cancel is not None and self.cancel.is_set()
        return not (cancelled or self.study.jobs.cancel_requested(self.job_id))


def model_info(study: "Study", model_id: str | None = None) -> models.ModelInfo:
    """A registered segmentation model (default: the newest one)."""
    if model_id is None:
        registered = study.models(KIND)
        if registered.empty:
            raise ValueError("no segmentation model in this study: train or import one")
        model_id = registered["model_id"].iloc[-1]
    return models.describe(study.model(model_id)["path"])


def evaluate(study: "Study", model_id: str | None = None, centers: Sequence[str] = (), device: str = "auto",
             use_mirroring: bool = True) -> pd.DataFrame:
    """Score a model and return Table 1; per-case metrics are stored (study.seg_metrics).

    A model trained in this study is scored on its cross-validation folds and held-out test
    cases; for each of ``centers`` its stored masks are scored against the manual masks
    (predict them first). Splits scored now replace the model's earlier rows of those splits.
    """
    info = model_info(study, model_id)
    payload = study.model(info.model_id)
    frames = []
    if "trained_dir" in payload:
        raw = nnunet_paths(study).raw / info.dataset
        frames.append(ev.cross_validation_metrics(payload["trained_dir"], raw, [f for f in info.folds if f != "all"]))
        predictor = load_predictor(info.path, device=device, use_mirroring=use_mirroring)
        frames.append(ev.test_metrics(predictor, raw, nnunet_paths(study).root / "test_predictions" / info.model_id))
    for center in centers:
        manual = _verified(study, study.masks(center, MANUAL))
        predicted = _verified(study, study.masks(center, info.model_id))
        both = manual.index.intersection(predicted.index)
        if both.empty:
            raise ValueError(f"centre {center}: no patient has both a manual mask and one from {info.model_id}")
        frames.append(evaluate_files(((p, predicted[p], manual[p]) for p in both), f"centre {center}"))
    if not frames:
        raise ValueError(f"{info.model_id} was not trained in this study: name centres to evaluate it on")
    new = pd.concat(frames, ignore_index=True).rename(columns={"case_id": "patient_id"})
    old = study.seg_metrics(info.model_id)
    metrics = pd.concat([old[~old["split"].isin(new["split"])], new], ignore_index=True)
    study.write_seg_metrics(info.model_id, metrics)
    table = ev.table1(metrics)
    study.register_model(info.model_id, KIND, {**payload, "metrics": {
        split: {f"{label} {metric}": value for (label, metric), value in column.items()}
        for split, column in table.items()}})
    return table


def predict(study: "Study", center: str, model_id: str | None = None, all_patients: bool = False,
            device: str = "auto", use_mirroring: bool = True, tile_step_size: float = 0.5,
            progress: ProgressCallback | None = None, cancel: threading.Event | None = None,
            dask: "str | Client | None" = None) -> int:
    """Segment a centre's patients (those without manual masks, or all) with one loaded model; returns the job id.

    ``dask``: ``"local"`` (one worker per visible GPU, or a LocalCluster without one), a
    scheduler address or a ``distributed.Client``: the cases are sharded over the workers
    (:mod:`core.segmentation.workers`); default: this process, one predictor for the batch.

    Patients that already have a mask from this model count as done (``skipped``), so a rerun
    continues an interrupted batch. Each mask is stored with the model id as source and its
    post-check flags (no tumour, implausible liver volume; :mod:`core.segmentation.qc`), which
    also go into the job's case rows. ``progress`` gets a :class:`core.jobs.Progress` per case.
    """
    from core.jobs import JobTracker

    info = model_info(study, model_id)
    images = study.images(center)
    if not all_patients:
        images = images[~images["patient_id"].isin(study.masks(center, MANUAL)["patient_id"])]
    existing = set(study.masks(center, info.model_id)["patient_id"])
    todo = images[~images["patient_id"].isin(existing)]
    params = {"model_id": info.model_id, "all": all_patients, "mirroring": use_mirroring,
              "tile_step_size": tile_step_size}
    tracker = JobTracker.start(study, "segmentation prediction", center, params, len(images), progress, cancel,
                               resume={"model_id": info.model_id, "all": all_patients})
    tracker.cached(sorted(existing & set(images["patient_id"])), reason=f"mask from {info.model_id} exists")
    bounds = qc.robust_bounds(_manual_liver_volumes(study))
    out_dir = nnunet_paths(study).root / "predictions" / info.model_id / center
    try:
        if len(todo) and dask is not None:
            for result in _predict_on_workers(info.path, device, use_mirroring, tile_step_size,
                                              _verified(study, todo), out_dir, dask, tracker.should_stop):
                _store_prediction(study, tracker, center, info.model_id, result, bounds)
        elif len(todo):
            predictor = load_predictor(info.path, device=device, use_mirroring=use_mirroring,
                                       tile_step_size=tile_step_size)
            paths = _verified(study, todo)
            cases = [(p, paths[p], out_dir / f"{p}.nii.gz") for p in todo["patient_id"]]
            with closing(predict_cases(predictor, cases)) as results:
                for result in results:
                    _store_prediction(study, tracker, center, info.model_id, result, bounds)
                    if tracker.should_stop():
                        break
        tracker.finish()
        return tracker.job_id
    except BaseException as exc:
        tracker.abort(exc)
        raise
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def _predict_on_workers(model_dir, device: str, use_mirroring: bool, tile_step_size: float, paths: pd.Series,
                        out_dir: Path, dask: "str | Client", should_stop) -> Iterator[Prediction]:
    """Predictions of the cases (patient -> CT path) from Dask workers, as they finish; each mask
    is written under ``out_dir`` here."""
    from core.jobs import run_cases
    from core.jobs.files import file_ref
    from core.segmentation.workers import predict_case

    remote = isinstance(dask, str) and dask != "local"
    tasks = ((pid, (str(model_dir), device, use_mirroring, tile_step_size, pid, file_ref(path, remote)))
             for pid, path in paths.items())
    with closing(run_cases(predict_case, tasks, dask=dask, gpu=device in ("auto", "cuda"),
                           should_stop=should_stop)) as outcomes:
        for outcome in outcomes:
            out = out_dir / f"{outcome.case_id}.nii.gz"
            if not outcome.ok:
                yield Prediction(outcome.case_id, out, outcome.seconds or 0.0, error=outcome.error)
                continue
            data, volumes = outcome.value
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
            yield Prediction(outcome.case_id, out, outcome.seconds or 0.0, volumes)


def _store_prediction(study: "Study", tracker, center: str, model_id: str, result: Prediction,
                      bounds: tuple[float, float] | None) -> None:
    """Store one predicted mask with its flags (or record its failure) and count it in the job."""
    if result.error:
        tracker.failed(result.case_id, result.error, result.seconds)
        return
    flags = qc.mask_flags(result.volumes_ml, bounds)
    study.add_masks(center, model_id, {result.case_id: result.path}, flags={result.case_id: flags} if flags else None)
    study.jobs.case(tracker.job_id, result.case_id, "done", error=flags, seconds=result.seconds)
    tracker.succeeded(result.case_id, recorded=True)
    result.path.unlink()


def flagged(study: "Study", center: str, model_id: str | None = None) -> pd.DataFrame:
    """A centre's masks from a model whose post-checks found problems: patient_id, liver_ml, tumor_ml, flags."""
    masks = study.masks(center, model_info(study, model_id).model_id)
    return masks.loc[masks["flags"].notna(), ["patient_id", "liver_ml", "tumor_ml", "flags"]].reset_index(drop=True)


def import_model(study: "Study", zip_path: str | Path,
                 models_dir: str | Path = models.DEFAULT_MODELS_DIR) -> models.ModelInfo:
    """Install an nnU-Net model zip into ``models_dir`` and register it in the study."""
    info = models.install_zip(zip_path, models_dir)
    _register(study, info, source=f"imported from {Path(zip_path).name}")
    return info


def export_model(study: "Study", zip_path: str | Path, model_id: str | None = None) -> Path:
    """Write a registered model as nnU-Net's model zip (for another centre)."""
    info = model_info(study, model_id)
    out = models.export_zip(info.path, zip_path)
    study.audit("segmentation model export", {"model_id": info.model_id, "zip": str(out)})
    return out


def _register(study: "Study", info: models.ModelInfo, **extra) -> None:
    """Register (or update) a model; an earlier record's other entries (e.g. metrics) are kept."""
    registered = study.models(KIND).set_index("model_id")["payload"]
    study.register_model(info.model_id, KIND, {**registered.get(info.model_id, {}), **info.payload(), **extra})


def _manual_liver_volumes(study: "Study") -> list[float]:
    """Whole-liver volumes (liver + tumour labels, mL) of every manual mask in the study."""
    masks = [study.masks(c, MANUAL) for c in study.centers()["center"]]
    masks = [m for m in masks if not m.empty]
    if not masks:
        return []
    both = pd.concat(masks)
    return (both["liver_ml"] + both["tumor_ml"]).tolist()


def _verified(study: "Study", files: pd.DataFrame) -> pd.Series:
    """patient_id -> path of each stored file (patient_id, sha256), checked against its SHA-256."""
    return pd.Series([str(study.verified_path(sha)) for sha in files["sha256"]], index=files["patient_id"], dtype=object)
