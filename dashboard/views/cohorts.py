"""Cohorts: upload a centre's cohort, read the validation report, store it; replace or delete a centre.

The check is ``core.cohort.ingest.prepare``, the one the command line's ingest runs, so the
same validation layer (``core.cohort.checks``) refuses the same inputs with the same words.
"""
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from core.cohort.archive import ArchiveError, Limits, copy_upload
from core.cohort.ingest import READER2, ROLES, CohortError, prepare, store
from dashboard import errors, session, tables

st.title("Cohorts")
study = session.current_study()
centers = session.centers()

if centers.empty:
    st.info("No centres yet. Upload the training centre's cohort first, then each validation centre's.")
else:  # a second reader's masks are a mask source of their own, not a model's
    reader2 = [len(session.read("masks", c, READER2)) for c in centers["center"]]
    shown = centers.assign(model_masks=centers["model_masks"] - reader2)
    shown.insert(shown.columns.get_loc("manual_masks") + 1, "reader2_masks", reader2)
    shown = shown.drop(columns=["source"]).rename(columns={
        "center": "Centre", "role": "Role", "patients": "Patients", "events": "PTLF events", "images": "Images",
        "manual_masks": "Manual masks", "reader2_masks": "Second reader's masks", "model_masks": "Model masks",
        "created_at": "Added"})
    tables.table(shown, "centres", key="cohort-centres")

UPLOAD_LIMIT = Limits(max_upload=int(st.get_option("server.maxUploadSize")) << 20)


def _forget_check() -> None:
    check = st.session_state.pop("cohort_check", None)
    if check:
        shutil.rmtree(check["work"], ignore_errors=True)


def _write_upload(work: Path) -> Path | None:
    """Put the uploaded zip or files under ``work``; return the cohort source to check."""
    if st.session_state.get("upload_mode") == "zip":
        upload = st.session_state.get(f"upload_zip_{round_}")
        if upload is None:
            return None
        path = work / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        return path
    clinical = st.session_state.get(f"upload_clinical_{round_}")
    if clinical is None:
        return None
    suffix = ".xlsx" if clinical.name.lower().endswith(".xlsx") else ".csv"
    files = {f"clinical{suffix}": clinical.getvalue()}
    for folder, key in (("images", "upload_images"), ("masks", "upload_masks"),
                        ("masks_reader2", "upload_masks_reader2")):
        for f in st.session_state.get(f"{key}_{round_}") or []:
            files[f"{folder}/{Path(f.name).name}"] = f.getvalue()
    return copy_upload(files, work / "cohort")


if st.session_state.pop("upload_reset", False):  # after storing: an empty form for the next centre
    st.session_state["upload_center"] = ""
    st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1
round_ = st.session_state.get("upload_round", 0)

st.subheader("Upload a cohort")
st.caption("A cohort is `clinical.csv` (patient_id, ptlf, clinical columns), `images/<patient_id>.nii.gz` "
           "(or .nrrd, or a DICOM series folder, zipped), optional `masks/<patient_id>.nii.gz` "
           "(0 background, 1 non-tumoral liver, 2 tumour) and optional `masks_reader2/<patient_id>.nii.gz`, "
           "a second reader's masks for the reproducibility of features (mask source `reader2`). "
           "Nothing is stored until the check passes.")
cols = st.columns([2, 1, 2])
center = cols[0].text_input("Centre name", key="upload_center", placeholder="e.g. hospital_a").strip()
has_training = "training" in set(centers["role"])
role = cols[1].selectbox("Role", ROLES, key="upload_role", index=1 if has_training else 0,
                         help="training: the models are fitted on it; validation/external: only evaluated.")
mode = cols[2].radio("Upload as", ("zip", "files"), key="upload_mode", horizontal=True,
                     format_func={"zip": "a .zip of the folder", "files": "separate files"}.get)
if mode == "zip":
    st.file_uploader("Cohort .zip", type=["zip"], key=f"upload_zip_{round_}", on_change=_forget_check)
else:
    c1, c2, c3, c4 = st.columns(4)
    c1.file_uploader("clinical.csv or .xlsx", type=["csv", "xlsx"], key=f"upload_clinical_{round_}", on_change=_forget_check)
    c2.file_uploader("Images (<patient_id>.nii.gz / .nrrd)", type=["gz", "nii", "nrrd"], accept_multiple_files=True,
                     key=f"upload_images_{round_}", on_change=_forget_check)
    c3.file_uploader("Masks, optional", type=["gz", "nii", "nrrd"], accept_multiple_files=True,
                     key=f"upload_masks_{round_}", on_change=_forget_check)
    c4.file_uploader("Second reader's masks, optional", type=["gz", "nii", "nrrd"], accept_multiple_files=True,
                     key=f"upload_masks_reader2_{round_}", on_change=_forget_check)

