"""save_model / load_model: round trips, refusals that protect files, checksums and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ncf.data.idmap import IdMap
from ncf.errors import ConfigError, DataError
from ncf.models import GMF, MatrixFactorization
from ncf.persistence import load_model, save_model

NU, NI = 7, 11


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="config.json missing"):
        load_model(tmp_path / "empty")
    model = MatrixFactorization(NU, NI, embedding_dim=4)
    out = save_model(model, tmp_path / "m")
    cfg = json.loads((out / "config.json").read_text())

    (out / "config.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_model(out)
    (out / "config.json").write_text(json.dumps({**cfg, "format": "other"}))
    with pytest.raises(DataError, match="not an ncf model"):
        load_model(out)
    (out / "config.json").write_text(json.dumps({**cfg, "version": 99}))
    with pytest.raises(DataError, match="upgrade"):
        load_model(out)
    (out / "config.json").write_text(json.dumps({**cfg, "model": "nope"}))
    with pytest.raises(DataError, match="cannot rebuild"):
        load_model(out)
    (out / "config.json").write_text(json.dumps({**cfg, "config": {**cfg["config"], "embedding_dim": 5}}))
    with pytest.raises(DataError, match="weights do not match"):
        load_model(out)
    (out / "config.json").write_text(json.dumps({**cfg, "config": {**cfg["config"], "use_bias": False}}))
    with pytest.raises(DataError, match="weights do not match"):
        load_model(out)
    (out / "config.json").write_text(json.dumps(cfg))
    (out / "weights.safetensors").write_bytes(b"garbage")
    with pytest.raises(DataError, match="checksum mismatch"):
        load_model(out)
    (out / "config.json").write_text(json.dumps({**cfg, "version": 1, "checksums": None}))
    with pytest.raises(DataError, match="cannot read weights"):  # no checksum to catch it first
        load_model(out)


def test_save_errors(tmp_path: Path) -> None:
    model = GMF(NU, NI)
    with pytest.raises(DataError, match="item_map"):
        save_model(model, tmp_path / "a", item_map=IdMap.identity(NI + 1))
    with pytest.raises(ConfigError, match="JSON"):
        save_model(model, tmp_path / "b", metadata={"x": object()})

    class Unregistered(GMF):
        pass

    with pytest.raises(ConfigError, match="not registered"):
        save_model(Unregistered(NU, NI), tmp_path / "c")
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_save_replaces_an_existing_model_only_when_asked(tmp_path: Path) -> None:
    a, b = MatrixFactorization(NU, NI, 4), MatrixFactorization(NU, NI, 4)
    save_model(a, tmp_path / "m", metadata={"v": 1}, user_map=IdMap.identity(NU))
    with pytest.raises(DataError, match="already holds a saved model; pass overwrite=True"):
        save_model(b, tmp_path / "m")
    save_model(b, tmp_path / "m", overwrite=True)
    loaded = load_model(tmp_path / "m")
    assert loaded.metadata == {} and loaded.user_map is None
    assert torch.equal(loaded.model.state_dict()["user_embedding.weight"], b.user_embedding.weight)
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_never_replaces_a_file_or_what_ncf_did_not_write(tmp_path: Path) -> None:
    model = MatrixFactorization(NU, NI, 4)
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(DataError, match="not a directory"):
            save_model(model, precious, overwrite=overwrite)
    assert precious.read_text() == "keep me"
    userdir = tmp_path / "userdir"
    userdir.mkdir()
    (userdir / "notes.md").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(DataError, match="files ncf did not write"):
            save_model(model, userdir, overwrite=overwrite)
    assert [p.name for p in userdir.iterdir()] == ["notes.md"]
    empty = tmp_path / "empty"
    empty.mkdir()
    save_model(model, empty)  # an empty directory is fine
    assert load_model(empty).model.embedding_dim == 4


def test_flipped_bits_and_lost_files_are_refused(tmp_path: Path) -> None:
    model = MatrixFactorization(NU, NI, 4)
    out = save_model(model, tmp_path / "m", user_map=IdMap([f"u{k}" for k in range(NU)]))
    weights = out / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x10  # one bit in the last tensor's data: safetensors alone would load it
    weights.write_bytes(bytes(data))
    with pytest.raises(DataError, match="checksum mismatch"):
        load_model(out)
    out = save_model(model, tmp_path / "m2", user_map=IdMap([f"u{k}" for k in range(NU)]))
    (out / "user_map.json").unlink()
    with pytest.raises(DataError, match="user_map.json is missing"):
        load_model(out)


def test_version_1_directories_still_load(tmp_path: Path) -> None:
    model = MatrixFactorization(NU, NI, 4)
    out = save_model(model, tmp_path / "m", item_map=IdMap(np.arange(NI)))
    header = json.loads((out / "config.json").read_text())
    header["version"] = 1
    del header["checksums"]
    (out / "config.json").write_text(json.dumps(header))
    loaded = load_model(out)
    assert loaded.item_map == IdMap(np.arange(NI)) and loaded.user_map is None
    u, i = torch.arange(NU)[:, None], torch.arange(NI)[None, :]
    with torch.no_grad():
        assert torch.equal(loaded.model.score(u, i), model.score(u, i))
