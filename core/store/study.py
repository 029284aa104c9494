"""The study: one DuckDB file plus a folder of content-addressed files beside it.

``data/demo.duckdb`` keeps its files under ``data/demo.study/`` (``objects/`` for images and
masks, other stages' working folders next to it). Only this package speaks SQL; every other
module reads and writes DataFrames through :class:`Study`.

One process owns the read-write connection (DuckDB's rule). Within it, every method takes
its own cursor, so threads (dashboard sessions, a job thread) may share one ``Study``.

A damaged or truncated database file raises :class:`DamagedStudyError`, which says what to
do, instead of DuckDB's error. Files read for work go through :meth:`Study.verified_path`.
Objects no row refers to and ``.part`` files of an interrupted write are swept after the
first write of a session and after every write that adds or removes files.
"""
from __future__ import annotations

import getpass
import json
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import duckdb
import numpy as np
import pandas as pd
import SimpleITK as sitk

from core.store.files import FileStore, StudyError, Sweep
from core.store.jobs import JobTable
from core.store.schema import MIGRATIONS, VERSION

REGIONS = ("liver", "tumor")
# DuckDB's words for a file it cannot trust: a failed block checksum, a file shorter than its
# blocks, a header that is not DuckDB's, or a database closed after such an error.
_DAMAGE = re.compile(r"corrupt database file|could not read enough bytes|not a valid duckdb database"
                     r"|database has been invalidated|checksum", re.IGNORECASE)
HEADER_BYTES = 3 * 4096  # DuckDB's main header and its two database headers, before the first block


class DamagedStudyError(StudyError):
    """A study database file that DuckDB cannot read: damaged, truncated or not a database."""


