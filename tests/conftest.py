"""Shared fixtures: small synthetic data (and its NeuMF-format split); test helpers on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ncf.data.splits import leave_one_out
from ncf.data.synthetic import synthetic
from ncf.data.writers import write_neumf

sys.path.insert(0, str(Path(__file__).parent / "helpers"))  # fake_models and other test-only helpers


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
