"""Segmentation: train nnU-Net on manual masks, its metrics, batch prediction, and a QA viewer."""
import streamlit as st

from core import plots
from dashboard import background, errors, figures, session, tables

st.title("Segmentation")
study = session.current_study()
if session.centers().empty:
    session.pick_center()
    st.stop()

qa, train, metrics, predict = st.tabs(["Quality check", "Train a model", "Model metrics", "Predict masks"])

with qa:
    cols = st.columns([2, 2, 2, 1], vertical_alignment="bottom")
    with cols[0]:
        center = session.pick_center(key="qa_center")
    masks = session.read("masks", center)
    if masks.empty:
        st.info(f"Centre {center} has no masks yet: upload manual masks with the cohort, or predict them "
                "with a model (Predict masks).")
    else:
        source = cols[1].selectbox("Mask source", sorted(masks["source"].unique()), key="qa_source")
        masks = masks[masks["source"] == source].reset_index(drop=True)
        flagged_only = cols[3].toggle("Flagged only", key="qa_flagged",
                                      disabled=not masks["flags"].notna().any())
        listed = masks[masks["flags"].notna()] if flagged_only else masks
        flags = dict(zip(masks["patient_id"], masks["flags"]))
        patient = cols[2].selectbox("Patient", list(listed["patient_id"]), key="qa_patient",
                                    format_func=lambda p: f"{p} \u26a0 {flags[p]}" if flags.get(p) else p)
        images = session.read("images", center)
        image_row = images[images["patient_id"] == patient]
        mask_row = masks[masks["patient_id"] == patient]
        if image_row.empty:
            st.warning(f"Patient {patient} has a mask but no image in the study.")
        else:
            image, spacing = session.volume(image_row["sha256"].iloc[0], image_row["path"].iloc[0])
            mask, _ = session.volume(mask_row["sha256"].iloc[0], mask_row["path"].iloc[0])
            if mask.shape != image.shape:
                st.error(f"Mask grid {mask.shape} differs from the image grid {image.shape}; showing the image only.")
                mask = None
            view, side = st.columns([3, 1])
            with side:
                default = plots.best_slice(mask, image.shape[0])
                z = st.slider("Axial slice", 1, image.shape[0], default + 1,
                              key=f"qa_slice_{center}_{source}_{patient}") - 1
                level = st.number_input("Window level (HU)", value=30, step=10, key="qa_level")
                width = st.number_input("Window width (HU)", value=300, min_value=1, step=50, key="qa_width")
                overlay = st.radio("Mask overlay", ("outline", "fill", "none"), key="qa_overlay", horizontal=True)
                opacity = st.slider("Fill opacity", 0.1, 1.0, 0.4, 0.05, key="qa_opacity",
                                    disabled=overlay != "fill")
                row = mask_row.iloc[0]
                st.metric("Non-tumoral liver", f"{row['liver_ml']:.0f} mL")
                st.metric("Tumour", f"{row['tumor_ml']:.1f} mL")
                if row["flags"]:
                    st.warning(f"Flagged: {row['flags']}")
            with view:
                fig = figures.figure(plots.ct_slice, image[z], None if mask is None else mask[z], spacing[:2],
                                    level, width, overlay, opacity, title=f"{patient} \u00b7 slice {z + 1} of {image.shape[0]}")
                figures.chart(fig, f"{center}_{patient}_slice{z + 1}", key="qa-slice")

        st.subheader("Volumes per case")
        st.caption(f"{len(masks)} cases, mask source {source}; {int(masks['flags'].notna().sum())} flagged.")
        c1, c2 = st.columns(2)
        highlight = list(masks.loc[masks["flags"].notna(), "patient_id"])
        with c1:
            figures.chart(figures.figure(plots.volumes, masks, "liver_ml", "Non-tumoral liver", highlight), f"{center}_liver_volumes",
                         key="qa-liver")
        with c2:
            figures.chart(figures.figure(plots.volumes, masks, "tumor_ml", "Tumour", highlight), f"{center}_tumour_volumes",
                         key="qa-tumour")
        shown = masks[["patient_id", "liver_ml", "tumor_ml", "liver_voxels", "tumor_voxels", "flags", "created_at"]]
        tables.table(tables.format_table(shown, default_digits=1).fillna({"flags": ""}).rename(columns={
            "patient_id": "Patient", "liver_ml": "Non-tumoral liver (mL)", "tumor_ml": "Tumour (mL)",
            "liver_voxels": "Liver voxels", "tumor_voxels": "Tumour voxels", "flags": "Flags", "created_at": "Stored"}),
            f"{center}_{source}_mask_volumes", key="qa-volumes", download=shown)

