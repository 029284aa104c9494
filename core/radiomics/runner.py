"""Extraction jobs: every case of a centre, for one mask source and preset, in parallel.

One call is one job in the study's jobs table. Cases run in worker processes (or on a Dask
cluster); the calling process, which owns the study database, writes each case's features
in one transaction as soon as it finishes. A case whose image, mask and settings already
have features for that patient is skipped (cached by content), so after a crash or a kill
the same call continues with the cases that are left, as a new job that names the one it
continues. A bad case is recorded with its message and the job goes on: it ends ``done``,
``done with N failures`` or ``cancelled``; Ctrl-C or a stop signal noted by
:func:`core.jobs.signals.deferred_signals` ends it ``interrupted`` and stops its workers.

The engine is chosen per run (:mod:`core.radiomics.engines`: ``auto``, ``torch`` or
``pyradiomics``); with the torch engine and a visible GPU the cases run on one Dask worker
per GPU. Both engines give the same features, so the cache holds across engines; each
case's provenance (engine, version, device, host) is stored with its features.
"""
from __future__ import annotations

import json
import os
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from core.jobs import JobTracker, ShippedFile, default_workers, local_path, run_cases
from core.jobs.files import file_ref
from core.jobs.pool import visible_gpus
from core.jobs.tracker import ProgressCallback
from core.radiomics.engines import case_features, choose_engine
from core.radiomics.presets import Preset, load_preset
from core.store import Study, StudyError, verify_file

if TYPE_CHECKING:
    from distributed import Client

KIND = "extract"
# Peak memory of one worker on a 60 x 512 x 512 CT (15.7 M voxels, 1.4 M in the liver), measured:
# 2.7 GiB with `paper` (filtered images held at once), 0.65 GiB with `quick`; 0.5 GiB of it is
# the interpreter and libraries. The default number of workers keeps within available memory.
WORKER_BASE_BYTES = 512 * 2**20
BYTES_PER_VOXEL = {"filtered": 150, "original": 10}


@dataclass(frozen=True)
class ExtractionResult:
    """What a run did: cases extracted now, cached from before, failed (patient -> message)."""

    job_id: int
    continues: int | None               # the interrupted, cancelled or failed job this run continued
    state: str
    settings_hash: str
    total: int
    extracted: int
    cached: int
    failures: dict[str, str]
    seconds: float                      # wall time of the run
    case_seconds: dict[str, float]      # patient -> seconds in its worker, for cases extracted now
    peak_rss_mib: float | None          # the largest peak resident memory of any worker, MiB
    engine: str = "pyradiomics"         # the engine that ran ("torch" or "pyradiomics")
    devices: tuple[str, ...] = ()       # the devices that computed the cases extracted now
    engine_note: str | None = None      # why the engine is not the one asked for


def plan_cases(study: Study, center: str, mask_source: str) -> pd.DataFrame:
    """patient_id, image_sha, image_path, mask_sha, mask_path (NaN where the patient lacks that mask)."""
    images = study.images(center)[["patient_id", "sha256", "path"]]
    masks = study.masks(center, mask_source)[["patient_id", "sha256", "path"]]
    return (images.rename(columns={"sha256": "image_sha", "path": "image_path"})
            .merge(masks.rename(columns={"sha256": "mask_sha", "path": "mask_path"}), on="patient_id", how="left"))


