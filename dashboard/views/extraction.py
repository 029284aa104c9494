"""Extraction: PyRadiomics features per region for a centre, as a background job with live progress."""
import streamlit as st

from dashboard import background, session, tables

RUNNER = "core.radiomics.runner"
KIND = "extract"  # core.radiomics.runner.KIND

st.title("Extraction")
study = session.current_study()
center = session.pick_center(key="ext_center")
if center is None:
    st.stop()

sources = session.read("mask_sources", center)
cols = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
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

    workers = cols[2].number_input("Workers", 1, 256, default_workers(), key="ext_workers",
                                   help="Worker processes (default: every core).")
    running = background.background_running(name)
    if cols[3].button("Start", icon=":material/play_arrow:", type="primary", key="ext_start",
                      disabled=running or not sources or not presets, width="stretch"):
        if background.start_background(name, runner.run_extraction, study, center, mask_source=source, preset=preset,
                                   workers=int(workers)):
            st.toast(f"Extraction of {center} started.")
        st.rerun()

if error := background.background_error(name):
    st.error(f"The last extraction of {center} stopped: {error}")

st.subheader("Progress")
job = background.job_monitor(KIND, center, key="ext-monitor", background=name)
if job is None:
    st.caption(f"No extraction of {center} yet.")
else:
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
