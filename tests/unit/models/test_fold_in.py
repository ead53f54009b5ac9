"""Fold-in: a user known only by their items gets a vector that ranks like a trained one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ncf
from ncf.errors import ConfigError
from ncf.models.base import implicit_fold_in

NU, NI = 300, 200


@pytest.fixture(scope="module")
def split():
    data = ncf.synthetic(num_users=NU, num_items=NI, seed=3).interactions
    return ncf.leave_one_out(data, num_negatives=50, seed=0)


def _hit_rate(model, user_vectors, split, k=10) -> float:
    scores = user_vectors @ model.item_vectors().detach().float().T
    csr = split.train.to_csr()
    rows = np.repeat(np.arange(NU), np.diff(csr.indptr))
    scores[torch.from_numpy(rows), torch.from_numpy(csr.indices.astype(np.int64))] = -torch.inf
    top = torch.topk(scores, k, dim=1).indices.numpy()
    return float(np.mean([split.test.items[r] in top[split.test.users[r]] for r in range(len(split.test))]))


def _fold_all(model, split) -> torch.Tensor:
    csr = split.train.to_csr()
    with torch.no_grad():
        return torch.stack([model.fold_in(torch.from_numpy(csr[u].indices.astype(np.int64))) for u in range(NU)])


def test_matches_the_normal_equations_solved_in_numpy():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(30, 5))
    items = np.array([3, 7, 7, 20])
    got = implicit_fold_in(torch.from_numpy(v), torch.from_numpy(items), alpha=2.0, l2=0.5).numpy()
    vi = v[[3, 7, 20]]
    want = np.linalg.solve(v.T @ v + 2.0 * vi.T @ vi + 0.5 * np.eye(5), 3.0 * vi.sum(0))
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert implicit_fold_in(torch.from_numpy(v), torch.tensor([], dtype=torch.long)).abs().sum() == 0
    with pytest.raises(ConfigError):
        implicit_fold_in(torch.from_numpy(v), torch.tensor([1]), l2=0.0)


@pytest.mark.parametrize("kind", ["mf", "spectral"])
def test_folded_in_users_rank_like_trained_ones(split, kind):
    torch.manual_seed(0)
    if kind == "mf":
        model = ncf.MatrixFactorization(NU, NI, embedding_dim=16)
        ncf.Trainer(ncf.TrainConfig(loss="bpr", epochs=10, lr=0.01, show_progress=False)).fit(model, split.train)
    else:
        model = ncf.SpectralMF(NU, NI, rank=32).fit(split.train)
    model.eval()
    pop = ncf.Popularity(NU, NI).fit(split.train)
    with torch.no_grad():
        trained = _hit_rate(model, model.user_vectors().float(), split)
        folded = _hit_rate(model, _fold_all(model, split), split)
        floor = _hit_rate(pop, pop.user_vectors().float(), split)
    assert folded > floor + 0.2, (folded, floor)
    assert folded > 0.85 * trained, (folded, trained)


def test_blend_folds_in_each_part_with_its_weight(split):
    a = ncf.SpectralMF(NU, NI, rank=16).fit(split.train)
    b = ncf.SpectralMF(NU, NI, rank=8, alpha=1.0).fit(split.train)
    blend = ncf.Blend.of([a, b], [1.0, 0.5])
    items = torch.tensor([1, 5, 9])
    want = torch.cat([a.fold_in(items), 0.5 * b.fold_in(items)])
    torch.testing.assert_close(blend.fold_in(items), want)


def test_fpmc_takes_the_history_s_last_item_as_context(split):
    model = ncf.FPMC(NU, NI, embedding_dim=8)
    items = torch.tensor([4, 17, 2])
    u = model.fold_in(items)
    with torch.no_grad():
        context = model.context_user_vectors(torch.tensor([0]), torch.tensor([2]))[0]
    d = model.embedding_dim
    torch.testing.assert_close(u[d:], context[d:])  # [r_2, 1]: the transition part after item 2
    p = implicit_fold_in(model.item_embedding.weight.detach(), items)
    torch.testing.assert_close(u[:d], p)
