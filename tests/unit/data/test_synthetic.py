"""Synthetic data: shapes, determinism, timestamps, features, and the planted signal."""

from __future__ import annotations

import numpy as np
import pytest

from ncf.data.splits import leave_one_out
from ncf.data.synthetic import SyntheticData, synthetic
from ncf.errors import ConfigError


def hit_rate_at_10(pos: np.ndarray, neg: np.ndarray) -> float:
    """Sampled-protocol HR@10: ties count against the positive."""
    rank = 1 + (neg >= pos[:, None]).sum(axis=1)
    return float((rank <= 10).mean())


@pytest.fixture(scope="module")
def default_data() -> SyntheticData:
    return synthetic(seed=0)


def test_shapes_ids_and_truth(default_data: SyntheticData) -> None:
    d = default_data
    x = d.interactions
    assert (d.num_users, d.num_items) == (2000, 1000)
    assert 50_000 < len(x) < 70_000
    assert x.user_map is not None and x.item_map is not None
    assert x.user_map.decode([0, 1999]).tolist() == ["u0", "u1999"]
    assert x.item_map.decode([0, 999]).tolist() == ["i0", "i999"]
    assert x.weights is None and x.timestamps is not None and x.timestamps.dtype == np.int64
    assert len(np.unique(x.users * d.num_items + x.items)) == len(x)  # no repeated pair
    assert x.user_counts().min() >= 5
    assert d.user_factors.shape == (2000, 16) and d.item_factors.shape == (1000, 16)
    assert d.user_factors.dtype == np.float32
    assert d.user_clusters.max() < 8 and d.item_clusters.max() < 8
    assert not d.user_factors.flags.writeable
    assert d.item_titles[17] == f"Item 17 (genre {d.item_clusters[17]})"
    np.testing.assert_allclose(
        np.exp(d.item_log_popularity.astype(np.float64)).sum(), 1.0, rtol=1e-5
    )


def test_to_dataset(default_data: SyntheticData) -> None:
    ds = default_data.to_dataset()
    assert (
        ds.format == "synthetic"
        and ds.split is None
        and ds.interactions is default_data.interactions
    )
    assert ds.item_titles is not None and ds.item_titles[3] == default_data.item_titles[3]
    assert ds.user_features is default_data.user_features


def test_activity_and_popularity_are_skewed(default_data: SyntheticData) -> None:
    x = default_data.interactions
    counts = x.user_counts()
    assert 25 <= counts.mean() <= 35
    assert counts.max() > 3 * counts.mean()  # heavy-tailed activity
    item_counts = np.sort(x.item_counts())[::-1]
    assert item_counts[:100].sum() > 0.25 * len(x)  # top 10% of items: over a quarter of events


def test_timestamps_increase_per_user(default_data: SyntheticData) -> None:
    x = default_data.interactions
    order = np.lexsort((x.timestamps, x.users))  # type: ignore[arg-type]
    u, t = x.users[order], x.timestamps[order]  # type: ignore[index]
    same_user = u[1:] == u[:-1]
    assert np.all(np.diff(t)[same_user] > 0)  # distinct and increasing within a user
    firsts = t[np.r_[True, ~same_user]]
    assert firsts.max() - firsts.min() > 100 * 86_400  # users start at different times


def test_features(default_data: SyntheticData) -> None:
    d = default_data
    uf, itf = d.user_features, d.item_features
    assert uf.num_rows == d.num_users and itf.num_rows == d.num_items
    assert "age" in uf.names and sum(n.startswith("segment=") for n in uf.names) == 8
    seg = uf.values[:, [n.startswith("segment=") for n in uf.names]]
    assert np.all(seg.sum(axis=1) == 1)
    labels = [n for n in uf.names if n.startswith("segment=")]
    seg_cluster = np.array([int(labels[j].removeprefix("segment=s")) for j in seg.argmax(axis=1)])
    assert (seg_cluster == d.user_clusters).mean() > 0.8  # correlated with the planted cluster
    genre_cols = [n.startswith("genre=") for n in itf.names]
    genres = itf.values[:, genre_cols]
    assert genres.shape == (d.num_items, 8)
    assert np.all(genres[np.arange(d.num_items), d.item_clusters] == 1)
    assert np.all((genres.sum(axis=1) >= 1) & (genres.sum(axis=1) <= 2))
    assert "year" in itf.names


def test_deterministic_for_a_seed() -> None:
    a, b, c = synthetic(300, 150, seed=5), synthetic(300, 150, seed=5), synthetic(300, 150, seed=6)
    for name in ("users", "items", "timestamps"):
        assert np.array_equal(getattr(a.interactions, name), getattr(b.interactions, name))
    assert np.array_equal(a.user_features.values, b.user_features.values)
    assert np.array_equal(a.item_factors, b.item_factors)
    assert not np.array_equal(a.interactions.items[:50], c.interactions.items[:50])


def test_small_universes_and_bad_arguments() -> None:
    tiny = synthetic(5, 4, interactions_per_user=3, num_clusters=2, dim=2, seed=0)
    assert tiny.interactions.user_counts().max() <= 2
    assert tiny.interactions.user_counts().min() >= 2
    for kwargs in (
        {"num_users": 0},
        {"num_items": 1},
        {"temperature": 0.0},
        {"noise": -1.0},
        {"dim": 2.5},
    ):
        with pytest.raises(ConfigError):
            synthetic(**kwargs)  # type: ignore[arg-type]


def test_personalised_oracle_beats_popularity(default_data: SyntheticData) -> None:
    """The planted signal: popularity is decent, the true factors are much better.

    Measured at the defaults (seed 0): popularity HR@10 = 0.28, oracle HR@10 = 0.78.
    """
    d = default_data
    split = leave_one_out(d.interactions, num_negatives=99, seed=0)
    users, items, neg = split.test.users, split.test.items, split.test_negatives
    assert neg is not None and len(users) == d.num_users
    pop = np.bincount(split.train.items, minlength=d.num_items).astype(np.float64)
    hr_pop = hit_rate_at_10(pop[items], pop[neg])
    hr_oracle = hit_rate_at_10(d.true_scores(users, items), d.true_scores(users[:, None], neg))
    assert 0.2 <= hr_pop <= 0.35
    assert hr_oracle >= 0.7
    assert hr_oracle - hr_pop >= 0.35
    # the clusters alone carry much of it: same-cluster items rank above others
    same = d.item_clusters[neg] == d.user_clusters[users][:, None]
    assert (d.item_clusters[items] == d.user_clusters[users]).mean() > 2 * same.mean()
