"""TwoTower: normalisation, feature buffers, and cold start from features alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ncf.data.features import FeatureTable
from ncf.errors import ConfigError, DataError
from ncf.losses import in_batch_softmax_loss
from ncf.models import TwoTower
from ncf.persistence import load_model, save_model

NU, NI = 8, 12


def _model(**kw: object) -> TwoTower:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    defaults: dict[str, object] = {
        "embedding_dim": 4,
        "layers": (16, 8),
        "user_features": torch.randn(NU, 3, generator=gen),
        "item_features": torch.randn(NI, 5, generator=gen),
    }
    defaults.update(kw)
    return TwoTower(NU, NI, **defaults).eval()  # type: ignore[arg-type]


@torch.no_grad()
def test_vectors_are_normalised_and_scaled() -> None:
    model = _model(temperature=0.2)
    torch.testing.assert_close(model.item_vectors().norm(dim=-1), torch.ones(NI))
    torch.testing.assert_close(model.user_vectors().norm(dim=-1), torch.full((NU,), 5.0))
    scores = model.score(torch.arange(NU)[:, None], torch.arange(NI)[None, :])
    assert scores.abs().max() <= 5.0 + 1e-5  # |cos| / temperature


@torch.no_grad()
def test_cold_start_item_from_features() -> None:
    model = _model()
    new = torch.randn(4, 5)
    vecs = model.embed_items(new)
    assert vecs.shape == (4, 8) and torch.isfinite(vecs).all()
    torch.testing.assert_close(vecs.norm(dim=-1), torch.ones(4))
    scores = model.user_vectors() @ vecs.T
    assert scores.shape == (NU, 4) and torch.isfinite(scores).all()
    # -1 and out-of-range ids are "unknown", like ids=None
    torch.testing.assert_close(model.embed_items(new, ids=torch.tensor([-1, NI, 99, -5])), vecs)
    # a known id with its own features gives exactly its item vector
    known = torch.tensor([3, 0, 11])
    torch.testing.assert_close(model.embed_items(model.item_features[known], ids=known), model.item_vectors(known))
    torch.testing.assert_close(model.embed_users(model.user_features[known[:2]], ids=known[:2]), model.user_vectors(known[:2]))
    assert model.embed_users(torch.randn(2, 3)).shape == (2, 8)


@torch.no_grad()
def test_similar_features_score_similarly() -> None:
    model = _model()
    gen = torch.Generator().manual_seed(5)
    base = torch.randn(20, 5, generator=gen)
    near = base + 1e-3 * torch.randn(20, 5, generator=gen)
    far = torch.randn(20, 5, generator=gen)
    users = model.user_vectors()
    s_base, s_near, s_far = (users @ model.embed_items(x).T for x in (base, near, far))
    d_near = (s_base - s_near).abs().mean()
    d_far = (s_base - s_far).abs().mean()
    assert d_near < 0.05 * d_far
    same = model.embed_items(base[:1].repeat(3, 1))
    torch.testing.assert_close(same[0].expand(3, -1), same)


def test_cold_start_learns_from_features() -> None:
    """Train on clustered items; an unseen item with cluster-c features ranks high for c's users."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    nu, ni, k = 48, 30, 3
    item_cluster = np.arange(ni) % k
    user_cluster = rng.integers(0, k, nu)
    feats = np.eye(k, dtype=np.float32)[item_cluster] + 0.1 * rng.normal(size=(ni, k)).astype(np.float32)
    table = FeatureTable(feats, ("c0", "c1", "c2"))
    model = TwoTower(nu, ni, embedding_dim=8, layers=(16, 8), temperature=0.1, item_features=table, id_dropout=0.5)
    us, its = np.nonzero(user_cluster[:, None] == item_cluster[None, :])
    users_t, items_t = torch.from_numpy(us), torch.from_numpy(its)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(60):
        idx = torch.randint(0, users_t.numel(), (64,))
        u, i = users_t[idx], items_t[idx]
        loss = in_batch_softmax_loss(model.user_vectors(u), model.item_vectors(i), items=i)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        new_items = torch.eye(k)  # one brand-new item per cluster, features only
        scores = (model.user_vectors() @ model.embed_items(new_items).T).numpy()  # (nu, k)
    own = scores[np.arange(nu), user_cluster]
    others = scores[np.arange(nu)[:, None], (user_cluster[:, None] + np.array([1, 2])) % k]
    assert (own[:, None] > others).mean() > 0.9


def test_id_dropout_uses_unknown_row_in_training() -> None:
    model = _model(id_dropout=0.5)
    with torch.no_grad():
        model.item_tower.embedding.weight[-1].normal_()  # type: ignore[union-attr]
        known = model.item_vectors()
        unknown = model.embed_items(model.item_features)
    model.train()
    torch.manual_seed(3)
    with torch.no_grad():
        mixed = model.item_vectors()
    is_known = torch.isclose(mixed, known, atol=1e-6).all(-1)
    is_unknown = torch.isclose(mixed, unknown, atol=1e-6).all(-1)
    assert bool((is_known | is_unknown).all()) and is_known.any() and is_unknown.any()
    model.item_vectors().sum().backward()
    grad = model.item_tower.embedding.weight.grad  # type: ignore[union-attr]
    assert grad is not None and grad[-1].abs().sum() > 0


def test_unknown_row_starts_at_zero() -> None:
    model = TwoTower(NU, NI, embedding_dim=4, layers=(8,))
    assert model.item_tower.embedding is not None
    assert torch.equal(model.item_tower.embedding.weight[-1], torch.zeros(4))
    assert model.item_tower.embedding.weight.shape == (NI + 1, 4)


def test_features_are_buffers_saved_with_weights(tmp_path: Path) -> None:
    model = _model()
    names = {n for n, _ in model.named_buffers()}
    assert {"user_features", "item_features"} <= names
    assert all(p.data_ptr() != model.item_features.data_ptr() for p in model.parameters())
    config = model.get_config()
    assert config["user_feature_dim"] == 3 and config["item_feature_dim"] == 5
    save_model(model, tmp_path / "tt")
    loaded = load_model(tmp_path / "tt").model
    assert isinstance(loaded, TwoTower)
    assert torch.equal(loaded.item_features, model.item_features)
    with torch.no_grad():
        x = torch.randn(3, 5)
        torch.testing.assert_close(loaded.embed_items(x), model.embed_items(x), rtol=0, atol=0)


def test_validation() -> None:
    with pytest.raises(DataError, match="item features"):
        TwoTower(NU, NI, item_features=torch.randn(NI + 1, 2))
    with pytest.raises(DataError, match="NaN"):
        TwoTower(NU, NI, item_features=torch.full((NI, 2), float("nan")))
    with pytest.raises(ConfigError, match="item_feature_dim"):
        TwoTower(NU, NI, item_features=torch.randn(NI, 2), item_feature_dim=3)
    with pytest.raises(ConfigError, match="temperature"):
        TwoTower(NU, NI, temperature=0.0)
    with pytest.raises(ConfigError, match="user features"):
        TwoTower(NU, NI, use_ids=False, item_features=torch.randn(NI, 2))
    model = _model()
    with pytest.raises(ValueError, match=r"\(B, 5\)"):
        model.embed_items(torch.randn(2, 4))
    with pytest.raises(ValueError, match="item features"):
        model.embed_items(None, ids=torch.tensor([1]))
    no_feats = TwoTower(NU, NI, embedding_dim=4, layers=(8,)).eval()
    with torch.no_grad():
        torch.testing.assert_close(no_feats.embed_items(None, ids=torch.tensor([2])), no_feats.item_vectors(torch.tensor([2])))
