from __future__ import annotations

from pathlib import Path

import pytest

from ncf.data.splits import leave_one_out
from ncf.data.synthetic import synthetic
from ncf.data.writers import write_neumf


@pytest.fixture(scope="session")
def small_data():
    """Small synthetic dataset (planted clusters) shared by the integration tests."""
    return synthetic(num_users=300, num_items=200, seed=3)


@pytest.fixture(scope="session")
def neumf_dir(tmp_path_factory, small_data) -> Path:
    """The synthetic data split leave-one-out with 99 negatives, in the NeuMF file format."""
    out = tmp_path_factory.mktemp("data") / "syn"
    split = leave_one_out(small_data.interactions, num_negatives=99, seed=0)
    write_neumf(split, out, prefix="syn")
    return out
