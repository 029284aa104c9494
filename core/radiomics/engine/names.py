"""Feature names: a class's requested features checked against PyRadiomics' names of that class."""
from __future__ import annotations

from typing import Sequence


def requested(names: Sequence[str] | None, available: tuple[str, ...], feature_class: str) -> tuple[str, ...]:
    """``names`` checked against a class's ``FEATURES`` (None: all of them); ValueError naming the unknown ones."""
    if names is None:
        return available
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ValueError(f"unknown {feature_class} feature(s) {unknown}; expected names of {list(available)}")
    return tuple(names)
