"""FPMC: the score formula, the ranking context, and that it learns item-to-item transitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ncf import FPMC, MatrixFactorization, Popularity, TrainConfig, Trainer, evaluate
from ncf.data import Interactions, latest_items, previous_items
from ncf.data.splits import leave_one_out
from ncf.errors import DataError
from ncf.persistence import load_model, save_model
from ncf.training.objectives import BPR, Batch


def test_score_is_user_item_plus_transition_plus_bias():
    torch.manual_seed(0)
    m = FPMC(4, 6, embedding_dim=3)
    with torch.no_grad():
        m.item_bias.weight.normal_()
    users, items, prev = torch.tensor([0, 1, 3]), torch.tensor([5, 0, 2]), torch.tensor([2, -1, 4])
    with torch.no_grad():
        got = m.score_in_context(users, items, prev)
        p, q = m.user_embedding.weight[users], m.item_embedding.weight[items]
        r = m.prev_embedding.weight[torch.where(prev < 0, torch.tensor(6), prev)]
        t, b = m.next_embedding.weight[items], m.item_bias.weight[items, 0]
        ref = (p * q).sum(1) + (r * t).sum(1) + b
    torch.testing.assert_close(got, ref)
    # "no previous item" is its own (learned) row, not item 0
    with torch.no_grad():
        assert not torch.equal(m.score_in_context(users, items, torch.full((3,), -1)),
                               m.score_in_context(users, items, torch.zeros(3, dtype=torch.long)))


def test_rankings_use_each_users_latest_item():
    data = Interactions.from_arrays([0, 0, 1], [3, 1, 2], timestamps=[2, 1, 7], num_users=3, num_items=5)
    m = FPMC(3, 5, embedding_dim=4).set_context(data)
    assert m.last_item.tolist() == [3, 2, 5]  # user 2 has no history: the "none" row
    users, items = torch.tensor([[0], [1], [2]]), torch.arange(5)[None, :]
    with torch.no_grad():
        ref = m.score_in_context(users, items, torch.tensor([[3], [2], [-1]]))
        torch.testing.assert_close(m.score(users, items), ref)
        torch.testing.assert_close(m.user_vectors(torch.tensor([0, 1, 2])) @ m.item_vectors().T, ref)
    with pytest.raises(DataError):
        m.set_context(Interactions.from_arrays([0], [0], num_users=4, num_items=5))


def test_context_survives_save_and_load(tmp_path):
    data = Interactions.from_arrays([0, 1], [3, 2], num_users=2, num_items=4)
    m = FPMC(2, 4, embedding_dim=2).set_context(data)
    save_model(m, tmp_path / "m")
    loaded = load_model(tmp_path / "m").model
    assert loaded.last_item.tolist() == [3, 2]


def random_pairs(num_users: int, num_items: int, pairs: int, seed: int) -> Interactions:
    """Each user sees ``pairs`` random items, each followed at once by its fixed successor.

    The successor map is one random permutation shared by all users, so the next item is
    determined by the previous one while a user's items are otherwise unrelated.
    """
    rng = np.random.default_rng(seed)
    nxt = rng.permutation(num_items)
    first = rng.integers(0, num_items, (num_users, pairs))
    seq = np.stack([first, nxt[first]], axis=2).reshape(num_users, 2 * pairs)
    users = np.repeat(np.arange(num_users), 2 * pairs)
    times = np.tile(np.arange(2 * pairs), num_users)
    return Interactions.from_arrays(users, seq.reshape(-1), timestamps=times,
                                    num_users=num_users, num_items=num_items, duplicates="keep_last")


def test_learns_transitions_that_plain_mf_cannot():
    data = random_pairs(600, 300, 4, seed=0)
    split = leave_one_out(data, num_negatives=99, seed=0)
    prev = previous_items(split.train)
    assert (prev >= 0).sum() == len(split.train) - int((np.bincount(split.train.users) > 0).sum())
    assert (latest_items(split.train) >= 0).all()

    def hr10(model):
        rep = evaluate(model, split.test, exclude=split.train, k=(10,), protocol="sampled",
                       negatives=split.test_negatives)
        return rep.metrics["hr@10"]

    cfg = TrainConfig(loss="bpr", epochs=15, lr=1e-2, batch_size=256, show_progress=False, seed=0)
    torch.manual_seed(0)
    fpmc = FPMC(split.num_users, split.num_items, embedding_dim=16)
    Trainer(cfg).fit(fpmc, split.train)
    torch.manual_seed(0)
    mf = MatrixFactorization(split.num_users, split.num_items, embedding_dim=16)
    Trainer(cfg).fit(mf, split.train)
    pop = Popularity(split.num_users, split.num_items).fit(split.train)
    hr_fpmc, hr_mf, hr_pop = hr10(fpmc), hr10(mf), hr10(pop)
    assert hr_fpmc > 0.9, (hr_fpmc, hr_mf, hr_pop)
    assert hr_fpmc > hr_mf + 0.2 and hr_fpmc > hr_pop + 0.5, (hr_fpmc, hr_mf, hr_pop)


def test_trainer_scores_each_row_after_its_own_previous_item():
    data = random_pairs(20, 30, 3, seed=1)
    m = FPMC(20, 30, embedding_dim=4)
    users, items = torch.tensor(data.users[:8]), torch.tensor(data.items[:8])
    prev = torch.tensor(previous_items(data)[:8])
    negs = torch.randint(0, 30, (8, 2))
    got = BPR()(m, Batch(users, items, negatives=negs, previous=prev))
    with torch.no_grad():
        pos = m.score_in_context(users, items, prev)
        neg = m.score_in_context(users[:, None], negs, prev[:, None])
        ref = torch.nn.functional.softplus(neg - pos[:, None]).mean()
    assert float(got.detach()) == pytest.approx(float(ref), rel=1e-5)
