"""A deterministic synthetic two-centre cohort shaped like the paper's.

Each patient has two independent latent traits that together drive post-TACE liver failure
(PTLF): a hepatic reserve ``z_c`` that the blood tests measure (its synthetic part lowers
albumin, its coagulation part raises INR and PT; both worsen bilirubin and AST a little) and a
parenchymal injury ``z_i`` that only the CT shows, both N(0, 1). The injury changes seven aspects
of the image (the liver's surface nodularity, attenuation, texture amplitude and grain; the
tumour's attenuation, heterogeneity and margin), each mixed with a patient-level nuisance of its
own (contrast timing, scanner texture, tumour biology), so that no single feature tracks the
injury closely (every |r| < 0.6; 0.52 at most with the default seed's training centre, quick
preset) and only a combination of features recovers it, as a Radscore should. The outcome's
log-odds are ``-3.5 + 4.5 z_c + 5 z_i`` plus logistic noise, with exactly the paper's event
counts. With the default seed and the default analysis (quick preset) the independent clinical
predictors are albumin and INR, and the AUCs are, training / validation: clinical 0.83 / 0.80,
radiomics 0.80 / 0.73, combined 0.91 / 0.88 (the paper's validation: 0.785, 0.81, 0.878).
Other clinical variables follow the paper's Table 2 loosely and carry little signal.
Volumes are small CTs (24 x 96 x 96 voxels, 1.6 x 1.6 x 5 mm) with body, liver (HU ~100) and
one to three tumours, and manual masks (1 non-tumoral liver, 2 tumour). The validation
centre's scanner adds a small HU offset and more noise. The same seed always gives the same
bytes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage

SHAPE = (24, 96, 96)          # z, y, x voxels
SPACING = (1.6, 1.6, 5.0)     # x, y, z in mm
READER2 = 20        # training patients with a second reader's masks
DEFAULT_SEED = 34    # its validation centre's AUCs sit near the paper's (see the module docstring)
CENTRES = (
    # folder name, role, patients, events, HU offset, noise SD (HU)
    ("hospital_a", "training", 147, 36, 0.0, 10.0),
    ("hospital_b", "validation", 63, 16, 2.0, 10.5),
)


def write_demo(out: str | Path, seed: int = DEFAULT_SEED, scale: float = 1.0) -> list[tuple[Path, str]]:
    """Write one cohort folder per centre under ``out``; returns [(folder, role)].

    ``scale`` shrinks the cohorts (0.2 gives 29 + 13 patients) for quick demos and tests. The
    training centre's first READER2 patients also get a second reader's masks (``masks_reader2/``),
    as the paper's reproducibility protocol had two readers on 20 patients.
    """
    from core.radiomics.perturb import second_reader

    out = Path(out)
    written = []
    for index, (name, role, n, events, offset, noise) in enumerate(CENTRES):
        n_scaled = max(8, round(n * scale))
        e_scaled = max(3, round(events * n_scaled / n))
        folder = out / name
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "masks").mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, index])
        reserve, z_i = latent_traits(rng, n_scaled)
        ptlf = _draw_events(rng, reserve, z_i, e_scaled)
        table = _clinical(rng, reserve, ptlf, prefix=name[-1].upper())
        for i, pid in enumerate(table["patient_id"]):
            ct, mask, size_cm = _volume(np.random.default_rng([seed, index, i]), z_i[i], offset, noise)
            table.loc[i, "tumor_size"] = round(size_cm, 1)
            _write(ct, folder / "images" / f"{pid}.nii.gz")
            _write(mask, folder / "masks" / f"{pid}.nii.gz")
            if role == "training" and i < READER2:
                (folder / "masks_reader2").mkdir(exist_ok=True)
                image = sitk.GetImageFromArray(mask)
                image.SetSpacing(SPACING)
                _write(sitk.GetArrayFromImage(second_reader(image, seed=seed * 1000 + i)),
                       folder / "masks_reader2" / f"{pid}.nii.gz")
        table.to_csv(folder / "clinical.csv", index=False)
        written.append((folder, role))
    return written


def latent_traits(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(reserve (2, n), z_i): the hepatic reserve's synthetic and coagulation parts (seen in the blood
    tests; z_c = their sum / sqrt 2) and the parenchymal injury (seen on CT)."""
    return rng.standard_normal((2, n)), rng.standard_normal(n)


