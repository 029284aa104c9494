"""Extraction: radiomics features per region for a centre, as a background job with live progress.

The engine is chosen here (auto, torch, PyRadiomics; both give the same features), optionally
on a Dask cluster; the page says which engine ran on which device for every stored case."""
import json

import streamlit as st

from dashboard import background, session, tables

RUNNER = "core.radiomics.runner"
KIND = "extract"  # core.radiomics.runner.KIND
ENGINES = ("auto", "torch", "pyradiomics")  # core.radiomics.engines.ENGINES
ENGINE_LABELS = {"auto": "auto (torch; GPU when present)", "torch": "torch", "pyradiomics": "PyRadiomics"}

st.title("Extraction")
study = session.current_study()
center = session.pick_center(key="ext_center")
if center is None:
    st.stop()

sources = session.read("mask_sources", center)
cols = st.columns([2, 2, 2, 1, 1], vertical_alignment="bottom")
source = cols[0].selectbox("Mask source", sources or ["(no masks)"], key="ext_source", disabled=not sources,
                           help="manual: the cohort's own masks; a model id: masks predicted by that model.")
try:
    from core.radiomics.presets import preset_names
    presets = preset_names()
except Exception:  # PyRadiomics missing or broken: the page still shows stored features
    presets = []
preset = cols[1].selectbox("Preset", presets or ["(none)"], key="ext_preset", disabled=not presets,
                           index=presets.index("quick") if "quick" in presets else 0,
                           help="paper: the study's 1,874 features per region; quick: the original-image "
                                "features only (107 per region), for demos and tests.")
name = f"extract:{center}"
if not session.module_available(RUNNER):
    session.not_available("Starting an extraction", RUNNER)
else:
    from core.jobs import default_workers
    from core.radiomics import runner

    engine = cols[2].selectbox(
        "Engine", ENGINES, key="ext_engine", format_func=ENGINE_LABELS.get,
        help="auto: the project's torch engine, on a GPU when one is visible (one worker per GPU), else on the "
             "CPU, where it is the faster; PyRadiomics: the reference implementation. Both give the same "
             "features (compared feature by feature, 1e-6 relative), so stored features and models accept "
             "either; settings the torch engine lacks (e.g. resampling) fall back to PyRadiomics, saying why.")
    workers = cols[3].number_input("Workers", 1, 256, default_workers(), key="ext_workers",
                                   help="Worker processes on this machine (default: every core; with a GPU, one "
                                        "worker per GPU).")
    dask = st.text_input("Dask scheduler (optional)", key="ext_dask", placeholder="tcp://host:8786",
                         help="Run the cases on a Dask cluster: its scheduler's address (the files are sent to "
                              "the workers; workers started with --resources GPU=1 take one case per GPU). "
                              "Empty: this machine. The study is written here either way.").strip()
    running = background.background_running(name)
    if cols[4].button("Start", icon=":material/play_arrow:", type="primary", key="ext_start",
                      disabled=running or not sources or not presets, width="stretch"):
        if background.start_background(name, runner.run_extraction, study, center, mask_source=source, preset=preset,
                                       workers=None if dask else int(workers), dask=dask or None, engine=engine):
            st.toast(f"Extraction of {center} started.")
        st.rerun()

if error := background.background_error(name):
    st.error(f"The last extraction of {center} stopped: {error}")

st.subheader("Progress")
job = background.job_monitor(KIND, center, key="ext-monitor", background=name)
if job is None:
    st.caption(f"No extraction of {center} yet.")
else:
    params = job["params"] if isinstance(job["params"], dict) else json.loads(job["params"] or "{}")
    if params.get("engine"):
        asked = params.get("engine_requested")
        st.caption(f"Engine: **{params['engine']}**" + (f" (asked: {asked})" if asked and asked != params["engine"]
                                                         else "")
                   + (", one worker per GPU" if params.get("gpu") else "")
                   + (f", on the Dask cluster at {params['dask']}" if params.get("dask") not in (None, "local") else ""))
    if params.get("engine_note"):
        st.info(params["engine_note"])
    cases = session.read("jobs.cases", int(job["job_id"]))
    failed = cases[cases["state"] == "failed"]
    if len(failed):
        st.markdown(f"**{len(failed)} case(s) failed** in job {int(job['job_id'])}; the others are stored. "
                    "Fix the cause (e.g. a mask) and start again: finished cases are not redone.")
        tables.table(failed[["case_id", "error", "seconds"]], f"{center}_extraction_failures", key="ext-failed")

st.subheader("Feature tables")
sets = session.read("feature_sets", center)
if sets.empty:
    st.caption(f"{center} has no features yet.")
    st.stop()
labels = {i: f"{r.mask_source} \u00b7 {r.preset or 'custom'} \u00b7 {r.settings_hash[:12]} \u00b7 "
             f"{r.patients} patients \u00b7 {r.features} features" for i, r in sets.iterrows()}
pick = st.selectbox("Feature set", list(labels), format_func=labels.get, key="ext_set")
chosen = sets.loc[pick]
# Cached by this feature set's own state, so that extracting another centre does not reload it.
latest = background.jobs(KIND, center)
key = (center, chosen["mask_source"], chosen["settings_hash"], int(chosen["patients"]), int(chosen["features"]),
       tuple(latest[["job_id", "state", "done", "failed"]].iloc[0]) if len(latest) else ())
wide = session.read_keyed(key, "features_wide", center, chosen["mask_source"], chosen["settings_hash"])
n_missing = int(wide.isna().sum().sum())
st.caption(f"{wide.shape[0]} patients \u00d7 {wide.shape[1]} features (columns `region:feature`)"
           + (f"; {n_missing} missing values" if n_missing else ""))
preview = wide.iloc[:200, :60]
st.dataframe(preview, height=320)
if wide.shape[0] > preview.shape[0] or wide.shape[1] > preview.shape[1]:
    st.caption(f"Showing {preview.shape[0]} rows and {preview.shape[1]} columns; the downloads hold everything.")
tables.downloads(wide, f"features_{center}_{chosen['mask_source']}_{chosen['preset'] or 'custom'}", key="ext-dl")

computed = session.read_keyed(key, "provenance_counts", center, chosen["mask_source"], chosen["settings_hash"])
if len(computed):
    st.markdown("**Computed by**: which engine, version and device computed this feature set's cases "
                "(the engines give the same values by contract).")
    st.dataframe(computed, hide_index=True)
else:
    st.caption("No engine recorded for these features (imported, or extracted before engines were recorded).")
