"""The dashboard's entry point: a router over the pages.

    streamlit run dashboard/app.py -- --study data/demo.duckdb

Pages live in ``views/`` (not ``pages/``: a ``pages/`` folder next to the entry point turns
on Streamlit's older multipage mode, which runs pages without this router in some code paths,
AppTest's among them). The study file comes from ``--study`` (after ``--``), else the environment variable
``PTLF_STUDY``, else ``data/demo.duckdb``; the Study page opens or creates another.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> None:
    import streamlit as st

    from dashboard import errors, session

    st.set_page_config(page_title="PTLF radiomics study", page_icon=":material/biotech:", layout="wide")
    pages = {
        "Study": [
            st.Page("views/study.py", title="Study", icon=":material/folder_open:", default=True),
            st.Page("views/cohorts.py", title="Cohorts", icon=":material/upload:"),
            st.Page("views/jobs.py", title="Jobs", icon=":material/pending_actions:"),
        ],
        "Images": [
            st.Page("views/segmentation.py", title="Segmentation", icon=":material/layers:"),
            st.Page("views/extraction.py", title="Extraction", icon=":material/grid_on:"),
        ],
        "Analysis": [
            st.Page("views/clinical.py", title="Clinical", icon=":material/stethoscope:"),
            st.Page("views/selection.py", title="Feature selection", icon=":material/filter_alt:"),
            st.Page("views/models.py", title="Models", icon=":material/monitoring:"),
            st.Page("views/nomogram.py", title="Nomogram", icon=":material/straighten:"),
        ],
        "Sharing": [
            st.Page("views/external.py", title="External validation", icon=":material/share:"),
            st.Page("views/patient.py", title="Patient risk", icon=":material/person:"),
        ],
    }
    page = st.navigation(pages)
    session.sidebar()
    try:
        page.run()
    except Exception as exc:  # every page error becomes a message, never a traceback page
        errors.show_error(exc)


# Streamlit registers this script as __main__, so worker processes that jobs start with
# multiprocessing (forkserver/spawn) import it again as __mp_main__: they must not run the app.
if __name__ != "__mp_main__":
    main()