exists = bool(center) and center in set(centers["center"])
replace = False
if exists:
    replace = st.checkbox(f"Replace the existing centre **{center}**: its patients, clinical values, images, "
                          "masks and features are deleted and this cohort stored instead", key="upload_replace")

if st.button("Check the cohort", icon=":material/fact_check:", type="primary"):
    _forget_check()
    work = Path(tempfile.mkdtemp(prefix="ptlf-upload-"))
    source = _write_upload(work)
    if source is None:
        shutil.rmtree(work, ignore_errors=True)
        st.warning("Choose the files to upload first.")
    else:
        with st.spinner("Reading and checking every table, image and mask\u2026"):
            (work / "prepared").mkdir()
            try:
                plan, problems = prepare(source, work / "prepared", UPLOAD_LIMIT), []
            except (CohortError, ArchiveError) as exc:
                plan, problems = None, list(exc.problems)
            except Exception as exc:  # an unexpected reader error is still a report, not a crash
                plan, problems = None, [f"{type(exc).__name__}: {exc}"]
            finally:  # the upload as sent may carry identifiers (DICOM tags): only checked copies stay
                if source.is_dir():
                    shutil.rmtree(source, ignore_errors=True)
                else:
                    source.unlink(missing_ok=True)
        st.session_state["cohort_check"] = {"plan": plan, "problems": problems, "work": str(work),
                                            "name": source.name}

check = st.session_state.get("cohort_check")
if check:
    st.subheader("Validation report")
    target = []
    if not center:
        target.append("Give the centre a name.")
    if exists and not replace:
        target.append(f"Centre {center!r} exists: tick 'Replace' to replace it, or choose another name.")
    if check["problems"]:
        st.error(f"{len(check['problems'])} problem(s) in `{check['name']}`; nothing was stored. Fix them and "
                 "upload again.", icon=":material/error:")
        tables.table(pd.DataFrame({"problem": check["problems"]}), "cohort_problems", key="problems")
    else:
        plan = check["plan"]
        summary = plan.summary()
        st.success(f"`{check['name']}` passed every check.", icon=":material/check_circle:")
        mcols = st.columns(len(summary))
        for col, (k, v) in zip(mcols, summary.items()):
            col.metric(k.replace("_", " ").capitalize(), v)
        with st.expander("Patients and clinical values"):
            wide = plan.clinical.assign(value=plan.clinical["value_num"].where(
                plan.clinical["value_num"].notna(), plan.clinical["value_text"])).pivot(
                index="patient_id", columns="variable", values="value") if len(plan.clinical) else pd.DataFrame()
            preview = plan.patients.set_index("patient_id").join(wide)
            st.dataframe(preview)
        for msg in target:
            st.warning(msg)
        if st.button(f"Store as centre {center or '?'} ({role})", icon=":material/save:", type="primary",
                     disabled=bool(target), key="store"):
            with errors.guard("Not stored"), st.spinner("Storing images, masks and tables\u2026"):
                store(study, plan, center, role, replace=exists and replace)
                _forget_check()
                st.session_state["upload_reset"] = True
                st.session_state["stored_message"] = f"Stored centre {center} ({role}): " + ", ".join(
                    f"{v} {k.replace('_', ' ')}" for k, v in summary.items())
                st.rerun()

if msg := st.session_state.pop("stored_message", None):
    st.success(msg, icon=":material/check_circle:")

if not centers.empty:
    st.subheader("Delete a centre")
    with st.form("delete-centre"):
        victim = st.selectbox("Centre", list(centers["center"]), key="delete_center")
        typed = st.text_input("Type the centre's name to confirm", key="delete_confirm")
        if st.form_submit_button("Delete centre", icon=":material/delete:"):
            if typed.strip() != victim:
                st.error(f"Type {victim!r} exactly to delete it.")
            else:
                with errors.guard("Not deleted"):
                    study.delete_center(victim)
                    st.session_state["stored_message"] = (f"Deleted centre {victim} and its rows "
                                                          "(files stay in the store).")
                    st.rerun()
