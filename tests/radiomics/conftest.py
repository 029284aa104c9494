"""Small synthetic CT cases and a tiny ingested study for the extraction tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy import ndimage

from core.cohort.ingest import ingest
from core.store import Study

SHAPE = (10, 36, 36)          # z, y, x voxels
SPACING = (1.5, 1.5, 4.0)     # x, y, z mm
CENTER = "centre_a"


def synthetic_case(seed: int, shape=SHAPE) -> tuple[np.ndarray, np.ndarray]:
    """CT (int16 HU: textured liver ellipsoid in soft tissue) and mask (1 liver, 2 one tumour)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, s) for s in shape), indexing="ij")
    liver = (z / 0.8) ** 2 + (y / 0.75) ** 2 + (x / 0.8) ** 2 <= 1
    c = rng.uniform(-0.2, 0.2, 3)
    tumour = ((z - c[0]) / 0.45) ** 2 + ((y - c[1]) / 0.3) ** 2 + ((x - c[2]) / 0.3) ** 2 <= 1
    ct = 40 + 15 * ndimage.gaussian_filter(rng.standard_normal(shape), 1.0)
    ct[liver] += 60 + 30 * ndimage.gaussian_filter(rng.standard_normal(shape), 1.5)[liver]
    ct[tumour & liver] -= 35
    mask = np.zeros(shape, np.uint8)
    mask[liver] = 1
    mask[tumour & liver] = 2
    return ct.round().astype(np.int16), mask


def write_volume(array: np.ndarray, path: Path, spacing=SPACING, origin=(0.0, 0.0, 0.0)) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    sitk.WriteImage(image, str(path), useCompression=True)
    return path


def make_cohort(folder: Path, n: int) -> Path:
    """A cohort folder of ``n`` synthetic patients P01.. (clinical.csv, images/, masks/)."""
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    ids = [f"P{i:02d}" for i in range(1, n + 1)]
    pd.DataFrame({"patient_id": ids, "ptlf": [i % 2 for i in range(n)]}).to_csv(folder / "clinical.csv", index=False)
    for i, pid in enumerate(ids):
        ct, mask = synthetic_case(i)
        write_volume(ct, folder / "images" / f"{pid}.nii.gz")
        write_volume(mask, folder / "masks" / f"{pid}.nii.gz")
    return folder


def make_study(folder: Path, n: int) -> Path:
    """A closed study file with centre ``centre_a`` of ``n`` synthetic patients with manual masks."""
    path = folder / "study.duckdb"
    with Study.open(path) as study:
        ingest(study, make_cohort(folder / "cohort", n), CENTER, "training")
    return path


@pytest.fixture
def study_path(tmp_path: Path) -> Path:
    return make_study(tmp_path, 4)
