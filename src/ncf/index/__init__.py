"""Nearest-neighbour indexes of item vectors, for retrieval in serving; one interface, several kinds.

::

    index = make_index("hnsw", metric="dot", M=32).build(item_vectors)   # (N, d) float32
    ids, scores = index.search(user_vectors, k=10, exclude=seen)          # TopK, (B, k)
    index.save("runs/neumf/index"); index = load_index("runs/neumf/index")

Kinds: ``exact`` (:class:`ExactIndex`, ncf's exact scan: the recall baseline), and with
``pip install 'ncf[ann]'``: ``flat``, ``hnsw``, ``ivf``, ``ivfpq`` (FAISS; IVF-PQ optionally
re-ranked against a float32/float16 copy, ``rerank=r``), ``hnswlib``, ``scann`` (ScaNN tree-AH
with exact re-ordering) and ``annoy``.
Every kind returns :class:`~ncf.retrieval.TopK` rows sorted best first, padded with id ``-1`` and
score ``-inf``, and guarantees ``min(k, available)`` valid items per row under ``exclude`` /
``allow`` (see :mod:`ncf.index.base`).
"""

from ncf.index.annoy_index import AnnoyIndex
from ncf.index.base import Index, Metric
from ncf.index.exact import ExactIndex
from ncf.index.faiss_index import FaissIndex, FlatIndex, HNSWIndex, IVFIndex, IVFPQIndex
from ncf.index.hnswlib_index import HnswlibIndex
from ncf.index.idsets import IdSets
from ncf.index.registry import KINDS, load_index, make_index, set_num_threads
from ncf.index.scann_index import ScannIndex

__all__ = [
    "KINDS",
    "AnnoyIndex",
    "ExactIndex",
    "FaissIndex",
    "FlatIndex",
    "HNSWIndex",
    "HnswlibIndex",
    "IVFIndex",
    "IVFPQIndex",
    "IdSets",
    "Index",
    "Metric",
    "ScannIndex",
    "load_index",
    "make_index",
    "set_num_threads",
]
