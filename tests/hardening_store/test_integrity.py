"""No stored byte trusted blindly: objects checked against their SHA-256 name, damaged study files
refused with what to do, and the refusal leaves the study as it was."""
from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from core.__main__ import main
from core.store import DamagedFileError, DamagedStudyError, Study, verify_file
from tests.hardening_store.conftest import snapshot

ROOT = Path(__file__).resolve().parents[2]
RESTORE = "from the last backup"


def _image(study: Study, pid: str) -> tuple[str, Path]:
    row = study.images("A").set_index("patient_id").loc[pid]
    return row["sha256"], Path(row["path"])


def test_changed_object_is_refused_naming_patient_and_file(small_study):
    with Study.open(small_study) as study:
        sha, path = _image(study, "P02")
        assert study.verified_path(sha) == path
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01  # one bit
        path.write_bytes(bytes(data))
        with pytest.raises(DamagedFileError) as err:
            study.verified_path(sha)
    text = str(err.value)
    assert text.startswith("image of patient P02 (centre A): ") and str(path) in text
    assert f"its name says {sha[:12]}" in text and f"its SHA-256 is {hashlib.sha256(data).hexdigest()[:12]}" in text
    assert "restore that file from the last backup" in text and "python -m core check" in text


def test_object_swapped_for_another_valid_volume_is_refused(small_study):
    """A well-formed NIfTI of another patient under P01's name reads fine, so only the digest catches it."""
    with Study.open(small_study) as study:
        sha1, path1 = _image(study, "P01")
        _, path3 = _image(study, "P03")
        path1.write_bytes(path3.read_bytes())
        assert gzip.decompress(path1.read_bytes())  # still a valid gzip stream
        with pytest.raises(DamagedFileError, match=r"image of patient P01 \(centre A\): .* changed on disk"):
            study.verified_path(sha1)
        masks = study.masks("A", "manual").set_index("patient_id")
        mask_sha, mask_path = masks.loc["P04", "sha256"], Path(masks.loc["P04", "path"])
        assert masks["sha256"].nunique() == 1  # the four masks are equal: one object serves them all
        mask_path.unlink()
        with pytest.raises(DamagedFileError, match=r"mask of patient P01 \(centre A, mask source manual\) and 3 "
                                                   r"other record\(s\): .* is missing from the file store"):
            study.verified_path(mask_sha)


def test_truncated_copy_of_a_shipped_file_is_refused(tmp_path):
    """Worker side: bytes that arrived short do not match the digest they were sent under."""
    good = tmp_path / "x.nii.gz"
    good.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 40)
    sha = hashlib.sha256(good.read_bytes()).hexdigest()
    assert verify_file(good, sha) == good
    good.write_bytes(good.read_bytes()[:-1])
    with pytest.raises(DamagedFileError, match="mask of patient P9: .* changed on disk"):
        verify_file(good, sha, "mask of patient P9")


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "header":
        path.write_bytes(data[:4096] + bytes(200) + data[4296:])
    elif how == "zeroed tail":
        path.write_bytes(data[: len(data) // 2] + bytes(len(data) - len(data) // 2))


@pytest.fixture
def grown_study(small_study) -> Path:
    """The small study with enough rows that its data spans several DuckDB blocks."""
    import pandas as pd

    with Study.open(small_study) as study:
        rows = pd.DataFrame({"region": "liver", "feature": [f"f{i}" for i in range(4000)], "value": 1.5})
        for pid in ("P01", "P02", "P03", "P04"):
            study.write_case_features("A", pid, "manual", "h", None, None, rows.assign(value=range(4000)))
    return small_study


@pytest.mark.parametrize("how", ["truncated", "empty", "header", "zeroed tail"])
def test_damaged_study_file_says_what_to_do(grown_study, how):
    _damage(grown_study, how)
    before = snapshot(grown_study)
    with pytest.raises(DamagedStudyError) as err:
        with Study.open(grown_study) as study:
            study.clinical("A")
            study.features_wide("A")
    text = str(err.value)
    assert text.startswith(f"{grown_study} is damaged and cannot be used (")
    assert f"Restore s.duckdb together with its folder s.study/ {RESTORE}" in text
    assert f"`python -m core check --study {grown_study}` shows the audit log's last good state" in text
    if how == "truncated":
        assert "it was truncated" in text
    assert snapshot(grown_study) == before


def test_command_line_on_a_truncated_study_prints_no_traceback(grown_study, tmp_path):
    _damage(grown_study, "truncated")
    before = snapshot(grown_study)
    done = subprocess.run([sys.executable, "-m", "core", "features", "--study", str(grown_study), "--center", "A",
                           "--out", str(tmp_path / "f.csv")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "duckdb" not in done.stderr.lower().replace(".duckdb", "")
    assert done.stderr.startswith(f"error: {grown_study} is damaged") and RESTORE in done.stderr
    assert snapshot(grown_study) == before and not (tmp_path / "f.csv").exists()


@pytest.mark.parametrize("repair", [[], ["--repair"]], ids=["check", "check --repair"])
def test_check_reports_damaged_database_with_the_audit_tail(grown_study, capsys, repair):
    """A block of the features table zeroed: the check reads every row, so it finds the damage;
    a repair cannot mend it and writes nothing."""
    con = duckdb.connect(str(grown_study), read_only=True)
    blocks = con.execute("SELECT DISTINCT block_id FROM pragma_storage_info('features') "
                         "WHERE block_id >= 0 ORDER BY 1").fetchall()
    con.close()
    data = bytearray(grown_study.read_bytes())
    offset = 3 * 4096 + blocks[0][0] * 262144 + 20_000  # inside the feature names
    data[offset:offset + 512] = bytes(512)
    grown_study.write_bytes(bytes(data))
    before = snapshot(grown_study)
    capsys.readouterr()
    assert main(["check", "--study", str(grown_study), *repair]) == 1
    out = capsys.readouterr().out
    assert f"damaged database: {grown_study} is damaged and cannot be used (Corrupt database file" in out
    assert "the audit log's last good state (newest first):" in out and "ingest cohort" in out
    assert out.rstrip().endswith("1 problem(s) left")
    assert snapshot(grown_study) == before


def test_check_of_an_unreadable_file_says_the_audit_log_is_lost_too(small_study, capsys):
    _damage(small_study, "empty")
    assert main(["check", "--study", str(small_study)]) == 1
    out = capsys.readouterr().out
    assert "not a valid DuckDB database file" in out
    assert "the audit log cannot be read either: restore the study from the last backup" in out
