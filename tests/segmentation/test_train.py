"""Training control without training: log parsing, epochs, resume with --c, cancellation."""
import subprocess
import sys
import time

import pytest

from core.segmentation import train
from core.segmentation.paths import NnunetPaths, model_folder

LOG = """
2026-01-01 10:00:00.000001: Epoch 0 
2026-01-01 10:00:00.000002: Current learning rate: 0.01 
2026-01-01 10:00:09.000003: train_loss 0.1203 
2026-01-01 10:00:09.000004: val_loss -0.0531 
2026-01-01 10:00:09.000005: Pseudo dice [np.float32(0.8123), np.float32(0.4)] 
2026-01-01 10:00:09.000006: Epoch time: 9.2 s 
2026-01-01 10:00:09.000007: Yayy! New best EMA pseudo Dice: 0.6061 
2026-01-01 10:00:10.000001: Epoch 1 
2026-01-01 10:00:10.000002: Current learning rate: 0.00999 
"""


def test_parse_log_reads_last_finished_epoch():
    progress = train.parse_log(LOG, train.TrainProgress(fold=0, epochs=1000))
    assert (progress.epoch, progress.train_loss, progress.val_loss) == (0, 0.1203, -0.0531)
    assert progress.pseudo_dice == [0.8123, 0.4] and progress.epoch_seconds == 9.2
    assert progress.summary() == "fold 0: epoch 1/1000, loss 0.120, pseudo-Dice 0.81/0.40, 9 s/epoch"
    done = train.parse_log(LOG + "x: Training done. \nx: Validation complete \n", train.TrainProgress(fold=0))
    assert done.stage == "done"
    assert train.parse_log("", train.TrainProgress(fold=2)).summary() == "fold 2: starting"


def test_epochs_map_to_nnunet_trainers():
    assert train.trainer_for_epochs(None, "MyTrainer") == "MyTrainer"
    assert train.trainer_for_epochs(1) == "nnUNetTrainer_1epoch"
    assert train.trainer_for_epochs(250) == "nnUNetTrainer_250epochs"
    assert train.trainer_for_epochs(1000) == "nnUNetTrainer"
    with pytest.raises(ValueError):
        train.trainer_for_epochs(123)


def test_second_run_resumes_from_checkpoint_and_finished_fold_is_skipped(tmp_path, monkeypatch):
    paths = NnunetPaths(tmp_path)
    commands = []

    def fake_start(cmd, env, log):
        commands.append(cmd)
        assert env["nnUNet_results"] == str(paths.results) and env["nnUNet_n_proc_DA"] == "0"
        return subprocess.Popen([sys.executable, "-c", "pass"])

    monkeypatch.setattr(train, "_start", fake_start)
    fold_dir = model_folder(paths.results, "Dataset501_Liver", "nnUNetTrainer", "3d_fullres") / "fold_0"
    run = dict(paths=paths, dataset_name="Dataset501_Liver", fold=0, device="cpu", da_workers=0, poll_seconds=0.05)
    train.train_fold(**run)
    assert commands[-1][-6:] == ["-tr", "nnUNetTrainer", "-p", "nnUNetPlans", "-device", "cpu"]  # fresh: no --c
    fold_dir.mkdir(parents=True)
    (fold_dir / "checkpoint_latest.pth").write_bytes(b"")  # as left by an interrupted run
    train.train_fold(**run)
    assert commands[-1][-1] == "--c"
    (fold_dir / "checkpoint_final.pth").write_bytes(b"")
    (fold_dir / "validation").mkdir()
    (fold_dir / "validation" / "summary.json").write_text("{}")
    assert train.train_fold(**run) == fold_dir and len(commands) == 2  # done: nothing started


def test_cancel_stops_the_training_process_group(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "train_command", lambda *a: [sys.executable, "-c", "import time; time.sleep(60)"])
    started = time.perf_counter()
    with pytest.raises(train.TrainingCancelled):
        train.train_fold(NnunetPaths(tmp_path), "Dataset501_Liver", 0, device="cpu",
                         on_progress=lambda progress: False, poll_seconds=0.1)
    assert time.perf_counter() - started < 20


def test_failed_training_reports_its_log(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "train_command", lambda *a: [sys.executable, "-c", "raise SystemExit('boom')"])
    with pytest.raises(train.TrainingError, match="boom"):
        train.train_fold(NnunetPaths(tmp_path), "Dataset501_Liver", 0, device="cpu", poll_seconds=0.1)
