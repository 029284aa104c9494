"""``python -m core risk`` reads the CT and mask through the same checks as ingest: a truncated CT,
NaN voxels, an 8-bit CT or a 0/255 mask are refused with their reason (exit 2, no risk printed,
nothing left in the temporary folder); a CI too wide to inform is said so with the reason."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from core.__main__ import main
from core.models.bundle import Bundle, build_bundle, export_bundle
from core.models.risk import UNINFORMATIVE_CI, patient_risk
from core.store import Study
from tests.hardening.conftest import snapshot

CENTRE = "hospital_b"


@pytest.fixture(scope="module")
def case(demo_study, tmp_path_factory):
    """The demo bundle, one validation patient's stored CT, mask and clinical values."""
    folder = tmp_path_factory.mktemp("risk-inputs")
    with Study.open(demo_study) as study:
        bundle = export_bundle(study, folder / "model.json")
        clinical = study.clinical(CENTRE)
        image = study.images(CENTRE).set_index("patient_id")["path"]
        mask = study.masks(CENTRE, "manual").set_index("patient_id")["path"]
    pid = sorted(image.index)[0]
    names = [p["name"] for p in Bundle.load(bundle).predictors]
    return {"bundle": bundle, "image": Path(image[pid]), "mask": Path(mask[pid]), "folder": folder,
            "values": [f"{n}={clinical.loc[pid, n]}" for n in names], "study": demo_study}


