"""Cohort ingest: read a cohort folder or zip, check everything, store all of it or nothing.

A cohort folder holds ``clinical.csv`` (or ``.xlsx``), optional ``images/`` and ``masks/``
(one volume per patient, named by patient_id), optional ``masks_reader2/`` (a second reader's
masks of some or all patients, same labels, stored as mask source ``reader2`` for the
reproducibility of features) and an optional ``features.csv`` of features extracted elsewhere
(patient_id, region, one column per feature). Every problem is collected
before anything is written; then the files go into the study's store and the rows into the
database in one transaction.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.cohort import images as img
from core.cohort.archive import ArchiveError, Limits, find_cohort_root, unpack
from core.cohort.checks import check_patient_id, read_ct, read_mask
from core.cohort.table import ID_NAMES, TableError, check_ids, check_table, find_column, parse_numbers, read_table
from core.store import REGIONS, Study

ROLES = ("training", "validation", "external")
IMPORTED = "imported"  # mask_source and settings hash of features.csv rows
READER2 = "reader2"    # mask source of masks_reader2/
MASK_FOLDERS = {"masks": "manual", "masks_reader2": READER2}  # cohort sub-folder -> mask source


class CohortError(ValueError):
    """A cohort refused; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the cohort:\n" + "\n".join(f"- {p}" for p in problems))


@dataclass
class CohortPlan:
    """A checked cohort, ready to store: tables plus de-identified volumes in a work folder."""

    source: str
    patients: pd.DataFrame
    clinical: pd.DataFrame
    images: pd.DataFrame = field(default_factory=pd.DataFrame)   # + column 'file' (prepared .nii.gz)
    masks: pd.DataFrame = field(default_factory=pd.DataFrame)    # + column 'file'; source manual or reader2
    features: pd.DataFrame = field(default_factory=pd.DataFrame)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """Counts shown before storing: patients, events, images, masks (manual, second reader's), features."""
        sources = self.masks["source"].value_counts() if len(self.masks) else pd.Series(dtype=int)
        return {"patients": len(self.patients), "events": int(self.patients["ptlf"].sum()) if len(self.patients) else 0,
                "images": len(self.images), "masks": int(sources.get("manual", 0)),
                "reader2_masks": int(sources.get(READER2, 0)),
                "clinical_variables": int(self.clinical["variable"].nunique()) if len(self.clinical) else 0,
                "imported_features": int(self.features["feature"].nunique()) if len(self.features) else 0}


def ingest(study: Study | str | Path, source: str | Path, center: str, role: str, replace: bool = False,
           limits: Limits = Limits()) -> dict:
    """Check the cohort at ``source`` (folder or .zip) and store it as ``center``; returns its summary.

    ``study`` is an open Study or the path of one; a path is opened (a new study file created)
    only when the cohort passes its checks. Raises CohortError listing every problem; then
    nothing has been written.
    """
    with tempfile.TemporaryDirectory(prefix="cohort-") as work:
        try:
            plan, problems = prepare(Path(source), Path(work), limits), []
        except CohortError as exc:
            plan, problems = None, exc.problems
        if isinstance(study, Study):
            return _store_checked(study, plan, problems, center, role, replace)
        if problems and not Path(study).exists():
            raise CohortError(_check_target(None, center, role, replace) + problems)
        with Study.open(study) as opened:
            return _store_checked(opened, plan, problems, center, role, replace)


def _store_checked(study: Study, plan: "CohortPlan | None", problems: list[str], center: str, role: str,
                   replace: bool) -> dict:
    problems = _check_target(study, center, role, replace) + problems
    if problems:
        raise CohortError(problems)
    store(study, plan, center, role, replace)
    return plan.summary()


def validate(source: str | Path, limits: Limits = Limits()) -> CohortPlan:
    """Check a cohort without storing anything; the plan's ``problems`` lists what is wrong."""
    with tempfile.TemporaryDirectory(prefix="cohort-") as work:
        try:
            return prepare(Path(source), Path(work), limits)
        except CohortError as exc:
            return CohortPlan(source=str(source), patients=pd.DataFrame(), clinical=pd.DataFrame(),
                              problems=exc.problems)


