"""One case with the torch engine: every region, every image type, PyRadiomics' feature names.

:func:`extract_case` gives what :func:`core.radiomics.extract.extract_case` gives with
PyRadiomics (DataFrame region, feature, value; names ``{image type}_{class}_{feature}``,
shape once per region from the original image), for the same settings: the case is read
and checked by :mod:`core.radiomics.regions` (the same messages), each image type is
filtered once for all regions, each (image, region) is cropped and binned once and every
enabled class computes its features on that one :class:`~.region.Region`. The case goes to
the device once, after reading; everything up to the results stays there (one transfer back
per case). ``params`` are PyRadiomics' effective parameters as a preset records them
(:attr:`core.radiomics.presets.Preset.effective`: ``setting``, ``imageType``,
``featureClass`` with the enabled names), so no PyRadiomics is needed here.

:func:`unsupported` says why the engine cannot compute a parameter set (resampling,
normalisation, preCrop, resegmentation, image types and feature classes it lacks); callers
fall back to PyRadiomics then. Where PyRadiomics raises for a region (its C code finds no
neighbour angle that fits the region), the engine raises too (:class:`RegionError`).
"""
from __future__ import annotations

import os
import socket
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import SimpleITK as sitk
import torch

from core.radiomics.engine import ENGINE, VERSION
from core.radiomics.engine import firstorder, glcm, gldm, glrlm, glszm, ngtdm, shape
from core.radiomics.engine._wavelet import filter_bank
from core.radiomics.engine.filters import IMAGE_TYPES, FilteredImage, filtered_images
from core.radiomics.engine.neighbourhood import distances, generate_angles, plane_dimension
from core.radiomics.engine.region import Region, bounding_box
from core.radiomics.regions import REGION_LABELS, Volume, blame, checked_case, who

if TYPE_CHECKING:
    import pandas as pd

# PyRadiomics' class name -> the engine's module (shape is computed once, on the original image).
CLASSES = {"shape": shape, "firstorder": firstorder, "glcm": glcm, "glrlm": glrlm, "glszm": glszm,
           "gldm": gldm, "ngtdm": ngtdm}
LBP2D_METHODS = ("uniform",)
# Settings whose effect the engine does not implement, with the value that means "off".
_OFF = {"normalize": False, "preCrop": False, "resegmentRange": None, "voxelBased": False}


@dataclass(frozen=True)
class Provenance:
    """Which engine, which version and which device computed a case's values."""

    engine: str
    version: str
    device: str
    host: str


