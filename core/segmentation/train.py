"""Plan, preprocess and train with nnU-Net's own entry points, each in a subprocess.

A subprocess keeps torch out of the caller and makes training cancellable (its whole process
group is stopped). Progress is read from nnU-Net's training log; a fold with a checkpoint
resumes from it (nnU-Net's ``--c``: final, then latest, then best checkpoint).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from core.segmentation.paths import NnunetPaths, dataset_id, model_folder

PLANS = "nnUNetPlans"
CONFIGURATION = "3d_fullres"
TRAINER = "nnUNetTrainer"
EPOCH_VARIANTS = (1, 5, 10, 20, 50, 100, 250, 500, 750, 1000, 2000, 4000, 8000)
"""Epoch counts that nnU-Net ships a trainer for (``nnUNetTrainer_<n>epochs``; 1000 is the default)."""

_CHECKPOINTS = ("checkpoint_final.pth", "checkpoint_latest.pth", "checkpoint_best.pth")
_NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"


class TrainingError(RuntimeError):
    """An nnU-Net subprocess failed; the message ends with its last log lines."""


class TrainingCancelled(RuntimeError):
    """Training was stopped on request; the fold resumes from its checkpoint next time."""


@dataclass
class TrainProgress:
    """What nnU-Net's log says about one fold: the last finished epoch and its numbers."""

    fold: int | str
    epochs: int | None = None                       # planned epochs (from the trainer's debug.json)
    epoch: int | None = None                        # last finished epoch, 0-based
    train_loss: float | None = None
    val_loss: float | None = None
    pseudo_dice: list[float] = field(default_factory=list)  # per foreground label (liver, tumour)
    epoch_seconds: float | None = None
    stage: str = "starting"                         # starting, training, validating, done

    def summary(self) -> str:
        """One line for a job message: ``fold 0: epoch 12/1000, loss -0.61, pseudo-Dice 0.91/0.55``."""
        if self.epoch is None:
            return f"fold {self.fold}: {self.stage}"
        dice = "/".join(f"{d:.2f}" for d in self.pseudo_dice)
        return (f"fold {self.fold}: epoch {self.epoch + 1}/{self.epochs or '?'}, loss {self.train_loss:.3f}, "
                f"pseudo-Dice {dice}" + (f", {self.epoch_seconds:.0f} s/epoch" if self.epoch_seconds else "")
                + ("" if self.stage == "training" else f" ({self.stage})"))


def trainer_for_epochs(epochs: int | None, trainer: str = TRAINER) -> str:
    """nnU-Net's built-in trainer that trains ``epochs`` epochs (``None``: ``trainer`` as given)."""
    if epochs is None:
        return trainer
    if trainer != TRAINER or epochs not in EPOCH_VARIANTS:
        raise ValueError(f"epochs={epochs} needs nnUNetTrainer and one of nnU-Net's variants {EPOCH_VARIANTS}; "
                         f"for other lengths use a trainer class (--trainer)")
    return TRAINER if epochs == 1000 else "nnUNetTrainer_1epoch" if epochs == 1 else f"nnUNetTrainer_{epochs}epochs"


def plan_and_preprocess(paths: NnunetPaths, dataset_name: str, configuration: str = CONFIGURATION) -> None:
    """Fingerprint, plan (nnU-Net's default planner) and preprocess one configuration; skipped when done.

    Uses ``nnUNet_def_n_proc`` worker processes (see :mod:`core.segmentation.paths`).
    """
    if is_preprocessed(paths, dataset_name, configuration):
        return
    n = os.environ["nnUNet_def_n_proc"]
    cmd = [sys.executable, "-m", "nnunetv2.experiment_planning.plan_and_preprocess_entrypoints",
           "-d", str(dataset_id(dataset_name)), "-c", configuration, "-np", n, "-npfp", n, "--verify_dataset_integrity"]
    log = paths.root / "logs" / f"{dataset_name}_plan_{configuration}.log"
    proc = _start(cmd, paths.environ(), log)
    _finish(proc, log)


def is_preprocessed(paths: NnunetPaths, dataset_name: str, configuration: str) -> bool:
    """True when plans exist and every training case is preprocessed for ``configuration``."""
    plans_file = paths.preprocessed / dataset_name / f"{PLANS}.json"
    if not plans_file.exists():
        return False
    config = json.loads(plans_file.read_text())["configurations"].get(configuration)
    n_train = json.loads((paths.raw / dataset_name / "dataset.json").read_text())["numTraining"]
    data = paths.preprocessed / dataset_name / (config or {}).get("data_identifier", "-")
    gt = paths.preprocessed / dataset_name / "gt_segmentations"
    return (config is not None and data.is_dir() and len(list(data.glob("*.pkl"))) == n_train
            and gt.is_dir() and len(list(gt.iterdir())) == n_train)


