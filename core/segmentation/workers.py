"""Batch segmentation over Dask workers: one case per task, each worker loading the model once.

The same workers as the extraction's (:func:`core.jobs.run_cases`): ``dask="local"`` starts
one worker per visible GPU (``CUDA_VISIBLE_DEVICES`` set to it), a scheduler address uses a
cluster whose workers declare ``--resources GPU=1``. A worker keeps the loaded predictor
between cases of the same model and settings, so a multi-GPU server or a cluster shards a
batch without reloading per case. The CT goes to the worker as bytes when the workers may not
see this disk; the model folder must be readable at the same path on every worker (a shared
filesystem): a checkpoint is too large to send with each case. The mask comes back as the
bytes of its .nii.gz file, with its label volumes.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from core.jobs.files import ShippedFile, local_path
from core.segmentation.predict import load_predictor, predict_cases

_LOADED: dict[tuple, Any] = {}          # in a worker process: (model folder, device, mirroring, tile step) -> predictor


def predict_case(model_dir: str, device: str, use_mirroring: bool, tile_step_size: float, case_id: str,
                 image: "str | ShippedFile") -> tuple[bytes, dict[str, float]]:
    """Worker side: one case's mask (.nii.gz bytes) and its label volumes (mL); raises on failure."""
    key = (model_dir, device, use_mirroring, tile_step_size)
    if key not in _LOADED:
        _LOADED.clear()                 # one model in memory per worker
        _LOADED[key] = load_predictor(model_dir, device=device, use_mirroring=use_mirroring,
                                      tile_step_size=tile_step_size)
    with local_path(image) as path, tempfile.TemporaryDirectory(prefix="segment-") as tmp:
        out = Path(tmp) / f"{case_id}.nii.gz"
        result = next(predict_cases(_LOADED[key], [(case_id, path, out)]))
        if result.error:
            raise RuntimeError(result.error)
        return out.read_bytes(), result.volumes_ml
