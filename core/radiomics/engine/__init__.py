"""The project's radiomics engine: PyRadiomics' features computed with torch, on the CPU or a GPU.

Every value equals PyRadiomics' (pyradiomics-bhklab 3.1.4) for the same image, mask and
settings, feature by feature (tests/radiomics/engine/ compare them). The engine imports
with torch, numpy and SimpleITK alone, so it runs where PyRadiomics is not installed.

Modules:
- ``case``: one case (every region, every image type) as the extraction computes it;
- ``region``: one region of one image (cropped tensors, spacing, settings) and its binning;
- ``filters``: the image types (Original, Wavelet, LoG, Square, SquareRoot, Logarithm,
  Exponential, Gradient, LBP2D) as PyRadiomics' ``imageoperations.get*Image``;
- ``shape``, ``firstorder``, ``glcm``, ``glrlm``, ``glszm``, ``gldm``, ``ngtdm``: the feature
  classes. Each has ``FEATURES`` (PyRadiomics' non-deprecated feature names of the class)
  and ``features(region, names=None) -> {name: 0-dim float64 tensor}`` on the region's device;
- ``neighbourhood``: PyRadiomics' angles and neighbour offsets, and the padded grids the
  texture classes read neighbours from; ``names``: checking requested feature names.

The engine logs as ``core.radiomics.engine`` (PyRadiomics' warnings, e.g. an image too small
for a LoG sigma); it prints nothing unless the application configures logging.
"""
import logging

ENGINE = "torch"
VERSION = "1.0"          # raise when a change could alter any value

logging.getLogger(__name__).addHandler(logging.NullHandler())
