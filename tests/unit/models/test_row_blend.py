"""RowBlend: a weighted sum of a factorized model and a graph filter, against the parts computed
by hand (dense products), through ranking, evaluation, a new user's history and save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ncf.data import random_split, synthetic
from ncf.errors import ConfigError
from ncf.evaluation import evaluate
from ncf.models import FPMC, GraphFilter, MatrixFactorization, NeuMF
from ncf.models.blend import RowBlend, score_spread
from ncf.persistence import load_model, save_model
from ncf.retrieval.topk import topk

W_MF, W_FILTER = 0.7, 2.5


@pytest.fixture(scope="module")
def parts():
    split = random_split(synthetic(num_users=60, num_items=45, seed=3).interactions, test_fraction=0.2, seed=0)
    torch.manual_seed(0)
    mf = MatrixFactorization(60, 45, embedding_dim=6)
    with torch.no_grad():  # untrained but distinct vectors and biases
        for p in mf.parameters():
            p.normal_(0.0, 0.5)
    filt = GraphFilter(60, 45, ideal_rank=8).fit(split.train)
    return split, mf.eval(), filt


def _dense_rows(mf: MatrixFactorization, filt: GraphFilter, users: torch.Tensor) -> torch.Tensor:
    """The blend by hand: every (user, item) score of the MF, plus the filter's rows."""
    items = torch.arange(mf.num_items)
    with torch.no_grad():
        mf_rows = mf.score(users[:, None], items[None, :]).float()
        return W_MF * mf_rows + W_FILTER * filt.score_rows(users).float()


def test_rows_are_the_weighted_sum_of_the_parts(parts):
    _, mf, filt = parts
    blend = RowBlend.of([mf, filt], [W_MF, W_FILTER])
    users = torch.tensor([0, 5, 17, 59])
    expected = _dense_rows(mf, filt, users)
    torch.testing.assert_close(blend.score_rows(users), expected, rtol=1e-5, atol=1e-5)
    pairs = blend.score(users[:, None], torch.tensor([[0, 3, 44]]))
    torch.testing.assert_close(pairs, expected[:, [0, 3, 44]], rtol=1e-5, atol=1e-5)


def test_ranking_and_evaluation_follow_the_summed_rows(parts):
    split, mf, filt = parts
    blend = RowBlend.of([mf, filt], [W_MF, W_FILTER])
    users = np.arange(60)
    got = topk(blend, users, k=5, exclude=split.train.to_csr())
    rows = _dense_rows(mf, filt, torch.from_numpy(users))
    rows[torch.as_tensor(np.array(split.train.users)), torch.as_tensor(np.array(split.train.items))] = -torch.inf
    want = torch.topk(rows, 5, dim=1).indices.numpy()
    assert (np.sort(got.ids, axis=1) == np.sort(want, axis=1)).mean() > 0.99  # ties may reorder
    report = evaluate(blend, split.test, exclude=split.train, k=(5,), protocol="full")
    mf_only = evaluate(RowBlend.of([mf, filt], [1.0, 0.0]), split.test, exclude=split.train, k=(5,), protocol="full")
    mf_direct = evaluate(mf, split.test, exclude=split.train, k=(5,), protocol="full")
    assert mf_only.metrics["recall@5"] == pytest.approx(mf_direct.metrics["recall@5"])
    assert report.metrics["recall@5"] != mf_only.metrics["recall@5"]  # the filter part counts


def test_a_new_history_folds_into_the_factorized_part(parts):
    _, mf, filt = parts
    blend = RowBlend.of([mf, filt], [W_MF, W_FILTER])
    history = torch.zeros((2, 45))
    history[0, [1, 4, 9]] = 1.0
    history[1, [30]] = 1.0
    got = blend.score_histories(history)
    with torch.no_grad():
        items = mf.item_vectors().float()
        folded = torch.stack([mf.fold_in(torch.tensor([1, 4, 9])), mf.fold_in(torch.tensor([30]))]).float()
        expected = W_MF * (folded @ items.T) + W_FILTER * filt.score_histories(history)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_save_and_load_rebuild_the_same_scores(parts, tmp_path):
    _, mf, filt = parts
    blend = RowBlend.of([mf, filt], [W_MF, W_FILTER])
    save_model(blend, tmp_path / "m")
    loaded = load_model(tmp_path / "m").model
    assert isinstance(loaded, RowBlend) and loaded.weights == [W_MF, W_FILTER]
    users = torch.arange(60)
    torch.testing.assert_close(loaded.score_rows(users), blend.score_rows(users))


def test_spread_of_a_filter_is_the_std_of_its_rows(parts):
    _, _, filt = parts
    gen = torch.Generator().manual_seed(4)
    pick = torch.randperm(60, generator=gen)[:32]
    assert score_spread(filt, seed=4, users=32) == pytest.approx(float(filt.score_rows(pick).std()), rel=1e-6)


def test_parts_it_cannot_sum_are_refused(parts):
    _, mf, filt = parts
    with pytest.raises(ConfigError, match="neither factorized nor a history scorer|not factorized nor"):
        RowBlend.of([mf, NeuMF(60, 45)], [1.0, 1.0])
    with pytest.raises(ConfigError, match="sequence context"):
        RowBlend.of([FPMC(60, 45), filt], [1.0, 1.0])
    with pytest.raises(ConfigError, match="one weight per component"):
        RowBlend.of([mf, filt], [1.0])
    with pytest.raises(ConfigError, match="finite"):
        RowBlend.of([mf, filt], [1.0, float("nan")])
