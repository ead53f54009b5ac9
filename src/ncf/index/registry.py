"""Index kinds by name: ``make_index``, ``load_index`` and ``set_num_threads``.

An explicit name -> class table (no module scanning). FAISS, hnswlib, ScaNN and Annoy kinds
import their package only when one is made or loaded, so this module works without them.
"""

from __future__ import annotations

from typing import Any

from ncf._types import PathLike
from ncf.errors import ConfigError, DataError, did_you_mean
from ncf.index.annoy_index import AnnoyIndex, set_annoy_threads
from ncf.index.base import Index
from ncf.index.exact import ExactIndex
from ncf.index.faiss_index import FlatIndex, HNSWIndex, IVFIndex, IVFPQIndex, import_faiss
from ncf.index.hnswlib_index import HnswlibIndex, set_hnswlib_threads
from ncf.index.scann_index import ScannIndex, set_scann_threads
from ncf.index.storage import read_metadata

__all__ = ["KINDS", "load_index", "make_index", "set_num_threads"]

#: Every index kind by its name.
KINDS: dict[str, type[Index]] = {
    "exact": ExactIndex,
    "flat": FlatIndex,
    "hnsw": HNSWIndex,
    "ivf": IVFIndex,
    "ivfpq": IVFPQIndex,
    "hnswlib": HnswlibIndex,
    "scann": ScannIndex,
    "annoy": AnnoyIndex,
}


def _kind(kind: str) -> type[Index]:
    if kind not in KINDS:
        raise ConfigError(f"unknown index kind {kind!r} (kinds: {', '.join(KINDS)}){did_you_mean(kind, KINDS)}")
    return KINDS[kind]


def make_index(kind: str, metric: str = "dot", **params: Any) -> Index:
    """An empty index of ``kind``; call ``build(vectors)`` on it.

    Parameters
    ----------
    kind : {"exact", "flat", "hnsw", "ivf", "ivfpq", "hnswlib", "scann", "annoy"}
        ``exact``: ncf's exact scan (the recall baseline); ``flat``: FAISS brute force;
        ``hnsw``: FAISS HNSW; ``ivf``: FAISS IVF-Flat; ``ivfpq``: FAISS IVF-PQ (optionally
        re-ranked, ``rerank=r``); ``hnswlib``: hnswlib HNSW; ``scann``: ScaNN tree-AH with
        exact re-ordering; ``annoy``: Annoy random-projection trees.
    metric : {"dot", "cosine"}
    **params
        The kind's settings (its class's ``PARAMS``), e.g. ``M``, ``ef_search``, ``nlist``,
        ``nprobe``, ``m``, ``nbits``, ``train_size``, ``seed``, ``scan``, ``rerank``,
        ``rerank_dtype``, ``num_leaves``, ``num_leaves_to_search``, ``n_trees``, ``search_k``.

    Raises
    ------
    ConfigError
        An unknown kind or setting (with a did-you-mean), a bad value, or a kind whose package
        is not installed (the message says ``pip install 'ncf[ann]'``).

    Examples
    --------
    >>> index = make_index("hnsw", metric="cosine", M=32).build(item_vectors)  # doctest: +SKIP
    >>> index.ef_search = 128
    >>> ids, scores = index.search(user_vectors, k=10, exclude=seen)  # doctest: +SKIP
    """
    cls = _kind(kind)
    for name in params:
        if name not in cls.PARAMS:
            accepted = ", ".join(cls.PARAMS) or "none"
            raise ConfigError(
                f"unknown setting {name!r} for the {kind!r} index (settings: {accepted})"
                f"{did_you_mean(name, cls.PARAMS)}"
            )
    return cls(metric=metric, **params)


def load_index(path: PathLike) -> Index:
    """Read any index saved by :meth:`Index.save`, verifying its checksum.

    Raises
    ------
    DataError
        Not an ncf index directory, an unknown kind, a newer format, or a missing, corrupt or
        mismatched backend file.
    ConfigError
        The kind's package is not installed.
    """
    meta = read_metadata(path)
    kind = meta["kind"]
    if kind not in KINDS:
        raise DataError(f"index.json names an unknown index kind {kind!r}{did_you_mean(kind, KINDS)}", path=path)
    return KINDS[kind].load(path)


def set_num_threads(num: int) -> None:
    """Threads for FAISS (its OpenMP pool), hnswlib and ScaNN builds and batch searches, and
    Annoy builds.

    The exact index uses torch's threads (``torch.set_num_threads``). A single query runs on
    one thread in every approximate kind.
    """
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise ConfigError(f"num must be a positive integer, got {num!r}")
    set_hnswlib_threads(num)
    set_scann_threads(num)
    set_annoy_threads(num)
    try:
        faiss = import_faiss()
    except ConfigError:
        return  # nothing to configure without faiss
    faiss.omp_set_num_threads(num)
