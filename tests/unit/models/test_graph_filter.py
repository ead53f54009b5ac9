"""GraphFilter against dense reference implementations: the filters, the Chebyshev approximation,
the degree normalisation, the ideal low-pass, shared-basis candidate scoring and ranking."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.polynomial import chebyshev

from ncf.data import synthetic
from ncf.data.interactions import Interactions
from ncf.errors import ConfigError, DataError
from ncf.evaluation import evaluate
from ncf.models import GraphFilter, Popularity
from ncf.models.graph_filter import FilterBases, FilterShape, chebyshev_coefficients, plateau
from ncf.retrieval.topk import topk

NU, NI = 30, 20


def _data(seed: int = 0, density: float = 0.25) -> Interactions:
    rng = np.random.default_rng(seed)
    mask = rng.random((NU, NI)) < density
    mask[:, 3] = False  # an item nobody interacted with
    mask[np.arange(NU), rng.integers(4, NI, NU)] = True  # every user has a history
    users, items = np.nonzero(mask)
    return Interactions.from_arrays(users, items, num_users=NU, num_items=NI)


def _dense_parts(data: Interactions, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binary R, the normalised R~ (degrees + ``offset``) and the item degrees, in float64."""
    r = np.zeros((NU, NI))
    r[data.users, data.items] = 1.0
    du, di = r.sum(1), r.sum(0)
    inv = lambda d: np.where(d > 0, 1.0 / np.sqrt(np.maximum(d + offset, 1.0)), 0.0)  # noqa: E731
    return r, inv(du)[:, None] * r * inv(di)[None, :], di


def _reference(data: Interactions, response: np.ndarray | None, *, power: float, weight: float, rank: int,
               linear: bool = False, offset: float = 0.0) -> np.ndarray:
    """``(X D^-b) (H + w V V^T) D^b`` with ``H`` from a full eigendecomposition of ``P~``:
    ``response`` holds ``H``'s value at each eigenvalue of ``L~ = I - 2 P~`` (ignored if linear)."""
    r, rn, di = _dense_parts(data, offset)
    p = rn.T @ rn
    if linear:
        h = p
    else:
        lam, q = np.linalg.eigh(p)
        assert response is not None
        h = q @ np.diag(response(1.0 - 2.0 * lam)) @ q.T
    v = np.linalg.svd(rn)[2][:rank].T
    pre = np.where(di > 0, np.maximum(di, 1.0) ** -power, 0.0)
    post = np.where(di > 0, np.maximum(di, 1.0) ** power, 0.0)
    x = r * pre
    return np.asarray((x @ h + weight * (x @ v) @ v.T) * post)


def _rows(model: GraphFilter) -> np.ndarray:
    with torch.no_grad():
        return model.score_rows(torch.arange(NU)).double().numpy()


@pytest.mark.parametrize(("order", "flatness", "power", "weight", "rank", "offset"),
                         [(8, 1.5, 0.4, 0.2, 5, 0.0), (3, 1.0, 0.0, 0.0, 5, 0.0), (12, 3.0, 0.5, 1.0, 10, 0.0),
                          (8, 1.5, 0.4, 0.2, 5, 3.0)])
def test_chebyshev_filter_equals_its_polynomial_applied_exactly(order: int, flatness: float, power: float,
                                                                weight: float, rank: int, offset: float) -> None:
    data = _data()
    model = GraphFilter(NU, NI, order=order, flatness=flatness, degree_power=power, ideal_rank=rank,
                        ideal_weight=weight, degree_offset=offset).fit(data)
    coeffs = chebyshev_coefficients(order, flatness)
    want = _reference(data, lambda x: chebyshev.chebval(x, coeffs), power=power, weight=weight, rank=rank,
                      offset=offset)
    np.testing.assert_allclose(_rows(model), want, rtol=1e-4, atol=1e-5)


def test_linear_filter_is_gram_of_normalised_matrix() -> None:
    data = _data(1)
    model = GraphFilter(NU, NI, filter="linear", degree_power=0.3, ideal_rank=4, ideal_weight=0.5,
                        degree_offset=0.0).fit(data)
    want = _reference(data, None, power=0.3, weight=0.5, rank=4, linear=True)
    np.testing.assert_allclose(_rows(model), want, rtol=1e-4, atol=1e-5)


def test_chebyshev_approximation_converges_to_the_exact_plateau_filter() -> None:
    data = _data(2)
    exact = _reference(data, lambda x: plateau(x, 1.5), power=0.0, weight=0.0, rank=1)
    errors = []
    for order in (2, 8, 32):
        model = GraphFilter(NU, NI, order=order, flatness=1.5, degree_power=0.0, ideal_weight=0.0,
                            degree_offset=0.0).fit(data)
        errors.append(np.abs(_rows(model) - exact).max() / np.abs(exact).max())
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.02


