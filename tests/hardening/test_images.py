"""Images that must be refused before they reach the study: each named with its reason, the
study byte-for-byte unchanged. The header is checked before any pixel is read."""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from core.cohort.checks import read_ct
from core.cohort.images import ImageReadError
from core.cohort.ingest import ingest
from core.store import Study
from tests.cohort.conftest import make_cohort, tiny_mask
from tests.hardening.conftest import patch_nifti_header, refuse_ingest, snapshot, write_dicom_series, write_nifti

ROOT = Path(__file__).resolve().parents[2]


def _ct(shape=(6, 12, 12), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(60, 20, shape)


def test_nan_patch_in_one_slice(capsys, study_path, tmp_path):
    """ITK's NIfTI reader turns NaN into 0 without a word; the header pass counts them."""
    c = make_cohort(tmp_path / "c")
    ct = _ct((6, 24, 24)).astype(np.float32)
    ct[3, 2:22, 3:23] = np.nan  # a 20 x 20 patch in slice 3
    write_nifti(ct, c / "images" / "P02.nii.gz")
    (c / "masks" / "P02.nii.gz").unlink()
    refuse_ingest(capsys, study_path, c, "images/P02.nii.gz: 400 voxels are NaN or infinite "
                  "(the first at voxel x=3, y=2, z=3); expected a finite value in every voxel")


def test_infinite_voxel(capsys, study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    ct = _ct().astype(np.float64)
    ct[5, 11, 0] = -np.inf
    write_nifti(ct, c / "images" / "P01.nii.gz")
    refuse_ingest(capsys, study_path, c, "images/P01.nii.gz: 1 voxels are NaN or infinite (the first at voxel "
                  "x=0, y=11, z=5)")


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_eight_bit_ct(capsys, study_path, tmp_path, dtype):
    c = make_cohort(tmp_path / "c")
    write_nifti(_ct().clip(0, 120).astype(dtype), c / "images" / "P03.nii.gz")
    refuse_ingest(capsys, study_path, c, f"images/P03.nii.gz: voxels are {np.dtype(dtype).name} (8 bits): too few "
                  "for Hounsfield units")


def test_mask_given_as_the_image(capsys, study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    write_nifti(tiny_mask().astype(np.int16), c / "images" / "P04.nii.gz")
    refuse_ingest(capsys, study_path, c, "images/P04.nii.gz: values span only 0 to 2; a CT in Hounsfield units "
                  "spans far more (is it a mask, or a normalised image?)")


def test_values_beyond_hounsfield_range(capsys, study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    ct = _ct().astype(np.float32)
    ct[0, 0, 0] = 1e9
    write_nifti(ct, c / "images" / "P01.nii.gz")
    refuse_ingest(capsys, study_path, c, "images/P01.nii.gz: values run from", "to 1e+09; expected Hounsfield units "
                  "within [-32768, 32767]")


@pytest.mark.parametrize("pixdim, expected", [
    (0.0, "the header's voxel spacing along z is 0 mm; expected a positive number of mm"),
    (float("nan"), "the header's voxel spacing along z is nan mm"),
])
def test_zero_or_missing_spacing_in_the_header(capsys, study_path, tmp_path, pixdim, expected):
    """ITK reads a zero or NaN pixdim as 1 mm without a word; the header check refuses it."""
    c = make_cohort(tmp_path / "c")
    path = c / "images" / "P02.nii.gz"
    patch_nifti_header(path, pixdim=(1.0, 1.5, 1.5, pixdim, 0, 0, 0, 0))
    assert sitk.ReadImage(str(path)).GetSpacing()[2] == 1.0  # what ITK alone would have used
    refuse_ingest(capsys, study_path, c, f"images/P02.nii.gz: {expected}")


@pytest.mark.parametrize("spacing, shown", [((1.5, 1.5, 1e6), "1.5 x 1.5 x 1e+06"), ((0.001, 0.001, 4.0), "0.001 x 0.001 x 4")])
def test_absurd_spacing(capsys, study_path, tmp_path, spacing, shown):
    c = make_cohort(tmp_path / "c")
    write_nifti(_ct().astype(np.int16), c / "images" / "P01.nii.gz", spacing=spacing)
    refuse_ingest(capsys, study_path, c, f"images/P01.nii.gz: voxel spacing {shown} mm; expected 0.1 to 20 mm "
                  "on each axis")


def test_truncated_uncompressed_nifti(capsys, study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    (c / "images" / "P01.nii.gz").unlink()
    path = write_nifti(_ct().astype(np.int16), c / "images" / "P01.nii")
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    refuse_ingest(capsys, study_path, c, f"images/P01.nii: truncated: {6 * 12 * 12 * 2 - 100} of {6 * 12 * 12 * 2} "
                  "bytes of voxel data")


def test_nrrd_with_detached_data_file(capsys, study_path, tmp_path):
    """An NRRD header can point ITK at any file on the machine; only attached data is read."""
    c = make_cohort(tmp_path / "c")
    (c / "images" / "P01.nii.gz").unlink()
    (c / "images" / "P01.nrrd").write_text("NRRD0004\ntype: short\ndimension: 3\nsizes: 12 12 6\n"
                                           "encoding: raw\nendian: little\ndata file: ../../../etc/passwd\n\n")
    refuse_ingest(capsys, study_path, c, "images/P01.nrrd: the voxel data lies in another file "
                  "('../../../etc/passwd'); expected an NRRD with attached data")


def _dicom_cohort(tmp_path: Path, positions: list[float]) -> Path:
    c = make_cohort(tmp_path / "c", n=2)
    (c / "images" / "P02.nii.gz").unlink()
    (c / "masks" / "P02.nii.gz").unlink()
    write_dicom_series(c / "images" / "P02", _ct((len(positions), 16, 16), seed=2).round(), positions)
    return c


def test_dicom_series_with_a_missing_slice(capsys, study_path, tmp_path):
    """GDCM reads a series with a gap as evenly spaced (the average spacing) with only a warning."""
    c = _dicom_cohort(tmp_path, [0, 2.5, 5, 7.5, 12.5, 15])
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(c / "images" / "P02")))
    assert reader.Execute().GetSpacing()[2] == pytest.approx(15 / 5)  # ITK alone: 3 mm, silently
    refuse_ingest(capsys, study_path, c, "images/P02: 1 slice(s) missing between positions 7.50 and 12.50 mm "
                  "(expected one every 2.50 mm; missing at 10.00 mm)")


def test_dicom_series_with_uneven_spacing(capsys, study_path, tmp_path):
    c = _dicom_cohort(tmp_path, [0, 2.5, 5, 6.5, 9, 11.5])
    refuse_ingest(capsys, study_path, c, "images/P02: uneven slice spacing: 1.50 mm between positions 5.00 and "
                  "6.50 mm, 2.50 mm elsewhere; expected one spacing for the whole series")


def test_dicom_series_with_two_slices_at_one_position(capsys, study_path, tmp_path):
    c = _dicom_cohort(tmp_path, [0, 2.5, 2.5, 5, 7.5])
    refuse_ingest(capsys, study_path, c, "images/P02: slices slice002.dcm and slice003.dcm lie at the same position "
                  "2.50 mm; expected one slice per position")


def test_nrrd_with_nan_voxels(capsys, study_path, tmp_path):
    """ITK keeps NaN in an NRRD: the voxel check after reading names it."""
    c = make_cohort(tmp_path / "c")
    (c / "images" / "P04.nii.gz").unlink()
    ct = _ct().astype(np.float32)
    ct[2, 5, 7] = np.nan
    write_nifti(ct, c / "images" / "P04.nrrd")
    refuse_ingest(capsys, study_path, c, "images/P04.nrrd: 1 voxels are NaN or infinite (the first at voxel x=7, "
                  "y=5, z=2); expected a finite HU value in every voxel")


def test_truncated_gzip_nrrd(capsys, study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    (c / "images" / "P04.nii.gz").unlink()
    path = c / "images" / "P04.nrrd"
    image = sitk.GetImageFromArray(_ct().astype(np.int16))
    sitk.WriteImage(image, str(path), useCompression=True)
    head, _, body = path.read_bytes().partition(b"\n\n")
    path.write_bytes(head + b"\n\n" + gzip.compress(gzip.decompress(body)[:1000]))
    refuse_ingest(capsys, study_path, c, f"images/P04.nrrd: truncated: 1000 of {6 * 12 * 12 * 2} bytes of voxel data")


def test_even_dicom_series_is_stored_with_its_spacing(tmp_path):
    c = make_cohort(tmp_path / "c", n=2)
    (c / "images" / "P02.nii.gz").unlink()
    (c / "masks" / "P02.nii.gz").unlink()
    ct = _ct((7, 16, 16), seed=2).round()
    write_dicom_series(c / "images" / "P02", ct)
    with Study.open(tmp_path / "s.duckdb") as study:
        ingest(study, c, "dicom", "external")
        row = study.images("dicom").set_index("patient_id").loc["P02"]
        stored = sitk.ReadImage(row["path"])
    assert stored.GetSpacing() == pytest.approx((0.8, 0.8, 2.5), rel=1e-7)  # NIfTI keeps spacing as float32
    assert np.array_equal(sitk.GetArrayFromImage(stored), ct.astype(np.int16))


def test_header_over_the_limit_is_refused_unread(tmp_path):
    """A 2 GiB header over a few KiB of data: refused before ITK allocates anything."""
    path = write_nifti(_ct().astype(np.int16), tmp_path / "big.nii.gz")
    patch_nifti_header(path, dim=(3, 1024, 1024, 1024, 1, 1, 1, 1))
    with pytest.raises(ImageReadError, match=r"the header promises 2048 MiB of voxel data \(1024 x 1024 x 1024 "
                                             r"voxels\); the limit is 1024 MiB \(refused before reading the pixels\)"):
        read_ct(path)


# ``python -m core`` that reports its own peak resident memory (VmHWM: this process's, after exec) at exit
_PEAK = ("import atexit, runpy, sys\n"
         "atexit.register(lambda: print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')),"
         " file=sys.stderr))\n"
         "sys.argv = ['core', *sys.argv[1:]]\n"
         "runpy.run_module('core', run_name='__main__', alter_sys=True)\n")


def _peak_ingest(study_path: Path, cohort: Path) -> tuple[subprocess.CompletedProcess, float]:
    """A real ``python -m core ingest`` of ``cohort`` as centre b; its result and peak resident memory (MiB)."""
    proc = subprocess.run([sys.executable, "-c", _PEAK, "ingest", "--study", str(study_path), "--center", "b",
                           "--role", "validation", "--cohort", str(cohort)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return proc, int(proc.stderr.rsplit("VmHWM:", 1)[1].split()[0]) / 1024  # kB


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from Linux's /proc")
@pytest.mark.parametrize("dims, expected", [
    ((3, 1024, 1024, 1024), "the header promises 2048 MiB of voxel data"),
    ((3, 512, 512, 1000), "truncated: 1728 of 524288000 bytes of voxel data"),
])
def test_lying_header_costs_no_memory(study_path, tmp_path, dims, expected):
    """Refused, study unchanged, and the process never held the promised voxels: its peak resident
    memory stays within 150 MiB of an accepted ingest of the intact cohort (the header claims 500 MiB
    or 2 GiB); the baseline absorbs what the interpreter and its imports take on this machine."""
    intact = make_cohort(tmp_path / "intact")
    accepted, baseline_mib = _peak_ingest(tmp_path / "baseline.duckdb", intact)
    assert accepted.returncode == 0, accepted.stderr
    c = make_cohort(tmp_path / "c")
    patch_nifti_header(c / "images" / "P03.nii.gz", dim=(*dims, 1, 1, 1, 1))
    before = snapshot(study_path)
    proc, peak_mib = _peak_ingest(study_path, c)
    assert proc.returncode == 1 and f"images/P03.nii.gz: {expected}" in proc.stderr, proc.stderr
    print(f"peak resident memory of the refused ingest: {peak_mib:.0f} MiB (accepted: {baseline_mib:.0f} MiB)")
    assert peak_mib - baseline_mib < 150, f"peak resident memory {peak_mib:.0f} MiB, accepted {baseline_mib:.0f} MiB"
    assert snapshot(study_path) == before


def test_gzip_stream_cut_inside_the_voxels(capsys, study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    raw = gzip.decompress((c / "images" / "P02.nii.gz").read_bytes())
    (c / "images" / "P02.nii.gz").write_bytes(gzip.compress(raw[: len(raw) - 500]))
    refuse_ingest(capsys, study_path, c, f"images/P02.nii.gz: truncated: {6 * 12 * 12 * 2 - 500} of "
                  f"{6 * 12 * 12 * 2} bytes of voxel data")


def test_nan_in_a_mask(capsys, study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    mask = tiny_mask().astype(np.float32)
    mask[0, 0, 0] = np.nan
    write_nifti(mask, c / "masks" / "P01.nii.gz")
    refuse_ingest(capsys, study_path, c, "masks/P01.nii.gz (patient P01): 1 voxels are NaN or infinite (the first "
                  "at voxel x=0, y=0, z=0)")


def test_every_image_problem_is_listed_at_once(capsys, study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    write_nifti(_ct().astype(np.int8), c / "images" / "P01.nii.gz")
    write_nifti(np.full((6, 12, 12), np.nan, np.float32), c / "images" / "P02.nii.gz")
    pd.DataFrame({"patient_id": ["P01", "P02", "P03", "P04"], "ptlf": [1, 0, 1, 0]}).to_csv(
        c / "clinical.csv", index=False)
    err = refuse_ingest(capsys, study_path, c, "images/P01.nii.gz: voxels are int8",
                        "images/P02.nii.gz: 864 voxels are NaN")
    assert err.startswith("2 problem(s) in the cohort")
