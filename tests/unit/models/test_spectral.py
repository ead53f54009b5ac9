"""SpectralMF against a dense NumPy SVD reference; Blend as an exact weighted sum."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ncf import Blend, MatrixFactorization, NeuMF, NotFittedError, Popularity, SpectralMF, evaluate
from ncf.data.interactions import Interactions
from ncf.data.splits import leave_one_out
from ncf.data.synthetic import synthetic
from ncf.errors import ConfigError, DataError
from ncf.models import FPMC, build_model

NU, NI = 13, 17


def _data(seed: int = 0, n: int = 70) -> Interactions:
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, NU, size=n), rng.integers(0, NI, size=n)
    return Interactions.from_arrays(users, items, num_users=NU, num_items=NI, duplicates="keep")


def _reference_scores(data: Interactions, rank: int, alpha: float, beta: float, gamma: float) -> np.ndarray:
    """Dense float64 version of the documented formula, before the score scaling."""
    r = np.zeros((NU, NI))
    r[data.users, data.items] = 1.0  # binarised: duplicates count once
    du, di = r.sum(1) + alpha, r.sum(0) + alpha
    rn = r / np.sqrt(du)[:, None] / np.sqrt(di)[None, :]
    p, s, qt = np.linalg.svd(rn)
    p, s, q = p[:, :rank], s[:rank], qt[:rank].T
    return (p * np.exp(2 * beta * s)) @ q.T * (r.sum(0) + alpha)[None, :] ** gamma


@pytest.mark.parametrize(("rank", "alpha", "beta", "gamma"), [(4, 3.0, 1.0, 0.5), (7, 0.5, 0.0, 0.0), (13, 10.0, 2.0, 1.0)])
def test_scores_match_dense_svd_up_to_one_positive_scale(rank, alpha, beta, gamma):
    data = _data()
    model = SpectralMF(NU, NI, rank=rank, alpha=alpha, beta=beta, gamma=gamma).fit(data)
    got = (model.user_vectors() @ model.item_vectors().T).double().numpy()
    ref = _reference_scores(data, rank, alpha, beta, gamma)
    scale = float((got * ref).sum() / (ref * ref).sum())
    assert scale > 0
    np.testing.assert_allclose(got, scale * ref, rtol=1e-4, atol=1e-5 * np.abs(got).max())
    # the documented scaling: users' top-20 (here all 17 items) scores average 1
    active = np.abs(ref).sum(1) > 0
    top = np.sort(got[active], axis=1)[:, ::-1][:, :20]
    assert top.mean() == pytest.approx(1.0, rel=1e-4)


def test_normalized_matrix_binarises_and_uses_alpha():
    data = Interactions.from_arrays([0, 0, 0, 1], [2, 2, 3, 3], num_users=2, num_items=4, duplicates="keep")
    m = SpectralMF(2, 4, rank=1, alpha=1.0).normalized_matrix(data).toarray()
    # user 0 has items {2, 3} (degree 2), user 1 item 3; item 2 degree 1, item 3 degree 2
    expect = np.zeros((2, 4))
    expect[0, 2] = 1 / np.sqrt(3) / np.sqrt(2)
    expect[0, 3] = 1 / np.sqrt(3) / np.sqrt(3)
    expect[1, 3] = 1 / np.sqrt(2) / np.sqrt(3)
    np.testing.assert_allclose(m, expect)


def test_fit_is_repeatable_and_validated():
    data = _data(1)
    a = SpectralMF(NU, NI, rank=3, oversample=2, niter=1, seed=5).fit(data)
    b = SpectralMF(NU, NI, rank=3, oversample=2, niter=1, seed=5).fit(data)
    assert torch.equal(a.user_vectors(), b.user_vectors()) and torch.equal(a.item_vectors(), b.item_vectors())
    assert torch.all(a.singular_values[:-1] >= a.singular_values[1:])
    with pytest.raises(NotFittedError):
        SpectralMF(NU, NI, rank=3).user_vectors()
    with pytest.raises(ConfigError, match="rank 14 exceeds"):
        SpectralMF(NU, NI, rank=14)
    with pytest.raises(ConfigError, match="alpha"):
        SpectralMF(NU, NI, rank=2, alpha=-1)
    with pytest.raises(DataError, match="users x"):
        SpectralMF(NU + 1, NI, rank=2).fit(data)
    empty = Interactions.from_arrays([], [], num_users=NU, num_items=NI)
    with pytest.raises(DataError, match="no interactions"):
        SpectralMF(NU, NI, rank=2).fit(empty)


def test_spectral_and_blend_beat_popularity_on_planted_clusters():
    syn = synthetic(num_users=600, num_items=400, seed=11)
    split = leave_one_out(syn.interactions, num_negatives=99, seed=0)

    def hr10(model) -> float:
        rep = evaluate(model, split.test, exclude=split.train, k=(10,), protocol="sampled", negatives=split.test_negatives)
        return float(rep.metrics["hr@10"])

    pop = Popularity(split.num_users, split.num_items).fit(split.train)
    spectral = SpectralMF(split.num_users, split.num_items, rank=32).fit(split.train)
    untrained = MatrixFactorization(split.num_users, split.num_items, embedding_dim=8, use_bias=False, normalize=True)
    hr_pop, hr_spec = hr10(pop), hr10(spectral)
    assert hr_spec > hr_pop + 0.15, (hr_spec, hr_pop)
    # a blend dominated by the spectral part keeps its quality; weight 0 gives the other part
    assert hr10(Blend.of([untrained, spectral], [1e-3, 1.0])) == pytest.approx(hr_spec, abs=0.02)
    assert hr10(Blend.of([untrained, spectral], [1.0, 0.0])) == pytest.approx(hr10(untrained), abs=1e-9)


def test_blend_is_the_weighted_sum_of_its_parts():
    torch.manual_seed(0)
    data = _data(2)
    parts = [MatrixFactorization(NU, NI, embedding_dim=4), SpectralMF(NU, NI, rank=5).fit(data),
             MatrixFactorization(NU, NI, embedding_dim=3, use_bias=False, normalize=True)]
    weights = [0.7, 2.0, -0.3]
    blend = Blend.of(parts, weights)
    u, i = torch.arange(NU)[:, None], torch.arange(NI)[None, :]
    with torch.no_grad():
        expect = sum(w * p.score(u, i) for w, p in zip(weights, parts, strict=True))
        torch.testing.assert_close(blend.score(u, i), expect)
        torch.testing.assert_close(blend.user_vectors() @ blend.item_vectors().T, expect, rtol=1e-5, atol=1e-5)
    assert blend.get_config()["weights"] == weights
    assert [c["model"] for c in blend.get_config()["components"]] == ["mf", "spectral", "mf"]


def test_blend_rejects_bad_parts():
    data = _data(3)
    spec = SpectralMF(NU, NI, rank=2).fit(data)
    with pytest.raises(ConfigError, match="one weight per component"):
        Blend.of([spec], [1.0, 2.0])
    with pytest.raises(ConfigError, match="finite"):
        Blend.of([spec], [float("nan")])
    with pytest.raises(ConfigError, match="not factorized"):
        Blend.of([spec, NeuMF(NU, NI, gmf_dim=2, mlp_dim=2, layers=(4,))], [1.0, 1.0])
    with pytest.raises(ConfigError, match="spans"):
        Blend.of([spec, MatrixFactorization(NU, NI + 1)], [1.0, 1.0])
    with pytest.raises(ConfigError, match="sequence context"):
        Blend.of([spec, FPMC(NU, NI, embedding_dim=2)], [1.0, 1.0])
    with pytest.raises(ConfigError, match="at least one"):
        Blend(NU, NI, components=[], weights=[])
    with pytest.raises(ConfigError, match="component 0 must be a model or"):
        Blend.from_config({"num_users": NU, "num_items": NI, "components": [{"model": "mf"}], "weights": [1.0]}, build_model)


@pytest.mark.parametrize("shape", [(120, 200), (200, 120)])
def test_randomized_svd_is_torch_svd_lowrank_with_csr_operands(shape):
    """The CSR form takes svd_lowrank's steps and random draw: the same factors up to float32 rounding."""
    import scipy.sparse as sp

    from ncf.models.spectral import _randomized_svd

    m = sp.random(*shape, density=0.08, random_state=4, format="csr", dtype=np.float32)
    torch.manual_seed(11)
    u, s, v = _randomized_svd(m, q=30, niter=3)
    coo = m.tocoo()
    a = torch.sparse_coo_tensor(
        torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64)), torch.from_numpy(coo.data), size=shape,
        check_invariants=False,
    ).coalesce()
    torch.manual_seed(11)
    u_ref, s_ref, v_ref = torch.svd_lowrank(a, q=30, niter=3)
    assert u.shape == u_ref.shape and v.shape == v_ref.shape
    torch.testing.assert_close(s, s_ref, rtol=1e-5, atol=1e-5)
    # singular vectors agree up to sign; the products are sign-free
    torch.testing.assert_close(u @ torch.diag(s) @ v.T, u_ref @ torch.diag(s_ref) @ v_ref.T, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close((u * u_ref).sum(0).abs()[:10], torch.ones(10), rtol=0, atol=1e-3)


@pytest.mark.parametrize("rank", [2, 5, 9])
def test_a_truncated_fit_matches_the_dense_reference_at_the_lower_rank(rank):
    data = _data(seed=3)
    top = SpectralMF(NU, NI, rank=12).fit(data)
    cut = top.truncated(rank)
    assert cut.rank == rank and cut.get_config()["rank"] == rank
    got = (cut.user_vectors() @ cut.item_vectors().T).double().numpy()
    ref = _reference_scores(data, rank, 3.0, 1.0, 0.5)
    scale = float((got * ref).sum() / (ref * ref).sum())
    assert scale > 0
    np.testing.assert_allclose(got, scale * ref, rtol=1e-4, atol=1e-5 * np.abs(got).max())
    with pytest.raises(ConfigError, match="truncate"):
        top.truncated(13)


def test_rank_candidates_are_powers_of_two_below_half_the_smaller_side():
    from ncf.models.spectral import rank_candidates

    assert rank_candidates(943, 1682) == [16, 32, 64, 128, 256]
    assert rank_candidates(29858, 40981) == [16, 32, 64, 128, 256, 512, 1024]
    assert rank_candidates(20, 9) == [4]  # a tiny universe still gets one rank