SEG = "core.segmentation.study"
HAVE_SEG = session.module_available(SEG)
models = session.read("models", "segmentation")
model_labels = {m: f"{m} ({p.get('source', '')})" for m, p in zip(models["model_id"], models["payload"])}

with train:
    if not HAVE_SEG:
        session.not_available("Training nnU-Net from the study's manual masks", SEG)
    else:
        from core.segmentation import study as seg
        from core.segmentation import train as tr

        st.markdown("Export the patients with manual masks as an nnU-Net v2 dataset (a held-out test set and "
                    "cross-validation folds), plan, preprocess and train each fold, then score the folds and the "
                    "test set (Model metrics). Defaults are nnU-Net's own.")
        with_masks = [c for c, n in zip(session.centers()["center"], session.centers()["manual_masks"]) if n > 0]
        training = session.center_names("training")
        with st.form("train-form"):
            c1, c2, c3 = st.columns(3)
            centers = c1.multiselect("Centres (manual masks)", with_masks, default=[c for c in with_masks if c in training]
                                     or with_masks[:1], key="train_centers")
            configuration = c2.selectbox("Configuration", ["3d_fullres", "2d", "3d_lowres", "3d_cascade_fullres"],
                                         key="train_config")
            epochs = c3.selectbox("Epochs", tr.EPOCH_VARIANTS, index=tr.EPOCH_VARIANTS.index(1000), key="train_epochs",
                                  help="nnU-Net's default is 1,000 epochs (days on a CPU, hours on a GPU).")
            c4, c5, c6, c7 = st.columns(4)
            n_folds = c4.number_input("Cross-validation folds", 2, 10, 5, key="train_nfolds")
            folds = c5.multiselect("Folds to train", list(range(10)), default=list(range(5)), key="train_folds",
                                   help="nnU-Net trains every fold by default; each must be below the number of folds.")
            test_fraction = c6.number_input("Held-out test fraction", 0.0, 0.9, 0.2, 0.05, key="train_test")
            seed = c7.number_input("Split seed", 0, 2**31 - 1, 12345, key="train_seed")
            c8, c9 = st.columns(2)
            device = c8.selectbox("Device", ["auto", "cuda", "cpu"], key="train_device")
            name = c9.text_input("Dataset name", "Liver", key="train_name")
            submitted = st.form_submit_button("Train", icon=":material/model_training:", type="primary",
                                              disabled=background.background_running("segmentation-train"))
        if submitted:
            if not centers:
                st.error("Choose at least one centre with manual masks.")
            elif any(f >= n_folds for f in folds):
                st.error(f"Folds to train must be below {int(n_folds)} (the number of cross-validation folds).")
            else:
                def run_training(study, centers, name, test_fraction, n_folds, seed, folds, configuration, epochs,
                                 device):
                    raw = seg.export_dataset(study, centers, name, test_fraction=test_fraction, n_folds=n_folds,
                                             seed=seed)
                    info = seg.train(study, raw.name, folds=folds, configuration=configuration, epochs=epochs,
                                     device=device)
                    seg.evaluate(study, info.model_id, device=device)
                    return info.model_id

                background.start_background("segmentation-train", run_training, study, centers, name, float(test_fraction),
                                        int(n_folds), int(seed), folds or None, configuration, int(epochs), device)
                st.rerun()
        if err := background.background_error("segmentation-train"):
            st.error(f"Training stopped: {err}")
        background.job_monitor("segmentation training", key="train-monitor", background="segmentation-train")

        st.markdown("**Import a model** (an nnU-Net model zip, e.g. exported by another centre)")
        upload = st.file_uploader("nnU-Net model .zip", type=["zip"], key="model_zip")
        if upload is not None and st.button("Import", icon=":material/download:", key="import_model"):
            import tempfile
            from pathlib import Path

            with errors.guard("Not imported"), st.spinner("Installing the model…"), \
                    tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / Path(upload.name).name
                path.write_bytes(upload.getvalue())
                info = seg.import_model(study, path)
                st.success(f"Imported {info.model_id}.")

