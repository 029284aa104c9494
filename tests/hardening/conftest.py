"""Hostile inputs: a study to refuse them against, a byte-for-byte snapshot of it, and makers of
damaged volumes and DICOM series."""
from __future__ import annotations

import gzip
import hashlib
import locale
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from core.__main__ import main
from core.cohort.ingest import ingest
from core.store import Study
from tests.cohort.conftest import make_cohort


@pytest.fixture
def study_path(tmp_path: Path) -> Path:
    """A closed study already holding centre_a (4 patients with images and masks)."""
    path = tmp_path / "study.duckdb"
    with Study.open(path) as study:
        ingest(study, make_cohort(tmp_path / "existing"), "centre_a", "training")
    return path


def snapshot(study_path: Path) -> dict[str, str]:
    """SHA-256 of the study file (and its write-ahead log, if any) and of every file under its
    .study folder, by relative path."""
    wal = study_path.with_name(study_path.name + ".wal")
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (study_path, wal) if p.exists()}
    root = study_path.with_suffix(".study")
    if root.exists():
        files.update({str(p.relative_to(root.parent)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file()
                      else "folder" for p in sorted(root.rglob("*"))})
    return files


def refuse_ingest(capsys, study_path: Path, source: Path, *expected: str, center: str = "centre_b") -> str:
    """Run ``python -m core ingest`` (in this process); assert exit 1, each expected text in the
    message, and a study unchanged byte for byte. Returns the message."""
    before = snapshot(study_path)
    capsys.readouterr()
    code = main(["ingest", "--study", str(study_path), "--center", center, "--role", "validation",
                 "--cohort", str(source)])
    out, err = capsys.readouterr()
    assert code == 1, f"expected a refusal, got exit {code}:\n{out}{err}"
    for text in expected:
        assert text in err, f"expected {text!r} in:\n{err}"
    assert "stored centre" not in out
    assert snapshot(study_path) == before, "the study changed although the ingest was refused"
    return err


def write_nifti(array: np.ndarray, path: Path, spacing=(1.5, 1.5, 4.0)) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path), useCompression=path.name.endswith(".gz"))
    return path


def patch_nifti_header(path: Path, **fields) -> None:
    """Overwrite NIfTI-1 header fields in place (.nii or .nii.gz): dim (8 int16), pixdim (8 float32)."""
    gz = path.name.endswith(".gz")
    data = bytearray(gzip.decompress(path.read_bytes()) if gz else path.read_bytes())
    offsets = {"dim": (40, "<8h"), "pixdim": (76, "<8f")}
    for name, values in fields.items():
        offset, fmt = offsets[name]
        data[offset: offset + struct.calcsize(fmt)] = struct.pack(fmt, *values)
    path.write_bytes(gzip.compress(bytes(data)) if gz else bytes(data))


def write_dicom_series(folder: Path, array: np.ndarray, positions: list[float] | None = None, step_mm: float = 2.5,
                       pixel_mm: float = 0.8, patient: tuple[str, str] = ("DOE^JANE", "MRN-4711")) -> list[Path]:
    """One axial CT series (int16 HU, z, y, x) as one DICOM file per slice, with patient tags;
    slice i lies at ``positions[i]`` mm (default ``i * step_mm``). GDCM's writer switches the
    process's locale to C, which would make later text reads ASCII: the locale is put back."""
    positions = [step_mm * i for i in range(array.shape[0])] if positions is None else positions
    saved = locale.setlocale(locale.LC_ALL)
    try:
        return _write_slices(folder, array, positions, pixel_mm, patient)
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def _write_slices(folder: Path, array: np.ndarray, positions: list[float], pixel_mm: float,
                  patient: tuple[str, str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    uid = f"1.2.826.0.1.3680043.2.1125.{int(time.time() * 1000)}.{abs(hash(str(folder))) % 10**8}"
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    files = []
    for i in range(array.shape[0]):
        image = sitk.GetImageFromArray(array[i].astype(np.int16))
        image.SetSpacing((pixel_mm, pixel_mm))
        tags = {"0010|0010": patient[0], "0010|0020": patient[1], "0008|0060": "CT",
                "0008|0016": "1.2.840.10008.5.1.4.1.1.2", "0008|0018": f"{uid}.3.{i + 1}",
                "0020|000d": f"{uid}.1", "0020|000e": f"{uid}.2", "0020|0013": str(i + 1),
                "0020|0032": f"0\\0\\{positions[i]:g}", "0020|0037": "1\\0\\0\\0\\1\\0",
                "0028|1052": "0", "0028|1053": "1"}
        for key, value in tags.items():
            image.SetMetaData(key, value)
        files.append(folder / f"slice{i + 1:03d}.dcm")
        writer.SetFileName(str(files[-1]))
        writer.Execute(image)
    return files
