"""Content-addressed file store beside a study database.

Every image and mask is a ``.nii.gz`` file named by the SHA-256 of its bytes:
``<root>/<sha[:2]>/<sha>.nii.gz``. Writing is atomic (temporary ``.part`` file, then rename),
so a crash never leaves a half-written file under a valid name. A file read for work is
checked against its name first (:func:`verify_file`), so a file changed on disk is refused,
never used. :meth:`FileStore.sweep` removes what an interrupted write left behind.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

SUFFIX = ".nii.gz"
PART = ".part"
_REMEDY = ("restore that file from the last backup of the study's folder, or store it again (ingest the centre "
           "with --replace, or segment the patient again); `python -m core check --study ...` lists every "
           "damaged file")
_NAME = re.compile(r"^[0-9a-f]{64}" + re.escape(SUFFIX) + "$")


class StudyError(RuntimeError):
    """A study (its database or its files) that cannot be opened or used as asked."""


class DamagedFileError(StudyError):
    """A stored file that is missing or whose bytes no longer match the SHA-256 that names it."""


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_file(path: str | os.PathLike, sha: str, what: str = "stored file") -> Path:
    """``path`` after checking that its bytes hash to ``sha``; DamagedFileError naming it otherwise.

    ``what`` says whose file it is in the message (e.g. "image of patient P01, centre A").
    """
    path = Path(path)
    if not path.is_file():
        raise DamagedFileError(f"{what}: {path} is missing from the file store; {_REMEDY}")
    found = sha256_file(path)
    if found != sha:
        raise DamagedFileError(f"{what}: {path} changed on disk (its SHA-256 is {found[:12]}..., its name "
                               f"says {sha[:12]}...); {_REMEDY}")
    return path


@dataclass
class _Pending:
    """What this process is writing into one store: digests put but maybe not yet referenced, parts in flight."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    fresh: set[str] = field(default_factory=set)
    parts: set[Path] = field(default_factory=set)


_PENDING: dict[Path, _Pending] = {}
_PENDING_LOCK = threading.Lock()


def _pending(root: Path) -> _Pending:
    key = root.resolve()
    with _PENDING_LOCK:
        return _PENDING.setdefault(key, _Pending())


@dataclass(frozen=True)
class Sweep:
    """What :meth:`FileStore.sweep` removed (or would remove): unreferenced objects and ``.part`` files."""

    objects: tuple[Path, ...]
    parts: tuple[Path, ...]
    bytes: int = 0

    def __bool__(self) -> bool:
        return bool(self.objects or self.parts)


class FileStore:
    """Files kept by content; ``put`` returns the SHA-256 that names them."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, sha: str) -> Path:
        """Where the file with this digest lives (whether or not it exists); not checked."""
        return self.root / sha[:2] / f"{sha}{SUFFIX}"

    def verified(self, sha: str, what: str = "stored file") -> Path:
        """The path of a stored file after checking its bytes against its digest (DamagedFileError)."""
        return verify_file(self.path(sha), sha, what)

    def __contains__(self, sha: str) -> bool:
        return self.path(sha).exists()

    def put(self, src: str | os.PathLike) -> str:
        """Copy ``src`` (a .nii.gz file) into the store; return its SHA-256.

        Until a sweep of another process, the digest counts as in use, so a concurrent sweep in
        this process never removes a file whose database row is not committed yet.
        """
        sha = sha256_file(src)
        dest = self.path(sha)
        pending = _pending(self.root)
        with pending.lock:
            pending.fresh.add(sha)
            if dest.exists():
                return sha
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=PART)
            os.close(fd)
            pending.parts.add(Path(tmp))
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        finally:
            with pending.lock:
                pending.parts.discard(Path(tmp))
            if os.path.exists(tmp):
                os.unlink(tmp)
        return sha

    def shas(self) -> set[str]:
        """Digests of every stored file."""
        if not self.root.exists():
            return set()
        return {p.name[: -len(SUFFIX)] for p in self.root.glob(f"*/*{SUFFIX}") if _NAME.match(p.name)}

    def strays(self) -> list[Path]:
        """Files in the store that are neither an object nor a ``.part`` file (left alone, reported)."""
        if not self.root.exists():
            return []
        return sorted(p for p in self.root.rglob("*") if p.is_file() and not _NAME.match(p.name)
                      and not p.name.endswith(PART))

    def sweep(self, referenced: set[str], dry_run: bool = False) -> Sweep:
        """Remove objects not in ``referenced`` and ``.part`` files of interrupted writes.

        Objects put by this process and parts it is writing are kept. Only the process that owns
        the study's database for writing may sweep (the caller's duty).
        """
        if not self.root.exists():
            return Sweep((), ())
        pending = _pending(self.root)
        with pending.lock:
            objects = tuple(sorted(self.path(s) for s in self.shas() - referenced - pending.fresh))
            parts = tuple(sorted(p for p in self.root.glob(f"*/*{PART}") if p not in pending.parts))
            size = sum(p.stat().st_size for p in (*objects, *parts))
            if not dry_run:
                for p in (*objects, *parts):
                    p.unlink(missing_ok=True)
                for folder in {p.parent for p in (*objects, *parts)}:
                    if folder.is_dir() and not any(folder.iterdir()):
                        folder.rmdir()
        return Sweep(objects, parts, size)
