"""SIGTERM (or SIGHUP) during a real ``python -m core ingest`` of a zip unwinds like an error:
the temporary folder with the original DICOMs (patient name and id in their tags) is removed,
the study is unchanged byte for byte, the exit status is 128 + the signal number."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.hardening.conftest import snapshot, write_dicom_series

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = 40


@pytest.fixture(scope="module")
def dicom_zip(tmp_path_factory) -> Path:
    """A cohort zip of PATIENTS DICOM series (16 slices of 96 x 96 each) carrying patient tags."""
    folder = tmp_path_factory.mktemp("dicom-cohort") / "cohort"
    rng = np.random.default_rng(3)
    ids = [f"D{i:03d}" for i in range(PATIENTS)]
    for pid in ids:
        write_dicom_series(folder / "images" / pid, rng.normal(40, 30, (16, 96, 96)).round(),
                           patient=(f"DOE^{pid}", f"MRN-{pid}"))
    folder.mkdir(exist_ok=True)
    pd.DataFrame({"patient_id": ids, "ptlf": [i % 2 for i in range(PATIENTS)]}).to_csv(folder / "clinical.csv",
                                                                                        index=False)
    out = folder.parent / "cohort.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, path.relative_to(folder.parent))
    shutil.rmtree(folder)
    return out


def _wait_for(root: Path, pattern: str, proc: subprocess.Popen, timeout: float = 60) -> Path:
    """The first file under ``root`` matching ``pattern`` while ``proc`` still runs."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = next(root.glob(pattern), None)
        if found is not None:
            return found
        assert proc.poll() is None, f"ingest ended before the signal:\n{proc.communicate()}"
        time.sleep(0.005)
    raise AssertionError(f"no {pattern} under {root} after {timeout} s")


@pytest.mark.parametrize("signum, stage", [
    (signal.SIGTERM, "cohort-*/unpacked/cohort/images/*/*.dcm"),   # while unpacking or preparing
    (signal.SIGTERM, "cohort-*/volumes/*_image.nii.gz"),          # while de-identifying the volumes
    (signal.SIGHUP, "cohort-*/volumes/*_image.nii.gz"),
], ids=["sigterm-unpacking", "sigterm-preparing", "sighup-preparing"])
def test_signal_during_zip_ingest_leaves_nothing(study_path, dicom_zip, tmp_path, signum, stage):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    before = snapshot(study_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "ingest", "--study", str(study_path), "--center", "centre_d",
         "--role", "external", "--cohort", str(dicom_zip)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)})
    try:
        _wait_for(tmp, stage, proc)
        original = next(tmp.glob("cohort-*/unpacked/cohort/images/*/*.dcm"))
        assert b"MRN-D" in original.read_bytes()  # an original with the patient's id is there now
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signum, err.decode()
    assert f"stopped by {signal.Signals(signum).name}" in err.decode()
    assert b"stored centre" not in out
    left = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*"))
    assert left == [], f"left in the temporary folder: {left[:10]}"
    assert snapshot(study_path) == before
