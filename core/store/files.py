"""Content-addressed file store beside a study database.

Every image and mask is a ``.nii.gz`` file named by the SHA-256 of its bytes:
``<root>/<sha[:2]>/<sha>.nii.gz``. Writing is atomic (temporary file, then rename), so a
crash never leaves a half-written file under a valid name.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

SUFFIX = ".nii.gz"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


class FileStore:
    """Files kept by content; ``put`` returns the SHA-256 that names them."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, sha: str) -> Path:
        """Where the file with this digest lives (whether or not it exists)."""
        return self.root / sha[:2] / f"{sha}{SUFFIX}"

    def __contains__(self, sha: str) -> bool:
        return self.path(sha).exists()

    def put(self, src: str | os.PathLike) -> str:
        """Copy ``src`` (a .nii.gz file) into the store; return its SHA-256."""
        sha = sha256_file(src)
        dest = self.path(sha)
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
            os.close(fd)
            try:
                shutil.copyfile(src, tmp)
                os.replace(tmp, dest)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        return sha

    def shas(self) -> set[str]:
        """Digests of every stored file."""
        if not self.root.exists():
            return set()
        return {p.name[: -len(SUFFIX)] for p in self.root.glob(f"*/*{SUFFIX}")}
