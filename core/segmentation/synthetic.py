"""Synthetic CT volumes with liver and tumour masks, for tests and benchmarks.

A body cylinder of soft tissue (40 HU) in air (-1000 HU) holds an ellipsoid "liver" (60 HU)
with a brighter spherical "tumour" (120 HU) inside; Gaussian noise on top. Positions and
sizes vary with the seed.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk


def synthetic_case(shape: tuple[int, int, int] = (16, 64, 64),
                   spacing: tuple[float, float, float] = (5.0, 0.75, 0.75),
                   seed: int = 0, noise_hu: float = 15.0) -> tuple[sitk.Image, sitk.Image]:
    """A CT (int16, HU) and its mask (uint8: 0, 1 liver, 2 tumour); shape and spacing (mm) in z, y, x."""
    rng = np.random.default_rng(seed)
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    rel = [(g + 0.5) / n - 0.5 for g, n in zip(grid, shape)]  # -0.5..0.5 along each axis
    body = rel[1] ** 2 + rel[2] ** 2 < 0.45 ** 2
    centre = rng.uniform(-0.05, 0.05, 3)
    axes = np.array([0.38, 0.25, 0.3]) * rng.uniform(0.85, 1.15, 3)
    liver = sum(((r - c) / a) ** 2 for r, c, a in zip(rel, centre, axes)) < 1
    t_centre = centre + rng.uniform(-0.3, 0.3, 3) * axes
    t_radius = axes * rng.uniform(0.3, 0.4)
    tumour = sum(((r - c) / a) ** 2 for r, c, a in zip(rel, t_centre, t_radius)) < 1
    tumour &= liver
    ct = np.where(body, 40.0, -1000.0) + 20.0 * liver + 60.0 * tumour
    ct += rng.normal(0.0, noise_hu, shape)
    mask = liver.astype(np.uint8) + tumour.astype(np.uint8)
    return _image(ct.astype(np.int16), spacing), _image(mask, spacing)


def write_synthetic_cases(folder: str | os.PathLike, n: int, shape: tuple[int, int, int] = (16, 64, 64),
                          spacing: tuple[float, float, float] = (5.0, 0.75, 0.75),
                          first_seed: int = 0) -> list[tuple[str, Path, Path]]:
    """Write ``n`` cases as ``images/case_XXX.nii.gz`` and ``masks/case_XXX.nii.gz``.

    Returns (case_id, image_path, mask_path) triples.
    """
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    cases = []
    for i in range(n):
        case_id = f"case_{i:03d}"
        image, mask = synthetic_case(shape, spacing, seed=first_seed + i)
        paths = folder / "images" / f"{case_id}.nii.gz", folder / "masks" / f"{case_id}.nii.gz"
        sitk.WriteImage(image, str(paths[0]), useCompression=True)
        sitk.WriteImage(mask, str(paths[1]), useCompression=True)
        cases.append((case_id, *paths))
    return cases


def _image(array: np.ndarray, spacing_zyx: tuple[float, float, float]) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in spacing_zyx[::-1]))
    return image