class Study:
    """A study database; open with :meth:`Study.open`."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, read_only: bool):
        self.path = path
        self.read_only = read_only
        self.root = path.with_suffix(".study")
        self.files = FileStore(self.root / "objects")
        self.jobs = JobTable(self)
        self._con = con
        self._swept = False

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | Path, *, create: bool = True, read_only: bool = False) -> "Study":
        """Open (and with ``create``, make) the study at ``path``; migrate it to the current schema."""
        path = Path(path)
        if path.suffix != ".duckdb":
            raise StudyError(f"{path}: a study file must end in .duckdb")
        if not path.exists() and (read_only or not create):
            raise StudyError(f"{path}: no such study file (create it with `python -m core ingest`)")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            if isinstance(exc, duckdb.IOException) and "could not set lock" in str(exc).lower():
                raise StudyError(
                    f"{path} is open for writing in another process ({_lock_holder(exc)}); "
                    "close it (e.g. stop the dashboard) or use the dashboard for this step") from exc
            if _DAMAGE.search(str(exc)):
                raise DamagedStudyError(damage_message(path, exc)) from None
            raise StudyError(f"{path}: cannot open the study file: {exc}") from exc
        study = cls(path, con, read_only)
        try:
            study._check_length()
            study._migrate()
        except BaseException:
            study.close()
            raise
        return study

    def close(self) -> None:
        self.jobs.close()
        try:
            self._con.close()
        except duckdb.Error as exc:
            raise self._translated(exc) from None

    def _check_length(self) -> None:
        """DamagedStudyError when the file cannot hold the blocks its header says are in use (truncated).

        Free blocks at the end are trimmed by DuckDB, so only used blocks count; a cut that leaves
        them all shows up when a block is read instead.
        """
        size = self.path.stat().st_size
        row = self._df("SELECT block_size, used_blocks FROM pragma_database_size() "
                       "WHERE database_name = current_database()")
        if row.empty:
            return
        expected = HEADER_BYTES + int(row.iloc[0, 0]) * int(row.iloc[0, 1])
        if size < expected:
            raise DamagedStudyError(damage_message(
                self.path, f"the file is {size:,} bytes long but holds {expected:,} bytes of blocks in use: "
                           "it was truncated"))

    def _translated(self, exc: BaseException) -> BaseException:
        """DuckDB's error for a damaged file as a DamagedStudyError; any other error unchanged."""
        if isinstance(exc, duckdb.Error) and _DAMAGE.search(str(exc)):
            return DamagedStudyError(damage_message(self.path, exc))
        return exc

    def __enter__(self) -> "Study":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _migrate(self) -> None:
        tables = set(self._con.execute("SELECT table_name FROM information_schema.tables").df()["table_name"])
        current = 0
        if "schema_version" in tables:
            current = int(self._con.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0)
        if current > VERSION:
            raise StudyError(f"{self.path} has schema version {current}; this code knows up to {VERSION}: update it")
        if current == VERSION:
            return
        if self.read_only:
            raise StudyError(f"{self.path} needs a schema upgrade ({current} -> {VERSION}); open it read-write once")
        with self.transaction(bump=False) as cur:
            if current == 0:
                cur.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                            "applied_at TIMESTAMP DEFAULT current_timestamp)")
            for version in range(current, VERSION):
                for sql in MIGRATIONS[version]:
                    cur.execute(sql)
                cur.execute("INSERT INTO schema_version (version) VALUES (?)", [version + 1])

    # ------------------------------------------------------------- primitives
    @contextmanager
    def transaction(self, bump: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside BEGIN ... COMMIT; rolls back on any exception.

        ``bump`` raises the study's data version, which keys the dashboard's caches.
        """
        if self.read_only:
            raise StudyError(f"{self.path} is open read-only")
        with self._cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
                if bump:
                    cur.execute("INSERT INTO data_versions DEFAULT VALUES")
                cur.execute("COMMIT")
            except BaseException:
                try:
                    cur.execute("ROLLBACK")
                except duckdb.Error:  # a damaged database may refuse the rollback too; the first error counts
                    pass
                raise
        if not self._swept:
            self.sweep()

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own; a damaged file's error becomes a DamagedStudyError."""
        cur = self._con.cursor()
        try:
            yield cur
        except duckdb.Error as exc:
            translated = self._translated(exc)
            if translated is exc:
                raise
            raise translated from None
        finally:
            cur.close()

    def _df(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        with self._cursor() as cur:
            return cur.execute(sql, params or []).df()

    # ------------------------------------------------------------------ files
    def verified_path(self, sha: str) -> Path:
        """The stored file ``sha`` after checking its bytes against its name (for extraction,
        prediction, viewing); DamagedFileError naming whose image or mask it is otherwise."""
        rows = self._df("SELECT 'image' AS kind, center, patient_id, NULL AS source FROM images WHERE sha256 = ? "
                        "UNION ALL SELECT 'mask', center, patient_id, source FROM masks WHERE sha256 = ? "
                        "ORDER BY 1, 2, 3", [sha, sha])
        if rows.empty:
            return self.files.verified(sha)
        first = rows.iloc[0]
        what = (f"{first['kind']} of patient {first['patient_id']} (centre {first['center']}"
                + (f", mask source {first['source']})" if first["kind"] == "mask" else ")")
                + (f" and {len(rows) - 1} other record(s)" if len(rows) > 1 else ""))
        return self.files.verified(sha, what)

    def referenced_objects(self) -> set[str]:
        """Digests that an image or mask row refers to."""
        return set(self._df("SELECT sha256 FROM images UNION SELECT sha256 FROM masks")["sha256"])

    def sweep(self) -> Sweep:
        """Remove stored objects no row refers to and ``.part`` files of interrupted writes."""
        if self.read_only:
            raise StudyError(f"{self.path} is open read-only: files cannot be swept")
        self._swept = True
        return self.files.sweep(self.referenced_objects())

    def version(self) -> int:
        """A number that grows with every committed write (for cache keys)."""
        return int(self._df("SELECT coalesce(max(version), 0) FROM data_versions").iloc[0, 0])

    def audit(self, action: str, params: dict[str, Any] | None = None, cur=None) -> None:
        """Append to the audit log: what ran, when, by whom, with which inputs."""
        sql = "INSERT INTO audit (actor, action, params) VALUES (?, ?, ?)"
        args = [_actor(), action, json.dumps(params or {}, default=str, sort_keys=True)]
        if cur is not None:
            cur.execute(sql, args)
            return
        with self.transaction() as c:
            c.execute(sql, args)

    def audit_log(self, limit: int = 100) -> pd.DataFrame:
        return self._df(f"SELECT logged_at, actor, action, params FROM audit ORDER BY audit_id DESC LIMIT {int(limit)}")

    # ---------------------------------------------------------------- centres
    def centers(self) -> pd.DataFrame:
        """One row per centre: center, role, patients, events, images, manual masks, model masks."""
        return self._df("""
            SELECT c.center, c.role,
                   (SELECT count(*) FROM patients p WHERE p.center = c.center) AS patients,
                   (SELECT CAST(coalesce(sum(ptlf), 0) AS INTEGER) FROM patients p WHERE p.center = c.center) AS events,
                   (SELECT count(*) FROM images i WHERE i.center = c.center) AS images,
                   (SELECT count(*) FROM masks m WHERE m.center = c.center AND m.source = 'manual') AS manual_masks,
                   (SELECT count(*) FROM masks m WHERE m.center = c.center AND m.source <> 'manual') AS model_masks,
                   c.source, c.created_at
            FROM centers c ORDER BY c.created_at, c.center""")

    def feature_counts(self) -> pd.DataFrame:
        """Per centre, mask source, settings and region: patients and distinct features."""
        return self._df("""
            SELECT f.center, f.mask_source, f.settings_hash, s.preset, f.region,
                   count(DISTINCT f.patient_id) AS patients, count(DISTINCT f.feature) AS features
            FROM features f LEFT JOIN feature_settings s USING (settings_hash)
            GROUP BY ALL ORDER BY ALL""")

    def role(self, center: str) -> str:
        df = self._df("SELECT role FROM centers WHERE center = ?", [center])
        if df.empty:
            known = ", ".join(self.centers()["center"]) or "none"
            raise StudyError(f"no centre {center!r} in {self.path} (centres: {known})")
        return str(df.iloc[0, 0])

    def has_center(self, center: str) -> bool:
        return not self._df("SELECT 1 FROM centers WHERE center = ?", [center]).empty

    def write_cohort(self, center: str, role: str, source: str, tables: dict[str, pd.DataFrame],
                     replace: bool = False) -> None:
        """Store a whole validated cohort in one transaction.

        ``tables`` maps ``patients``, ``clinical``, ``images``, ``masks`` and ``features`` to
        DataFrames with those tables' columns (minus ``center``). With ``replace`` the centre's
        old rows go in the same transaction; without it an existing centre is refused.
        """
        with self.transaction() as cur:
            exists = cur.execute("SELECT 1 FROM centers WHERE center = ?", [center]).fetchone()
            if exists and not replace:
                raise StudyError(f"centre {center!r} already exists in {self.path}; ask to replace it")
            if exists:
                _delete_center(cur, center)
            cur.execute("INSERT INTO centers (center, role, source) VALUES (?, ?, ?)", [center, role, source])
            for table, df in tables.items():
                if df is None or df.empty:
                    continue
                frame = df.assign(center=center)
                cur.register("incoming", frame)
                cols = ", ".join(frame.columns)
                cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM incoming")
                cur.unregister("incoming")
            self.audit("replace cohort" if exists else "ingest cohort",
                       {"center": center, "role": role, "source": source,
                        **{t: len(df) for t, df in tables.items() if df is not None}}, cur=cur)
        self.sweep()

    def delete_center(self, center: str) -> None:
        """Remove a centre and every row that belongs to it; its files no other row uses go too."""
        self.role(center)
        with self.transaction() as cur:
            _delete_center(cur, center)
            self.audit("delete centre", {"center": center}, cur=cur)
        self.sweep()

    # --------------------------------------------------------------- patients
    def patients(self, center: str) -> pd.DataFrame:
        return self._df("SELECT patient_id, ptlf FROM patients WHERE center = ? ORDER BY patient_id", [center])

    def clinical(self, center: str) -> pd.DataFrame:
        """Wide table indexed by patient_id: ``ptlf`` then one column per clinical variable.

        Numeric variables are floats; categorical ones strings. Missing values are NaN/None.
        """
        patients = self.patients(center).set_index("patient_id")
        long = self._df("SELECT patient_id, variable, value_num, value_text FROM clinical WHERE center = ?",
                        [center])
        if long.empty:
            return patients
        numeric = long.groupby("variable")["value_text"].apply(lambda s: s.isna().all())
        out = patients.copy()
        for variable in sorted(long["variable"].unique()):
            rows = long[long["variable"] == variable].set_index("patient_id")
            col = "value_num" if numeric[variable] else "value_text"
            out[variable] = rows[col].reindex(out.index)
        out.index.name = "patient_id"
        return out

    def images(self, center: str) -> pd.DataFrame:
        """Images of a centre with their stored file ``path``."""
        df = self._df("SELECT * EXCLUDE (center) FROM images WHERE center = ? ORDER BY patient_id", [center])
        df["path"] = [str(self.files.path(s)) for s in df["sha256"]]
        return df

    def masks(self, center: str, source: str | None = None) -> pd.DataFrame:
        """Masks of a centre (of one source, when given) with their stored file ``path``."""
        sql = "SELECT * EXCLUDE (center) FROM masks WHERE center = ?"
        params: list[Any] = [center]
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        df = self._df(sql + " ORDER BY patient_id, source", params)
        df["path"] = [str(self.files.path(s)) for s in df["sha256"]]
        return df

    def mask_sources(self, center: str | None = None) -> list[str]:
        sql = "SELECT DISTINCT source FROM masks" + (" WHERE center = ?" if center else "")
        return sorted(self._df(sql, [center] if center else [])["source"])

    def add_masks(self, center: str, source: str, masks: dict[str, str | Path],
                  flags: dict[str, str] | None = None) -> None:
        """Store mask files (patient_id -> .nii.gz path) of one source in one transaction.

        A patient's earlier mask of the same source is replaced. ``flags`` notes QA problems.
        """
        from core.cohort.images import mask_volumes  # local: core.cohort imports core.store

        rows = []
        for patient_id, path in masks.items():
            sha = self.files.put(path)
            rows.append({"patient_id": patient_id, "source": source, "sha256": sha,
                         **mask_volumes(sitk.ReadImage(str(self.files.path(sha)))),
                         "flags": (flags or {}).get(patient_id)})
        if not rows:
            return
        frame = pd.DataFrame(rows).assign(center=center)
        with self.transaction() as cur:
            cur.register("incoming", frame)
            cols = ", ".join(frame.columns)
            cur.execute(f"INSERT OR REPLACE INTO masks ({cols}) SELECT {cols} FROM incoming")
            cur.unregister("incoming")
        self.sweep()

    # --------------------------------------------------------------- features
    def register_settings(self, settings_hash: str, preset: str, settings: dict[str, Any]) -> None:
        """Remember the full extraction settings behind a settings hash."""
        with self.transaction() as cur:
            cur.execute("INSERT OR IGNORE INTO feature_settings VALUES (?, ?, ?)",
                        [settings_hash, preset, json.dumps(settings, sort_keys=True, default=str)])

    def settings(self, settings_hash: str) -> dict[str, Any]:
        """The extraction settings behind a hash; empty when the study never recorded them."""
        df = self._df("SELECT settings FROM feature_settings WHERE settings_hash = ?", [settings_hash])
        return json.loads(df.iloc[0, 0]) if len(df) else {}

    def write_case_features(self, center: str, patient_id: str, mask_source: str, settings_hash: str,
                            image_sha: str | None, mask_sha: str | None, df: pd.DataFrame,
                            job_id: int | None = None, seconds: float | None = None,
                            provenance: dict[str, Any] | None = None) -> None:
        """Replace one case's features (columns region, feature, value) in one transaction.

        With ``job_id`` the case is marked done in that job within the same transaction.
        ``provenance`` (engine, engine_version, device, host) replaces the case's provenance row.
        """
        frame = df[["region", "feature", "value"]].assign(
            center=center, patient_id=patient_id, mask_source=mask_source, settings_hash=settings_hash,
            image_sha=image_sha, mask_sha=mask_sha)
        with self.transaction() as cur:
            cur.execute("DELETE FROM features WHERE center = ? AND patient_id = ? AND mask_source = ? "
                        "AND settings_hash = ?", [center, patient_id, mask_source, settings_hash])
            cur.register("incoming", frame)
            cols = ", ".join(frame.columns)
            cur.execute(f"INSERT INTO features ({cols}) SELECT {cols} FROM incoming")
            cur.unregister("incoming")
            key = [center, patient_id, mask_source, settings_hash]
            cur.execute("DELETE FROM feature_provenance WHERE center = ? AND patient_id = ? AND mask_source = ? "
                        "AND settings_hash = ?", key)
            if provenance is not None:
                cur.execute("INSERT INTO feature_provenance (center, patient_id, mask_source, settings_hash, engine, "
                            "engine_version, device, host, job_id, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            key + [provenance["engine"], provenance.get("engine_version"), provenance.get("device"),
                                   provenance.get("host"), job_id, seconds])
            if job_id is not None:
                self.jobs.case(job_id, patient_id, "done", seconds=seconds, cur=cur)

    def extracted_cases(self, center: str, mask_source: str, settings_hash: str) -> pd.DataFrame:
        """Patients with features of these settings: patient_id, image_sha, mask_sha (for caching)."""
        return self._df("SELECT DISTINCT patient_id, image_sha, mask_sha FROM features WHERE center = ? "
                        "AND mask_source = ? AND settings_hash = ?", [center, mask_source, settings_hash])

    def provenance(self, center: str, mask_source: str | None = None,
                   settings_hash: str | None = None) -> pd.DataFrame:
        """Which engine computed each case's features: patient_id, mask_source, settings_hash, engine,
        engine_version, device, host, job_id, seconds, computed_at (cases without a record left out)."""
        sql, params = _feature_set_filter(
            "SELECT patient_id, mask_source, settings_hash, engine, engine_version, device, host, job_id, seconds, "
            "computed_at FROM feature_provenance", center, mask_source, settings_hash)
        return self._df(sql + " ORDER BY patient_id, mask_source, settings_hash", params)

    def provenance_counts(self, center: str, mask_source: str, settings_hash: str) -> pd.DataFrame:
        """Patients per engine, engine version and device for one feature set (newest first)."""
        return self._df("SELECT engine, engine_version, device, count(*) AS patients, max(computed_at) AS last "
                        "FROM feature_provenance WHERE center = ? AND mask_source = ? AND settings_hash = ? "
                        "GROUP BY ALL ORDER BY last DESC", [center, mask_source, settings_hash])

    def features(self, center: str, mask_source: str | None = None,
                 settings_hash: str | None = None) -> pd.DataFrame:
        """Long features: patient_id, region, mask_source, settings_hash, feature, value."""
        return self._df(*_feature_set_filter(
            "SELECT patient_id, region, mask_source, settings_hash, feature, value FROM features",
            center, mask_source, settings_hash))

    def features_wide(self, center: str, mask_source: str | None = None,
                      settings_hash: str | None = None) -> pd.DataFrame:
        """One row per patient, columns ``region:feature``; errors if the choice is ambiguous."""
        sql = ("SELECT DISTINCT mask_source, settings_hash FROM features WHERE center = ?"
               + "".join(f" AND {c} = ?" for c, v in (("mask_source", mask_source), ("settings_hash", settings_hash))
                         if v is not None))
        params = [center] + [v for v in (mask_source, settings_hash) if v is not None]
        combos = self._df(sql, params)
        if combos.empty:
            return pd.DataFrame(index=pd.Index([], name="patient_id"))
        if len(combos) > 1:
            listing = "; ".join(f"mask source {m}, settings {s[:12]}" for m, s in combos.itertuples(index=False))
            raise StudyError(f"centre {center!r} has features from several extractions ({listing}): "
                             "choose a mask source and settings")
        where = "center = ? AND mask_source = ? AND settings_hash = ?"
        args = [center, *combos.iloc[0]]
        with self._cursor() as cur:  # integer codes computed in SQL; only numbers cross into Python
            cur.execute(f"CREATE OR REPLACE TEMP TABLE wide_src AS SELECT patient_id, region || ':' || feature AS col, "
                        f"value FROM features WHERE {where}", args)
            patients = [r[0] for r in cur.execute("SELECT DISTINCT patient_id FROM wide_src ORDER BY 1").fetchall()]
            names = [r[0] for r in cur.execute("SELECT DISTINCT col FROM wide_src ORDER BY 1").fetchall()]
            cells = cur.execute(
                "SELECT p.i, c.j, w.value FROM wide_src w "
                "JOIN (SELECT patient_id, row_number() OVER (ORDER BY patient_id) - 1 AS i "
                "      FROM (SELECT DISTINCT patient_id FROM wide_src)) p USING (patient_id) "
                "JOIN (SELECT col, row_number() OVER (ORDER BY col) - 1 AS j "
                "      FROM (SELECT DISTINCT col FROM wide_src)) c USING (col)").fetchnumpy()
            cur.execute("DROP TABLE wide_src")
        values = np.full((len(patients), len(names)), np.nan)
        values[cells["i"], cells["j"]] = np.ma.filled(np.ma.asarray(cells["value"], dtype=float), np.nan)
        return pd.DataFrame(values, index=pd.Index(patients, name="patient_id"), columns=names)

    def feature_sets(self, center: str | None = None) -> pd.DataFrame:
        """Distinct (center, mask_source, settings_hash, preset) with patient counts."""
        sql = ("SELECT f.center, f.mask_source, f.settings_hash, any_value(s.preset) AS preset, "
               "count(DISTINCT f.patient_id) AS patients, count(DISTINCT f.region || f.feature) AS features "
               "FROM features f LEFT JOIN feature_settings s USING (settings_hash)")
        params: list[Any] = []
        if center is not None:
            sql += " WHERE f.center = ?"
            params.append(center)
        return self._df(sql + " GROUP BY f.center, f.mask_source, f.settings_hash ORDER BY 1, 2", params)

    # ----------------------------------------------------------------- models
    def register_model(self, model_id: str, kind: str, payload: dict[str, Any]) -> None:
        """Store (or replace) a model record: a segmentation model or a fitted analysis model."""
        with self.transaction() as cur:
            cur.execute("INSERT OR REPLACE INTO models (model_id, kind, payload, created_at) "
                        "VALUES (?, ?, ?, current_timestamp)",
                        [model_id, kind, json.dumps(payload, sort_keys=True, default=str)])
            self.audit("register model", {"model_id": model_id, "kind": kind}, cur=cur)

    def models(self, kind: str | None = None) -> pd.DataFrame:
        sql = "SELECT model_id, kind, created_at, payload FROM models"
        df = self._df(sql + (" WHERE kind = ?" if kind else "") + " ORDER BY created_at",
                      [kind] if kind else [])
        df["payload"] = [json.loads(p) for p in df["payload"]]
        return df

    def model(self, model_id: str) -> dict[str, Any]:
        df = self._df("SELECT payload FROM models WHERE model_id = ?", [model_id])
        if df.empty:
            raise StudyError(f"no model {model_id!r} in {self.path}")
        return json.loads(df.iloc[0, 0])

    def write_seg_metrics(self, model_id: str, df: pd.DataFrame) -> None:
        """Replace a model's overlap metrics (columns split, patient_id, label, metric, value)."""
        frame = df[["split", "patient_id", "label", "metric", "value"]].assign(model_id=model_id)
        with self.transaction() as cur:
            cur.execute("DELETE FROM seg_metrics WHERE model_id = ?", [model_id])
            cur.register("incoming", frame)
            cur.execute("INSERT INTO seg_metrics (model_id, split, patient_id, label, metric, value) "
                        "SELECT model_id, split, patient_id, label, metric, value FROM incoming")
            cur.unregister("incoming")

    def seg_metrics(self, model_id: str) -> pd.DataFrame:
        return self._df("SELECT split, patient_id, label, metric, value FROM seg_metrics WHERE model_id = ? "
                        "ORDER BY split, patient_id, label, metric", [model_id])

    # --------------------------------------------------------------- analyses
    def save_analysis(self, analysis_id: str, train_center: str, params: dict[str, Any],
                      result: dict[str, Any], predictions: pd.DataFrame) -> None:
        """Store an analysis result and its per-patient risks (model, center, patient_id, risk)."""
        frame = predictions[["model", "center", "patient_id", "risk"]].assign(analysis_id=analysis_id)
        with self.transaction() as cur:
            cur.execute("DELETE FROM predictions WHERE analysis_id = ?", [analysis_id])
            cur.execute("INSERT OR REPLACE INTO analyses (analysis_id, train_center, params, result, created_at) "
                        "VALUES (?, ?, ?, ?, current_timestamp)",
                        [analysis_id, train_center, json.dumps(params, default=str),
                         json.dumps(result, default=str)])
            cur.register("incoming", frame)
            cur.execute("INSERT INTO predictions (analysis_id, model, center, patient_id, risk) "
                        "SELECT analysis_id, model, center, patient_id, risk FROM incoming")
            cur.unregister("incoming")
            self.audit("analysis", {"analysis_id": analysis_id, "train": train_center, **params}, cur=cur)

    def analyses(self) -> pd.DataFrame:
        return self._df("SELECT analysis_id, train_center, params, created_at FROM analyses ORDER BY created_at DESC")

    def analysis(self, analysis_id: str) -> dict[str, Any]:
        df = self._df("SELECT result FROM analyses WHERE analysis_id = ?", [analysis_id])
        if df.empty:
            raise StudyError(f"no analysis {analysis_id!r} in {self.path}")
        return json.loads(df.iloc[0, 0])

    def predictions(self, analysis_id: str) -> pd.DataFrame:
        return self._df("SELECT model, center, patient_id, risk FROM predictions WHERE analysis_id = ?",
                        [analysis_id])


def damage_message(path: Path, cause: object) -> str:
    """What to tell about a damaged study file, and what to do about it."""
    reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return (f"{path} is damaged and cannot be used ({reason}). Restore {path.name} together with its folder "
            f"{path.with_suffix('.study').name}/ from the last backup; without one, `python -m core check "
            f"--study {path}` shows the audit log's last good state (the ingests, extractions and analyses "
            "recorded before the damage) to redo in a new study")


def _feature_set_filter(select: str, center: str, mask_source: str | None,
                        settings_hash: str | None) -> tuple[str, list[Any]]:
    """``select`` restricted to a centre and, when given, a mask source and settings: (SQL, parameters)."""
    sql, params = f"{select} WHERE center = ?", [center]
    for col, val in (("mask_source", mask_source), ("settings_hash", settings_hash)):
        if val is not None:
            sql += f" AND {col} = ?"
            params.append(val)
    return sql, params


def _delete_center(cur: duckdb.DuckDBPyConnection, center: str) -> None:
    for table in ("feature_provenance", "features", "masks", "images", "clinical", "patients", "centers"):
        cur.execute(f"DELETE FROM {table} WHERE center = ?", [center])


def _lock_holder(exc: Exception) -> str:
    match = re.search(r"held in (.+?) \(PID (\d+)\)", str(exc))
    return f"{match.group(1)}, PID {match.group(2)}" if match else "lock held"


def _actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"
