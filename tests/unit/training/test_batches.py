"""An epoch's batches: one shuffle, aligned fields, negatives per chunk, the per-batch limit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ncf.training.batches as batches_module
from ncf.data.interactions import Interactions
from ncf.data.synthetic import synthetic
from ncf.errors import ConfigError
from ncf.sampling import PopularitySampler, PositiveSet, UniformSampler
from ncf.training.batches import NEGATIVE_CHUNK_CELLS, EpochBatches, check_negatives

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def train() -> Interactions:
    x = synthetic(num_users=80, num_items=60, seed=3).interactions
    ratings = np.arange(len(x), dtype=np.float32)  # row r has rating r: alignment is visible
    return Interactions(x.users, x.items, x.num_users, x.num_items, x.timestamps, ratings)


def _collect(plan: EpochBatches, seed: int) -> list[dict[str, np.ndarray]]:
    return [{k: v.numpy() for k, v in vars(b).items() if v is not None} for b in plan.epoch(np.random.default_rng(seed))]


def test_one_shuffle_with_aligned_fields(train: Interactions) -> None:
    previous = np.arange(len(train), dtype=np.int64) + 1000
    plan = EpochBatches(train, batch_size=64, device=CPU, ratings=True, previous=previous)
    got = _collect(plan, seed=0)
    assert len(got) == plan.num_batches == -(-len(train) // 64)
    assert [len(b["users"]) for b in got[:-1]] == [64] * (len(got) - 1)
    rows = np.concatenate([b["ratings"] for b in got]).astype(np.int64)  # the original row of each batch row
    assert sorted(rows.tolist()) == list(range(len(train)))  # every positive once
    assert not np.array_equal(rows, np.arange(len(train)))  # shuffled
    np.testing.assert_array_equal(np.concatenate([b["users"] for b in got]), train.users[rows])
    np.testing.assert_array_equal(np.concatenate([b["items"] for b in got]), train.items[rows])
    np.testing.assert_array_equal(np.concatenate([b["previous"] for b in got]), previous[rows])
    again = _collect(plan, seed=0)
    assert all(np.array_equal(a["users"], b["users"]) for a, b in zip(got, again, strict=True))
    other = _collect(plan, seed=1)
    assert not np.array_equal(np.concatenate([b["users"] for b in other]), np.concatenate([b["users"] for b in got]))


def test_negatives_are_never_positives_and_extras_are_shared(train: Interactions) -> None:
    positives = PositiveSet(train)
    plan = EpochBatches(train, batch_size=100, device=CPU, sampler=PopularitySampler(train, 5))
    for b in _collect(plan, seed=0):
        assert b["negatives"].shape == (len(b["users"]), 5)
        assert not positives.contains(b["users"][:, None], b["negatives"]).any()
    soft = _collect(EpochBatches(train, batch_size=100, device=CPU, extra_negatives=7), seed=0)
    assert all(b["extra"].shape == (7,) and "negatives" not in b for b in soft)


@pytest.mark.parametrize("limit", [640, 1000, 5000])
def test_uniform_negatives_drawn_per_chunk_equal_one_draw(train: Interactions, monkeypatch, limit: int) -> None:
    plan = EpochBatches(train, batch_size=64, device=CPU, sampler=UniformSampler(train, 5))
    whole = _collect(plan, seed=0)
    assert plan.chunk_rows == len(train)
    monkeypatch.setattr(batches_module, "NEGATIVE_CHUNK_CELLS", limit)
    assert plan.chunk_rows == max(1, limit // (5 * 64)) * 64 < len(train)  # whole batches
    chunked = _collect(plan, seed=0)
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_array_equal(a["users"], b["users"])
        np.testing.assert_array_equal(a["negatives"], b["negatives"])


def test_other_samplers_per_chunk_stay_valid(train: Interactions, monkeypatch) -> None:
    monkeypatch.setattr(batches_module, "NEGATIVE_CHUNK_CELLS", 700)
    positives = PositiveSet(train)
    plan = EpochBatches(train, batch_size=64, device=CPU, sampler=PopularitySampler(train, 4))
    got = _collect(plan, seed=0)
    assert plan.chunk_rows == 128
    negs = np.concatenate([b["negatives"] for b in got])
    users = np.concatenate([b["users"] for b in got])
    assert negs.shape == (len(train), 4) and not positives.contains(users[:, None], negs).any()


def test_a_batch_over_the_limit_is_refused_with_the_figures() -> None:
    check_negatives(810_128, batch_size=8192, num_negatives=4)  # Gowalla BPR: fine
    check_negatives(100, batch_size=2048, num_negatives=NEGATIVE_CHUNK_CELLS // 100)  # a batch is at most the data
    with pytest.raises(ConfigError) as err:
        check_negatives(810_128, batch_size=2048, num_negatives=100_000)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("2,048 rows x 100,000 negatives = 204,800,000 negative items per batch (1.5 GiB")
    assert "603.6 GiB for the epoch" in msg
    assert "fewer negatives or a smaller batch size" in msg


def test_ratings_need_weights(train: Interactions) -> None:
    bare = Interactions(train.users, train.items, train.num_users, train.num_items)
    with pytest.raises(ConfigError, match="ratings"):
        EpochBatches(bare, batch_size=8, device=CPU, ratings=True)
