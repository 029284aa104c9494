"""Patient risk: one patient's PTLF risk from a bundle, with the nomogram points.

Values come from a stored patient or are typed in; features from the stored patient or from an
uploaded CT and mask, extracted with the bundle's own settings. A recalibrated bundle gives the
recalibrated risk, and the page says for which centre. Nothing is stored.
"""
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from core import plots
from core.models.external import choose_features
from core.models.risk import patient_risk
from dashboard import bundles, errors, figures, session, tables

st.title("Patient risk")
st.caption("The combined model's risk of post-TACE liver failure for one patient. Nothing about the patient is "
           "stored.")
study = session.current_study()
bundle = bundles.pick("risk")

source = st.radio("Patient", ("A stored patient", "A new patient (CT and mask)"), horizontal=True, key="risk-source")
stored_values: dict = {}
features = None
who = "new"  # part of the value widgets' keys: a widget keeps its value while its key stays the same
if source == "A stored patient":
    left, right = st.columns(2)
    with left:
        centre = session.pick_center("Centre", key="risk-centre", default_role="validation")
    if not centre:
        st.stop()
    clinical = session.read("clinical", centre)
    patient = right.selectbox("Patient", clinical.index.tolist(), key="risk-patient")
    stored_values = clinical.loc[patient].to_dict()
    who = f"{centre}-{patient}"
    with errors.guard("No features for this patient"):
        mask_source, settings_hash, _ = choose_features(study, bundle, centre)
        wide = session.read("features_wide", centre, mask_source, settings_hash)
        features = wide.loc[patient] if patient in wide.index else None
        if features is None:
            st.warning(f"Patient {patient} has no features extracted with the bundle's settings.")
else:
    a, b = st.columns(2)
    ct = a.file_uploader("CT (.nii.gz or .nrrd)", key="risk-ct")
    mask = b.file_uploader("Mask (.nii.gz or .nrrd: 1 liver, 2 tumour)", key="risk-mask")

st.markdown("**Clinical values**")
values = {}
columns = st.columns(max(1, len(bundle.predictors)))
for column, p in zip(columns, bundle.predictors):
    label = f"{p['label']} ({p['unit']})" if p["unit"] else p["label"]
    if p["kind"] == "categorical":
        current = stored_values.get(p["name"])
        values[p["name"]] = column.selectbox(label, p["levels"], key=f"risk-{p['name']}-{who}",
                                             index=p["levels"].index(current) if current in p["levels"] else 0)
    else:
        default = stored_values.get(p["name"])
        default = p["train_median"] if default is None or pd.isna(default) else float(default)
        values[p["name"]] = column.number_input(
            label, value=float(default), key=f"risk-{p['name']}-{who}",
            help=f"Training range {p['train_min']:g} to {p['train_max']:g}; plausible "
                 f"{p.get('plausible_low', '?')} to {p.get('plausible_high', '?')}.", format="%.2f")

with errors.guard("Cannot compute the risk"):
    if source == "A stored patient":
        if features is None:
            st.stop()
        result = patient_risk(bundle, values, features=features)
    else:
        if not (ct and mask):
            st.info("Upload the patient's CT and mask to extract the features with the bundle's settings.")
            st.stop()
        with tempfile.TemporaryDirectory() as work, st.spinner("Extracting the features\u2026"):
            paths = []
            for upload in (ct, mask):
                path = Path(work) / upload.name
                path.write_bytes(upload.getvalue())
                paths.append(path)
            result = patient_risk(bundle, values, image=paths[0], mask=paths[1])

    for warning in result.warnings:
        st.warning(warning, icon=":material/warning:")
    a, b, c = st.columns(3)
    a.metric("PTLF risk", f"{100 * result.risk:.1f}%",
             help=f"95% CI {100 * result.risk_low:.1f}% to {100 * result.risk_high:.1f}%")
    a.caption(f"95% CI {100 * result.risk_low:.1f}\u2013{100 * result.risk_high:.1f}%")
    if recalibration := bundle.content.get("recalibration"):
        a.caption(f"Recalibrated for centre **{recalibration['centre']}** ({recalibration['method']}, "
                  f"{recalibration['n']} patients, {recalibration['events']} events)"
                  + ("" if "combined" in recalibration["models"] else ": the combined model itself was left as "
                     "shared"))
    b.metric("Training cut-off", f"{100 * result.cutoff:.1f}%")
    b.caption("The risk is **above** the cut-off: high risk" if result.above_cutoff
              else "The risk is below the cut-off: low risk")
    if result.training_percentile is not None:
        c.metric("Among the training patients", f"higher than {result.training_percentile:.0f}%")
    labels = {p["name"]: f"{p['label']} ({p['unit']})" if p["unit"] else p["label"] for p in bundle.predictors}
    fig = plots.nomogram(bundle.content["nomogram"], labels={**labels, "radscore": "Radscore"},
                         patient={**result.points, "total_points": result.total_points, "probability": result.risk})
    figures.chart(fig, "patient_nomogram", key="patient-nomogram")
    tables.table(result.summary.round(3).fillna(""), "patient_points", key="points")
