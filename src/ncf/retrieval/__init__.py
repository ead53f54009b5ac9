"""Retrieval: exact batched top-k over the catalogue and ``recommend`` with seen-item exclusion."""

from ncf.retrieval.recommend import ExcludeLike, as_exclusion_matrix, recommend
from ncf.retrieval.topk import TopK, topk

__all__ = ["ExcludeLike", "TopK", "as_exclusion_matrix", "recommend", "topk"]
