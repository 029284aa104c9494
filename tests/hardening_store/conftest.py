"""Helpers for the hardening tests: byte-for-byte snapshots of a study and small hostile studies."""
from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.__main__ import main
from core.cohort.ingest import ingest
from core.store import Study
from tests.cohort.conftest import make_cohort


SETTINGS, OTHER = "a" * 64, "b" * 64  # settings hashes of features written directly


def run(argv: list[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``python -m core`` (argparse's exit counted as its code)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def snapshot(path: Path) -> dict[str, str]:
    """SHA-256 of the study file and of every file in its .study folder, plus the names beside it (a WAL)."""
    files = {"<database>": hashlib.sha256(path.read_bytes()).hexdigest()}
    root = path.with_suffix(".study")
    if root.exists():
        files |= {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
                  for p in sorted(root.rglob("*"))}
    files["<beside>"] = " ".join(sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.stem)))
    return files


def copy_study(src: Path, folder: Path) -> Path:
    """A copy of a study (file and folder) to break without touching the original."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / src.name
    shutil.copyfile(src, dest)
    if src.with_suffix(".study").exists():
        shutil.copytree(src.with_suffix(".study"), dest.with_suffix(".study"))
    return dest


@pytest.fixture
def small_study(tmp_path: Path) -> Path:
    """A study with one centre 'A' of 4 patients (images and manual masks), ingested."""
    path = tmp_path / "s.duckdb"
    with Study.open(path) as study:
        ingest(study, make_cohort(tmp_path / "cohort"), "A", "training")
    return path


def ids(n: int, prefix: str = "T") -> list[str]:
    """Patient ids T00, T01, ... (or with another prefix)."""
    return [f"{prefix}{i:02d}" for i in range(n)]


def feature_study(path: Path, ids: list[str], ptlf: list[int], settings_hash: str, center: str = "T",
                  role: str = "training", extra: dict[str, list] | None = None, settings: dict | None = None,
                  n_features: int = 30, seed: int = 0) -> Path:
    """Add a centre of patients with clinical values (inr, alb and ``extra``) and features written
    directly (no images) to the study at ``path``; returns ``path``.

    Feature ``liver:f0`` follows the outcome, so a selection has something to find.
    """
    rng = np.random.default_rng(seed)
    patients = pd.DataFrame({"patient_id": ids, "ptlf": ptlf})
    variables = {"inr": rng.normal(1.1, 0.15, len(ids)), "alb": rng.normal(38, 4, len(ids)), **(extra or {})}
    clinical = pd.concat([pd.DataFrame({"patient_id": ids, "variable": name, "value_num": np.asarray(values, float),
                                        "value_text": None}) for name, values in variables.items()],
                         ignore_index=True)
    with Study.open(path) as study:
        study.write_cohort(center, role, "test", {"patients": patients, "clinical": clinical})
        study.register_settings(settings_hash, "quick", settings or {"setting": {"binWidth": 25}})
        for pid, y in zip(ids, ptlf):
            values = rng.normal(0, 1, n_features)
            values[0] += 2 * y
            study.write_case_features(center, pid, "manual", settings_hash, None, None, pd.DataFrame(
                {"region": "liver", "feature": [f"f{i}" for i in range(n_features)], "value": values}))
    return path
