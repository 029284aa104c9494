"""What an interrupted write leaves in the store goes on the next write; ``check`` reports and repairs."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from core.__main__ import main
from core.cohort.ingest import ingest
from core.store import Study
from tests.cohort.conftest import make_cohort, tiny_mask, write_volume
from tests.hardening_store.conftest import snapshot

ROOT = Path(__file__).resolve().parents[2]

# Puts two volumes into the study's store, then dies by SIGKILL half-way through copying a third,
# as an ingest killed before its transaction does.
KILLED_INGEST = textwrap.dedent("""
    import os, shutil, signal, sys
    from pathlib import Path
    from core.store import Study

    study_path, *sources = sys.argv[1:]
    study = Study.open(study_path)
    for src in sources[:2]:
        study.files.put(src)

    def half_then_die(src, dst):
        Path(dst).write_bytes(Path(src).read_bytes()[:100])
        os.kill(os.getpid(), signal.SIGKILL)

    shutil.copyfile = half_then_die
    study.files.put(sources[2])
""")


def _volumes(folder: Path, n: int) -> list[Path]:
    folder.mkdir()
    rng = np.random.default_rng(3)
    paths = [folder / f"v{i}.nii.gz" for i in range(n)]
    for path in paths:
        write_volume(rng.normal(0, 50, (6, 12, 12)).astype(np.int16), path)
    return paths


def _killed_ingest(study: Path, sources: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", KILLED_INGEST, str(study), *map(str, sources)], cwd=ROOT,
                          capture_output=True, text=True)


def test_leftovers_of_a_killed_ingest_go_on_the_next_write(small_study, tmp_path):
    done = _killed_ingest(small_study, _volumes(tmp_path / "v", 3))
    assert done.returncode == -9, done.stderr
    objects = small_study.with_suffix(".study") / "objects"
    parts = list(objects.glob("*/*.part"))
    with Study.open(small_study) as study:
        kept = study.referenced_objects()
        orphans = study.files.shas() - kept
    assert len(parts) == 1 and parts[0].stat().st_size == 100 and len(orphans) == 2

    with Study.open(small_study) as study:
        ingest(study, make_cohort(tmp_path / "second"), "B", "validation")  # the next write
        assert not list(objects.glob("*/*.part"))
        assert study.files.shas() == study.referenced_objects() and kept <= study.files.shas()
        for sha in study.referenced_objects():
            study.verified_path(sha)


def test_any_first_write_sweeps_and_check_reports_before(small_study, tmp_path, capsys):
    _killed_ingest(small_study, _volumes(tmp_path / "v", 3))
    before = snapshot(small_study)
    assert main(["check", "--study", str(small_study)]) == 1
    out = capsys.readouterr().out
    assert out.count("unreferenced file: objects/") == 2 and out.count(": no image or mask row refers to it") == 2
    assert "unfinished write: objects/" in out and ".part: left by an interrupted write" in out
    assert "3 problem(s) left" in out
    assert snapshot(small_study) == before, "check without --repair must not change the study"
    with Study.open(small_study) as study:
        study.audit("a write that stores no file")
        assert study.files.shas() == study.referenced_objects()
        assert not list(study.files.root.glob("*/*.part"))


def test_sweep_keeps_what_this_process_put_but_has_not_committed(small_study, tmp_path):
    """A page thread's write must not remove the files of an ingest running in another thread."""
    pending = _volumes(tmp_path / "v", 1)[0]
    with Study.open(small_study) as study:
        sha = study.files.put(pending)  # the ingest's rows are not written yet
        writer = threading.Thread(target=study.delete_center, args=("A",))  # a write that sweeps
        writer.start()
        writer.join()
        assert sha in study.files and study.referenced_objects() == set()
    # another process (what runs after a crash) owns no pending file: everything unreferenced goes
    subprocess.run([sys.executable, "-c", "import sys; from core.store import Study; "
                    "Study.open(sys.argv[1]).audit('next session')", str(small_study)], cwd=ROOT, check=True)
    with Study.open(small_study, read_only=True) as study:
        assert study.files.shas() == set()


def test_replaced_mask_goes_and_repair_removes_its_stale_features(small_study, tmp_path, capsys):
    with Study.open(small_study) as study:
        masks = study.masks("A", "manual").set_index("patient_id")
        old_sha = masks.loc["P01", "sha256"]
        rows = pd.DataFrame({"region": "liver", "feature": ["f"], "value": [1.0]})
        for pid in ("P01", "P02"):
            study.write_case_features("A", pid, "manual", "h", study.images("A").set_index("patient_id")
                                      .loc[pid, "sha256"], old_sha, rows)
        other = tiny_mask()
        other[1:5, 2:10, 2:4] = 0
        write_volume(other, tmp_path / "new.nii.gz")
        study.add_masks("A", "manual", {"P01": tmp_path / "new.nii.gz"})
        assert old_sha in study.files  # P02-P04 still use it
    con = duckdb.connect(str(small_study))
    con.execute("INSERT INTO clinical VALUES ('A', 'ghost', 'inr', 1.0, NULL)")
    con.execute("INSERT INTO predictions VALUES ('gone', 'combined', 'A', 'P01', 0.5)")
    con.close()
    before = snapshot(small_study)
    capsys.readouterr()
    assert main(["check", "--study", str(small_study)]) == 1
    out = capsys.readouterr().out
    assert ("stale features: centre A, patient P01, mask source manual: 1 feature value(s) extracted from an image "
            "or mask the patient no longer has") in out
    assert "patient P02" not in out
    assert "orphaned rows: 1 clinical rows without their patient (table clinical)" in out
    assert "orphaned rows: 1 predictions without their analysis (table predictions)" in out
    assert snapshot(small_study) == before
    assert main(["check", "--study", str(small_study), "--repair"]) == 0
    out = capsys.readouterr().out
    assert "repaired: removed 1 stale feature values" in out and "removed 1 clinical rows without their patient" in out
    assert out.rstrip().endswith("consistent")
    with Study.open(small_study, read_only=True) as study:
        assert study.features("A")["patient_id"].tolist() == ["P02"]
        assert study.audit_log()["action"].iloc[0] == "check repair"
    assert main(["check", "--study", str(small_study)]) == 0


def test_repair_leaves_a_damaged_file_and_says_so(small_study, capsys):
    with Study.open(small_study) as study:
        sha = study.images("A").set_index("patient_id").loc["P03", "sha256"]
        path = study.files.path(sha)
    path.write_bytes(path.read_bytes()[:-10])
    assert main(["check", "--study", str(small_study), "--repair"]) == 1
    out = capsys.readouterr().out
    assert "files: 4 of 5 stored file(s) match their SHA-256" in out
    assert f"damaged file: image of patient P03 (centre A): {path} changed on disk" in out
    assert path.exists(), "a damaged file is evidence: the repair must not delete it"
