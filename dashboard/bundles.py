"""Choosing a model bundle on the sharing pages: one registered in the study, or a file uploaded now.

An upload is checked (checksum, keys, signature) before it is registered; one that is unsigned,
wrongly signed or signed by a key outside the trusted keys is refused with the reason, unless the
user ticks the acceptance box (recorded in the study's audit log). The chosen bundle's signer,
trust and recalibration are shown under the picker.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from core.models import signing
from core.models.bundle import KIND, Bundle, UntrustedBundleError, check_signature, import_bundle, stored_bundle
from core.models.recalibration import describe
from dashboard import errors, session

ACCEPT = "tick 'Accept this bundle anyway' below"


def pick(key: str) -> Bundle:
    """The chosen bundle (an upload is verified and registered in the study first); without one,
    a message and the end of the page."""
    study = session.current_study()
    upload = st.file_uploader("Import a model bundle (.json)", type=["json"], key=f"{key}-upload",
                              help="A bundle exported from the Models page or `python -m core bundle export`; "
                                   "its checksum and signature are verified before it is registered in this study.")
    if upload is not None and st.session_state.get(f"{key}-imported") != upload.file_id:
        _import(study, upload, key)
    registered = session.read("models", KIND)
    if registered.empty:
        st.info("No model bundle in this study yet: import one above, or export one from the Models page of "
                "the study that fitted it.", icon=":material/share:")
        st.stop()
    ids = registered["model_id"].tolist()[::-1]
    bundles = {b: session.cached_call(load, b, key=("bundle", b)) for b in ids}
    choice = st.selectbox("Bundle", ids, key=f"{key}-bundle", format_func=lambda b: label(bundles[b]))
    show_provenance(bundles[choice])
    return bundles[choice]


def _import(study, upload, key: str) -> None:
    """Check and register an uploaded bundle; an untrusted one only once the user accepts it."""
    with errors.guard("The bundle was refused"), tempfile.TemporaryDirectory() as work:
        path = Path(work) / upload.name
        path.write_bytes(upload.getvalue())
        try:
            check_signature(Bundle.load(path), upload.name, how_to_accept=ACCEPT)
            accepted = False
        except UntrustedBundleError as exc:
            st.error(f"The bundle was refused: {exc}", icon=":material/gpp_bad:")
            if not st.checkbox("Accept this bundle anyway (recorded in the study's audit log)",
                               key=f"{key}-accept-{upload.file_id}"):
                return
            accepted = True
        bundle = import_bundle(study, path, accept_untrusted=accepted)
        st.session_state[f"{key}-imported"] = upload.file_id
        st.session_state[f"{key}-bundle"] = bundle.bundle_id
        st.success(f"Registered {bundle.bundle_id} (checksum verified): {bundle.provenance().describe()}.",
                   icon=":material/warning:" if accepted else ":material/verified:")


def show_provenance(bundle: Bundle) -> None:
    """Who signed the bundle, whether the key is trusted, and its recalibration."""
    provenance = bundle.provenance()
    if provenance.ok:
        st.caption(f":material/verified: {bundle.bundle_id} is {provenance.describe()}.")
    else:
        st.warning(f"{bundle.bundle_id} is {provenance.describe()}: it was registered before bundles were signed, "
                   "or accepted explicitly at import (see the audit log).", icon=":material/gpp_maybe:")
    if text := describe(bundle.content.get("recalibration")):
        st.info(f"This bundle is {text}.", icon=":material/tune:")


def label(bundle: Bundle) -> str:
    """The picker's line: id, training centre, recalibration, signer and trust."""
    training = bundle.content["training"]
    recalibration = bundle.content.get("recalibration")
    provenance = bundle.provenance()
    signed = {"own": "signed here", "trusted": f"signed by {provenance.name} (trusted)",
              "untrusted": f"signed by {provenance.name} (NOT trusted)", "invalid": "signature INVALID",
              "unsigned": "unsigned"}[provenance.status]
    return (f"{bundle.bundle_id} · trained on {training.get('centre')} ({training.get('n')} patients, "
            f"{training.get('events')} events)"
            + (f" · recalibrated for {recalibration['centre']} ({recalibration['method']})" if recalibration else "")
            + f" · {signed}")


def load(study, bundle_id: str) -> Bundle:
    """A registered bundle (for ``session.cached_call``)."""
    return stored_bundle(study, bundle_id)


def keys_panel(bundle: Bundle, key: str) -> None:
    """This installation's signing key and label, the trusted keys (remove one), and trusting the key
    that signed ``bundle`` when it is not trusted yet. Opened when the bundle's key is untrusted."""
    provenance = bundle.provenance()
    with st.expander("Signing keys", expanded=provenance.status == "untrusted", icon=":material/key:"):
        with errors.guard("Signing keys"):
            identity = signing.local_identity()
            st.markdown(f"**This installation's key** `{identity.fingerprint}`, signing as **{identity.name}**"
                        + (f" of centre **{identity.centre}**" if identity.centre else "")
                        + f" (key folder `{signing.home()}`). Give this fingerprint to the centres that validate "
                          "your bundles, so they can check it before they trust your key.")
            a, b, c = st.columns([2, 2, 1], vertical_alignment="bottom")
            name = a.text_input("Signer name", identity.name, key=f"{key}-signer-name")
            centre = b.text_input("Signer centre", identity.centre, key=f"{key}-signer-centre")
            if c.button("Save the label", key=f"{key}-signer-save"):
                signing.set_label(name, centre)
                st.rerun()
            if provenance.status == "untrusted":
                st.warning(f"{bundle.bundle_id} is {provenance.describe()}. Compare the fingerprint with the one its "
                           "centre gives you (its `python -m core keys show`) before you trust it.",
                           icon=":material/gpp_maybe:")
                if st.button(f"Trust key {provenance.fingerprint} ({provenance.name})", key=f"{key}-trust"):
                    signing.trust(signing.decode_key(bundle.signature["public_key"]), provenance.name or "",
                                  provenance.centre or "")
                    st.rerun()
            keys = signing.trusted_keys()
            st.markdown(f"**Trusted keys** ({len(keys)}; this installation's own key is always trusted)")
            if keys:
                st.dataframe(pd.DataFrame(keys)[["fingerprint", "name", "centre", "added_at"]], hide_index=True)
                a, b = st.columns([3, 1], vertical_alignment="bottom")
                gone = a.selectbox("Key to remove", [k["fingerprint"] for k in keys], key=f"{key}-untrust-key",
                                   format_func=lambda f: f"{f} ({next(k['name'] for k in keys if k['fingerprint'] == f)})")
                if b.button("Remove from the trusted keys", key=f"{key}-untrust"):
                    signing.untrust(gone)
                    st.rerun()
