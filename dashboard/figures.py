"""Plotly figures on the pages: built once per input, shown with the export settings."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from dashboard.tables import slug


EXPORT_FORMATS = ("png", "svg")


def plot_config(name: str) -> dict[str, Any]:
    """Plotly config: the camera button saves ``name`` as PNG or SVG (choice in the sidebar)."""
    fmt = st.session_state.get("export_format", "png")
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": fmt, "filename": slug(name), "scale": 3 if fmt == "png" else 1,
                                 "height": None, "width": None},
        "modeBarButtonsToRemove": ["select2d", "lasso2d"],
    }


@st.cache_resource(show_spinner=False, max_entries=128)
def _figure(name: str, _builder: Callable, args: tuple, kwargs: tuple):
    return _builder(*args, **dict(kwargs))


def figure(builder: Callable, *args: Any, **kwargs: Any):
    """``builder(*args, **kwargs)`` (a function of :mod:`core.plots`) built once per distinct input.

    Building and validating a plotly figure costs tens of milliseconds; the cached figure is
    shared, never modified (``st.plotly_chart`` serialises a copy).
    """
    return _figure(f"{builder.__module__}.{builder.__qualname__}", builder, args, tuple(sorted(kwargs.items())))


@st.cache_resource(show_spinner=False, max_entries=128)
def _figure_for(name: str, key: tuple, _build: Callable):
    return _build()


def figure_for(key: tuple, build: Callable):
    """``build()`` once per ``key`` (e.g. analysis id, centre, plot and settings): for figures drawn
    from large stored results, where hashing the inputs would cost more than the key says."""
    return _figure_for("keyed", tuple(key), build)


def chart(fig, name: str, key: str | None = None, **kwargs: Any) -> None:
    """Show a plotly figure with the export settings."""
    st.plotly_chart(fig, config=plot_config(name), key=key or f"chart-{slug(name)}", **kwargs)
