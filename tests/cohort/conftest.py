"""A tiny valid cohort folder (4 patients, 6x12x12 volumes) that tests break one way at a time."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

SPACING = (1.5, 1.5, 4.0)


def write_volume(array: np.ndarray, path: Path, spacing=SPACING, origin=(0.0, 0.0, 0.0), direction=None) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    sitk.WriteImage(image, str(path), useCompression=True)


def tiny_mask(shape=(6, 12, 12)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[1:5, 2:10, 2:10] = 1
    mask[2:4, 4:7, 4:7] = 2
    return mask


def make_cohort(folder: Path, n: int = 4, images: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ids = [f"P{i:02d}" for i in range(1, n + 1)]
    pd.DataFrame({"Patient_ID": ids, "PTLF": [1, 0] * (n // 2), "INR": np.linspace(0.9, 1.4, n).round(2),
                  "Albumin": np.linspace(30, 45, n).round(1), "Sex": ["M", "F"] * (n // 2),
                  "smoking_pack_years": list(range(n))}).to_csv(folder / "clinical.csv", index=False)
    if images:
        (folder / "images").mkdir()
        (folder / "masks").mkdir()
        for pid in ids:
            write_volume(rng.normal(60, 20, (6, 12, 12)).astype(np.int16), folder / "images" / f"{pid}.nii.gz")
            write_volume(tiny_mask(), folder / "masks" / f"{pid}.nii.gz")
    return folder


@pytest.fixture
def cohort(tmp_path: Path) -> Path:
    return make_cohort(tmp_path / "cohort")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
