"""The consistency check of a study: database readable, files intact, rows that belong together.

``check_study`` reads every table in full (DuckDB verifies each block's checksum as it reads),
hashes every stored image and mask against the digest that names it, and looks for rows whose
parent row is gone, features extracted from an image or mask that is no longer the patient's,
unreferenced objects and ``.part`` files. With ``repair`` it removes what can be removed
safely (stale and orphaned rows in one transaction, then unreferenced files); a damaged file or
database cannot be repaired here, and the report says what to do instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from core.store.files import DamagedFileError, verify_file
from core.store.study import DamagedStudyError, Study

AUDIT_TAIL = 10  # audit entries shown as the last good state of a damaged study

# Rows whose parent is gone: (what, table, condition naming the rows); deleted by a repair.
ORPHANS = (
    ("patients without their centre", "patients", "center NOT IN (SELECT center FROM centers)"),
    *((f"{table} rows without their patient", table,
       "(center, patient_id) NOT IN (SELECT center, patient_id FROM patients)")
      for table in ("clinical", "images", "masks", "features")),
    ("predictions without their analysis", "predictions", "analysis_id NOT IN (SELECT analysis_id FROM analyses)"),
    ("job cases without their job", "job_cases", "job_id NOT IN (SELECT job_id FROM jobs)"),
)
# Features whose image or mask digest is not the patient's current one (replaced since extraction).
STALE = ("image_sha IS NOT NULL AND mask_sha IS NOT NULL AND ("
         "image_sha IS DISTINCT FROM (SELECT i.sha256 FROM images i WHERE i.center = features.center "
         "AND i.patient_id = features.patient_id) OR "
         "mask_sha IS DISTINCT FROM (SELECT m.sha256 FROM masks m WHERE m.center = features.center "
         "AND m.patient_id = features.patient_id AND m.source = features.mask_source))")


@dataclass(frozen=True)
class Finding:
    """One inconsistency: what it is, its detail, and whether ``--repair`` removes it."""

    kind: str
    detail: str
    repairable: bool


@dataclass
class CheckReport:
    """The outcome of a check: findings left, what a repair did, and facts about the study."""

    path: Path
    findings: list[Finding] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    audit_tail: pd.DataFrame | None = None  # the last readable audit entries of a damaged study

    @property
    def ok(self) -> bool:
        return not self.findings


def check_study(path: str | Path, repair: bool = False) -> CheckReport:
    """Check the study at ``path`` (opened read-only unless ``repair``).

    StudyError when it cannot be opened for another reason than damage (absent, locked).
    """
    path = Path(path)
    report = CheckReport(path)
    try:
        with Study.open(path, create=False, read_only=not repair) as study:
            _read_everything(study, report)
            if repair:
                _repair(study, report)
            report.findings = _files(study, report) + _rows(study) + _leftovers(study)
    except DamagedStudyError as exc:  # read once the study is closed: its own connection
        report.findings = [Finding("damaged database", str(exc), repairable=False)]
        report.audit_tail = _audit_tail(path)
    return report


def _audit_tail(path: Path) -> pd.DataFrame | None:
    """The newest audit entries that DuckDB can still read from a damaged file, or None."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        return con.execute(f"SELECT audit_id, logged_at, actor, action, params FROM audit "
                           f"ORDER BY audit_id DESC LIMIT {AUDIT_TAIL}").df()
    except duckdb.Error:
        return None
    finally:
        try:
            con.close()
        except duckdb.Error:
            pass


def _read_everything(study: Study, report: CheckReport) -> None:
    """Read every row of every table, so that DuckDB checks every block (DamagedStudyError)."""
    tables = study._df("SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
                       "AND table_schema = 'main' ORDER BY 1")["table_name"]
    rows = 0
    with study._cursor() as cur:  # batches keep memory flat on a large features table
        for table in tables:
            cur.execute(f'SELECT * FROM "{table}"')
            while batch := cur.fetchmany(50_000):
                rows += len(batch)
    centres = study.centers()
    report.facts.append(f"database: {len(tables)} tables, {rows:,} rows read; {len(centres)} centre(s), "
                        f"{int(centres['patients'].sum()) if len(centres) else 0} patient(s)")


