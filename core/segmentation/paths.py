"""Where nnU-Net's folders are, and the one place that sets nnU-Net's environment variables.

nnU-Net v2 finds its data through ``nnUNet_raw``, ``nnUNet_preprocessed``, ``nnUNet_results``
and external trainers through ``nnUNet_extTrainer``; it reads them when used. The project sets
them from a study's folder (``<study.root>/nnunet/{raw,preprocessed,results}``), never from
the user's shell: :func:`nnunet_env` for this process, :meth:`NnunetPaths.environ` for
subprocesses. ``nnUNet_def_n_proc`` is read once when nnunetv2 is imported, so importing
this package sets its default (the CPU count, at most nnU-Net's own 8).
"""
from __future__ import annotations

import io
import os
import re
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

os.environ.setdefault("nnUNet_def_n_proc", str(min(8, os.cpu_count() or 1)))

TRAINERS_DIR = Path(__file__).resolve().parent / "trainers"
"""Folder of the project's nnU-Net trainers (searched through ``nnUNet_extTrainer``)."""

LABELS = {"background": 0, "liver": 1, "tumour": 2}
"""Label values of every mask: 1 non-tumoral liver, 2 tumour."""

FILE_ENDING = ".nii.gz"
FIRST_DATASET_ID = 501
_DATASET_RE = re.compile(r"^Dataset(\d{3})_(.+)$")


@dataclass(frozen=True)
class NnunetPaths:
    """The three nnU-Net folders under one root."""

    root: Path

    @classmethod
    def for_study_root(cls, study_root: str | os.PathLike) -> "NnunetPaths":
        """nnU-Net folders of a study: ``<study_root>/nnunet``."""
        return cls(Path(study_root) / "nnunet")

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def preprocessed(self) -> Path:
        return self.root / "preprocessed"

    @property
    def results(self) -> Path:
        return self.root / "results"

    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """A copy of ``base`` (default ``os.environ``) with nnU-Net's variables set to these folders."""
        env = dict(os.environ if base is None else base)
        env.update(nnUNet_raw=str(self.raw), nnUNet_preprocessed=str(self.preprocessed),
                   nnUNet_results=str(self.results), nnUNet_extTrainer=str(TRAINERS_DIR))
        return env

    def dataset_name(self, dataset_id: int) -> str:
        """The ``DatasetXXX_Name`` folder name of an exported dataset; KeyError if none."""
        for name in _dataset_names(self):
            if int(_DATASET_RE.match(name).group(1)) == dataset_id:
                return name
        raise KeyError(f"no nnU-Net dataset {dataset_id:03d} under {self.root}")

    def used_dataset_ids(self) -> set[int]:
        """Dataset ids present in any of the three folders (nnU-Net needs them unique across all)."""
        return {int(_DATASET_RE.match(n).group(1)) for n in _dataset_names(self)}

    def next_dataset_id(self) -> int:
        """The smallest free dataset id from 501 on."""
        used = self.used_dataset_ids()
        return next(i for i in range(FIRST_DATASET_ID, 1000) if i not in used)


def _dataset_names(paths: NnunetPaths) -> set[str]:
    names = set()
    for folder in (paths.raw, paths.preprocessed, paths.results):
        if folder.is_dir():
            names |= {p.name for p in folder.iterdir() if p.is_dir() and _DATASET_RE.match(p.name)}
    return names


def dataset_folder_name(dataset_id: int, name: str) -> str:
    """``Dataset501_Liver`` from 501 and ``Liver`` (id 1..999; name letters, digits, '-')."""
    if not 1 <= dataset_id <= 999:
        raise ValueError(f"dataset id must be 1..999, got {dataset_id}")
    if not re.fullmatch(r"[A-Za-z0-9-]+", name):
        raise ValueError(f"dataset name {name!r}: use letters, digits and '-' only")
    return f"Dataset{dataset_id:03d}_{name}"


def dataset_id(dataset_name: str) -> int:
    """501 from ``Dataset501_Liver``."""
    match = _DATASET_RE.match(dataset_name)
    if not match:
        raise ValueError(f"{dataset_name!r} is not an nnU-Net dataset name (DatasetXXX_Name)")
    return int(match.group(1))


def model_folder(results: str | os.PathLike, dataset_name: str, trainer: str, configuration: str,
                 plans: str = "nnUNetPlans") -> Path:
    """nnU-Net's trained-model folder ``<results>/<dataset>/<trainer>__<plans>__<configuration>``."""
    return Path(results) / dataset_name / f"{trainer}__{plans}__{configuration}"


@contextmanager
def nnunet_env(**folders: str | os.PathLike | None) -> Iterator[None]:
    """Set nnU-Net variables in this process (e.g. ``nnUNet_results=...``) and restore them after.

    ``nnUNet_extTrainer`` is always set to the project's trainers folder.
    """
    values = {"nnUNet_extTrainer": str(TRAINERS_DIR), **{k: str(v) for k, v in folders.items() if v is not None}}
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def quiet() -> Iterator[None]:
    """Hide nnU-Net's chatter on stdout (its progress prints) inside the block."""
    with redirect_stdout(io.StringIO()):
        yield
