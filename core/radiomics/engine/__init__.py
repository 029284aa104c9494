"""The project's radiomics engine: PyRadiomics' features computed with torch, on the CPU or a GPU.

Every value equals PyRadiomics' (pyradiomics-bhklab 3.1.4) for the same image, mask and
settings, feature by feature (tests/radiomics/engine/ compare them). The engine imports
with torch, numpy and SimpleITK alone, so it runs where PyRadiomics is not installed.

Modules:
- ``region``: one region of one image (cropped tensors, spacing, settings) and its binning;
- ``filters``: the image types (Original, Wavelet, LoG, Square, SquareRoot, Logarithm,
  Exponential, Gradient, LBP2D) as PyRadiomics' ``imageoperations.get*Image``;
- ``shape``, ``firstorder``, ``glcm``, ``glrlm``, ``glszm``, ``gldm``, ``ngtdm``: the feature
  classes. Each has ``FEATURES`` (PyRadiomics' non-deprecated feature names of the class)
  and ``features(region, names=None) -> {name: 0-dim float64 tensor}`` on the region's device.
"""
