"""The one door to a study: its DuckDB database and its content-addressed files."""
from core.store.files import FileStore, sha256_file
from core.store.jobs import JobTable, is_finished
from core.store.study import REGIONS, Study, StudyError

__all__ = ["FileStore", "JobTable", "REGIONS", "Study", "StudyError", "is_finished", "sha256_file"]
