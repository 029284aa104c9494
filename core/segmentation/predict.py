"""Batch prediction with one loaded nnU-Net predictor.

:func:`load_predictor` builds an ``nnUNetPredictor`` and loads the model once;
:func:`predict_cases` then runs every case through nnU-Net's own public steps, as a
three-stage pipeline so that the device never waits for the disk:

1. a reader thread loads the next CT (nnU-Net's ``SimpleITKIO``) and preprocesses it
   (the configuration's preprocessor, ``run_case_npy``), one case ahead;
2. this thread predicts logits (``predict_logits_from_preprocessed_data``: sliding window,
   Gaussian weighting, test-time mirroring as configured, all folds averaged);
3. a writer thread turns logits into the label map at the original geometry
   (``convert_predicted_logits_to_segmentation_with_correct_shape``), writes it atomically
   and counts label volumes.

These are the steps ``predict_single_npy_array`` chains one after the other, so masks are
identical to it (the benchmark ``bench/segmentation_gpu.py`` checks this).
"""
from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from core.segmentation.paths import LABELS, nnunet_env, quiet

CasePaths = tuple[str, "str | os.PathLike", "str | os.PathLike"]
"""(case_id, CT image path, output mask path .nii.gz)."""


@dataclass(frozen=True)
class Prediction:
    """One predicted case: the written mask and its label volumes, or the error that stopped it."""

    case_id: str
    path: Path
    seconds: float                      # wall time since the previous case finished (throughput)
    volumes_ml: dict[str, float] | None = None   # {"liver": mL, "tumour": mL}
    error: str | None = None


def resolve_device(device: str = "auto") -> str:
    """``cuda`` when asked or (for ``auto``) when a GPU is visible, else ``cpu``."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_predictor(model_dir: str | os.PathLike, folds: Sequence[int | str] | None = None, device: str = "auto",
                   use_mirroring: bool = True, tile_step_size: float = 0.5,
                   checkpoint: str = "checkpoint_final.pth"):
    """An ``nnUNetPredictor`` with the model in ``model_dir`` (``<trainer>__<plans>__<config>``) loaded.

    ``folds`` None uses every fold with a checkpoint (their logits are averaged). Mirroring
    and a tile step of 0.5 are nnU-Net's defaults.
    """
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    with nnunet_env(), quiet():  # nnUNet_extTrainer: the checkpoint may name one of the project's trainers
        predictor = nnUNetPredictor(tile_step_size=tile_step_size, use_gaussian=True, use_mirroring=use_mirroring,
                                    perform_everything_on_device=True, device=torch.device(resolve_device(device)),
                                    verbose=False, verbose_preprocessing=False, allow_tqdm=False)
        predictor.initialize_from_trained_model_folder(str(model_dir), use_folds=None if folds is None else
                                                       tuple(folds), checkpoint_name=checkpoint)
    return predictor


def predict_cases(predictor, cases: Iterable[CasePaths], max_pending_writes: int = 2) -> Iterator[Prediction]:
    """Predict each case with ``predictor`` and write its mask; yields results in input order.

    A case that fails (unreadable image, ...) yields a Prediction with ``error`` and the batch
    goes on. Masks are written to a temporary name and renamed, so an existing output file is
    always complete.
    """
    import torch

    cases = list(cases)
    with ThreadPoolExecutor(1, "nnunet-read") as reader, ThreadPoolExecutor(1, "nnunet-write") as writer:
        loads: deque[Future] = deque(reader.submit(_load, predictor, c[1]) for c in cases[:2])
        writes: deque[tuple[str, Path, Future]] = deque()
        last = time.perf_counter()
        for i, (case_id, _, out) in enumerate(cases):
            loading = loads.popleft()
            if i + 2 < len(cases):
                loads.append(reader.submit(_load, predictor, cases[i + 2][1]))
            try:
                data, properties = loading.result()
                logits = predictor.predict_logits_from_preprocessed_data(torch.from_numpy(data)).cpu()
                future = writer.submit(_save, predictor, logits, properties, Path(out))
            except Exception as exc:  # one bad case must not stop the batch
                future = _failed(exc)
            writes.append((case_id, Path(out), future))
            while writes and (len(writes) > max_pending_writes or writes[0][2].done()):
                result, last = _result(*writes.popleft(), last)
                yield result
        while writes:
            result, last = _result(*writes.popleft(), last)
            yield result


def _load(predictor, image_path) -> tuple[np.ndarray, dict]:
    """Read a CT as nnU-Net does and preprocess it: (1, z, y, x) float32 and its properties."""
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    image, properties = SimpleITKIO().read_images([str(image_path)])
    preprocessor = predictor.configuration_manager.preprocessor_class(verbose=False)
    data, _, properties = preprocessor.run_case_npy(image, None, properties, predictor.plans_manager,
                                                    predictor.configuration_manager, predictor.dataset_json)
    return np.ascontiguousarray(data, dtype=np.float32), properties


def _save(predictor, logits, properties: dict, out: Path) -> dict[str, float]:
    """Logits -> label map in the CT's geometry, written atomically; returns label volumes (mL)."""
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
    from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape

    seg = convert_predicted_logits_to_segmentation_with_correct_shape(
        logits, predictor.plans_manager, predictor.configuration_manager, predictor.label_manager, properties)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name.replace(".nii.gz", ".partial.nii.gz"))
    SimpleITKIO().write_seg(seg, str(tmp), properties)
    os.replace(tmp, out)
    return label_volumes_ml(seg, properties["sitk_stuff"]["spacing"])


def label_volumes_ml(mask: np.ndarray, spacing: Sequence[float]) -> dict[str, float]:
    """Volume (mL) of each foreground label of ``mask`` given voxel ``spacing`` (mm, any axis order)."""
    counts = np.bincount(mask.ravel(), minlength=max(LABELS.values()) + 1)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    return {name: float(counts[value]) * voxel_ml for name, value in LABELS.items() if value}


def _failed(exc: Exception) -> Future:
    future: Future = Future()
    future.set_exception(exc)
    return future


def _result(case_id: str, out: Path, future: Future, last: float) -> tuple[Prediction, float]:
    try:
        volumes, error = future.result(), None
    except Exception as exc:
        volumes, error = None, f"{type(exc).__name__}: {exc}"
    now = time.perf_counter()
    return Prediction(case_id, out, now - last, volumes, error), now