def test_plateau_and_interpolation_nodes() -> None:
    np.testing.assert_allclose(plateau(np.array([-1.0, 0.0, 1.0]), 2.0), [1.0, 0.5, 0.0])
    x = np.linspace(-1, 1, 9)
    assert np.all(np.diff(plateau(x, 1.5)) <= 0)  # a low-pass: never rises with frequency
    order = 6
    nodes = np.cos((np.arange(order + 1) + 0.5) * np.pi / (order + 1))  # Chebyshev points, first kind
    np.testing.assert_allclose(chebyshev.chebval(nodes, chebyshev_coefficients(order, 1.5)),
                               plateau(nodes, 1.5), atol=1e-12)


def test_shared_bases_match_each_shape_fitted_alone() -> None:
    data = _data(3)
    base = GraphFilter(NU, NI, order=6, ideal_rank=8, ideal_weight=0.1).fit(data)
    shapes = [FilterShape(f, b, w, r) for f in (1.0, 2.5) for b in (0.0, 0.4) for w, r in ((0.0, 8), (0.3, 4), (0.2, 8))]
    histories = base.histories(torch.arange(NU))
    seen = 0
    bases = {power: FilterBases(base, histories, power) for power in (0.0, 0.4)}
    for shape in shapes:
        scores = bases[shape.degree_power].scores(shape)
        alone = base.with_shape(shape)
        assert (alone.flatness, alone.degree_power, alone.ideal_weight) == (shape.flatness, shape.degree_power,
                                                                             shape.ideal_weight)
        torch.testing.assert_close(scores, alone.score_histories(histories), rtol=1e-5, atol=1e-6)
        seen += 1
    assert seen == len(shapes)
    with pytest.raises(ConfigError, match="ideal components"):
        base.with_shape(FilterShape(1.0, 0.0, 0.5, 9))


def test_histories_are_the_training_rows_and_new_histories_score_the_same_way() -> None:
    data = _data(4)
    model = GraphFilter(NU, NI, ideal_rank=4).fit(data)
    dense = np.zeros((NU, NI), dtype=np.float32)
    dense[data.users, data.items] = 1.0
    users = torch.tensor([5, 0, 5, 29])
    np.testing.assert_array_equal(model.histories(users).numpy(), dense[users.numpy()])
    torch.testing.assert_close(model.score_rows(users), model.score_histories(torch.from_numpy(dense[users.numpy()])))
    empty = model.score_histories(torch.zeros(1, NI))
    assert torch.equal(empty, torch.zeros(1, NI))  # no history, no signal
    with pytest.raises(DataError, match="user indices"):
        model.histories(torch.tensor([NU]))
    with pytest.raises(DataError, match="rows"):
        model.score_histories(torch.zeros(2, NI + 1))


def test_topk_ranks_whole_rows_with_seen_items_masked() -> None:
    data = _data(5)
    model = GraphFilter(NU, NI, ideal_rank=4).fit(data)
    users = np.array([3, 1, 7, 3])
    got = topk(model, users, k=5, exclude=data.to_csr(), batch_size=3)
    scores = model.score_rows(torch.from_numpy(users)).numpy()
    csr = data.to_csr()
    for row, u in enumerate(users):
        s = scores[row].copy()
        s[csr[u].indices] = -np.inf
        want = np.argsort(-s, kind="stable")[:5]
        np.testing.assert_allclose(got.scores[row], s[want], rtol=1e-5)
        assert set(got.ids[row]).isdisjoint(csr[u].indices)


def test_refuses_bad_options_and_unfitted_use() -> None:
    with pytest.raises(ConfigError, match="filter must be one of"):
        GraphFilter(NU, NI, filter="cubic")
    with pytest.raises(ConfigError, match="flatness"):
        GraphFilter(NU, NI, flatness=0.0)
    with pytest.raises(ConfigError, match="degree_power"):
        GraphFilter(NU, NI, degree_power=float("nan"))
    with pytest.raises(ConfigError, match="ideal_rank"):
        GraphFilter(NU, NI, ideal_rank=NU + 1)
    GraphFilter(NU, NI, ideal_rank=NU + 1, ideal_weight=0.0)  # no ideal part: the rank is unused
    from ncf.errors import NotFittedError

    with pytest.raises(NotFittedError):
        GraphFilter(NU, NI, ideal_rank=4).score_rows(torch.tensor([0]))
    with pytest.raises(DataError, match="no interactions"):
        GraphFilter(NU, NI, ideal_rank=4).fit(Interactions.from_arrays([], [], num_users=NU, num_items=NI))


def test_beats_popularity_on_synthetic_data() -> None:
    ds = synthetic(num_users=300, num_items=200, seed=0)
    from ncf.data import leave_one_out

    split = leave_one_out(ds.interactions, seed=0)
    model = GraphFilter(split.num_users, split.num_items, ideal_rank=32).fit(split.train)
    pop = Popularity(split.num_users, split.num_items).fit(split.train)
    ours = evaluate(model, split.test, exclude=split.train, k=(10,), protocol="full").metrics["recall@10"]
    base = evaluate(pop, split.test, exclude=split.train, k=(10,), protocol="full").metrics["recall@10"]
    assert ours > 1.5 * base and ours - base > 0.05, (ours, base)
