"""The one door to a study: its DuckDB database and its content-addressed files."""
from core.store.files import DamagedFileError, FileStore, StudyError, sha256_file, verify_file
from core.store.jobs import JobTable, is_finished
from core.store.study import REGIONS, DamagedStudyError, Study

__all__ = ["DamagedFileError", "DamagedStudyError", "FileStore", "JobTable", "REGIONS", "Study", "StudyError",
           "is_finished", "sha256_file", "verify_file"]
