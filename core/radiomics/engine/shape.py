"""Shape (3D): PyRadiomics' ``RadiomicsShape`` (its 14 non-deprecated features).

PyRadiomics pads the region's mask (cropped to its bounding box) with one voxel of background
on every side and runs its own marching cubes (``cshape.c``): every 2 x 2 x 2 cube of voxel
centres gets an 8-bit index (bit k set when corner k is in the region; corners in (z, y, x)
order (0,0,0), (0,0,1), (0,1,1), (0,1,0), (1,0,0), (1,0,1), (1,1,1), (1,1,0)); indices of 128
and above are replaced by their complement, whose triangles (``_TRIANGLES``) are counted with
the opposite sign for the volume. Vertices lie halfway along the cube edges (``_EDGE_MIDPOINTS``).

- SurfaceArea is the sum of the triangle areas; MeshVolume the sum of the signed volumes of the
  tetrahedra the triangles span with the grid origin. Both depend on a cube only through its
  index and, for the volume, its position (``a . (b x c)`` with ``a = o + a'`` expands into a
  per-index constant plus ``o . n(index)``), so they are sums over 256 indices of counts and
  of the cubes' summed grid coordinates (integers, exact in float64).
- The diameters are the largest distances between mesh vertices (the midpoints of the grid
  edges whose two voxels differ): over all pairs (3D) or over pairs in one plane of constant
  z (Slice), y (Column) or x (Row). The farthest pair of a point set lies on its convex hull,
  and a hull vertex is the first or the last point of every axis-parallel line through it, so
  only such points are compared, in spatially sorted blocks whose bounding boxes prune block
  pairs that cannot beat the best distance found. Coordinates and squared distances are
  computed as ``cshape.c`` does, so the maxima are PyRadiomics' to the bit.
- The axis lengths, Elongation and Flatness come from the eigenvalues of the covariance
  (divided by N, not N - 1) of the physical coordinates of the voxel centres; eigenvalues
  in (-1e-10, 0) are 0, a more negative one makes its features NaN.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from core.radiomics.engine.names import requested
from core.radiomics.engine.region import Region

FEATURES: tuple[str, ...] = (
    "Elongation", "Flatness", "LeastAxisLength", "MajorAxisLength", "Maximum2DDiameterColumn",
    "Maximum2DDiameterRow", "Maximum2DDiameterSlice", "Maximum3DDiameter", "MeshVolume", "MinorAxisLength",
    "Sphericity", "SurfaceArea", "SurfaceVolumeRatio", "VoxelVolume",
)

# cshape.c's triangle table for cube indices 0..127: the i-th string lists the triangles of index i,
# three edge numbers (hexadecimal digits, see _EDGE_MIDPOINTS) per triangle, normals pointing outward.
_TRIANGLES = (
    "", "083", "190", "183198", "12a", "08312a", "92a029", "2832a8a98", "b23", "b2008b", "190b23", "b2119b98b",
    "3a1ba3", "a1008a8ba", "9033b9ba9", "98aba8", "478", "043473", "190478", "194147173", "12a478", "34730412a",
    "92a902478", "2a9297273479", "478b23", "b47b24204", "190478b23", "47b94bb29192", "3a1ba3478",
    "ba114b10447b", "4789033b9ba9", "47b4b99ba", "954", "954083", "054015", "854835315", "12a954", "08312a954",
    "2a5542240", "2a5325354834", "954b23", "b2008b954", "054015b23", "215258b28548", "3a1ba3954",
    "549a1008a8ba", "54050ba5bb03", "548a58ba8", "789579", "309539357", "780017715", "157173", "78957912a",
    "12a309395357", "0288258572a5", "2a5253357", "579789b23", "579972209b27", "b23018178157", "21b17b157",
    "7895793a1ba3", "5705097b0a10ba0", "ba003ba50078570", "ba557b", "65a", "08365a", "19065a", "18319865a",
    "165126", "165126083", "965906026", "598582526832", "b2365a", "b2008b65a", "190b2365a", "b2119b98b65a",
    "63b653513", "08b0b50515b6", "63b036065059", "65969bb98", "47865a", "04347365a", "19047865a",
    "19414717365a", "478165126", "043473165126", "478965906026", "739479329596269", "b2347865a", "b47b2420465a",
    "190b2347865a", "47b94bb2919265a", "47863b653513", "51b5b610b47b04b", "47863b036065059", "65969b4797b9",
    "a4964a", "a4964a083", "01aa60640", "18316886461a", "149124264", "149124264083", "024426", "832824426",
    "b23a4964a", "b2008ba4964a", "b2301aa60640", "64161a148b2118b", "964369139b63", "18b081b61149641",
    "63b036640", "86468b", "67a78a89a", "67a0a709a073", "67a1a7178018", "67a1a7173", "126168189678",
    "269129679309739", "078706602", "273267", "b2367a78a89a", "207b2709767a9a7", "67a1a7178018b23",
    "b2117ba61167", "896678169b63136", "09167b", "07870603bb60", "67b",
)
# The midpoint of each of the 12 cube edges, (z, y, x) relative to the cube's first corner.
_EDGE_MIDPOINTS = (
    (0, 0, .5), (0, .5, 1), (0, 1, .5), (0, .5, 0), (1, 0, .5), (1, .5, 1),
    (1, 1, .5), (1, .5, 0), (.5, 0, 0), (.5, 0, 1), (.5, 1, 1), (.5, 1, 0),
)
_CORNERS = ((0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 0, 0), (1, 0, 1), (1, 1, 1), (1, 1, 0))
_MIN_BLOCK = 32                   # points per block in the diameter search, at least
_MAX_BLOCKS = 2048                # blocks at most (their pairs' bounds are computed at once)
_DISTANCES_PER_CHUNK = 1 << 20    # distances computed at once


def features(region: Region, names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """PyRadiomics' 3D shape features of ``region``'s mask: {name: 0-dim float64 tensor on its device}.

    Lengths in mm, areas in mm^2, volumes in mm^3 (``region.spacing`` is (x, y, z) mm).
    """
    names = requested(names, FEATURES, "shape")
    mask = F.pad(region.mask.to(torch.uint8), (1, 1, 1, 1, 1, 1))     # PyRadiomics' padding
    spacing = torch.tensor(region.spacing[::-1], dtype=torch.float64, device=mask.device)   # (z, y, x)
    wanted = set(names)
    values: dict[str, torch.Tensor] = {}
    if wanted & {"MeshVolume", "SurfaceArea", "SurfaceVolumeRatio", "Sphericity"}:
        area, volume = _area_and_volume(mask, spacing)
        values.update(MeshVolume=volume, SurfaceArea=area, SurfaceVolumeRatio=area / volume,
                      Sphericity=(36 * math.pi * volume ** 2) ** (1.0 / 3.0) / area)
    diameter_names = ("Maximum2DDiameterSlice", "Maximum2DDiameterColumn", "Maximum2DDiameterRow",
                      "Maximum3DDiameter")
    if wanted & set(diameter_names):
        values.update(zip(diameter_names, _diameters(mask, spacing)))
    if wanted & {"VoxelVolume", "MajorAxisLength", "MinorAxisLength", "LeastAxisLength", "Elongation", "Flatness"}:
        values.update(_pca(mask, region.spacing))
    return {name: values[name].to(device=mask.device, dtype=torch.float64) for name in names}


# ------------------------------------------------------------------------------- area and volume
@lru_cache(maxsize=8)
def _triangle_edges(device: torch.device) -> torch.Tensor:
    """(128, 5, 3) int64 edge numbers of each index's triangles, -1 where it has fewer than 5."""
    edges = torch.full((128, 5, 3), -1, dtype=torch.int64)
    for index, row in enumerate(_TRIANGLES):
        digits = [int(d, 16) for d in row]
        for t in range(len(digits) // 3):
            edges[index, t] = torch.tensor(digits[3 * t:3 * t + 3])
    return edges.to(device)


def _index_tables(spacing: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per cube index 0..255, for a cube at the grid origin: triangle area (256,), summed
    ``a . (b x c)`` (256,) and summed ``a x b + b x c + c x a`` (256, 3), in mm^2 / mm^3 / mm^2;
    the complement indices 128..255 carry the sign flip of ``cshape.c``."""
    edges = _triangle_edges(spacing.device)
    present = (edges[..., 0] >= 0).to(torch.float64)                                  # (128, 5)
    midpoints = torch.tensor(_EDGE_MIDPOINTS, dtype=torch.float64, device=spacing.device)
    vertices = midpoints[edges.clamp(min=0)] * spacing                                # (128, 5, 3, 3)
    a, b, c = vertices.unbind(dim=2)
    area = (0.5 * torch.linalg.vector_norm(torch.linalg.cross(a - c, b - c), dim=-1) * present).sum(1)
    triple = ((a * torch.linalg.cross(b, c)).sum(-1) * present).sum(1)
    normal = ((torch.linalg.cross(a, b) + torch.linalg.cross(b, c) + torch.linalg.cross(c, a))
              * present[..., None]).sum(1)
    flipped = torch.arange(127, -1, -1, device=spacing.device)                       # 128 + k -> 127 - k
    return (torch.cat([area, area[flipped]]), torch.cat([triple, -triple[flipped]]),
            torch.cat([normal, -normal[flipped]]))


def _cube_indices(mask: torch.Tensor) -> torch.Tensor:
    """(Z-1, Y-1, X-1) uint8 marching-cube index of every cube of the (Z, Y, X) uint8 mask."""
    z, y, x = (s - 1 for s in mask.shape)
    index = torch.zeros((z, y, x), dtype=torch.uint8, device=mask.device)
    for bit, (dz, dy, dx) in enumerate(_CORNERS):
        index |= mask[dz:dz + z, dy:dy + y, dx:dx + x] << bit
    return index


def _area_and_volume(mask: torch.Tensor, spacing: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Surface area (mm^2) and signed mesh volume (mm^3) of the padded (Z, Y, X) uint8 mask."""
    index = _cube_indices(mask)
    area, triple, normal = _index_tables(spacing)
    surface = (index != 0) & (index != 255)              # the cubes that hold triangles
    corner = torch.nonzero(surface).to(torch.float64)    # (M, 3) grid coordinates of their first corner
    kind = index[surface].to(torch.int64)
    counts = torch.bincount(kind, minlength=256).to(torch.float64)
    position = torch.stack([torch.bincount(kind, weights=corner[:, axis], minlength=256) for axis in range(3)], 1)
    volume = (counts @ triple + ((position * spacing) * normal).sum()) / 6
    return counts @ area, volume


# ------------------------------------------------------------------------------------ diameters
def _diameters(mask: torch.Tensor, spacing: torch.Tensor) -> list[torch.Tensor]:
    """Largest vertex distances (mm) within a plane of constant z, y and x, and over all pairs."""
    candidates: list[list[torch.Tensor]] = [[], [], [], []]     # doubled grid coordinates (n, 3)
    for axis in range(3):                      # the vertices on the grid edges along ``axis``
        crossing = mask.narrow(axis, 1, mask.shape[axis] - 1) != mask.narrow(axis, 0, mask.shape[axis] - 1)
        first, second, third = (_first_or_last(crossing, b) for b in range(3))
        # a plane's hull vertices are extreme on its two axis-parallel lines, the hull's on all three
        kept = (first & second) | (third & (first | second))
        grid = 2 * torch.nonzero(kept)
        grid[:, axis] += 1
        extreme = torch.stack([first[kept], second[kept], third[kept]], dim=1)             # (n, 3)
        for plane in range(3):
            others = [b for b in range(3) if b != plane]
            candidates[plane].append(grid[extreme[:, others].all(1)])
        candidates[3].append(grid[extreme.all(1)])
    best = []
    for plane, grids in enumerate(candidates):
        grid = torch.cat(grids)
        points = (grid.to(torch.float64) / 2) * spacing            # (index + offset) * spacing, as cshape.c
        if plane == 3:
            best.append(_max_squared_distance(points, None, _sphere_directions(mask.device)))
        else:
            best.append(_max_squared_distance(points, grid[:, plane], _circle_directions(plane, mask.device)))
    # The square roots on the host: torch's vectorised CPU sqrt can be 1 ulp off the correctly
    # rounded value that C's sqrt (and CUDA's) gives.
    return [torch.tensor(math.sqrt(float(b)), dtype=torch.float64, device=mask.device) for b in best]


def _first_or_last(crossing: torch.Tensor, axis: int) -> torch.Tensor:
    """Where ``crossing`` is the first or the last True of its line along ``axis``."""
    length = crossing.shape[axis]
    shape = [1, 1, 1]
    shape[axis] = length
    kind = torch.int16 if length < 2 ** 15 else torch.int32
    position = torch.arange(length, dtype=kind, device=crossing.device).view(shape)
    flags = crossing.to(kind)
    last = (flags * position).amax(axis, keepdim=True)
    first = length - 1 - (flags * (length - 1 - position)).amax(axis, keepdim=True)
    return crossing & ((position == first) | (position == last))


def _max_squared_distance(points: torch.Tensor, keys: torch.Tensor | None, directions: torch.Tensor) -> torch.Tensor:
    """Largest ``(dz^2 + dy^2) + dx^2`` over pairs of the (n, 3) ``points`` with equal ``keys``
    (all pairs when None); 0 without a pair.

    A lower bound comes from the points extreme along each of the (K, 3) ``directions`` within
    each key. Points whose key's bounding box has no corner that far are dropped; the rest are
    sorted (by key, then Morton order) into blocks, and two blocks are compared only where the
    farthest corners of their bounding boxes reach the bound.
    Floating-point rounding is monotone, so a corner distance is never below a distance it
    covers: the result is the exact maximum of the distances computed pairwise."""
    n = points.shape[0]
    if n < 2:
        return torch.zeros((), dtype=torch.float64, device=points.device)
    keys = torch.zeros(n, dtype=torch.int64, device=points.device) if keys is None else keys
    _, group = torch.unique(keys, return_inverse=True)
    lower = _extremes_bound(points, group, directions)
    reach = _farthest_reach(points, group)                     # no partner farther than this
    points, group = points[reach >= lower], group[reach >= lower]
    n = points.shape[0]
    order = torch.argsort(_morton(points) + group * (1 << 30))
    points, group = points[order], group[order]
    size = min(n, max(_MIN_BLOCK, -(-n // _MAX_BLOCKS)))
    count = -(-n // size)
    fill = torch.arange(count * size, device=points.device).clamp(max=n - 1)      # repeat the last point
    blocks, block_group = points[fill].view(count, size, 3), group[fill].view(count, size)
    low, high = blocks.amin(1), blocks.amax(1)
    group_low, group_high = block_group.amin(1), block_group.amax(1)
    first, second = torch.triu_indices(count, count, device=points.device)
    bound = _squared_norm(torch.maximum(high[first] - low[second], high[second] - low[first]))
    near = (bound >= lower) & (group_low[first] <= group_high[second]) & (group_low[second] <= group_high[first])
    first, second = first[near], second[near]
    best = lower
    chunk = max(1, _DISTANCES_PER_CHUNK // size ** 2)
    for start in range(0, first.numel(), chunk):
        i, j = first[start:start + chunk], second[start:start + chunk]
        distance = _squared(blocks[i], blocks[j])                                       # (k, size, size)
        same = block_group[i][:, :, None] == block_group[j][:, None, :]
        best = torch.maximum(best, torch.where(same, distance, 0.0).max())
    return best


def _farthest_reach(points: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """(n,) squared distance from each point to the farthest corner of its group's bounding box."""
    groups = int(group.max()) + 1
    by_group = group[:, None].expand_as(points)
    low = torch.full((groups, 3), math.inf, dtype=torch.float64, device=points.device)
    low = low.scatter_reduce(0, by_group, points, "amin")
    high = torch.full_like(low, -math.inf).scatter_reduce(0, by_group, points, "amax")
    return _squared_norm(torch.maximum(points - low[group], high[group] - points))


def _squared_norm(d: torch.Tensor) -> torch.Tensor:
    """``(dz^2 + dy^2) + dx^2`` over the last axis (of size 3), in cshape.c's order."""
    d = d.square()
    return (d[..., 0] + d[..., 1]) + d[..., 2]


def _extremes_bound(points: torch.Tensor, group: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Largest squared distance between two points of one group that are extreme (lowest or
    highest projection) along one of the ``directions``: a distance of a real pair."""
    groups = int(group.max()) + 1
    projection = points @ directions.T                                                   # (n, K)
    index = torch.arange(points.shape[0], device=points.device)[:, None].expand_as(projection)
    by_group = group[:, None].expand_as(projection)
    chosen = []
    for signed in (projection, -projection):
        top = torch.full((groups, directions.shape[0]), -math.inf, dtype=torch.float64, device=points.device)
        top = top.scatter_reduce(0, by_group, signed, "amax")
        at_top = torch.where(signed == top[group], index, -1)
        chosen.append(torch.full_like(top, -1, dtype=torch.int64).scatter_reduce(0, by_group, at_top, "amax"))
    extremes = points[torch.cat(chosen, dim=1)]                                          # (groups, 2K, 3)
    return _squared(extremes, extremes).max()


def _squared(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(k, m, l) squared distances ``(dz^2 + dy^2) + dx^2`` between (k, m, 3) ``a`` and (k, l, 3) ``b``."""
    return _squared_norm(a[:, :, None, :] - b[:, None, :, :])


def _sphere_directions(device: torch.device, count: int = 32) -> torch.Tensor:
    """(count, 3) unit vectors spread over a hemisphere (a Fibonacci lattice)."""
    k = torch.arange(count, dtype=torch.float64, device=device) + 0.5
    z = k / count
    angle = math.pi * (3 - math.sqrt(5)) * k
    radius = torch.sqrt(1 - z ** 2)
    return torch.stack([z, radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)


def _circle_directions(plane: int, device: torch.device, count: int = 16) -> torch.Tensor:
    """(count, 3) unit vectors spread over a half circle in the plane normal to axis ``plane``."""
    angle = torch.arange(count, dtype=torch.float64, device=device) * (math.pi / count)
    directions = torch.zeros((count, 3), dtype=torch.float64, device=device)
    first, second = (a for a in range(3) if a != plane)
    directions[:, first], directions[:, second] = torch.cos(angle), torch.sin(angle)
    return directions


def _morton(points: torch.Tensor) -> torch.Tensor:
    """(n,) int64 Morton (z-order) codes of the (n, 3) points on a 1024^3 grid over their box."""
    low, high = points.amin(0), points.amax(0)
    cells = ((points - low) / (high - low).clamp(min=1e-12) * 1023).to(torch.int64)
    code = torch.zeros(points.shape[0], dtype=torch.int64, device=points.device)
    for axis in range(3):
        v = cells[:, axis]
        v = (v | (v << 16)) & 0x030000FF
        v = (v | (v << 8)) & 0x0300F00F
        v = (v | (v << 4)) & 0x030C30C3
        v = (v | (v << 2)) & 0x09249249
        code |= v << (2 - axis)
    return code


# ------------------------------------------------------------------------------------------ PCA
def _pca(mask: torch.Tensor, spacing_xyz: tuple[float, float, float]) -> dict[str, torch.Tensor]:
    """VoxelVolume and the PCA features of the voxel centres of the padded (Z, Y, X) mask."""
    device = mask.device
    z, y, x = spacing_xyz[::-1]
    coordinates = torch.nonzero(mask).to(torch.float64)
    n = coordinates.shape[0]
    centred = coordinates * torch.tensor((z, y, x), dtype=torch.float64, device=device)
    centred = (centred - centred.mean(0)) / math.sqrt(n)
    covariance = (centred.T @ centred).cpu().numpy()          # 3 x 3: the eigenvalues as numpy finds them
    eigen = np.linalg.eigvals((covariance + covariance.T) / 2).real
    eigen[(eigen < 0) & (eigen > -1e-10)] = 0
    least, minor, major = np.sort(eigen)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = {"VoxelVolume": n * (z * x * y),
                  "MajorAxisLength": _axis_length(major), "MinorAxisLength": _axis_length(minor),
                  "LeastAxisLength": _axis_length(least),
                  "Elongation": np.sqrt(minor / major) if min(minor, major) >= 0 else np.nan,
                  "Flatness": np.sqrt(least / major) if min(least, major) >= 0 else np.nan}
    return {name: torch.tensor(v, dtype=torch.float64, device=device) for name, v in values.items()}


def _axis_length(eigenvalue: np.float64) -> float:
    """4 sqrt(eigenvalue) mm, NaN for a negative eigenvalue (as PyRadiomics)."""
    return np.nan if eigenvalue < 0 else np.sqrt(eigenvalue) * 4
