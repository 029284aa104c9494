"""Hostile zips: limits on the whole archive (unpacked size, entry count, compression ratio) and
damaged, encrypted or exotic entries end in a message naming the entry, never a traceback, and
leave the study unchanged byte for byte."""
from __future__ import annotations

import shutil
import subprocess
import warnings
import zipfile
from pathlib import Path

import pytest

from core.cohort.archive import Limits
from core.cohort.ingest import CohortError, ingest
from core.store import Study
from tests.cohort.conftest import make_cohort
from tests.hardening.conftest import refuse_ingest, snapshot


def _zip(folder: Path, out: Path, extra: dict[str, bytes] | None = None,
         compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(out, "w", compression) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, Path("cohort") / path.relative_to(folder))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return out


def test_many_small_members_are_a_bomb(capsys, study_path, tmp_path):
    """Each 1 MiB member of zeros stays under the per-entry check; the whole archive does not."""
    extra = {f"cohort/notes/{i:03d}.txt": b"\0" * (1 << 20) for i in range(24)}
    z = _zip(make_cohort(tmp_path / "c"), tmp_path / "c.zip", extra)
    assert all(i.file_size <= Limits().ratio_floor for i in zipfile.ZipFile(z).infolist())
    refuse_ingest(capsys, study_path, z, "c.zip: its", "entries unpack to 24.0 MiB from", "looks like a zip bomb")


def test_too_many_entries(study_path, tmp_path):
    z = _zip(make_cohort(tmp_path / "c"), tmp_path / "c.zip", {f"cohort/x/{i}": b"" for i in range(40)})
    before = snapshot(study_path)
    with Study.open(study_path) as study, pytest.raises(CohortError) as info:
        ingest(study, z, "centre_b", "validation", limits=Limits(max_members=30))
    assert "c.zip: 49 entries; the limit is 30 (zip bomb or cohort too large)" in info.value.problems
    assert snapshot(study_path) == before


def test_total_unpacked_size_over_the_limit(study_path, tmp_path):
    z = _zip(make_cohort(tmp_path / "c"), tmp_path / "c.zip")
    before = snapshot(study_path)
    with Study.open(study_path) as study, pytest.raises(CohortError, match=r"c.zip: unpacks to \d+\.\d KiB; the limit is "
                                                                            r"2.0 KiB \(zip bomb or cohort too large\)"):
        ingest(study, z, "centre_b", "validation", limits=Limits(max_unpacked=2048))
    assert snapshot(study_path) == before


def _flip_in_data(z: Path, needle: bytes) -> None:
    data = bytearray(z.read_bytes())
    at = data.index(needle)
    data[at] ^= 0x01
    z.write_bytes(bytes(data))


def test_bad_crc(capsys, study_path, tmp_path):
    z = _zip(make_cohort(tmp_path / "c"), tmp_path / "c.zip", compression=zipfile.ZIP_STORED)
    _flip_in_data(z, b"Patient_ID,PTLF")
    refuse_ingest(capsys, study_path, z, "c.zip: entry 'cohort/clinical.csv' is damaged (Bad CRC-32 for file "
                  "'cohort/clinical.csv'); make the zip again")


def test_broken_deflate_stream(capsys, study_path, tmp_path):
    c = make_cohort(tmp_path / "c")
    z = _zip(c, tmp_path / "c.zip")
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("cohort/clinical.csv")
    data = bytearray(z.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start: start + 8] = b"\xff" * 8
    z.write_bytes(bytes(data))
    refuse_ingest(capsys, study_path, z, "c.zip: entry 'cohort/clinical.csv' is damaged", "make the zip again")


def test_encrypted_entry(capsys, study_path, tmp_path):
    if shutil.which("zip") is None:
        pytest.skip("the zip command-line tool is not installed (it writes the password-protected zip)")
    make_cohort(tmp_path / "cohort")
    subprocess.run(["zip", "-q", "-r", "-P", "secret", str(tmp_path / "c.zip"), "cohort"], cwd=tmp_path, check=True)
    refuse_ingest(capsys, study_path, tmp_path / "c.zip", "c.zip: entry 'cohort/clinical.csv' is encrypted "
                  "(a password-protected zip); zip the cohort folder again without a password")


def test_unsupported_compression_method(capsys, study_path, tmp_path):
    """Deflate64 (method 9), as some archivers write, cannot be unpacked by Python's zipfile."""
    z = _zip(make_cohort(tmp_path / "c"), tmp_path / "c.zip")
    data = bytearray(z.read_bytes())
    central = data.index(b"PK\x01\x02")
    while central >= 0:
        data[central + 10: central + 12] = (9).to_bytes(2, "little")
        central = data.find(b"PK\x01\x02", central + 4)
    z.write_bytes(bytes(data))
    refuse_ingest(capsys, study_path, z, "c.zip: entry 'cohort/clinical.csv' uses compression method 9, which cannot "
                  "be unpacked here")


def test_duplicate_entry(capsys, study_path, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate it writes
        z = _zip(make_cohort(tmp_path / "c"), tmp_path / "c.zip", {"cohort/clinical.csv": b"patient_id,ptlf\nX,1\n"})
    refuse_ingest(capsys, study_path, z, "c.zip: entry 'cohort/clinical.csv' appears twice; keep one")


def test_truncated_zip(capsys, study_path, tmp_path):
    z = _zip(make_cohort(tmp_path / "c"), tmp_path / "c.zip")
    z.write_bytes(z.read_bytes()[:-200])
    refuse_ingest(capsys, study_path, z, "c.zip: not a readable zip file")