def reserve_index(reserve: np.ndarray) -> np.ndarray:
    """z_c ~ N(0, 1) from the reserve's two parts."""
    return reserve.sum(axis=0) / np.sqrt(2)


def _draw_events(rng: np.random.Generator, reserve: np.ndarray, z_i: np.ndarray, events: int) -> np.ndarray:
    """Exactly ``events`` cases, drawn with probability rising with both traits (Gumbel top-k on logits)."""
    logits = -3.5 + 4.5 * reserve_index(reserve) + 5.0 * z_i + rng.gumbel(size=z_i.size)
    ptlf = np.zeros(z_i.size, dtype=int)
    ptlf[np.argsort(-logits)[:events]] = 1
    return ptlf


def _clinical(rng: np.random.Generator, reserve: np.ndarray, ptlf: np.ndarray, prefix: str) -> pd.DataFrame:
    """Albumin follows the reserve's synthetic part, INR (and PT) its coagulation part, the rest both."""
    z = reserve_index(reserve)
    synthesis, coagulation = 0.95 * reserve[0] + 0.31 * reserve[1], 0.31 * reserve[0] + 0.95 * reserve[1]
    n = z.size
    lognormal = lambda median, sd: np.exp(np.log(median) + sd * rng.standard_normal(n))  # noqa: E731
    child_b = rng.random(n) < 1 / (1 + np.exp(-(-2.0 + 0.4 * z)))
    return pd.DataFrame({
        "patient_id": [f"{prefix}{i + 1:03d}" for i in range(n)],
        "ptlf": ptlf,
        "age": np.clip(rng.normal(56, 10, n), 25, 85).round(0).astype(int),
        "sex": np.where(rng.random(n) < 0.86, "M", "F"),
        "hbv": np.where(rng.random(n) < 0.8, "yes", "no"),
        "cirrhosis": np.where(rng.random(n) < 1 / (1 + np.exp(-(0.4 + 0.5 * z))), "yes", "no"),
        "ascites": np.where(rng.random(n) < 1 / (1 + np.exp(-(-2.6 + 0.6 * z))), "yes", "no"),
        "child_pugh": np.where(child_b, "B", "A"),
        "bclc": rng.choice(["A", "B", "C"], n, p=[0.3, 0.5, 0.2]),
        "tumor_number": np.where(rng.random(n) < 0.45, "multiple", "single"),
        "tumor_size": 0.0,
        "afp": lognormal(80, 2.0).clip(1, 500000).round(1),
        "alt": lognormal(38, 0.5).clip(5, 800).round(0),
        "ast": (lognormal(45, 0.5) * np.exp(0.08 * z)).clip(8, 900).round(0),
        "tb": (lognormal(15, 0.35) * np.exp(0.10 * z)).clip(3, 200).round(1),
        "alb": (38.5 - 2.6 * synthesis + rng.normal(0, 1.8, n)).clip(22, 52).round(1),
        "pt": (12.6 + 0.1 * coagulation + rng.normal(0, 0.9, n)).clip(9, 25).round(1),
        "inr": (1.07 + 0.065 * coagulation + rng.normal(0, 0.045, n)).clip(0.8, 2.5).round(2),
        "plt": lognormal(150, 0.45).clip(20, 600).round(0),
    })


