"""Safe unpacking of an uploaded cohort .zip: no path escapes, no bombs, a size limit.

Checked before unpacking: the upload's size, the number of entries, the total unpacked size,
the compression ratio of each entry and of the whole archive (many small members of zeros
are a bomb too), paths, links, duplicates, encryption and the compression method. While
unpacking, sizes are counted again and a damaged entry (bad CRC, broken deflate stream) is
refused by name.
"""
from __future__ import annotations

import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class Limits:
    """Upper bounds for an upload (bytes); an entry or the whole archive compressing better than
    ``max_ratio`` (once over ``ratio_floor`` bytes unpacked) is a bomb."""

    max_upload: int = 4 << 30
    max_unpacked: int = 32 << 30
    max_ratio: float = 200.0
    max_members: int = 200_000
    ratio_floor: int = 1 << 20


_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


class ArchiveError(ValueError):
    """An archive refused, before or while unpacking; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def check_zip(path: Path, limits: Limits) -> list[str]:
    """Every reason to refuse this zip, without unpacking it."""
    problems = []
    size = path.stat().st_size
    if size > limits.max_upload:
        problems.append(f"{path.name}: upload is {_size(size)}; the limit is {_size(limits.max_upload)}")
        return problems
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        return [f"{path.name}: not a readable zip file ({exc})"]
    if len(infos) > limits.max_members:
        problems.append(f"{path.name}: {len(infos)} entries; the limit is {limits.max_members} "
                        "(zip bomb or cohort too large)")
    total, names = 0, set()
    for info in infos:
        name = PurePosixPath(info.filename.replace("\\", "/"))
        if name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
            problems.append(f"{path.name}: entry {info.filename!r} points outside the cohort folder (zip slip); refused")
        if stat.S_ISLNK(info.external_attr >> 16):
            problems.append(f"{path.name}: entry {info.filename!r} is a symbolic link; refused")
        if info.flag_bits & 0x1:
            problems.append(f"{path.name}: entry {info.filename!r} is encrypted (a password-protected zip); "
                            "zip the cohort folder again without a password")
        elif info.compress_type not in _METHODS:
            problems.append(f"{path.name}: entry {info.filename!r} uses compression method {info.compress_type}, "
                            "which cannot be unpacked here; zip it again with the standard method (deflate)")
        if str(name) in names:
            problems.append(f"{path.name}: entry {info.filename!r} appears twice; keep one")
        names.add(str(name))
        total += info.file_size
        if info.compress_size and info.file_size / info.compress_size > limits.max_ratio \
                and info.file_size > limits.ratio_floor:
            problems.append(f"{path.name}: entry {info.filename!r} expands {info.file_size / info.compress_size:.0f}-fold "
                            f"(limit {limits.max_ratio:.0f}); looks like a zip bomb")
    if total > limits.max_unpacked:
        problems.append(f"{path.name}: unpacks to {_size(total)}; the limit is {_size(limits.max_unpacked)} "
                        "(zip bomb or cohort too large)")
    elif total > limits.ratio_floor and size and total / size > limits.max_ratio:
        problems.append(f"{path.name}: its {len(infos)} entries unpack to {_size(total)} from "
                        f"{_size(size)}, {total / size:.0f}-fold (limit {limits.max_ratio:.0f}); "
                        "looks like a zip bomb")
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
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    while block := src.read(1 << 20):
                        written += len(block)
                        if written > limits.max_unpacked:
                            raise ArchiveError([f"{path.name}: unpacks past {_size(limits.max_unpacked)}; "
                                                "refused as a zip bomb"])
                        out.write(block)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise ArchiveError([f"{path.name}: entry {info.filename!r} is damaged ({exc}); "
                                    "make the zip again"]) from None
            except OSError as exc:
                raise ArchiveError([f"{path.name}: entry {info.filename!r} cannot be unpacked: "
                                    f"{exc.strerror or exc}"]) from None
    return find_cohort_root(dest)


def _size(n: float) -> str:
    """A byte count as GiB, MiB or KiB, whichever reads best."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 2**10:.1f} KiB"


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

