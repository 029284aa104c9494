"""Study: open or create a study file; its centres, counts, features and recent jobs."""
from pathlib import Path

import streamlit as st

from dashboard import errors, session, tables

st.title("Study")

current = session.study_path()
with st.form("open-study", border=False):
    cols = st.columns([5, 1, 1], vertical_alignment="bottom")
    typed = cols[0].text_input("Study file (.duckdb)", value=str(current), key="study_path_input",
                               help="From --study on the command line, else PTLF_STUDY, else data/demo.duckdb.")
    open_clicked = cols[1].form_submit_button("Open", icon=":material/folder_open:", width="stretch")
    create_clicked = cols[2].form_submit_button("Create", icon=":material/add:", width="stretch")

if open_clicked or create_clicked:
    path = Path(typed.strip()).expanduser()
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    if path.suffix != ".duckdb":
        st.error(f"{path.name}: a study file must end in .duckdb")
    elif open_clicked and not path.exists():
        st.error(f"No study file at `{path}`. Press Create to make an empty one there.")
    elif create_clicked and path.exists():
        st.error(f"`{path}` already exists; press Open to use it.")
    else:
        with errors.guard("Cannot open the study"):
            if create_clicked:
                session.create_study(path)
            else:
                session.open_study(str(path))
            st.session_state["study_path"] = str(path)
            st.rerun()

study = session.current_study(stop=False) if not session.study_path().exists() else session.current_study()
if study is None:
    st.info(f"No study file at `{session.study_path()}` yet. Press **Create** to make an empty study there, "
            "or type the path of an existing one and press **Open**.", icon=":material/info:")
    st.stop()
centers = session.centers()
features = session.read("feature_counts")

cols = st.columns(6)
cols[0].metric("Centres", len(centers))
cols[1].metric("Patients", int(centers["patients"].sum()) if len(centers) else 0)
cols[2].metric("PTLF events", int(centers["events"].sum()) if len(centers) else 0)
cols[3].metric("Images", int(centers["images"].sum()) if len(centers) else 0)
cols[4].metric("Masks", int(centers[["manual_masks", "model_masks"]].sum().sum()) if len(centers) else 0)
cols[5].metric("Feature tables", len(session.read("feature_sets")),
               help="Distinct (centre, mask source, extraction settings) combinations.")

st.subheader("Centres")
if centers.empty:
    st.info("No centres yet: upload a cohort for the training centre on the Cohorts page.")
    st.page_link("views/cohorts.py", label="Go to Cohorts", icon=":material/upload:")
else:
    shown = centers.drop(columns=["source"]).rename(columns={
        "center": "Centre", "role": "Role", "patients": "Patients", "events": "PTLF events", "images": "Images",
        "manual_masks": "Manual masks", "model_masks": "Model masks", "created_at": "Added"})
    tables.table(shown, "centres", key="centres")

st.subheader("Features")
if features.empty:
    st.caption("No features extracted yet (Extraction page).")
else:
    shown = features.assign(settings_hash=features["settings_hash"].str[:12]).rename(columns={
        "center": "Centre", "mask_source": "Mask source", "settings_hash": "Settings", "preset": "Preset",
        "region": "Region", "patients": "Patients", "features": "Features"})
    tables.table(shown, "feature_counts", key="feature-counts")

st.subheader("Analyses")
analyses = session.read("analyses")
if analyses.empty:
    st.caption("No analysis stored yet (Models page).")
else:
    shown = analyses.assign(params=analyses["params"].str.slice(0, 120)).rename(columns={
        "analysis_id": "Analysis", "train_center": "Training centre", "params": "Settings", "created_at": "Stored"})
    tables.table(shown, "analyses", key="analyses", download=analyses)

st.subheader("Recent jobs")
jobs = session.read("jobs.list", 10)
if jobs.empty:
    st.caption("No jobs yet.")
else:
    shown = jobs[["job_id", "kind", "center", "state", "done", "failed", "total", "seconds", "message"]].copy()
    shown["seconds"] = shown["seconds"].map(tables.fmt_duration)
    st.dataframe(shown.rename(columns={"job_id": "Job", "kind": "Kind", "center": "Centre", "state": "State",
                                       "done": "Done", "failed": "Failed", "total": "Total", "seconds": "Duration",
                                       "message": "Message"}), hide_index=True)
    st.page_link("views/jobs.py", label="All jobs", icon=":material/pending_actions:")

with st.expander("Audit log"):
    tables.table(session.read("audit_log", 200), "audit_log", key="audit")
