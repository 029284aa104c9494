"""The project's nnU-Net trainers, found by nnU-Net through ``nnUNet_extTrainer``.

nnU-Net imports every module of this folder as a top-level module during its search, so
modules here use absolute imports only. Production models should use nnU-Net's own trainer
names so that any centre can load them without this code.
"""
