"""Files handed to workers: a local path where workers share the disk, else the bytes themselves."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class ShippedFile:
    """A file's name (its suffix tells readers the format) and bytes, for a worker on another machine."""

    name: str
    data: bytes

    @classmethod
    def read(cls, path: str | os.PathLike) -> "ShippedFile":
        path = Path(path)
        return cls(path.name, path.read_bytes())


def file_ref(path: str | os.PathLike, ship: bool) -> "str | ShippedFile":
    """The file as its path (workers that see this disk) or its bytes (``ship``: a cluster's workers)."""
    return ShippedFile.read(path) if ship else str(path)


@contextmanager
def local_path(ref: str | os.PathLike | ShippedFile) -> Iterator[Path]:
    """A readable path for ``ref``: the path itself, or a temporary copy of shipped bytes."""
    if not isinstance(ref, ShippedFile):
        yield Path(ref)
        return
    with tempfile.TemporaryDirectory(prefix="shipped-") as tmp:
        path = Path(tmp) / ref.name
        path.write_bytes(ref.data)
        yield path