def _risk(capsys, monkeypatch, tmp_path, case, *, image=None, mask=None, values=None, extra=()) -> tuple[int, str, str]:
    """Run the risk verb with TMPDIR in a test folder; assert that folder is empty afterwards."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    bundle_before = case["bundle"].read_bytes()
    args = ["risk", "--bundle", str(case["bundle"]), *extra]
    if image is not None:
        args += ["--image", str(image), "--mask", str(mask or case["mask"])]
    for value in case["values"] if values is None else values:
        args += ["--value", value]
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    assert list(tmp.iterdir()) == []
    assert case["bundle"].read_bytes() == bundle_before
    return code, out, err


def _refused(capsys, monkeypatch, tmp_path, case, expected: str, **kwargs) -> None:
    before = snapshot(case["study"])
    code, out, err = _risk(capsys, monkeypatch, tmp_path, case, **kwargs)
    assert code == 2, out + err
    assert "PTLF risk" not in out
    assert expected in err, err
    assert snapshot(case["study"]) == before


def _liver_slice(case) -> tuple[np.ndarray, np.ndarray, sitk.Image, int]:
    ct = sitk.ReadImage(str(case["image"]))
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(case["mask"])))
    return sitk.GetArrayFromImage(ct), mask, ct, int(np.argmax((mask == 1).sum(axis=(1, 2))))


def _write_like(array: np.ndarray, like: sitk.Image, path: Path) -> Path:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(like)
    sitk.WriteImage(image, str(path), useCompression=True)
    return path


def test_intact_ct_gives_a_risk(capsys, monkeypatch, tmp_path, case):
    code, out, _ = _risk(capsys, monkeypatch, tmp_path, case, image=case["image"])
    assert code == 0 and "PTLF risk" in out


def test_truncated_ct(capsys, monkeypatch, tmp_path, case):
    data = case["image"].read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(data[: len(data) // 2])
    _refused(capsys, monkeypatch, tmp_path, case, f"error: {cut}: cannot read the volume (truncated or corrupt)",
             image=cut)


def test_ct_cut_inside_the_voxels(capsys, monkeypatch, tmp_path, case):
    """A well-formed gzip stream holding half the voxels: ITK would pad zeros and answer."""
    import gzip

    raw = gzip.decompress(case["image"].read_bytes())
    cut = tmp_path / "half.nii.gz"
    cut.write_bytes(gzip.compress(raw[: 352 + (len(raw) - 352) // 2]))
    _refused(capsys, monkeypatch, tmp_path, case, f"truncated: {(len(raw) - 352) // 2} of {len(raw) - 352} bytes",
             image=cut)


def test_nan_patch_in_a_liver_slice(capsys, monkeypatch, tmp_path, case):
    array, mask, ct, z = _liver_slice(case)
    array = array.astype(np.float32)
    ys, xs = np.nonzero(mask[z] == 1)
    y0, x0 = int(np.median(ys)) - 10, int(np.median(xs)) - 10
    array[z, y0: y0 + 20, x0: x0 + 20] = np.nan
    path = _write_like(array, ct, tmp_path / "nan.nii.gz")
    _refused(capsys, monkeypatch, tmp_path, case, f"400 voxels are NaN or infinite (the first at voxel x={x0}, "
             f"y={y0}, z={z})", image=path)


def test_eight_bit_ct(capsys, monkeypatch, tmp_path, case):
    array, _, ct, _ = _liver_slice(case)
    path = _write_like(array.clip(-128, 127).astype(np.int8), ct, tmp_path / "int8.nii.gz")
    _refused(capsys, monkeypatch, tmp_path, case, "voxels are int8 (8 bits): too few for Hounsfield units",
             image=path)


def test_mask_with_0_and_255(capsys, monkeypatch, tmp_path, case):
    _, mask, ct, _ = _liver_slice(case)
    path = _write_like(((mask > 0) * 255).astype(np.uint8), ct, tmp_path / "mask255.nii.gz")
    _refused(capsys, monkeypatch, tmp_path, case, "labels 255 found; expected only 0 (background), 1 (non-tumoral "
             "liver), 2 (tumour) (a 0/255 mask looks like a binary image export: write 1 for liver, 2 for tumour)",
             image=case["image"], mask=path)


def test_mask_on_another_grid(capsys, monkeypatch, tmp_path, case):
    _, mask, ct, _ = _liver_slice(case)
    shifted = sitk.GetImageFromArray(mask)
    shifted.CopyInformation(ct)
    shifted.SetOrigin((5.0, 0.0, 0.0))
    path = tmp_path / "shifted.nii.gz"
    sitk.WriteImage(shifted, str(path), useCompression=True)
    _refused(capsys, monkeypatch, tmp_path, case, "origin (5, 0, 0) differs from the image's", image=case["image"],
             mask=path)


@pytest.mark.parametrize("value", ["inf", "nan", "1e999"])
def test_non_finite_clinical_value(capsys, monkeypatch, tmp_path, case, value):
    values = [v if not v.startswith("inr=") else f"inr={value}" for v in case["values"]]
    _refused(capsys, monkeypatch, tmp_path, case, f"inr: {value!r} is not a finite number; expected a number from "
             "0.5 to 10", image=case["image"], values=values)


@pytest.fixture(scope="module")
def fitted_risks(case) -> dict[str, tuple]:
    """Per patient of the validation centre: (risk from the fitted models, risk from the bundle file)."""
    with Study.open(case["study"], read_only=True) as study:
        fitted = build_bundle(study)
        clinical = study.clinical(CENTRE)
        features = study.features_wide(CENTRE, "manual", fitted.settings_hash)
    loaded = Bundle.load(case["bundle"])
    out = {}
    for pid in clinical.index:
        values = {p["name"]: clinical.loc[pid, p["name"]] for p in fitted.predictors}
        out[pid] = (patient_risk(fitted, values, features=features.loc[pid]),
                    patient_risk(loaded, values, features=features.loc[pid]))
    return out


def test_uninformative_ci_of_a_small_training_cohort(capsys, monkeypatch, tmp_path, case, fitted_risks):
    """The demo's training centre is small (about 20 patients, 5 events, 3 coefficients): the widest CI says so."""
    pid = max(fitted_risks, key=lambda p: fitted_risks[p][0].risk_high - fitted_risks[p][0].risk_low)
    training = Bundle.load(case["bundle"]).content["training"]
    before = snapshot(case["study"])
    args = ["--study", str(case["study"]), "--center", CENTRE, "--patient", pid]
    code, out, err = _risk(capsys, monkeypatch, tmp_path, case, values=[], extra=[*args, "--json"])
    assert code == 0, err
    result = json.loads(out)
    low, high = result["risk_ci_low"], result["risk_ci_high"]
    assert high - low > 0.5
    warning = next(w for w in result["warnings"] if "uninformative" in w)
    assert warning == (f"the 95% CI {100 * low:.1f}-{100 * high:.1f}% is uninformative (it spans "
                       f"{100 * (high - low):.0f} percentage points): the model was fitted on {training['n']} "
                       f"patients with {training['events']} events, {training['events'] / 3:.1f} events per "
                       "coefficient (3); fewer than about 10 give unstable coefficients; do not read this risk as "
                       "a prediction")
    code, out, _ = _risk(capsys, monkeypatch, tmp_path, case, values=[], extra=args)
    assert code == 0 and f"warning: {warning}" in out
    assert snapshot(case["study"]) == before


def test_only_an_uninformative_ci_is_called_so(fitted_risks):
    """Every patient's CI: the warning appears exactly when the CI spans more than half the scale."""
    for risk, _ in fitted_risks.values():
        wide = risk.risk_high - risk.risk_low > UNINFORMATIVE_CI
        assert wide == any("uninformative" in w for w in risk.warnings), (risk.risk_low, risk.risk_high)


def test_a_loaded_bundle_gives_the_fitted_models_ci(fitted_risks):
    """A bundle's JSON sorts the coefficient names; the covariance must still pair with the right terms."""
    for fitted, loaded in fitted_risks.values():
        assert loaded.risk == pytest.approx(fitted.risk, rel=1e-12)
        assert (loaded.risk_low, loaded.risk_high) == pytest.approx((fitted.risk_low, fitted.risk_high), rel=1e-9)
