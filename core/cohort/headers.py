"""Volume headers read without the pixels, and checked before any pixel is read.

A header states how many voxels of which type follow; a hostile or damaged file states more
than it holds (ITK then allocates all of it and pads the rest with zeros). So the voxel data
a NIfTI or NRRD header promises is compared with a size limit and with what the file really
holds (a gzip stream is decompressed and counted, never kept), and the slices of a DICOM
series are checked for one size, one orientation and even spacing, all before reading.
ITK's NIfTI reader also turns NaN voxels into 0 without a word, so the float voxels of a
NIfTI are scanned for NaN and infinity on the way.
"""
from __future__ import annotations

import bz2
import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

MAX_VOXEL_BYTES = 1 << 30   # voxel data of one volume (bytes): 512 x 512 x 2048 int16
SLICE_TOLERANCE = 0.01      # relative deviation of a DICOM slice step from the series' step
_NRRD_HEADER_MAX = 1 << 16  # bytes before the blank line that ends an NRRD header
_NIFTI_BITS = {2: 8, 4: 16, 8: 32, 16: 32, 64: 64, 256: 8, 512: 16, 768: 32, 1024: 64, 1280: 64}
_NIFTI_FLOATS = {16: "f4", 64: "f8"}
_NRRD_TYPES = {"short": "i2", "int16": "i2", "signed short": "i2", "short int": "i2", "signed short int": "i2",
               "int16_t": "i2", "ushort": "u2", "unsigned short": "u2", "uint16": "u2", "unsigned short int": "u2",
               "uint16_t": "u2", "int": "i4", "int32": "i4", "signed int": "i4", "int32_t": "i4", "uint": "u4",
               "unsigned int": "u4", "uint32": "u4", "uint32_t": "u4", "float": "f4", "double": "f8",
               "uchar": "u1", "unsigned char": "u1", "uint8": "u1", "uint8_t": "u1", "char": "i1",
               "signed char": "i1", "int8": "i1", "int8_t": "i1", "longlong": "i8", "int64": "i8",
               "long long": "i8", "ulonglong": "u8", "uint64": "u8", "unsigned long long": "u8"}
_PIXEL_BYTES = {sitk.sitkInt8: 1, sitk.sitkUInt8: 1, sitk.sitkInt16: 2, sitk.sitkUInt16: 2, sitk.sitkInt32: 4,
                sitk.sitkUInt32: 4, sitk.sitkFloat32: 4}


def file_problems(path: Path, max_bytes: int = MAX_VOXEL_BYTES) -> list[str]:
    """Every reason to refuse a NIfTI/NRRD file before its pixels are read (empty when none)."""
    name = path.name.lower()
    try:
        if name.endswith((".nii", ".nii.gz")):
            return _nifti(path, max_bytes)
        if name.endswith(".nrrd"):
            return _nrrd(path, max_bytes)
    except (EOFError, OSError, zlib.error, struct.error, ValueError) as exc:
        return [f"cannot read the volume (truncated or corrupt): {exc}"]
    return ["not a volume file; expected NIfTI (.nii, .nii.gz), NRRD (.nrrd) or a folder of one DICOM series"]


