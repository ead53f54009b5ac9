"""Drawing a :class:`~ncf.viz.embedding.MapResult`: a PNG (matplotlib, Agg) or interactive HTML (plotly).

The PNG uses matplotlib's object API on an Agg canvas (no pyplot, no global backend switch); the
HTML page inlines plotly.js, so it opens without a network. Hovering a point shows its title, raw
id, training interactions and colour label. Categories beyond the 19 largest are drawn grey as
"other" so the legend stays readable; continuous colours (popularity, dense features) use viridis.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ncf._io import atomic_write
from ncf._types import PathLike
from ncf.errors import ConfigError
from ncf.viz._deps import require
from ncf.viz.embedding import NO_LABEL, MapResult

__all__ = ["PALETTE", "map_figure", "save_html", "save_png", "write_map"]

#: Category colours (matplotlib's tab20 reordered: the strong colours first); grey is "other".
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#393b79",
)
OTHER = "other"
GREY = "#b0b0b0"
#: Above this many points the HTML map uses WebGL (scattergl) instead of SVG.
WEBGL_ABOVE = 5_000


def _title(result: MapResult, title: str | None) -> str:
    if title:
        return title
    shown = f"{len(result):,} of {result.total:,}" if result.sampled else f"{len(result):,}"
    return f"{shown} {result.what} ({result.method}), colour: {result.color_by}"


def categories(result: MapResult, *, limit: int = len(PALETTE)) -> list[tuple[str, str, npt.NDArray[np.bool_]]]:
    """``(name, colour, mask)`` per drawn category, largest first; the rest and "(none)" as grey."""
    if result.labels is None:
        return []
    names, counts = np.unique(result.labels, return_counts=True)
    order = [names[i] for i in np.argsort(-counts, kind="stable") if names[i] != NO_LABEL]
    shown = order[:limit] if len(order) <= limit else order[: limit - 1]
    out = [(str(n), PALETTE[i], result.labels == n) for i, n in enumerate(shown)]
    rest = ~np.isin(result.labels, shown)
    if rest.any():
        label = NO_LABEL if set(np.unique(result.labels[rest])) == {NO_LABEL} else OTHER
        out.insert(0, (label, GREY, rest))  # drawn first, below the others
    return out


def _marker_size(n: int) -> float:
    return float(np.clip(2e4 / max(n, 1), 2.0, 30.0))


def hover_texts(result: MapResult) -> list[str]:
    """One HTML hover text per point: title (or id), raw id, training count, colour label/value."""
    what = "interactions" if result.what == "items" else "interactions (user)"
    texts = []
    for r in range(len(result)):
        head = html.escape(result.titles[r]) if result.titles else f"{result.what[:-1]} {html.escape(result.raw_ids[r])}"
        parts = [f"<b>{head}</b>", f"id {html.escape(result.raw_ids[r])}", f"{int(result.counts[r]):,} training {what}"]
        if result.labels is not None:
            parts.append(f"{html.escape(result.color_by)}: {html.escape(str(result.labels[r]))}")
        elif result.values is not None and result.color_by != "popularity":
            parts.append(f"{html.escape(result.color_by)}: {result.values[r]:.3g}")
        texts.append("<br>".join(parts))
    return texts


# ---------------------------------------------------------------------- PNG
def save_png(result: MapResult, path: PathLike, *, title: str | None = None, dpi: int = 150) -> Path:
    """Draw the map with matplotlib (Agg) into a PNG file at ``path`` (written atomically)."""
    figure_mod = require("matplotlib.figure", feature="PNG maps")
    backend = require("matplotlib.backends.backend_agg", feature="PNG maps")
    fig = figure_mod.Figure(figsize=(9, 7.5), layout="constrained")
    backend.FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xy = result.coords
    size = _marker_size(len(result)) / 3
    if result.labels is not None:
        for name, colour, mask in categories(result):
            ax.scatter(xy[mask, 0], xy[mask, 1], s=size, c=colour, label=f"{name} ({int(mask.sum()):,})",
                       linewidths=0, alpha=0.8)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=max(1.0, 12 / size),
                  frameon=False, title=result.color_by)
    else:
        values = np.zeros(len(result)) if result.values is None else result.values
        order = np.argsort(values, kind="stable")  # high values drawn last, on top
        points = ax.scatter(xy[order, 0], xy[order, 1], s=size, c=values[order], cmap="viridis", linewidths=0)
        label = "log10(1 + training interactions)" if result.color_by == "popularity" else result.color_by
        fig.colorbar(points, ax=ax, label=label)
    ax.set_title(_title(result, title), fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"{result.method} 1")
    ax.set_ylabel(f"{result.method} 2")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    target = Path(path)
    with atomic_write(target, "wb") as fh:
        fh.write(buf.getvalue())
    return target


# ---------------------------------------------------------------------- plotly
def map_figure(result: MapResult, *, title: str | None = None, height: int = 650) -> Any:
    """The map as a plotly Figure: one trace per category (click the legend to hide one)."""
    go = require("plotly.graph_objects", feature="HTML maps")
    scatter = go.Scattergl if len(result) > WEBGL_ABOVE else go.Scatter
    text = np.asarray(hover_texts(result), dtype=object)
    xy = result.coords
    size = _marker_size(len(result)) ** 0.5 + 2
    fig = go.Figure()
    if result.labels is not None:
        for name, colour, mask in categories(result):
            fig.add_trace(scatter(x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=f"{name} ({int(mask.sum()):,})",
                                  text=text[mask], hovertemplate="%{text}<extra></extra>",
                                  marker={"size": size, "color": colour, "opacity": 0.8}))
    else:
        values = np.zeros(len(result)) if result.values is None else result.values
        label = "log10(1+n)" if result.color_by == "popularity" else result.color_by
        fig.add_trace(scatter(x=xy[:, 0], y=xy[:, 1], mode="markers", name=result.color_by, text=text,
                              hovertemplate="%{text}<extra></extra>",
                              marker={"size": size, "color": values, "colorscale": "Viridis", "opacity": 0.85,
                                      "colorbar": {"title": {"text": label}}}))
    fig.update_layout(title={"text": html.escape(_title(result, title))}, height=height, template="plotly_white",
                      legend={"itemsizing": "constant", "title": {"text": result.color_by}},
                      margin={"l": 20, "r": 20, "t": 50, "b": 20}, hovermode="closest")
    fig.update_xaxes(showticklabels=False, title=f"{result.method} 1", zeroline=False)
    fig.update_yaxes(showticklabels=False, title=f"{result.method} 2", zeroline=False)
    return fig


def save_html(result: MapResult, path: PathLike, *, title: str | None = None) -> Path:
    """Write the map as one self-contained HTML page (plotly.js inlined; works offline)."""
    fig = map_figure(result, title=title)
    page = fig.to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False, "responsive": True})
    target = Path(path)
    with atomic_write(target, "w", encoding="utf-8") as fh:
        fh.write(page)
    return target


def write_map(result: MapResult, path: PathLike, *, title: str | None = None) -> Path:
    """Write the map to ``path``: ``.png`` (matplotlib) or ``.html`` (plotly), by its suffix."""
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        return save_png(result, path, title=title)
    if suffix in (".html", ".htm"):
        return save_html(result, path, title=title)
    raise ConfigError(f"--out must end in .png or .html, got {str(path)!r}")
