"""Choosing a model bundle on the sharing pages: one registered in the study, or a file uploaded now."""
from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from core.models.bundle import KIND, Bundle, import_bundle, stored_bundle
from dashboard import errors, session


def pick(key: str) -> Bundle:
    """The chosen bundle (an upload is verified and registered in the study first); without one,
    a message and the end of the page."""
    study = session.current_study()
    upload = st.file_uploader("Import a model bundle (.json)", type=["json"], key=f"{key}-upload",
                              help="A bundle exported from the Models page or `python -m core bundle export`; "
                                   "its checksum is verified before it is registered in this study.")
    if upload is not None and st.session_state.get(f"{key}-imported") != upload.file_id:
        with errors.guard("The bundle was refused"), tempfile.TemporaryDirectory() as work:
            path = Path(work) / "bundle.json"
            path.write_bytes(upload.getvalue())
            bundle = import_bundle(study, path)
            st.session_state[f"{key}-imported"] = upload.file_id
            st.session_state[f"{key}-bundle"] = bundle.bundle_id
            st.success(f"Registered {bundle.bundle_id} (checksum verified).", icon=":material/verified:")
    registered = session.read("models", KIND)
    if registered.empty:
        st.info("No model bundle in this study yet: import one above, or export one from the Models page of "
                "the study that fitted it.", icon=":material/share:")
        st.stop()
    ids = registered["model_id"].tolist()[::-1]
    choice = st.selectbox("Bundle", ids, key=f"{key}-bundle", format_func=lambda b: _label(registered, b))
    return session.cached_call(_load, choice, key=("bundle", choice))


def _load(study, bundle_id: str) -> Bundle:
    return stored_bundle(study, bundle_id)


def _label(registered, bundle_id: str) -> str:
    payload = registered.set_index("model_id").loc[bundle_id, "payload"]
    training = payload.get("training", {})
    return f"{bundle_id} · trained on {training.get('centre')} ({training.get('n')} patients, {training.get('events')} events)"
