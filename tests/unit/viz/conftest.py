"""Trained run directories on small synthetic data (planted clusters), shared by the viz tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ncf.app import RunDir, RunSpec, train


def _train(data_dir: Path, out: Path, **options: object) -> Path:
    base = {"data": str(data_dir), "model": "mf", "loss": "bpr", "dim": 16, "epochs": 6, "batch-size": 512,
            "lr": 0.02, "valid": True, "seed": 0, "spectral-weight": 0.0}  # MF alone, as trained
    train(RunSpec.from_options(("test", {**base, **options})), out, show_progress=False)
    return out


def _add_side_data(out: Path, small_data) -> None:
    """Titles and feature tables as a MovieLens run has them (the NeuMF files carry neither)."""
    rundir = RunDir(out)
    train = rundir.load_split().train
    for ours, theirs in ((train.item_map, small_data.interactions.item_map),
                         (train.user_map, small_data.interactions.user_map)):
        assert ours is not None and theirs is not None
        assert np.array_equal(ours.raw_ids, theirs.raw_ids)  # the same index order: titles and features line up
    rundir.save_titles([str(t) for t in small_data.item_titles])
    rundir.save_features(small_data.user_features, small_data.item_features)


@pytest.fixture(scope="session")
def mf_run(tmp_path_factory, neumf_dir, small_data) -> Path:
    """MF (BPR) trained 6 epochs with a validation split, plus titles and side features."""
    out = _train(neumf_dir, tmp_path_factory.mktemp("viz") / "mf")
    _add_side_data(out, small_data)
    return out


@pytest.fixture(scope="session")
def popularity_run(tmp_path_factory, neumf_dir) -> Path:
    """A popularity model: one number per item, nothing to map."""
    return _train(neumf_dir, tmp_path_factory.mktemp("viz") / "pop", model="popularity", loss=None, dim=None,
                  epochs=None, lr=None, valid=None, **{"batch-size": None})
