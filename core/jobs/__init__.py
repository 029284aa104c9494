"""Long work as resumable jobs: cases run in worker processes (or on a Dask cluster), each
outcome is recorded in the study's jobs table by the calling process, with progress."""
from core.jobs.files import ShippedFile, local_path
from core.jobs.pool import Outcome, default_workers, run_cases
from core.jobs.progress import Progress, format_duration
from core.jobs.tracker import JobTracker

__all__ = ["JobTracker", "Outcome", "Progress", "ShippedFile", "default_workers", "format_duration",
           "local_path", "run_cases"]