def _volume(rng: np.random.Generator, z: float, offset: float, noise: float) -> tuple[np.ndarray, np.ndarray, float]:
    """CT (int16 HU) and mask (uint8) of shape SHAPE, and the largest tumour diameter in cm.

    ``z``: the patient's parenchymal injury. It changes seven aspects of the image, each mixed with a
    nuisance of its own (contrast timing, scanner texture, tumour biology), so that each correlates
    0.45 with z: the liver's surface nodularity, attenuation, texture amplitude and texture grain,
    and the tumour's attenuation, heterogeneity and margin. Each aspect drives its own family of
    features."""
    weight = 0.45
    aspect = weight * z + np.sqrt(1 - weight ** 2) * rng.standard_normal(7)
    zz, yy, xx = np.meshgrid(*(np.arange(s, dtype=np.float32) for s in SHAPE), indexing="ij")
    mm = (zz * SPACING[2], yy * SPACING[1], xx * SPACING[0])
    centre = [s * d / 2 for s, d in zip(SHAPE, (SPACING[2], SPACING[1], SPACING[0]))]

    body = ((mm[1] - centre[1]) / 70) ** 2 + ((mm[2] - centre[2]) / 74) ** 2 <= 1
    axes = rng.normal([48, 44, 58], [4, 4, 5])
    shift = rng.normal([0, -8, -10], [3, 3, 3])
    nodules = ndimage.gaussian_filter(rng.standard_normal(SHAPE), 2.0)
    nodules *= 0.18 * (1 + np.tanh(0.8 * aspect[0])) / nodules.std()          # surface nodularity
    liver = (sum(((m - c - s) / a) ** 2 for m, c, s, a in zip(mm, centre, shift, axes)) <= 1 + nodules) \
        & ndimage.binary_erosion(body, iterations=2)

    tumours = np.zeros(SHAPE, bool)
    liver_idx = np.argwhere(ndimage.binary_erosion(liver, iterations=3))
    n_tumours = 1 + (rng.random() < 0.35) + (rng.random() < 0.15)
    diameter = 0.0
    for _ in range(n_tumours):
        radius = float(np.clip(rng.lognormal(np.log(11), 0.3), 6, 22))
        c = liver_idx[rng.integers(len(liver_idx))] * np.array([SPACING[2], SPACING[1], SPACING[0]])
        bumps = ndimage.gaussian_filter(rng.standard_normal(SHAPE), 1.5)
        margin = 1 + 0.2 * (1 + np.tanh(aspect[6])) * bumps / bumps.std()
        tumours |= sum(((m - ci) / radius) ** 2 for m, ci in zip(mm, c)) <= margin         # an irregular margin
        diameter = max(diameter, 2 * radius / 10)
    tumours &= liver

    ct = np.full(SHAPE, -1000.0, np.float32)
    ct[body] = 35 + 20 * ndimage.gaussian_filter(rng.standard_normal(SHAPE), 2.0)[body]
    texture = ndimage.gaussian_filter(rng.standard_normal(SHAPE), 1.3 + 0.5 * np.tanh(aspect[3]))   # grain (voxels)
    texture *= max(4.0, 14 + 4 * aspect[2]) / texture.std()                                       # amplitude (HU)
    ct[liver] = (102 - 8 * aspect[1] + texture)[liver]                                            # attenuation
    rim = ndimage.binary_dilation(tumours, iterations=1) & ~tumours & liver
    ct[rim] += 25                                                                 # peritumoral enhancement
    heterogeneity = 18 * max(0.2, 1 + 0.3 * aspect[5])
    ct[tumours] = (75 - 10 * aspect[4] + heterogeneity * ndimage.gaussian_filter(rng.standard_normal(SHAPE), 1.2)
                   )[tumours]
    ct += offset + rng.normal(0, noise, SHAPE)
    ct[~body] = -1000 + rng.normal(0, 5, SHAPE)[~body]

    mask = np.zeros(SHAPE, np.uint8)
    mask[liver] = 1
    mask[tumours] = 2
    return np.clip(ct, -1024, 3000).round().astype(np.int16), mask, diameter


def _write(array: np.ndarray, path: Path) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING)
    sitk.WriteImage(image, str(path), useCompression=True)
