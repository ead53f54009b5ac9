"""Pure torch building blocks: feed-forward towers, initialisers, parameter helpers."""

from ncf.nn.blocks import (
    NEUMF_INIT_STD,
    Activation,
    FeedForward,
    LinearInit,
    PairFeedForward,
    count_parameters,
    init_embedding_,
    init_linear_,
    make_activation,
    sparse_parameters,
    split_sparse_parameters,
)

__all__ = [
    "NEUMF_INIT_STD",
    "Activation",
    "FeedForward",
    "LinearInit",
    "PairFeedForward",
    "count_parameters",
    "init_embedding_",
    "init_linear_",
    "make_activation",
    "sparse_parameters",
    "split_sparse_parameters",
]
