"""Nomogram: the combined model's points scales; set a patient's values and see the points add up."""
import math

import pandas as pd
import streamlit as st

from core.cohort.catalogue import BY_NAME
from core.stats.nomogram import Nomogram
from dashboard import analysis_ui as an
from core import plots
from dashboard import figures, session, tables

st.title("Nomogram")
session.current_study()
analysis_id, result = an.pick()
if result is None:
    an.none_message()
    st.page_link("views/models.py", label="Go to Models", icon=":material/monitoring:")
    st.stop()

spec = result["nomogram"]
nomogram = Nomogram.from_dict(spec)
LABELS = {"radscore": "Radscore"}
for name in nomogram.predictors:
    var = BY_NAME.get(name)
    if var is not None:
        LABELS[name] = f"{var.label} ({var.unit})" if var.unit else var.label

st.caption("Combined model: logistic regression on the independent clinical predictors and the Radscore, fitted on "
           f"{result['training']['name']}. Each predictor's value gives points (the predictor with the widest effect "
           "spans 0-100); the total points give the probability of PTLF.")

# A patient's values: start from a stored patient, then change any of them.
predictions = {c: an.frame(rows) for c, rows in (result.get("predictions") or {}).items()}
cols = st.columns([1, 1, 2])
centre = cols[0].selectbox("Start from a patient of", ["(typical values)", *predictions], key="nomo_centre")
patient = None
if centre in predictions and len(predictions[centre]):
    patient = cols[1].selectbox("Patient", list(predictions[centre]["patient_id"]), key="nomo_patient")


def typical(name: str):
    if name in nomogram.continuous:
        _, low, high = nomogram.continuous[name]
        return (low + high) / 2
    return next(iter(nomogram.categorical[name]))


start = {name: typical(name) for name in nomogram.predictors}
if patient is not None:
    row = predictions[centre].set_index("patient_id").loc[patient]
    clinical = session.read("clinical", centre) if centre in session.center_names() else pd.DataFrame()
    for name in nomogram.predictors:
        if name == "radscore" and pd.notna(row.get("radscore")):
            start[name] = float(row["radscore"])
        elif name in clinical.columns and patient in clinical.index and pd.notna(clinical.at[patient, name]):
            start[name] = clinical.at[patient, name]
    observed = row.get("ptlf")
    cols[2].caption(f"Patient {patient}: stored combined-model risk {tables.fmt_num(row.get('combined'))}"
                    + (f", observed PTLF {int(observed)}" if observed is not None and not pd.isna(observed) else ""))

source = f"{centre}:{patient}"
values = {}
inputs = st.columns(len(nomogram.predictors))
for col, name in zip(inputs, nomogram.predictors):
    key = f"nomo_{name}_{source}"
    if name in nomogram.continuous:
        _, low, high = nomogram.continuous[name]
        step = 10 ** math.floor(math.log10(max((high - low) / 100, 1e-6)))
        values[name] = col.number_input(LABELS.get(name, name), value=float(start[name]), step=float(step),
                                        key=key, help=f"Training range {low:.4g} to {high:.4g}.")
    else:
        levels = list(nomogram.categorical[name])
        value = str(start[name]) if str(start[name]) in levels else levels[0]
        values[name] = col.selectbox(LABELS.get(name, name), levels, index=levels.index(value), key=key)

points = nomogram.points(values)
outside = [LABELS.get(n, n) for n in nomogram.continuous
           if not nomogram.continuous[n][1] <= float(values[n]) <= nomogram.continuous[n][2]]

m = st.columns(3)
m[0].metric("Total points", f"{points['total_points']:.1f}")
m[1].metric("Linear predictor", f"{points['linear_predictor']:.3f}")
m[2].metric("Probability of PTLF", "<0.001" if points["probability"] < 0.001 else
            ">0.999" if points["probability"] > 0.999 else f"{points['probability']:.3f}")
if outside:
    st.warning(f"Outside the training range (extrapolated): {', '.join(outside)}.")

figures.chart(figures.figure(plots.nomogram, spec, LABELS, {k: points[k] for k in points}),
             f"{analysis_id}_nomogram", key="nomogram")
table = pd.DataFrame({"Predictor": [LABELS.get(n, n) for n in nomogram.predictors],
                      "Value": [f"{values[n]:.4g}" if isinstance(values[n], float) else values[n]
                                for n in nomogram.predictors],
                      "Points": [round(points[n], 1) for n in nomogram.predictors]})
table = pd.concat([table, pd.DataFrame({"Predictor": ["Total", "Probability of PTLF"],
                                        "Value": ["", ""],
                                        "Points": [round(points["total_points"], 1), round(points["probability"], 3)]})],
                  ignore_index=True)
table["Value"] = table["Value"].astype(str)
tables.table(table, f"{analysis_id}_nomogram_points", key="nomo-points")
with st.expander("Scales"):
    scales = pd.DataFrame([{"Predictor": LABELS.get(a["name"], a["name"]), "Value": v, "Points": round(p, 2)}
                           for a in spec["axes"] for v, p in zip(a["values"], a["points"])])
    scales["Value"] = scales["Value"].astype(str)
    tables.table(scales, f"{analysis_id}_nomogram_scales", key="nomo-scales")
