"""The projection start of factor models (``ncf.nn.data_init``, ``MatrixFactorization(init=...)``)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from ncf import MatrixFactorization, Popularity, TrainConfig, Trainer
from ncf.app.model_spec import ModelSpec
from ncf.data.splits import random_split
from ncf.data.synthetic import synthetic
from ncf.errors import ConfigError
from ncf.evaluation import evaluate
from ncf.models.mf import INITS
from ncf.nn.data_init import projection_factors
from ncf.persistence import load_model, save_model


def _reference(dense: np.ndarray, r: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """V = unit rows of A^T R, U = unit rows of A V, both times ``scale``; zero rows stay zero."""
    a = (dense != 0).astype(np.float64)

    def unit(x: np.ndarray) -> np.ndarray:
        n = np.linalg.norm(x, axis=1, keepdims=True)
        return np.divide(x, n, out=np.zeros_like(x), where=n > 0)

    v = unit(a.T @ r)
    return unit(a @ v) * scale, v * scale


def test_projection_matches_a_dense_reference() -> None:
    rng = np.random.default_rng(0)
    dense = (rng.random((7, 9)) < 0.35) * rng.integers(1, 4, (7, 9))  # counts > 1 count once
    dense[3] = 0  # a user with no interactions
    dense[:, 5] = 0  # an item with none
    m = sp.coo_matrix(dense.astype(np.float32))
    # a repeated entry and an explicit stored zero (not an interaction)
    m = sp.coo_matrix((np.r_[m.data, 2.0, 0.0], (np.r_[m.row, 0, 1], np.r_[m.col, 0, 2])), shape=m.shape)
    expect_dense = dense.copy()
    expect_dense[0, 0] += 2
    users, items, has_user, has_item = projection_factors(m, 6, std=0.2, generator=torch.Generator().manual_seed(4))
    r = torch.randn(7, 6, generator=torch.Generator().manual_seed(4)).numpy().astype(np.float64)
    ref_u, ref_v = _reference(expect_dense, r, 0.2 * np.sqrt(6))
    np.testing.assert_allclose(users.numpy(), ref_u, atol=1e-5)
    np.testing.assert_allclose(items.numpy(), ref_v, atol=1e-5)
    assert has_user.tolist() == (expect_dense != 0).any(1).tolist()
    assert has_item.tolist() == (expect_dense != 0).any(0).tolist()
    assert not has_user[3] and not has_item[5]


def test_items_start_as_close_as_their_user_sets() -> None:
    syn = synthetic(num_users=400, num_items=150, seed=2)
    a = syn.interactions.to_csr()
    _, items, _, has = projection_factors(a, 512, std=0.1, generator=torch.Generator().manual_seed(0))
    cols = (a.T.toarray() != 0).astype(np.float64)[has.numpy()]
    v = items.numpy()[has.numpy()].astype(np.float64)
    set_cos = cols @ cols.T / np.outer(np.linalg.norm(cols, axis=1), np.linalg.norm(cols, axis=1))
    row_cos = v @ v.T / np.outer(np.linalg.norm(v, axis=1), np.linalg.norm(v, axis=1))
    off = ~np.eye(len(v), dtype=bool)
    # a random projection to 512 dimensions keeps cosines within a few hundredths on average
    assert np.abs(row_cos - set_cos)[off].mean() < 0.05
    np.testing.assert_allclose(np.linalg.norm(items.numpy()[has.numpy()], axis=1), 0.1 * np.sqrt(512), rtol=1e-5)


@pytest.fixture(scope="module")
def split():
    syn = synthetic(num_users=1500, num_items=800, seed=3)
    return random_split(syn.interactions, test_fraction=0.2, seed=0)


def _recall(model, split) -> float:
    return evaluate(model, split.test, exclude=split.train, k=(20,), protocol="full").metrics["recall@20"]


def _cosine_mf(split, init: str, seed: int = 0) -> MatrixFactorization:
    torch.manual_seed(seed)
    return MatrixFactorization(split.train.num_users, split.train.num_items, embedding_dim=32, use_bias=False,
                               normalize=True, sparse=True, init=init)


def _softmax(epochs: int, seed: int = 0) -> TrainConfig:
    return TrainConfig(loss="softmax", temperature=0.1, batch_size=256, lr=0.01, optimizer="sparse_adam",
                       epochs=epochs, show_progress=False, seed=seed)


def test_projection_starts_above_popularity_and_learns_faster(split) -> None:
    pop = _recall(Popularity(split.train.num_users, split.train.num_items).fit(split.train), split)
    start = _cosine_mf(split, "projection")
    start.init_from_data(split.train)
    assert _recall(start, split) > pop + 0.1  # the start alone ranks (about 3x popularity here)
    fast, slow = _cosine_mf(split, "projection"), _cosine_mf(split, "normal")
    for model in (fast, slow):
        Trainer(_softmax(1)).fit(model, split.train)
    assert _recall(fast, split) > _recall(slow, split) + 0.1  # measured 0.38 against 0.21 after one epoch


def test_the_trainer_starts_the_model_once(split, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    model = _cosine_mf(split, "projection")
    assert model.needs_data_init
    calls: list[int] = []
    original = model.init_from_data

    def counted(train, *, seed=0):
        calls.append(seed)
        original(train, seed=seed)

    monkeypatch.setattr(model, "init_from_data", counted)
    Trainer(_softmax(1, seed=7)).fit(model, split.train)
    Trainer(_softmax(1, seed=7)).fit(model, split.train)  # continues: no second start
    assert calls == [7] and not model.needs_data_init
    # the state says it is done, so a reloaded model continues from its weights too
    saved = save_model(model, tmp_path / "m")
    loaded = load_model(saved).model
    assert isinstance(loaded, MatrixFactorization) and loaded.init == "projection"
    assert not loaded.needs_data_init
    torch.testing.assert_close(loaded.item_embedding.weight, model.item_embedding.weight)


def test_the_start_replaces_only_rows_with_interactions() -> None:
    syn = synthetic(num_users=60, num_items=40, seed=1)
    train = syn.interactions.select(syn.interactions.items < 30)  # items 30.. have no interactions
    torch.manual_seed(0)
    model = MatrixFactorization(train.num_users, train.num_items, embedding_dim=8, init="projection")
    before = model.item_embedding.weight.detach().clone()
    model.init_from_data(train, seed=3)
    after = model.item_embedding.weight.detach()
    torch.testing.assert_close(after[30:], before[30:])
    users, items, _, _ = projection_factors(train.to_csr(), 8, std=0.1, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(after[:30], items[:30])
    torch.testing.assert_close(model.user_embedding.weight.detach(), users)


def test_the_normal_start_keeps_the_state_dict_and_init_is_checked() -> None:
    plain = MatrixFactorization(5, 4, embedding_dim=2)
    assert "data_init_done" not in plain.state_dict() and not plain.needs_data_init  # old checkpoints load
    with pytest.raises(ConfigError, match="init"):
        MatrixFactorization(5, 4, init="svd")
    with pytest.raises(ConfigError, match="init"):
        ModelSpec(name="gmf", init="projection").check_applies({"init"})  # an option the model would ignore
    for init in INITS:  # the command line's choices are the model's
        assert ModelSpec(init=init).build(5, 4).get_config()["init"] == init
    with pytest.raises(ConfigError, match="init"):
        ModelSpec(init="svd")
