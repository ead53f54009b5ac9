"""One contract suite, parametrised over every model: shapes, broadcasting, factorisation, I/O."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from ncf.data.features import FeatureTable
from ncf.data.idmap import IdMap
from ncf.data.interactions import Interactions
from ncf.errors import ConfigError, DataError
from ncf.models import (
    FPMC,
    GMF,
    MLP,
    MODELS,
    Blend,
    FactorizedRecommender,
    GraphFilter,
    MatrixFactorization,
    Model,
    NeuMF,
    Popularity,
    SpectralMF,
    TwoTower,
    build_model,
    is_factorized,
)
from ncf.models.blend import RowBlend
from ncf.nn import sparse_parameters, split_sparse_parameters
from ncf.persistence import load_model, save_model

NU, NI = 7, 11


def _popularity() -> Popularity:
    rng = np.random.default_rng(0)
    items = rng.zipf(1.5, size=60) % NI
    users = rng.integers(0, NU, size=60)
    data = Interactions.from_arrays(users, items, num_users=NU, num_items=NI, duplicates="keep")
    return Popularity(NU, NI).fit(data)


def _interactions() -> Interactions:
    rng = np.random.default_rng(1)
    users, items = rng.integers(0, NU, size=40), rng.integers(0, NI, size=40)
    return Interactions.from_arrays(users, items, num_users=NU, num_items=NI, duplicates="keep")


def _features(n: int, f: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, f)).astype(np.float32))


FACTORIES: dict[str, Callable[[], Model]] = {
    "mf": lambda: MatrixFactorization(NU, NI, embedding_dim=6),
    "mf-nobias": lambda: MatrixFactorization(NU, NI, embedding_dim=6, use_bias=False),
    "mf-sparse": lambda: MatrixFactorization(NU, NI, embedding_dim=4, sparse=True),
    "mf-cosine": lambda: MatrixFactorization(NU, NI, embedding_dim=6, use_bias=False, normalize=True),
    "gmf": lambda: GMF(NU, NI, embedding_dim=5),
    "mlp": lambda: MLP(NU, NI, embedding_dim=4, layers=(8, 6, 4), dropout=0.2),
    "neumf": lambda: NeuMF(NU, NI, gmf_dim=3, mlp_dim=4, layers=(8, 4), dropout=0.1),
    "two-tower": lambda: TwoTower(NU, NI, embedding_dim=4, layers=(8, 6), dropout=0.1),
    "two-tower-features": lambda: TwoTower(
        NU,
        NI,
        embedding_dim=4,
        layers=(8, 6),
        user_features=FeatureTable(_features(NU, 3, 1).numpy(), ("a", "b", "c")),
        item_features=_features(NI, 5, 2),
        id_dropout=0.3,
    ),
    "two-tower-features-only": lambda: TwoTower(
        NU, NI, layers=(8,), use_ids=False, user_features=_features(NU, 2, 3), item_features=_features(NI, 3, 4)
    ),
    "popularity": _popularity,
    "spectral": lambda: SpectralMF(NU, NI, rank=4).fit(_interactions()),
    "graph-filter": lambda: GraphFilter(NU, NI, ideal_rank=3).fit(_interactions()),
    "graph-filter-linear": lambda: GraphFilter(NU, NI, filter="linear", ideal_weight=0.0).fit(_interactions()),
    "blend": lambda: Blend.of(
        [MatrixFactorization(NU, NI, embedding_dim=3), SpectralMF(NU, NI, rank=3).fit(_interactions()), _popularity()],
        [1.0, 0.5, -0.25],
    ),
    "row-blend": lambda: RowBlend.of(
        [MatrixFactorization(NU, NI, embedding_dim=3), GraphFilter(NU, NI, ideal_rank=3).fit(_interactions())],
        [1.0, 0.5],
    ),
    "fpmc": lambda: FPMC(NU, NI, embedding_dim=3).set_context(
        Interactions.from_arrays([0, 0, 2, 5], [4, 1, 7, 10], timestamps=[3, 1, 2, 2], num_users=NU, num_items=NI)
    ),
}
FACTORIZED = {"spectral", "blend", "fpmc", "mf", "mf-nobias", "mf-sparse", "mf-cosine", "gmf", "two-tower", "two-tower-features", "two-tower-features-only", "popularity"}


@pytest.fixture(params=sorted(FACTORIES))
def case(request: pytest.FixtureRequest) -> tuple[str, Model]:
    torch.manual_seed(0)
    model = FACTORIES[request.param]()
    # make zero-initialised parameters (biases, unknown-id rows) non-trivial
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return request.param, model.eval()


def _pairwise(model: Model, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    return torch.stack(
        [torch.stack([model.score(u.reshape(1), i.reshape(1))[0] for i in items]) for u in users]
    )


@torch.no_grad()
def test_shapes_and_broadcasting(case: tuple[str, Model]) -> None:
    _, model = case
    users = torch.tensor([0, 3, 6, 3])
    items = torch.arange(NI)
    assert model.score(users, items[:4]).shape == (4,)
    full = model.score(users[:, None], items[None, :])
    assert full.shape == (4, NI)
    assert model.score(users[:, None], items).shape == (4, NI)
    cand = torch.tensor([[0, 1, 2], [3, 4, 5], [10, 9, 8], [0, 0, 7]])
    by_cand = model.score(users[:, None], cand)
    assert by_cand.shape == (4, 3)
    assert model.score(users[1], items[2]).shape == ()
    torch.testing.assert_close(full, _pairwise(model, users, items), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(by_cand, torch.gather(full, 1, cand), rtol=1e-5, atol=1e-6)
    assert torch.isfinite(full).all()
    assert model(users, items[:4]).shape == (4,)  # forward is score


@torch.no_grad()
def test_batch_equals_single(case: tuple[str, Model]) -> None:
    _, model = case
    users = torch.tensor([1, 2, 5, 1, 0])
    items = torch.tensor([10, 2, 0, 4, 4])
    batch = model.score(users, items)
    single = torch.stack([model.score(u[None], i[None])[0] for u, i in zip(users, items, strict=True)])
    torch.testing.assert_close(batch, single, rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_factorized_identity(case: tuple[str, Model]) -> None:
    key, model = case
    assert is_factorized(model) == (key in FACTORIZED)
    if key not in FACTORIZED:
        return
    assert isinstance(model, FactorizedRecommender)
    uv = model.user_vectors()
    iv = model.item_vectors()
    assert uv.shape[0] == NU and iv.shape[0] == NI and uv.shape[1] == iv.shape[1]
    users = torch.tensor([4, 0, 2])
    items = torch.tensor([1, 9, 3, 3, 0])
    torch.testing.assert_close(model.user_vectors(users), uv[users], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model.item_vectors(items), iv[items], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model.score(users[:, None], items[None, :]), uv[users] @ iv[items].T, rtol=1e-5, atol=1e-5)
    pair_u, pair_i = torch.tensor([0, 6, 3]), torch.tensor([10, 0, 5])
    torch.testing.assert_close(
        model.score(pair_u, pair_i),
        (model.user_vectors(pair_u) * model.item_vectors(pair_i)).sum(-1),
        rtol=1e-5,
        atol=1e-6,
    )


def test_gradients_flow(case: tuple[str, Model]) -> None:
    key, model = case
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    if key in ("popularity", "spectral", "graph-filter", "graph-filter-linear"):
        assert params == []
        return
    users = torch.randint(0, NU, (16,))
    items = torch.randint(0, NI, (16,))
    model.score(users, items).sum().backward()
    grads = [p.grad for p in params if p.grad is not None]
    assert grads, "no parameter received a gradient"
    for g in grads:
        dense = g.to_dense() if g.is_sparse else g
        assert torch.isfinite(dense).all()


def test_get_config_round_trip(case: tuple[str, Model]) -> None:
    _, model = case
    config = model.get_config()
    text = json.dumps(config)  # JSON-serialisable
    assert not any(k.endswith("_features") for k in config)  # tables live in the weights
    rebuilt = build_model(model.name, **json.loads(text))
    assert type(rebuilt) is type(model)
    assert rebuilt.get_config() == config
    rebuilt.load_state_dict(model.state_dict())
    rebuilt.eval()
    u, i = torch.arange(NU)[:, None], torch.arange(NI)[None, :]
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.score(u, i), model.score(u, i), rtol=0, atol=0)


def test_save_load_identical(case: tuple[str, Model], tmp_path: Path) -> None:
    _, model = case
    umap = IdMap([f"u{k}" for k in range(NU)])
    imap = IdMap(np.arange(100, 100 + NI))
    out = save_model(model, tmp_path / "run", user_map=umap, item_map=imap, metadata={"epochs": 3})
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "item_map.json", "user_map.json", "weights.safetensors"]
    header = json.loads((out / "config.json").read_text())
    assert header["format"] == "ncf-model" and header["version"] == 2 and header["model"] == model.name
    loaded = load_model(out)
    m2, u2, i2, meta = loaded
    assert type(m2) is type(model) and not m2.training
    assert u2 == umap and i2 == imap and meta == {"epochs": 3}
    u, i = torch.arange(NU)[:, None], torch.arange(NI)[None, :]
    with torch.no_grad():
        assert torch.equal(m2.score(u, i), model.score(u, i))
    for k, v in model.state_dict().items():
        assert torch.equal(m2.state_dict()[k], v), k


def test_registry_is_explicit_and_complete() -> None:
    assert set(MODELS) == {"mf", "gmf", "mlp", "neumf", "two-tower", "popularity", "fpmc", "spectral", "blend",
                           "graph-filter", "row-blend"}
    for name, cls in MODELS.items():
        assert cls.name == name


def test_registry_errors() -> None:
    with pytest.raises(ConfigError, match="did you mean 'neumf'"):
        build_model("nuemf", num_users=2, num_items=2)
    with pytest.raises(ConfigError, match="did you mean 'embedding_dim'"):
        build_model("mf", num_users=2, num_items=2, embeding_dim=4)
    with pytest.raises(ConfigError, match="num_items"):
        build_model("gmf", num_users=2)
    with pytest.raises(ConfigError):
        build_model("mlp", num_users=2, num_items=2, layers=[])
    with pytest.raises(ConfigError):
        build_model("mlp", num_users=2, num_items=2, dropout=1.5)
    with pytest.raises(ConfigError):
        build_model("two-tower", num_users=2, num_items=2, use_ids=False)
    with pytest.raises(ConfigError):
        build_model("mf", num_users=0, num_items=2)


def test_sparse_embeddings_give_sparse_gradients() -> None:
    model = MatrixFactorization(NU, NI, 4, sparse=True)
    model.score(torch.tensor([0, 1]), torch.tensor([2, 3])).sum().backward()
    sparse, dense = split_sparse_parameters(model)
    assert len(sparse) == 4 and len(dense) == 1  # factors + biases; global bias
    named = sparse_parameters(model)  # the same tables by name (what DDP is told to leave alone)
    assert sorted(named) == ["item_bias.weight", "item_embedding.weight", "user_bias.weight", "user_embedding.weight"]
    assert [id(p) for p in named.values()] == [id(p) for p in sparse]
    assert sparse_parameters(MatrixFactorization(NU, NI, 4)) == {}
    assert all(p.grad is not None and p.grad.is_sparse for p in sparse)
    opt_s = torch.optim.SparseAdam(sparse, lr=0.1)
    opt_d = torch.optim.Adam(dense, lr=0.1)
    opt_s.step()
    opt_d.step()


def test_popularity_fit_counts() -> None:
    data = Interactions.from_arrays([0, 1, 2, 0], [3, 3, 1, 1], num_users=3, num_items=5)
    model = Popularity(3, 5).fit(data)
    assert model.item_vectors().squeeze(-1).tolist() == [0, 2, 0, 2, 0]
    top = model.score(torch.tensor([2]), torch.arange(5)).tolist()
    assert top == [0, 2, 0, 2, 0]
    with pytest.raises(DataError):
        Popularity(3, 4).fit(data)


def test_mf_learns_planted_preferences() -> None:
    """A few hundred BPR steps rank each user's planted cluster above random items."""
    from ncf.losses import bpr_loss

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    nu, ni, k = 60, 40, 4
    user_cluster = rng.integers(0, k, nu)
    item_cluster = np.arange(ni) % k
    liked = user_cluster[:, None] == item_cluster[None, :]  # (nu, ni)
    train_mask = liked & (rng.random((nu, ni)) < 0.6)
    test_mask = liked & ~train_mask
    us, its = np.nonzero(train_mask)
    users_t, items_t = torch.from_numpy(us), torch.from_numpy(its)
    model = MatrixFactorization(nu, ni, embedding_dim=8)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        idx = torch.randint(0, users_t.numel(), (256,))
        neg = torch.randint(0, ni, (256, 1))
        u, i = users_t[idx], items_t[idx]
        loss = bpr_loss(model.score(u, i), model.score(u[:, None], neg))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        scores = model.score(torch.arange(nu)[:, None], torch.arange(ni)[None, :]).numpy()
    held_out = scores[test_mask].mean()
    unliked = scores[~liked].mean()
    assert held_out > unliked + 1.0
    # AUC of held-out positives against non-liked items
    auc = np.mean([(scores[u][test_mask[u]][:, None] > scores[u][~liked[u]][None, :]).mean() for u in range(nu) if test_mask[u].any()])
    assert auc > 0.9
