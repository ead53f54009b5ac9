"""Retrieval: exact batched top-k over the catalogue (ANN indexes build on the same ``TopK``)."""

from ncf.retrieval.topk import TopK, topk

__all__ = ["TopK", "topk"]
