"""Segmentation models kept as nnU-Net model folders and shared as nnU-Net's own model zip.

A model lives in ``<models_dir>/<model_id>/<DatasetXXX_Name>/<trainer>__<plans>__<config>/``
(an nnU-Net results tree of its own, so models of different centres never clash). The id
names dataset, trainer and configuration plus the first 8 hex digits of a SHA-256 over the
folds' final checkpoints: the same weights get the same id at every centre. Zips are made
and read by nnU-Net (``export_pretrained_model``, ``install_model_from_zip_file``), so
``nnUNetv2_install_pretrained_model_from_zip`` accepts ours and we accept nnU-Net's.
Exported zips carry no case names: each fold's ``debug.json`` (host name, local paths) is
left out and ``validation/summary.json`` keeps only its mean metrics.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from core.segmentation.paths import nnunet_env, quiet

CHECKPOINT = "checkpoint_final.pth"
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "segmentation"
"""The repository's ``models/segmentation`` folder."""


@dataclass(frozen=True)
class ModelInfo:
    """What a model folder holds."""

    model_id: str
    dataset: str
    trainer: str
    plans: str
    configuration: str
    folds: list[int | str]
    path: Path  # the <trainer>__<plans>__<config> folder nnU-Net's predictor loads

    def payload(self) -> dict:
        """The study's model record (without the id)."""
        return {"dataset": self.dataset, "trainer": self.trainer, "plans": self.plans,
                "configuration": self.configuration, "folds": self.folds, "path": str(self.path)}


def describe(model_dir: str | os.PathLike) -> ModelInfo:
    """Read dataset, trainer, plans, configuration and trained folds from a model folder's path and files."""
    model_dir = Path(model_dir)
    parts = model_dir.name.split("__")
    if len(parts) != 3 or not model_dir.parent.name.startswith("Dataset"):
        raise ValueError(f"{model_dir} is not an nnU-Net model folder (DatasetXXX_Name/trainer__plans__config)")
    folds = sorted((_fold(p.parent.name) for p in model_dir.glob(f"fold_*/{CHECKPOINT}")), key=str)
    if not folds:
        raise ValueError(f"{model_dir} has no fold with {CHECKPOINT}")
    digest = hashlib.sha256()
    for fold in folds:
        digest.update(_sha256(model_dir / f"fold_{fold}" / CHECKPOINT).encode())
    trainer, plans, configuration = parts
    model_id = f"{model_dir.parent.name}__{trainer}__{configuration}__{digest.hexdigest()[:8]}"
    return ModelInfo(model_id, model_dir.parent.name, trainer, plans, configuration, folds, model_dir)


def find_model(models_dir: str | os.PathLike, model_id: str) -> ModelInfo:
    """The installed model ``model_id`` under ``models_dir``; FileNotFoundError if absent."""
    found = list((Path(models_dir) / model_id).glob("Dataset*/*__*__*"))
    if len(found) != 1:
        raise FileNotFoundError(f"no model {model_id} under {models_dir}")
    return describe(found[0])


def install_zip(zip_path: str | os.PathLike, models_dir: str | os.PathLike = DEFAULT_MODELS_DIR) -> ModelInfo:
    """Unpack an nnU-Net model zip (one dataset, one configuration) into ``models_dir``; returns the model.

    Installing the same weights twice keeps the first copy.
    """
    from nnunetv2.model_sharing.model_import import install_model_from_zip_file

    models_dir = Path(models_dir).resolve()
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".installing-", dir=models_dir))
    try:
        with nnunet_env(nnUNet_results=tmp):
            install_model_from_zip_file(str(zip_path))
        found = list(tmp.glob("Dataset*/*__*__*"))
        if len(found) != 1:
            raise ValueError(f"{zip_path}: expected one nnU-Net model (dataset and configuration), found {len(found)}")
        model_id = describe(found[0]).model_id
        if not (models_dir / model_id).exists():
            tmp.chmod(0o755)
            os.replace(tmp, models_dir / model_id)
        return find_model(models_dir, model_id)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def export_zip(model_dir: str | os.PathLike, zip_path: str | os.PathLike,
               folds: Sequence[int | str] | None = None) -> Path:
    """Write nnU-Net's model zip of ``model_dir`` (default: all trained folds).

    nnU-Net needs each fold's ``progress.png`` and ``validation/summary.json``, which
    training writes.
    """
    from nnunetv2.model_sharing.model_export import export_pretrained_model

    info = describe(model_dir)
    zip_path = Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with nnunet_env(nnUNet_results=info.path.parents[1]), quiet():
        export_pretrained_model(info.dataset, str(zip_path), configurations=(info.configuration,),
                                trainer=info.trainer, plans_identifier=info.plans,
                                folds=tuple(info.folds if folds is None else folds))
    _strip_case_data(zip_path)
    return zip_path


def store_trained(model_dir: str | os.PathLike, models_dir: str | os.PathLike = DEFAULT_MODELS_DIR,
                  folds: Sequence[int | str] | None = None) -> ModelInfo:
    """Copy a freshly trained model into ``models_dir`` through its zip (so every stored model exports)."""
    with tempfile.TemporaryDirectory() as tmp:
        return install_zip(export_zip(model_dir, Path(tmp) / "model.zip", folds), models_dir)


def _strip_case_data(zip_path: Path) -> None:
    """Rewrite a model zip without debug.json files and without per-case validation results."""
    tmp = zip_path.with_name(zip_path.name + ".partial")
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename.endswith("/debug.json"):
                continue
            data = src.read(item)
            if item.filename.endswith("/validation/summary.json"):
                summary = json.loads(data)
                summary.pop("metric_per_case", None)
                data = json.dumps(summary, indent=2).encode()
            dst.writestr(item, data)
    os.replace(tmp, zip_path)


def _fold(name: str) -> int | str:
    value = name[len("fold_"):]
    return int(value) if value.isdigit() else value


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
