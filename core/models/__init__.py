"""Fitted prediction models: logistic models on DataFrames and the paper's three models."""
from core.models.logistic import LogisticModel
from core.models.three import ThreeModels

__all__ = ["LogisticModel", "ThreeModels"]
