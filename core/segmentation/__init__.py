"""Segmentation stage: nnU-Net v2 dataset export, training, batch prediction, overlap metrics.

Importing the package sets nnU-Net's process-count default before nnunetv2 is imported
(see :mod:`core.segmentation.paths`). Nothing here needs the study database except
:mod:`core.segmentation.study` and :mod:`core.segmentation.cli`.
"""
from core.segmentation import paths as _paths  # noqa: F401  (sets nnUNet_def_n_proc first)