def prepare(source: Path, work: Path, limits: Limits = Limits()) -> CohortPlan:
    """Read and check everything; write de-identified volumes under ``work``. CohortError on any problem.

    A zip is unpacked under ``work`` and the unpacked files (which may carry identifiers) are
    removed again before this returns, whatever the outcome.
    """
    if not source.exists():
        raise CohortError([f"{source}: no such file or folder"])
    work.mkdir(parents=True, exist_ok=True)
    if source.is_file():
        if source.suffix.lower() != ".zip":
            raise CohortError([f"{source.name}: expected a cohort folder or a .zip of one"])
        try:
            folder = unpack(source, work / "unpacked", limits)
            return _prepare_folder(source, folder, work)
        except ArchiveError as exc:
            raise CohortError(exc.problems) from None
        finally:
            shutil.rmtree(work / "unpacked", ignore_errors=True)
    return _prepare_folder(source, find_cohort_root(source), work)


def _prepare_folder(source: Path, folder: Path, work: Path) -> CohortPlan:
    table = next((folder / f"clinical{s}" for s in (".csv", ".xlsx") if (folder / f"clinical{s}").exists()), None)
    if table is None:
        raise CohortError([f"{folder.name}: no clinical.csv or clinical.xlsx (patient_id, ptlf, clinical columns)"])
    try:
        raw, decimal = read_table(table)
    except TableError as exc:
        raise CohortError(exc.problems) from None
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise CohortError([f"{table.name}: cannot read the table: {exc}"]) from None
    patients, clinical, problems = check_table(raw, table.name, decimal)
    ids = set(patients["patient_id"].dropna()) if len(patients) else set()

    plan = CohortPlan(source=str(source), patients=patients, clinical=clinical)
    images = _volumes(folder / "images", "images", problems)
    masks = {name: _volumes(folder / name, name, problems) for name in MASK_FOLDERS}
    if images:
        _match_ids(ids, set(images), table.name, "images", problems)
    for name, found in masks.items():
        for pid in sorted(set(found) - set(images)):
            problems.append(f"{name}/{found[pid].name}: patient {pid} has a mask but no image in images/")
    (work / "volumes").mkdir()
    plan.images, plan.masks = _prepare_volumes(images, masks, ids, work / "volumes", problems)
    features_csv = folder / "features.csv"
    if features_csv.exists():
        plan.features = _features(features_csv, ids, problems)
    if problems:
        raise CohortError(problems)
    return plan


def store(study: Study, plan: CohortPlan, center: str, role: str, replace: bool = False) -> None:
    """Put the plan's volumes in the file store and its rows in the database, in one transaction."""
    images, masks = plan.images.copy(), plan.masks.copy()
    if len(images):
        images["sha256"] = [study.files.put(f) for f in images.pop("file")]
    if len(masks):
        masks["sha256"] = [study.files.put(f) for f in masks.pop("file")]
    if len(plan.features):
        study.register_settings(IMPORTED, IMPORTED, {"source": "features.csv supplied with the cohort"})
    study.write_cohort(center, role, plan.source, {
        "patients": plan.patients, "clinical": plan.clinical, "images": images, "masks": masks,
        "features": plan.features}, replace=replace)


def _check_target(study: Study | None, center: str, role: str, replace: bool) -> list[str]:
    problems = []
    if not center or not center.strip():
        problems.append("centre name is empty")
    if role not in ROLES:
        problems.append(f"role {role!r} is not one of {', '.join(ROLES)}")
    if center and study is not None and study.has_center(center) and not replace:
        problems.append(f"centre {center!r} already exists in {study.path.name}; "
                        "use --replace (or the dashboard's replace option) to replace it")
    return problems


def _volumes(folder: Path, label: str, problems: list[str]) -> dict[str, Path]:
    """patient_id (NFC) -> path of each volume in images/ or masks/ (a duplicate or unsafe id is a problem)."""
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        pid = img.case_id(path)
        if pid is None:
            problems.append(f"{label}/{path.name}: not a volume; expected <patient_id>.nii.gz, .nii, .nrrd "
                            "or a folder of one DICOM series")
        elif problem := check_patient_id(pid)[1]:
            problems.append(f"{label}/{path.name}: {problem}")
        elif pid in found:
            problems.append(f"{label}/: patient {pid} has two volumes ({found[pid].name}, {path.name}); keep one")
        else:
            found[pid] = path
    return found


