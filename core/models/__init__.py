"""Fitted prediction models: logistic models on DataFrames and the paper's three models.

Names are imported on first use, so the command line's ``--help`` stays fast.
"""
from importlib import import_module

_WHERE = {"LogisticModel": "logistic", "ThreeModels": "three"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'core.models' has no attribute {name!r}")
    return getattr(import_module(f"core.models.{_WHERE[name]}"), name)