def series_problems(files: list[str], max_bytes: int = MAX_VOXEL_BYTES) -> list[str]:
    """Reasons to refuse a DICOM series (files as GDCM sorts them) before its pixels are read.

    Every slice must have the in-plane size and orientation of the first, and the positions
    along the slice normal must step evenly (within ``SLICE_TOLERANCE`` of the median step,
    at least 0.01 mm); a gap names the missing position (mm along the normal; z for axial).
    """
    slices = []
    for file in files:
        reader = sitk.ImageFileReader()
        reader.SetFileName(file)
        try:
            reader.ReadImageInformation()
        except RuntimeError:
            return [f"{Path(file).name}: cannot read the DICOM header of this slice"]
        slices.append((Path(file).name, reader.GetSize(), reader.GetOrigin(), reader.GetDirection(),
                       _PIXEL_BYTES.get(reader.GetPixelID(), 8) * reader.GetNumberOfComponents()))
    total = sum(int(np.prod(size, dtype=object)) * nbytes for _, size, _, _, nbytes in slices)
    if total > max_bytes:
        return [f"the series' headers promise {total / 2**20:.0f} MiB of voxel data ({len(slices)} slices); "
                f"the limit is {max_bytes / 2**20:.0f} MiB"]
    first_name, first_size, _, first_dir, _ = slices[0]
    problems = []
    for name, size, _, direction, _ in slices[1:]:
        if size[:2] != first_size[:2]:
            problems.append(f"slice {name} is {size[0]} x {size[1]} pixels, slice {first_name} "
                            f"{first_size[0]} x {first_size[1]}; expected one size for the whole series")
            break
        if max(abs(a - b) for a, b in zip(direction, first_dir)) > 1e-3:
            problems.append(f"slice {name} is oriented differently from slice {first_name}; expected one orientation")
            break
    if problems or len(slices) < 3:
        return problems
    normal = np.array(first_dir).reshape(3, 3)[:, 2]
    order = sorted((float(np.dot(origin, normal)), name) for name, _, origin, _, _ in slices)
    positions = np.array([p for p, _ in order])
    steps = np.diff(positions)
    step = float(np.median(steps))
    if step <= 1e-3:
        return [f"the slices of the series share one position ({positions[0]:.2f} mm); expected a 3-D series"]
    tolerance = max(SLICE_TOLERANCE * step, 0.01)
    for i, gap in enumerate(steps):
        if abs(gap - step) <= tolerance:
            continue
        a, b = positions[i], positions[i + 1]
        missing = round(gap / step) - 1
        if gap < tolerance:
            problems.append(f"slices {order[i][1]} and {order[i + 1][1]} lie at the same position {a:.2f} mm; "
                            "expected one slice per position")
        elif missing >= 1 and abs(gap - (missing + 1) * step) <= tolerance * (missing + 1):
            where = ", ".join(f"{a + k * step:.2f}" for k in range(1, min(missing, 3) + 1))
            problems.append(f"{missing} slice(s) missing between positions {a:.2f} and {b:.2f} mm (expected one "
                            f"every {step:.2f} mm; missing at {where}{' ...' if missing > 3 else ''} mm)")
        else:
            problems.append(f"uneven slice spacing: {gap:.2f} mm between positions {a:.2f} and {b:.2f} mm, "
                            f"{step:.2f} mm elsewhere; expected one spacing for the whole series")
        if len(problems) == 5:
            break
    return problems


def _limit(shape, nbytes: int, max_bytes: int) -> list[str]:
    if nbytes <= max_bytes:
        return []
    dims = " x ".join(str(d) for d in shape)
    return [f"the header promises {nbytes / 2**20:.0f} MiB of voxel data ({dims} voxels); the limit is "
            f"{max_bytes / 2**20:.0f} MiB (refused before reading the pixels)"]


def _nifti(path: Path, max_bytes: int) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        head = fh.read(544)
        endian = next((e for e in "<>" if len(head) >= 348 and struct.unpack(f"{e}i", head[:4])[0] in (348, 540)),
                      None)
        if endian is None:
            return ["not a NIfTI file (its header size field is neither 348 nor 540)"]
        if struct.unpack(f"{endian}i", head[:4])[0] == 348:
            dims = struct.unpack(f"{endian}8h", head[40:56])
            datatype = struct.unpack(f"{endian}h", head[70:72])[0]
            pixdim = struct.unpack(f"{endian}8f", head[76:108])
            offset, slope, inter = struct.unpack(f"{endian}3f", head[108:120])
            header_size = 348
        else:
            if len(head) < 540:
                return ["not a NIfTI file (its NIfTI-2 header is cut short)"]
            datatype = struct.unpack(f"{endian}h", head[12:14])[0]
            dims = struct.unpack(f"{endian}8q", head[16:80])
            pixdim = struct.unpack(f"{endian}8d", head[104:168])
            offset = struct.unpack(f"{endian}q", head[168:176])[0]
            slope, inter = struct.unpack(f"{endian}2d", head[176:192])
            header_size = 540
        ndim = dims[0]
        if not 1 <= ndim <= 7:
            return [f"the header gives {ndim} dimensions; expected a 3-D volume"]
        shape = dims[1: ndim + 1]
        if any(d <= 0 for d in shape):
            return [f"the header gives size {tuple(shape)}, with a zero or negative dimension"]
        if ndim > 3 and any(d > 1 for d in shape[3:]):
            return [f"the header gives size {tuple(shape)}: a {ndim}-D series; expected one 3-D volume"]
        if datatype not in _NIFTI_BITS:
            return [f"the header's voxel type code {datatype} is not a single number per voxel; expected a "
                    "grey-value or label image"]
        nbytes = int(np.prod(shape, dtype=object)) * _NIFTI_BITS[datatype] // 8
        problems = _limit(shape, nbytes, max_bytes)
        axes = "xyz"
        for axis, value in zip(axes, pixdim[1: min(ndim, 3) + 1]):
            if not math.isfinite(value) or value == 0:
                problems.append(f"the header's voxel spacing along {axis} is {value:g} mm; expected a positive "
                                "number of mm")
        if not math.isfinite(offset) or offset < header_size:
            problems.append(f"the header's voxel offset {offset:g} lies inside the header; the file is corrupt")
        if not (math.isfinite(slope) and math.isfinite(inter)):
            problems.append(f"the header's intensity scaling (scl_slope {slope:g}, scl_inter {inter:g}) is not finite")
        if problems:
            return problems
        floats = _NIFTI_FLOATS.get(datatype)
        if opener is open and floats is None:
            held, bad = os.path.getsize(path) - int(offset), (0, None)
        else:
            fh.seek(int(offset))
            held, bad = _scan(fh, nbytes, np.dtype(floats).newbyteorder(endian) if floats else None)
    if held < nbytes:
        return [f"truncated: {max(held, 0)} of {nbytes} bytes of voxel data"]
    if bad[0]:
        z, rest = divmod(bad[1], shape[0] * shape[1])
        y, x = divmod(rest, shape[0])
        return [f"{bad[0]} voxels are NaN or infinite (the first at voxel x={x}, y={y}, z={z}); expected a finite "
                "value in every voxel"]
    return []


