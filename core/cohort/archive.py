"""Safe unpacking of an uploaded cohort .zip: no path escapes, no bombs, a size limit."""
from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class Limits:
    """Upper bounds for an upload (bytes); a member compressing better than ``max_ratio`` is a bomb."""

    max_upload: int = 4 << 30
    max_unpacked: int = 32 << 30
    max_ratio: float = 200.0
    max_members: int = 200_000


class ArchiveError(ValueError):
    """An archive refused before anything was unpacked; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def check_zip(path: Path, limits: Limits) -> list[str]:
    """Every reason to refuse this zip, without unpacking it."""
    problems = []
    size = path.stat().st_size
    if size > limits.max_upload:
        problems.append(f"{path.name}: upload is {size / 2**20:.1f} MiB; the limit is {limits.max_upload / 2**20:.0f} MiB")
        return problems
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        return [f"{path.name}: not a readable zip file ({exc})"]
    if len(infos) > limits.max_members:
        problems.append(f"{path.name}: {len(infos)} entries; the limit is {limits.max_members}")
    total = 0
    for info in infos:
        name = PurePosixPath(info.filename.replace("\\", "/"))
        if name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
            problems.append(f"{path.name}: entry {info.filename!r} points outside the cohort folder (zip slip); refused")
        if stat.S_ISLNK(info.external_attr >> 16):
            problems.append(f"{path.name}: entry {info.filename!r} is a symbolic link; refused")
        total += info.file_size
        if info.compress_size and info.file_size / info.compress_size > limits.max_ratio and info.file_size > 1 << 20:
            problems.append(f"{path.name}: entry {info.filename!r} expands {info.file_size / info.compress_size:.0f}-fold "
                            f"(limit {limits.max_ratio:.0f}); looks like a zip bomb")
    if total > limits.max_unpacked:
        problems.append(f"{path.name}: unpacks to {total / 2**20:.0f} MiB; the limit is "
                        f"{limits.max_unpacked / 2**20:.0f} MiB (zip bomb or cohort too large)")
    return problems


def unpack(path: Path, dest: Path, limits: Limits = Limits()) -> Path:
    """Unpack a checked zip into ``dest``; return the cohort folder (the one holding clinical.*).

    Sizes are counted again while writing, so a header that lies about sizes is caught too.
    """
    problems = check_zip(path, limits)
    if problems:
        raise ArchiveError(problems)
    written = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            target = dest.joinpath(*PurePosixPath(info.filename.replace("\\", "/")).parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                while block := src.read(1 << 20):
                    written += len(block)
                    if written > limits.max_unpacked:
                        raise ArchiveError([f"{path.name}: unpacks past {limits.max_unpacked / 2**20:.0f} MiB; "
                                            "refused as a zip bomb"])
                    out.write(block)
    return find_cohort_root(dest)


def find_cohort_root(folder: Path) -> Path:
    """The folder holding clinical.csv/.xlsx: ``folder`` itself or its single sub-folder."""
    for candidate in (folder, *sorted(p for p in folder.iterdir() if p.is_dir() and p.name != "__MACOSX")):
        if any((candidate / f"clinical{s}").exists() for s in (".csv", ".xlsx")):
            return candidate
    return folder


def copy_upload(files: dict[str, bytes], dest: Path) -> Path:
    """Write uploaded files (relative path -> bytes) into ``dest`` safely; return ``dest``."""
    for name, data in files.items():
        rel = PurePosixPath(name.replace("\\", "/"))
        if rel.is_absolute() or ".." in rel.parts:
            raise ArchiveError([f"uploaded file {name!r} points outside the cohort folder; refused"])
        target = dest.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return dest