with metrics:
    if models.empty:
        st.info("No segmentation model in this study yet: train or import one.")
    else:
        model_id = st.selectbox("Model", list(model_labels)[::-1], format_func=model_labels.get, key="metrics_model")
        long = session.read("seg_metrics", model_id)
        if long.empty:
            st.info("This model has not been scored yet.")
        else:
            from core.segmentation.evaluate import table1

            t1 = table1(long)
            st.markdown("**Table 1** · mean over cases; HD95 in mm")
            shown = t1.reset_index()
            tables.table(tables.format_table(shown, default_digits=3), f"table1_{model_id}", key="table1")
            metric = st.selectbox("Per-case metric", sorted(long["metric"].unique()), key="metrics_metric",
                                  index=sorted(long["metric"].unique()).index("dice") if "dice" in set(long["metric"]) else 0)
            figures.chart(figures.figure(plots.seg_metrics, long, metric), f"{model_id}_{metric}", key="seg-metrics")
        if HAVE_SEG:
            from core.segmentation import study as seg

            eval_center = st.selectbox("Score its masks of a centre against the manual masks",
                                       session.center_names(), key="eval_center")
            if st.button("Score centre", key="eval_go", disabled=background.background_running("segmentation-eval")):
                background.start_background("segmentation-eval", seg.evaluate, study, model_id, centers=[eval_center])
                st.rerun()
            if background.background_running("segmentation-eval"):
                st.info("Scoring… (this page refreshes when it is done)")
            if err := background.background_error("segmentation-eval"):
                st.error(f"Scoring stopped: {err}")

with predict:
    if not HAVE_SEG:
        session.not_available("Batch prediction of masks", SEG)
    elif models.empty:
        st.info("No segmentation model in this study yet: train or import one first.")
    else:
        from core.segmentation import study as seg

        c1, c2 = st.columns(2)
        with c1:
            pred_center = session.pick_center(key="pred_center", default_role="validation")
        pred_model = c2.selectbox("Model", list(model_labels)[::-1], format_func=model_labels.get, key="pred_model")
        c3, c4, c5, c6 = st.columns(4)
        all_patients = c3.toggle("Also patients with manual masks", key="pred_all")
        device = c4.selectbox("Device", ["auto", "cuda", "cpu"], key="pred_device")
        mirroring = c5.toggle("Test-time mirroring", value=True, key="pred_mirror", help="nnU-Net's default; 8× slower.")
        step = c6.number_input("Tile step", 0.1, 1.0, 0.5, 0.05, key="pred_step", help="nnU-Net's default 0.5.")
        name = f"segmentation-predict:{pred_center}"
        if st.button("Predict masks", icon=":material/play_arrow:", type="primary", key="pred_go",
                     disabled=background.background_running(name)):
            background.start_background(name, seg.predict, study, pred_center, pred_model, all_patients=all_patients,
                                    device=device, use_mirroring=mirroring, tile_step_size=float(step))
            st.rerun()
        if err := background.background_error(name):
            st.error(f"Prediction stopped: {err}")
        background.job_monitor("segmentation prediction", pred_center, key="pred-monitor", background=name)
        flagged = session.cached_call(seg.flagged, pred_center, pred_model)
        if len(flagged):
            st.markdown(f"**{len(flagged)} flagged mask(s)** (no tumour, or a liver volume outside the study's "
                        "range): check them in Quality check before extraction.")
            tables.table(tables.format_table(flagged, default_digits=1), f"{pred_center}_flagged", key="flagged")