def run_extraction(study: Study, center: str, *, mask_source: str = "manual",
                   preset: "str | os.PathLike | Preset" = "quick", workers: int | None = None,
                   dask: "str | Client | None" = None, progress: ProgressCallback | None = None,
                   cancel: threading.Event | None = None, ship_files: bool | None = None,
                   engine: str = "auto", skip_missing_masks: bool = False) -> ExtractionResult:
    """Extract every case of ``center`` with masks from ``mask_source`` and the given preset.

    ``workers``: local processes (default: every core, fewer when the largest volume would not
    fit in the available memory that many times). ``dask``: ``"local"`` (a LocalCluster),
    a scheduler address, or a ``distributed.Client``; the study is still written only here.
    ``ship_files`` sends file bytes to the workers instead of paths (default: only for a
    scheduler address, whose workers may not see this disk). ``progress`` is called with a
    :class:`~core.jobs.Progress` after every case; setting ``cancel`` (or the job's state to
    ``cancelling``) stops the run after the cases in flight. ``engine``: ``auto`` (default),
    ``torch`` or ``pyradiomics`` (:func:`~core.radiomics.engines.choose_engine`; the result
    says which ran, where, and why when it fell back). A patient without a mask from
    ``mask_source`` is a failed case, or with ``skip_missing_masks`` a skipped one (a second
    reader's masks cover some patients only). Nothing is printed.
    """
    preset = load_preset(preset)
    choice = choose_engine(engine, preset)
    gpu = choice.engine == "torch" and bool(visible_gpus())
    if gpu and dask is None and workers is None:
        dask = "local"                  # one worker per GPU
    cases = _checked_plan(study, center, mask_source)
    _refuse_concurrent(study, center, mask_source, preset.settings_hash)
    study.register_settings(preset.settings_hash, preset.name, preset.effective)
    if workers is None and dask in (None, "local") and not gpu:
        workers = default_workers(_memory_per_worker(study, center, preset))
    params = {"mask_source": mask_source, "preset": preset.name, "settings_hash": preset.settings_hash,
              "workers": workers, "dask": dask if isinstance(dask, str) else None, "engine": choice.engine,
              "engine_requested": engine, "engine_note": choice.note, "gpu": gpu}
    tracker = JobTracker.start(study, KIND, center, params, len(cases), progress, cancel,
                               resume={"mask_source": mask_source, "settings_hash": preset.settings_hash})
    started = time.monotonic()
    case_seconds: dict[str, float] = {}
    devices: set[str] = set()
    peak = None
    try:
        cached = _cached(study, center, mask_source, preset.settings_hash, cases)
        tracker.cached(sorted(cached))
        unmasked = sorted(cases.loc[cases["mask_path"].isna(), "patient_id"])
        if skip_missing_masks:
            tracker.cached(unmasked, reason=f"no mask from source {mask_source!r}")
        else:
            for pid in unmasked:
                tracker.failed(pid, f"patient {pid}: no mask from source {mask_source!r}")
        todo = cases[cases["mask_path"].notna() & ~cases["patient_id"].isin(cached)].set_index("patient_id")
        ship = ship_files if ship_files is not None else isinstance(dask, str) and dask != "local"
        tasks = ((pid, (choice.engine, file_ref(row.image_path, ship), file_ref(row.mask_path, ship), preset, pid,
                        row.image_sha, row.mask_sha)) for pid, row in todo.iterrows())
        with closing(run_cases(_extract_files, tasks, workers=workers, dask=dask,
                               should_stop=tracker.should_stop, gpu=gpu)) as outcomes:
            for outcome in outcomes:
                pid = outcome.case_id
                if outcome.peak_rss_mib is not None:
                    peak = max(peak or 0.0, outcome.peak_rss_mib)
                if outcome.ok:
                    frame, provenance = outcome.value
                    study.write_case_features(center, pid, mask_source, preset.settings_hash,
                                              todo.at[pid, "image_sha"], todo.at[pid, "mask_sha"], frame,
                                              job_id=tracker.job_id, seconds=outcome.seconds,
                                              provenance=provenance)
                    devices.add(provenance["device"])
                    tracker.succeeded(pid, outcome.seconds, recorded=True)
                    case_seconds[pid] = outcome.seconds
                else:
                    tracker.failed(pid, outcome.error, outcome.seconds)
        state = tracker.finish()
    except BaseException as exc:
        tracker.abort(exc)
        raise
    result = ExtractionResult(tracker.job_id, tracker.continues, state, preset.settings_hash, len(cases),
                              len(case_seconds), len(cached), dict(tracker.failures), time.monotonic() - started,
                              case_seconds, peak, choice.engine, tuple(sorted(devices)), choice.note)
    study.audit("extract features", {"center": center, **params, "job_id": tracker.job_id, "state": state,
                                     "continues": tracker.continues, "extracted": result.extracted,
                                     "cached": result.cached, "failed": len(result.failures)})
    return result


def _memory_per_worker(study: Study, center: str, preset: Preset) -> int:
    """Bytes one worker may need for the centre's largest volume with this preset (an estimate)."""
    images = study.images(center)
    voxels = int((images["size_x"] * images["size_y"] * images["size_z"]).max())
    filtered = any(name != "Original" for name in preset.effective["imageType"])
    return WORKER_BASE_BYTES + voxels * BYTES_PER_VOXEL["filtered" if filtered else "original"]


def _extract_files(engine: str, image: "str | ShippedFile", mask: "str | ShippedFile", preset: Preset,
                   case_id: str, image_sha: str, mask_sha: str) -> tuple[pd.DataFrame, dict]:
    """Worker side: one case from paths or shipped bytes, each checked against its SHA-256 first;
    its features and provenance (:func:`core.radiomics.engines.case_features`)."""
    with local_path(image) as image_path, local_path(mask) as mask_path:
        verify_file(image_path, image_sha, f"image of patient {case_id}")
        verify_file(mask_path, mask_sha, f"mask of patient {case_id}")
        return case_features(engine, image_path, mask_path, preset, case_id)


def _checked_plan(study: Study, center: str, mask_source: str) -> pd.DataFrame:
    study.role(center)  # StudyError naming the known centres
    cases = plan_cases(study, center, mask_source)
    if cases.empty:
        raise ValueError(f"centre {center!r} has no images to extract")
    if cases["mask_path"].isna().all():
        sources = ", ".join(study.mask_sources(center)) or "none"
        raise ValueError(f"centre {center!r} has no masks from source {mask_source!r} (sources: {sources})")
    return cases


def _cached(study: Study, center: str, mask_source: str, settings_hash: str, cases: pd.DataFrame) -> set[str]:
    """Patients whose stored features came from this very image, mask and settings."""
    stored = study.extracted_cases(center, mask_source, settings_hash)
    keys = set(map(tuple, stored[["patient_id", "image_sha", "mask_sha"]].itertuples(index=False)))
    return {pid for pid, image_sha, mask_sha in cases[["patient_id", "image_sha", "mask_sha"]].itertuples(index=False)
            if (pid, image_sha, mask_sha) in keys}


def _refuse_concurrent(study: Study, center: str, mask_source: str, settings_hash: str) -> None:
    """StudyError if a live job already extracts the same centre, mask source and settings."""
    study.jobs.mark_stale()
    jobs = study.jobs.list()
    live = jobs[(jobs["kind"] == KIND) & (jobs["center"] == center) & jobs["state"].isin(["running", "cancelling"])]
    for job_id, params in zip(live["job_id"], live["params"], strict=True):
        params = json.loads(params or "{}")
        if params.get("mask_source") == mask_source and params.get("settings_hash") == settings_hash:
            raise StudyError(f"job {job_id} is already extracting centre {center!r} with mask source "
                             f"{mask_source!r} and these settings; wait for it or cancel it")
