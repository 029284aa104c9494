"""Which engine extracts a run, and each case's features with it (worker side).

Two engines give the same features by contract (tests/radiomics/engine/ compare them feature
by feature, 1e-6 relative): ``pyradiomics`` (:func:`core.radiomics.extract.extract_case`) and
``torch`` (:mod:`core.radiomics.engine.case`, on a CUDA device when one is visible, else the
CPU). Stored features, caches and model bundles therefore do not depend on the engine; each
case's provenance (engine, version, device, host) is stored beside its features.

``auto`` is the torch engine wherever it implements the settings: on a GPU, and on the CPU
too, where bench/extraction.py measured it faster than ``extract_case`` on a full-size case
(see the README). Settings the torch engine lacks (resampling, normalisation, other filters)
fall back to PyRadiomics with a note saying why, for ``torch`` as for ``auto``.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from core.radiomics.presets import Preset

ENGINES = ("auto", "torch", "pyradiomics")


@dataclass(frozen=True)
class EngineChoice:
    """The engine a run uses; ``note`` says why it is not the one asked for (None when it is)."""

    engine: str          # "torch" or "pyradiomics"
    requested: str       # one of ENGINES
    note: str | None = None


def choose_engine(requested: str, preset: "Preset") -> EngineChoice:
    """The engine for ``requested`` (one of :data:`ENGINES`) and these settings."""
    if requested not in ENGINES:
        raise ValueError(f"engine {requested!r}: expected one of {', '.join(ENGINES)}")
    if requested == "pyradiomics":
        return EngineChoice("pyradiomics", requested)
    from core.radiomics.engine.case import unsupported

    reasons = unsupported(preset)
    if reasons:
        return EngineChoice("pyradiomics", requested,
                            f"PyRadiomics extracts these settings: the torch engine does not implement "
                            f"{'; '.join(reasons)}")
    return EngineChoice("torch", requested)


def case_features(engine: str, image: str, mask: str, preset: "Preset",
                  case_id: str) -> tuple["pd.DataFrame", dict[str, Any]]:
    """One case's features (DataFrame region, feature, value) with ``engine``, and its provenance
    (engine, engine_version, device, host). The torch engine takes this process's CUDA device
    when one is visible (a GPU worker sees only its own), else the CPU."""
    if engine == "torch":
        from core.radiomics.engine.case import extract_case, provenance, resolve_device

        device = resolve_device("auto")
        frame = extract_case(image, mask, preset, case_id=case_id, device=device)
        where = provenance(device)
        return frame, {"engine": where.engine, "engine_version": where.version, "device": where.device,
                       "host": where.host}
    import radiomics

    from core.radiomics.extract import extract_case

    frame = extract_case(image, mask, preset, case_id=case_id)
    return frame, {"engine": "pyradiomics", "engine_version": radiomics.__version__, "device": "cpu",
                   "host": socket.gethostname()}
