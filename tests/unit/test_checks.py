"""ncf._checks.positive_int: the one positive-integer check of model sizes and index settings."""

from __future__ import annotations

import numpy as np
import pytest

from ncf._checks import optional_positive_int, positive_int
from ncf.errors import ConfigError
from ncf.index import make_index
from ncf.models.mf import MatrixFactorization


def test_positive_int_takes_integers_and_refuses_the_rest() -> None:
    assert positive_int("dim", 3) == 3 and positive_int("dim", np.int64(4)) == 4
    assert optional_positive_int("nlist", None) is None and optional_positive_int("nlist", 2) == 2
    for bad in (0, -1, True, 2.0, "3", None):
        with pytest.raises(ConfigError, match=f"^dim must be a positive integer, got {bad!r}$"):
            positive_int("dim", bad)


def test_models_and_indexes_say_the_same() -> None:
    with pytest.raises(ConfigError, match="^embedding_dim must be a positive integer, got 0$"):
        MatrixFactorization(3, 4, embedding_dim=0)
    with pytest.raises(ConfigError, match="^k must be a positive integer, got 0$"):
        make_index("exact").build(np.ones((4, 2), dtype=np.float32)).search(np.ones((1, 2), dtype=np.float32), 0)
