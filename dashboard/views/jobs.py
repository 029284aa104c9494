"""Jobs: every job with state, progress, duration and errors; cancel a running one. A job whose
process ended before it finished shows as ``interrupted``; the rerun that continues it names it."""
import json

import pandas as pd
import streamlit as st

from dashboard import background, errors, session, tables

st.title("Jobs")
study = session.current_study()
active = background.jobs()["state"].map(background.job_is_active).any() if len(background.jobs()) else False


@st.fragment(run_every=2 if active else None)
@errors.guarded
def jobs_view() -> None:
    df = background.jobs()
    if df.empty:
        st.info("No jobs yet. Segmentation and extraction run as jobs; they show here while they run.")
        return
    shown = pd.DataFrame({
        "Job": df["job_id"], "Kind": df["kind"], "Centre": df["center"], "State": df["state"],
        "Progress": [(d + f) / t if t else (1.0 if not background.job_is_active(s) else 0.0)
                     for d, f, t, s in zip(df["done"], df["failed"], df["total"], df["state"])],
        "Done": df["done"], "Failed": df["failed"], "Total": df["total"],
        "Duration": df["seconds"].map(tables.fmt_duration), "Started": df["started_at"],
        "Continues": [json.loads(p or "{}").get("continues") for p in df["params"]],
        "Message": df["message"],
    })
    st.dataframe(shown, hide_index=True, column_config={
        "Progress": st.column_config.ProgressColumn("Progress", min_value=0.0, max_value=1.0, format="percent")})
    tables.downloads(shown, "jobs", key="jobs")

    labels = {int(r.job_id): f"{r.job_id} \u00b7 {r.kind} \u00b7 {r.center or ''} \u00b7 {r.state}" for r in df.itertuples()}
    job_id = st.selectbox("Job", list(labels), format_func=labels.get, key="job_pick")
    job = df[df["job_id"] == job_id].iloc[0]
    background.job_progress(job)
    if background.job_is_active(job["state"]):
        if job["state"] == "cancelling":
            st.caption("Stopping after the cases in flight\u2026")
        elif st.button("Cancel this job", icon=":material/stop:", key="cancel-job"):
            study.jobs.request_cancel(int(job_id))
            st.toast(f"Asked job {job_id} to stop after the cases in flight.")
            st.rerun()
    cases = session.read("jobs.cases", int(job_id))
    failed = cases[cases["state"] == "failed"]
    if len(failed):
        st.markdown(f"**{len(failed)} failed case(s)**")
        tables.table(failed[["case_id", "error", "seconds"]], f"job_{job_id}_failures", key="job-failures")
    with st.expander(f"All {len(cases)} cases"):
        tables.table(cases, f"job_{job_id}_cases", key="job-cases")
    with st.expander("Parameters"):
        params = job["params"]
        st.json(json.loads(params) if isinstance(params, str) and params else {})
    if active and not df["state"].map(background.job_is_active).any():
        st.rerun()


jobs_view()
