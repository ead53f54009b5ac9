from __future__ import annotations

import pytest

from ncf._io import atomic_directory, atomic_write
from ncf.config import TrainConfig
from ncf.errors import ConfigError


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("new")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_atomic_directory_replaces_and_cleans_up(tmp_path):
    target = tmp_path / "d"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "b").write_text("2")
            raise RuntimeError("boom")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_train_config_validation_and_unknown_keys():
    cfg = TrainConfig(metric="recall@20", eval_k=(10,))
    assert 20 in cfg.eval_k
    with pytest.raises(ConfigError, match="did you mean 'bpr'"):
        TrainConfig(loss="bprr")
    with pytest.raises(ConfigError, match="did you mean 'batch_size'"):
        TrainConfig.from_dict({"batch_sise": 3})
    with pytest.raises(ConfigError, match="lr"):
        TrainConfig(lr=0)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