def provenance(device: "str | torch.device") -> Provenance:
    """This engine on ``device`` (a CUDA device named with its model and CUDA_VISIBLE_DEVICES)."""
    device = torch.device(device)
    name = str(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        name = f"cuda:{index} {torch.cuda.get_device_name(index)}"
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible:
            name += f" (CUDA_VISIBLE_DEVICES={visible})"
    return Provenance(ENGINE, f"{VERSION} (torch {torch.__version__})", name, socket.gethostname())


def resolve_device(device: "str | torch.device | None" = None) -> torch.device:
    """``None`` or ``'auto'``: the current CUDA device when one is visible, else the CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} asked for, but torch sees no CUDA device here")
    return device


def unsupported(params: Mapping[str, Any]) -> list[str]:
    """Why the engine cannot compute these PyRadiomics parameters, one reason each (empty: it can)."""
    params = getattr(params, "effective", params)
    settings = params.get("setting", {})
    reasons = []
    if settings.get("interpolator") is not None and settings.get("resampledPixelSpacing") is not None:
        reasons.append(f"resampling (resampledPixelSpacing {settings['resampledPixelSpacing']})")
    for name, off in _OFF.items():
        value = settings.get(name)
        if value is not None and value != off:
            reasons.append(f"{name} {value!r}")
    for image_type, custom in params.get("imageType", {}).items():
        merged = {**settings, **(custom or {})}
        if image_type not in IMAGE_TYPES:
            reasons.append(f"image type {image_type} (the engine has {', '.join(IMAGE_TYPES)})")
        elif image_type == "Wavelet":
            try:
                filter_bank(str(merged.get("wavelet", "coif1")))
            except ValueError as exc:
                reasons.append(str(exc))
        elif image_type == "LBP2D" and merged.get("lbp2DMethod", "uniform") not in LBP2D_METHODS:
            reasons.append(f"lbp2DMethod {merged['lbp2DMethod']!r} (the engine has {', '.join(LBP2D_METHODS)})")
    for feature_class, names in params.get("featureClass", {}).items():
        module = CLASSES.get(feature_class)
        if module is None:
            reasons.append(f"feature class {feature_class} (the engine has {', '.join(CLASSES)})")
            continue
        unknown = sorted(set(names or ()) - set(module.FEATURES))
        if unknown:
            reasons.append(f"{feature_class} feature(s) {', '.join(unknown)} (deprecated or unknown to the engine)")
    return reasons


def extract_case(image: Volume, mask: Volume, params: Mapping[str, Any], regions: Mapping[str, int] = REGION_LABELS,
                 case_id: str | None = None, device: "str | torch.device | None" = None) -> "pd.DataFrame":
    """Features of every region: DataFrame(region, feature, value), one row per region and feature.

    ``image``, ``mask``: file paths (read by the validation layer) or SimpleITK images, as
    for :func:`core.radiomics.extract.extract_case`; ``params``: a preset's effective
    parameters (or the preset); ``device``: 'cpu', 'cuda', 'cuda:N' (default: CUDA when
    present). Raises :class:`RegionError` naming ``case_id`` when the case or a region is
    unusable, ValueError when :func:`unsupported` finds a reason.
    """
    import pandas as pd

    values = case_features(image, mask, params, regions, case_id, device)
    return pd.DataFrame([(region, name, value) for region, features in values.items()
                         for name, value in features.items()], columns=["region", "feature", "value"])


def case_features(image: Volume, mask: Volume, params: Mapping[str, Any], regions: Mapping[str, int] = REGION_LABELS,
                  case_id: str | None = None, device: "str | torch.device | None" = None
                  ) -> dict[str, dict[str, float]]:
    """{region: {feature: value}} of :func:`extract_case` (float values, PyRadiomics' order)."""
    params = getattr(params, "effective", params)
    reasons = unsupported(params)
    if reasons:
        raise ValueError("the torch engine does not implement " + "; ".join(reasons))
    settings = dict(params.get("setting", {}))
    image, mask = checked_case(image, mask, regions, settings, case_id)
    device = resolve_device(device)
    case = who(case_id)
    array = sitk.GetArrayFromImage(image)
    spacing = tuple(float(s) for s in image.GetSpacing())
    pixels = torch.from_numpy(array).to(device)
    labels = torch.from_numpy(sitk.GetArrayFromImage(mask)).to(device)
    classes = {name: _ordered(CLASSES[name], enabled) for name, enabled in params.get("featureClass", {}).items()}
    texture = {name: names for name, names in classes.items() if name != "shape"}
    names: dict[str, list[str]] = {region: [] for region in regions}
    values: dict[str, list[torch.Tensor]] = {region: [] for region in regions}

    def add(region: str, prefix: str, features: Mapping[str, torch.Tensor]) -> None:
        names[region] += [f"{prefix}_{name}" for name in features]
        values[region] += list(features.values())

    boxes, masks = {}, {}
    shared: dict[str, dict] = {region: {} for region in regions}     # what the mask alone decides
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for region, label in regions.items():
            with blame(f"{case}, {region}"):
                inside = labels == label
                boxes[region] = bounding_box(inside)
                masks[region] = inside[boxes[region]]
                if texture:
                    _check_angles(tuple(masks[region].shape), settings, texture)
                if "shape" in classes:
                    original = Region(pixels[boxes[region]].to(torch.float64), masks[region], spacing,
                                      {**settings, "label": label}, array.dtype, shared[region])
                    add(region, "original_shape", shape.features(original, classes["shape"]))
        if texture:
            for filtered in filtered_images(pixels, spacing, params.get("imageType", {}), settings, array.dtype):
                for region, label in regions.items():
                    with blame(f"{case}, {region}, {filtered.name}"):
                        for feature_class, features in _texture(filtered, boxes[region], masks[region],
                                                                shared[region], spacing, label, texture).items():
                            add(region, f"{filtered.name}_{feature_class}", features)
                del filtered                  # before the next image is made: one filtered image at a time
    return {region: dict(zip(names[region], _to_host(values[region]))) for region in regions}


def _texture(filtered: FilteredImage, box: tuple[slice, slice, slice], mask: torch.Tensor, shared: dict,
             spacing: tuple[float, float, float], label: int,
             texture: Mapping[str, Any]) -> dict[str, dict[str, torch.Tensor]]:
    """{class: {feature: value}} of one region of one filtered image: cropped and binned once."""
    region = Region(filtered.image[box], mask, spacing, {**filtered.settings, "label": label}, filtered.dtype, shared)
    return {feature_class: CLASSES[feature_class].features(region, enabled)
            for feature_class, enabled in texture.items()}


def _ordered(module, enabled: "list[str] | None") -> list[str]:
    """The enabled names (None: all) in PyRadiomics' order: that of its getter methods' names
    (``getMeanAbsoluteDeviationFeatureValue`` before ``getMeanFeatureValue``)."""
    return sorted(enabled or module.FEATURES, key=lambda name: f"get{name}FeatureValue")


def _check_angles(size: tuple[int, int, int], settings: Mapping[str, Any], texture: Mapping[str, Any]) -> None:
    """ValueError where PyRadiomics' C code finds no angle fitting a region of ``size`` (z, y, x)
    (it raises there): distance 1 for GLRLM and GLSZM, the ``distances`` setting for the others."""
    wanted = set()
    if texture.keys() & {"glrlm", "glszm"}:
        wanted.add((1,))
    if texture.keys() & {"glcm", "gldm", "ngtdm"}:
        wanted.add(distances(settings))
    for chebyshev in wanted:
        generate_angles(size, chebyshev, plane_dimension(settings))


def _to_host(values: list[torch.Tensor]) -> list[float]:
    """0-dim tensors of one device as Python floats, in one transfer."""
    if not values:
        return []
    return torch.stack([v.to(torch.float64) for v in values]).cpu().tolist()
