"""DICOM series ingest keeps pixels and geometry only: no identifying tag reaches the study."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pydicom
import SimpleITK as sitk

from core.cohort.ingest import ingest
from core.store import Study


def test_dicom_series_is_stored_without_identifiers(tmp_path, reference):
    series = reference / "ct" / "dicom_liver_3slice" / "ct-3slice"
    cohort = tmp_path / "cohort"
    shutil.copytree(series, cohort / "images" / "LIV01")
    pd.DataFrame({"patient_id": ["LIV01"], "ptlf": [0]}).to_csv(cohort / "clinical.csv", index=False)

    headers = [pydicom.dcmread(p) for p in sorted(series.glob("*.dcm"))]
    identifying = {str(v) for h in headers for k in ("PatientName", "PatientID", "PatientBirthDate",
                                                     "StudyInstanceUID", "SeriesInstanceUID", "InstitutionName",
                                                     "AccessionNumber", "StudyDate")
                   if (v := h.get(k)) not in (None, "")}
    identifying = {s for s in identifying if len(s) >= 4}
    assert identifying, "the reference series should carry identifying tags to test against"

    db = tmp_path / "s.duckdb"
    with Study.open(db) as study:
        ingest(study, cohort, "dicom_centre", "external")
        row = study.images("dicom_centre").iloc[0]
        stored = sitk.ReadImage(row["path"])
    assert row["source_format"] == "dicom"
    assert stored.GetSize() == (512, 512, 3)
    assert np.allclose(stored.GetSpacing()[:2], [float(v) for v in headers[0].PixelSpacing])
    assert stored.GetMetaDataKeys() == [] or all(
        not any(s in stored.GetMetaData(k) for s in identifying) for k in stored.GetMetaDataKeys())
    pixels = sitk.GetArrayFromImage(stored)
    hu = headers[0].pixel_array * float(headers[0].RescaleSlope) + float(headers[0].RescaleIntercept)
    assert any(np.array_equal(pixels[i], hu) for i in range(3)), "stored pixels are not the series' HU"

    blobs = [db.read_bytes()] + [p.read_bytes() for p in db.with_suffix(".study").rglob("*") if p.is_file()]
    import gzip
    blobs += [gzip.decompress(p.read_bytes()) for p in db.with_suffix(".study").rglob("*.nii.gz")]
    for text in identifying:
        assert not any(text.encode() in blob for blob in blobs), f"identifying value {text!r} was stored"