def _match_ids(table_ids: set[str], image_ids: set[str], table: str, label: str, problems: list[str]) -> None:
    for pid in sorted(table_ids - image_ids):
        problems.append(f"{table}: patient {pid} has no image in {label}/")
    for pid in sorted(image_ids - table_ids):
        problems.append(f"{label}/: patient {pid} has an image but no row in {table}")


def _prepare_volumes(images: dict[str, Path], masks: dict[str, dict[str, Path]], ids: set[str], out: Path,
                     problems: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Checked copies of every image and of its masks (``masks``: cohort sub-folder -> patient -> path)."""
    image_rows, mask_rows = [], []
    for pid, path in images.items():
        rel = f"images/{path.name}"
        try:
            clean = read_ct(path)
        except img.ImageReadError as exc:
            problems.extend(f"{rel}: {p}" for p in exc.problems)
            continue
        file = out / f"{pid}_image.nii.gz"
        img.write_nifti(clean, file)
        image_rows.append({"patient_id": pid, "source_format": img.source_format(path), "file": str(file),
                           **img.geometry(clean)})
        for folder, found in masks.items():
            if pid not in found:
                continue
            mrel = f"{folder}/{found[pid].name} (patient {pid})"
            try:
                clean_mask = read_mask(found[pid], clean)
            except img.ImageReadError as exc:
                problems.extend(f"{mrel}: {p}" for p in exc.problems)
                continue
            mfile = out / f"{pid}_{folder}.nii.gz"
            img.write_nifti(clean_mask, mfile)
            mask_rows.append({"patient_id": pid, "source": MASK_FOLDERS[folder], "file": str(mfile),
                              **img.mask_volumes(clean_mask)})
    return pd.DataFrame(image_rows), pd.DataFrame(mask_rows)


def _features(path: Path, ids: set[str], problems: list[str]) -> pd.DataFrame:
    """features.csv (patient_id, region, feature columns) -> long rows tagged as imported.

    Every patient of the clinical table needs a row per region the file uses, and every
    value must be a finite number or missing.
    """
    try:
        raw, decimal = read_table(path)
    except TableError as exc:
        problems.extend(exc.problems)
        return pd.DataFrame()
    id_col = find_column(raw.columns, ID_NAMES)
    region_col = find_column(raw.columns, ("region",))
    if id_col is None or region_col is None or len(raw.columns) < 3:
        problems.append("features.csv: expected columns patient_id and region, then one column per feature")
        return pd.DataFrame()
    if raw.empty:
        problems.append("features.csv: the table has a header but no rows; expected one row per patient and region")
        return pd.DataFrame()
    raw[id_col] = check_ids(raw[id_col], "features.csv", problems)
    bad_region = ~raw[region_col].isin(REGIONS)
    for pid, region in zip(raw.loc[bad_region, id_col], raw.loc[bad_region, region_col]):
        problems.append(f"features.csv: patient {pid}: region {region!r}; expected one of {', '.join(REGIONS)}")
    for pid in sorted(set(raw[id_col].dropna()) - ids):
        problems.append(f"features.csv: patient {pid} is not in the clinical table")
    dup = raw[raw.duplicated([id_col, region_col], keep="first")]
    for pid, region in zip(dup[id_col], dup[region_col]):
        problems.append(f"features.csv: patient {pid}, region {region} appears more than once")
    long = raw.melt(id_vars=[id_col, region_col], var_name="feature", value_name="value")
    numeric, reasons = parse_numbers(long["value"], decimal)
    bad = reasons.notna()
    for pid, feature, value, why in list(zip(long[id_col][bad], long["feature"][bad], long["value"][bad],
                                             reasons[bad]))[:20]:
        problems.append(f"features.csv: patient {pid}, feature {feature}: value {value!r} {why}")
    held = long[numeric.notna()].groupby(id_col)[region_col].agg(set)
    regions = set(raw.loc[~bad_region, region_col])
    for pid in sorted(ids):
        missing = sorted(regions - held.get(pid, set()))
        if missing:
            problems.append(f"features.csv: patient {pid} (in the clinical table) has no features for "
                            f"{', '.join(missing)}; give every patient's features or leave the patient out")
    return pd.DataFrame({"patient_id": long[id_col], "region": long[region_col], "feature": long["feature"],
                         "value": numeric, "mask_source": IMPORTED, "settings_hash": IMPORTED})
