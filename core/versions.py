"""Versions of the packages that shape results, recorded in bundles and reports."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

PACKAGES = ("pyradiomics-bhklab", "nnunetv2", "torch", "statsmodels", "scikit-learn", "scipy", "numpy", "pandas",
            "duckdb", "plotly")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each package (absent ones are left out)."""
    out = {}
    for package in packages:
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            pass
    return out