def fold_status(fold_dir: str | os.PathLike) -> str:
    """``done`` (final checkpoint and validation summary), ``resume`` (a checkpoint) or ``new``."""
    fold_dir = Path(fold_dir)
    if (fold_dir / _CHECKPOINTS[0]).exists() and (fold_dir / "validation" / "summary.json").exists():
        return "done"
    return "resume" if any((fold_dir / c).exists() for c in _CHECKPOINTS) else "new"


def train_command(dataset_name: str, fold: int | str, configuration: str, trainer: str, device: str,
                  resume: bool) -> list[str]:
    """The ``nnUNetv2_train`` command line (as ``python -m``), with ``--c`` when resuming."""
    cmd = [sys.executable, "-m", "nnunetv2.run.run_training", dataset_name, configuration, str(fold),
           "-tr", trainer, "-p", PLANS, "-device", device]
    return cmd + ["--c"] if resume else cmd


def train_fold(paths: NnunetPaths, dataset_name: str, fold: int | str, configuration: str = CONFIGURATION,
               trainer: str = TRAINER, device: str = "cuda", da_workers: int | None = None,
               on_progress: Callable[[TrainProgress], bool | None] | None = None,
               poll_seconds: float = 5.0) -> Path:
    """Train (or resume, or skip when done) one fold; returns its folder.

    ``on_progress`` gets a :class:`TrainProgress` every ``poll_seconds``; returning False stops
    the training (TrainingCancelled). ``da_workers`` sets nnU-Net's data-augmentation
    processes (``nnUNet_n_proc_DA``; 0 runs augmentation in the training process).
    """
    fold_dir = model_folder(paths.results, dataset_name, trainer, configuration) / f"fold_{fold}"
    status = fold_status(fold_dir)
    if status == "done":
        return fold_dir
    env = paths.environ()
    if da_workers is not None:
        env["nnUNet_n_proc_DA"] = str(da_workers)
    log = paths.root / "logs" / f"{dataset_name}_{trainer}_{configuration}_fold{fold}.log"
    proc = _start(train_command(dataset_name, fold, configuration, trainer, device, status == "resume"), env, log)
    try:
        while proc.poll() is None:
            if on_progress is not None and on_progress(read_progress(fold_dir, fold)) is False:
                _stop(proc)
                raise TrainingCancelled(f"training of fold {fold} stopped; it resumes from its checkpoint")
            time.sleep(poll_seconds)
    finally:
        _stop(proc)
    _finish(proc, log)
    if on_progress is not None:
        on_progress(read_progress(fold_dir, fold))
    return fold_dir


def read_progress(fold_dir: str | os.PathLike, fold: int | str) -> TrainProgress:
    """Parse nnU-Net's ``training_log_*.txt`` files (all runs of this fold, oldest first)."""
    fold_dir = Path(fold_dir)
    progress = TrainProgress(fold=fold)
    debug = fold_dir / "debug.json"
    if debug.exists():
        progress.epochs = int(json.loads(debug.read_text())["num_epochs"])
    text = "".join(p.read_text(errors="replace") for p in sorted(fold_dir.glob("training_log_*.txt")))
    return parse_log(text, progress)


def parse_log(text: str, progress: TrainProgress) -> TrainProgress:
    """Fill ``progress`` from the text of nnU-Net training logs (numpy reprs such as np.float32(0.5) allowed)."""
    text = re.sub(r"np\.\w+\(([^)]*)\)", r"\1", text)
    epochs = list(re.finditer(r": Epoch (\d+)\s*$", text, flags=re.MULTILINE))
    for match in reversed(epochs):  # the last epoch whose "Epoch time" line is written
        block = text[match.end():]
        if "Epoch time:" in block:
            progress.stage = "training"
            progress.epoch = int(match.group(1))
            progress.train_loss = _number(r"train_loss (\S+)", block)
            progress.val_loss = _number(r"val_loss (\S+)", block)
            progress.epoch_seconds = _number(r"Epoch time: (\S+) s", block)
            dice = re.search(r"Pseudo dice \[([^\]]*)\]", block)
            progress.pseudo_dice = [float(v) for v in re.findall(_NUMBER, dice.group(1))] if dice else []
            break
    if "Training done." in text:
        progress.stage = "validating"
    if "Validation complete" in text:
        progress.stage = "done"
    return progress


def _number(pattern: str, text: str) -> float | None:
    match = re.search(pattern, text)
    return float(match.group(1)) if match else None


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _finish(proc: subprocess.Popen, log: Path) -> None:
    if proc.wait() != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise TrainingError(f"nnU-Net exited with code {proc.returncode} (log: {log}):\n{tail}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop the subprocess and its workers (its own process group), if still running."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
