"""Seeing the model: embedding maps and a one-page HTML report of a trained run.

* :func:`embedding_map` projects a model's item (or user) vectors to 2-D (UMAP, t-SNE or PCA)
  and colours them by genre, popularity, k-means cluster or any side feature; :func:`write_map`
  draws the :class:`MapResult` as a PNG (matplotlib) or an interactive HTML page (plotly).
* :func:`knn_purity` / :func:`label_purity` measure whether a map shows its labels: the share of
  each point's map neighbours that share its label, against shuffled labels.
* :func:`write_report` writes ``ncf report``'s self-contained page; :func:`build_report` gives
  its contents as data.

The plotting and projection packages are the ``viz`` extra (``pip install 'ncf[viz]'``), imported
on first use. The click commands ``viz`` and ``report`` live in :mod:`ncf.viz.commands`, which the
CLI imports at start-up: names here load on first use (PEP 562), so that import stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ncf._lazy import lazy_dir, lazy_exports
from ncf.viz.constants import DEFAULT_SAMPLE, METHODS

if TYPE_CHECKING:
    from ncf.viz.embedding import (
        MapResult,
        embedding_map,
        entity_vectors,
        feature_colors,
        knn_purity,
        label_purity,
        project,
        sample_rows,
        shuffled_purity,
    )
    from ncf.viz.plot import map_figure, save_html, save_png, write_map
    from ncf.viz.report import (
        Coverage,
        Report,
        UserExample,
        build_report,
        render_html,
        write_report,
    )

_LAZY = {
    **dict.fromkeys(("MapResult", "embedding_map", "entity_vectors", "feature_colors", "knn_purity", "label_purity",
                     "project", "sample_rows", "shuffled_purity"), "ncf.viz.embedding"),
    **dict.fromkeys(("map_figure", "save_html", "save_png", "write_map"), "ncf.viz.plot"),
    **dict.fromkeys(("Coverage", "Report", "UserExample", "build_report", "render_html", "write_report"),
                    "ncf.viz.report"),
}


__getattr__ = lazy_exports(__name__, globals(), _LAZY)

__dir__ = lazy_dir(globals())


__all__ = [
    "DEFAULT_SAMPLE",
    "METHODS",
    "Coverage",
    "MapResult",
    "Report",
    "UserExample",
    "build_report",
    "embedding_map",
    "entity_vectors",
    "feature_colors",
    "knn_purity",
    "label_purity",
    "map_figure",
    "project",
    "render_html",
    "sample_rows",
    "save_html",
    "save_png",
    "shuffled_purity",
    "write_map",
    "write_report",
]