def _files(study: Study, report: CheckReport) -> list[Finding]:
    """Every referenced object hashed against its name: missing and damaged files."""
    refs = study._df("SELECT 'image' AS kind, center, patient_id, NULL AS source, sha256 FROM images UNION ALL "
                     "SELECT 'mask', center, patient_id, source, sha256 FROM masks ORDER BY center, patient_id, 1")
    findings, size = [], 0
    for sha, rows in refs.groupby("sha256", sort=False):
        first = rows.iloc[0]
        what = (f"{first['kind']} of patient {first['patient_id']} (centre {first['center']}"
                + (f", mask source {first['source']})" if first["kind"] == "mask" else ")"))
        path = study.files.path(sha)
        try:
            size += verify_file(path, sha, what).stat().st_size
        except DamagedFileError as exc:
            findings.append(Finding("damaged file" if path.exists() else "missing file", str(exc), repairable=False))
    report.facts.append(f"files: {refs['sha256'].nunique() - len(findings)} of {refs['sha256'].nunique()} "
                        f"stored file(s) match their SHA-256 ({size / 2**20:.1f} MiB read)")
    return findings


def _rows(study: Study) -> list[Finding]:
    findings = []
    for what, table, where in ORPHANS:
        if n := _count(study, table, where):
            findings.append(Finding("orphaned rows", f"{n} {what} (table {table})", repairable=True))
    stale = study._df(f"SELECT center, patient_id, mask_source, count(*) AS n FROM features WHERE {STALE} "
                      "GROUP BY ALL ORDER BY ALL")
    for row in stale.itertuples(index=False):
        findings.append(Finding(
            "stale features", f"centre {row.center}, patient {row.patient_id}, mask source {row.mask_source}: "
                              f"{row.n} feature value(s) extracted from an image or mask the patient no longer has; "
                              "a repair removes them and `python -m core extract` computes them again",
            repairable=True))
    return findings


def _leftovers(study: Study) -> list[Finding]:
    swept = study.files.sweep(study.referenced_objects(), dry_run=True)
    findings = [Finding("unreferenced file", f"{p.relative_to(study.root)}: no image or mask row refers to it",
                        repairable=True) for p in swept.objects]
    findings += [Finding("unfinished write", f"{p.relative_to(study.root)}: left by an interrupted write",
                         repairable=True) for p in swept.parts]
    findings += [Finding("foreign file", f"{p.relative_to(study.root)}: not a file of the store; left alone",
                         repairable=False) for p in study.files.strays()]
    return findings


def _repair(study: Study, report: CheckReport) -> None:
    """Delete orphaned and stale rows in one transaction, then sweep unreferenced files."""
    swept = [study.sweep()]
    counts = {"stale feature values": _count(study, "features", STALE)}
    counts.update({what: _count(study, table, where) for what, table, where in ORPHANS})
    counts = {what: n for what, n in counts.items() if n}
    if counts:
        with study.transaction() as cur:
            cur.execute(f"DELETE FROM features WHERE {STALE}")
            for _, table, where in ORPHANS:
                cur.execute(f"DELETE FROM {table} WHERE {where}")
            study.audit("check repair", counts, cur=cur)
        swept.append(study.sweep())  # files of the orphaned image and mask rows
    report.repaired += [f"removed {n} {what}" for what, n in counts.items()]
    objects, parts = sum(len(s.objects) for s in swept), sum(len(s.parts) for s in swept)
    freed = sum(s.bytes for s in swept) / 2**20
    if objects:
        report.repaired.append(f"removed {objects} unreferenced file(s)")
    if parts:
        report.repaired.append(f"removed {parts} .part file(s) of interrupted writes")
    if objects or parts:
        report.repaired[-1] += f" ({freed:.1f} MiB freed)"


def _count(study: Study, table: str, where: str) -> int:
    return int(study._df(f"SELECT count(*) FROM {table} WHERE {where}").iloc[0, 0])

