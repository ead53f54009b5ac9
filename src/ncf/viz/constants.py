"""Defaults shared by the library and the commands (a module light enough for the CLI to import)."""

from __future__ import annotations

#: Projections of :func:`ncf.viz.embedding_map`.
METHODS = ("umap", "tsne", "pca")
#: Points drawn at most; more are sampled (seeded).
DEFAULT_SAMPLE = 20_000