def _nrrd(path: Path, max_bytes: int) -> list[str]:
    with open(path, "rb") as fh:
        head = b""
        while not head.endswith((b"\n\n", b"\r\n\r\n")):
            line = fh.readline(_NRRD_HEADER_MAX)
            if not line:
                return ["not an NRRD file with attached data (no blank line ends its header)"]
            head += line
            if len(head) > _NRRD_HEADER_MAX:
                return [f"the NRRD header is longer than {_NRRD_HEADER_MAX} bytes; the file is corrupt"]
        lines = head.decode("latin-1").splitlines()
        if not lines[0].startswith("NRRD000"):
            return ["not an NRRD file (it does not start with NRRD000x)"]
        fields = {}
        for line in lines[1:]:
            key, sep, value = line.partition(":")
            if sep and not value.startswith("=") and not line.startswith("#"):
                fields[key.strip().lower()] = value.strip()
        detached = fields.get("data file") or fields.get("datafile")
        if detached:
            return [f"the voxel data lies in another file ({detached!r}); expected an NRRD with attached data"]
        kind = fields.get("type", "").lower()
        if kind not in _NRRD_TYPES:
            return [f"NRRD type {kind!r} is not a single number per voxel; expected a grey-value or label image"]
        encoding = fields.get("encoding", "").lower()
        if encoding not in ("raw", "gzip", "gz", "bzip2", "bz2"):
            return [f"NRRD encoding {encoding!r} is not accepted; expected raw or gzip"]
        shape = tuple(int(v) for v in fields.get("sizes", "").split())
        if len(shape) != 3 or any(d <= 0 for d in shape):
            return [f"the header gives sizes {shape}; expected three positive sizes (a 3-D volume)"]
        nbytes = int(np.prod(shape, dtype=object)) * np.dtype(_NRRD_TYPES[kind]).itemsize
        problems = _limit(shape, nbytes, max_bytes)
        if problems or "byte skip" in fields or "line skip" in fields:
            return problems
        if encoding == "raw":
            held = os.path.getsize(path) - len(head)
        elif encoding in ("gzip", "gz"):
            with gzip.GzipFile(fileobj=fh) as stream:
                held = _scan(stream, nbytes, None)[0]
        else:
            held = _count_bz2(fh, nbytes)
    if held < nbytes:
        return [f"truncated: {max(held, 0)} of {nbytes} bytes of voxel data"]
    return []


def _scan(stream, wanted: int, floats: np.dtype | None, block: int = 1 << 20) -> tuple[int, tuple[int, int | None]]:
    """(bytes readable from ``stream`` up to ``wanted``, (non-finite voxels, flat index of the
    first)); voxels are decoded only when ``floats`` is a float dtype. Nothing is kept."""
    held, bad, first = 0, 0, None
    while held < wanted and (chunk := stream.read(min(block, wanted - held))):
        if floats is not None:
            values = np.frombuffer(chunk[: len(chunk) - len(chunk) % floats.itemsize], floats)
            where = np.flatnonzero(~np.isfinite(values))
            if where.size:
                first = first if first is not None else (held // floats.itemsize) + int(where[0])
                bad += where.size
        held += len(chunk)
    return held, (bad, first)


def _count_bz2(fh, wanted: int, block: int = 1 << 20) -> int:
    decompressor, held = bz2.BZ2Decompressor(), 0
    while held < wanted and not decompressor.eof and (chunk := fh.read(block)):
        held += len(decompressor.decompress(chunk, max_length=wanted - held + 1))
        while held < wanted and not decompressor.eof and not decompressor.needs_input:
            held += len(decompressor.decompress(b"", max_length=wanted - held + 1))
    return held
