"""Negative samplers: never a positive, shapes, seeded determinism, the right distribution."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ncf.data.interactions import Interactions
from ncf.errors import ConfigError, DataError, UnknownIdError
from ncf.sampling import (
    HardNegativeSampler,
    NegativeSampler,
    PopularitySampler,
    PositiveSet,
    UniformSampler,
    item_log_frequency,
)

SETTINGS = settings(max_examples=50, deadline=None)


@st.composite
def train_sets(draw: st.DrawFn) -> Interactions:
    """Small training sets in which every user keeps at least one non-positive item."""
    nu = draw(st.integers(1, 8))
    ni = draw(st.integers(2, 30))
    cells = draw(st.lists(st.integers(0, nu * ni - 1), unique=True, max_size=min(nu * ni, 80)))
    arr = np.asarray(cells, dtype=np.int64)
    users, items = arr // ni, arr % ni
    full = np.bincount(users, minlength=nu) >= ni  # a user with every item: drop one of its rows
    if bool(full.any()):
        keep = ~(full[users] & (items == 0))
        users, items = users[keep], items[keep]
    if draw(st.booleans()) and users.size:  # repeated rows are allowed in training data
        extra = draw(st.lists(st.integers(0, users.size - 1), max_size=4))
        users, items = np.r_[users, users[extra]], np.r_[items, items[extra]]
    return Interactions(users, items, nu, ni)


def positive_pairs(data: Interactions) -> set[tuple[int, int]]:
    return set(zip(data.users.tolist(), data.items.tolist(), strict=True))


# --------------------------------------------------------------------------- PositiveSet
@SETTINGS
@given(data=train_sets(), seed=st.integers(0, 10))
def test_positive_set_matches_a_python_set(data: Interactions, seed: int) -> None:
    ps = PositiveSet(data)
    ref = positive_pairs(data)
    rng = np.random.default_rng(seed)
    users = rng.integers(-1, data.num_users + 1, size=(40, 1))
    items = rng.integers(-1, data.num_items + 1, size=(1, 7))
    got = ps.contains(users, items)  # broadcasting (40, 1) x (1, 7)
    assert got.shape == (40, 7)
    expected = np.array([[(int(u), int(i)) in ref for i in items[0]] for u in users[:, 0]])
    assert np.array_equal(got, expected)
    got_t = ps.contains_torch(torch.from_numpy(users), torch.from_numpy(items))
    assert got_t.dtype == torch.bool and np.array_equal(got_t.numpy(), expected)
    assert len(ps) == len(ref)
    for u in range(data.num_users):
        assert ps.positives_of(u).tolist() == sorted(i for uu, i in ref if uu == u)
    assert ps.degrees().tolist() == [len(ps.positives_of(u)) for u in range(data.num_users)]
    # nth_negative enumerates each user's non-positives in order
    for u in range(data.num_users):
        non_pos = [i for i in range(data.num_items) if (u, i) not in ref]
        ranks = np.arange(len(non_pos))
        assert ps.nth_negative(np.full(ranks.size, u), ranks).tolist() == non_pos


def test_positive_set_from_sparse_and_errors() -> None:
    m = sp.csr_matrix(
        (np.array([1.0, 0.0, 2.0]), (np.array([0, 1, 2]), np.array([3, 1, 0]))), shape=(3, 4)
    )
    ps = PositiveSet(m)
    assert ps.contains([0, 1, 2], [3, 1, 0]).tolist() == [
        True,
        False,
        True,
    ]  # stored zero: not positive
    assert (ps.num_users, ps.num_items) == (3, 4)
    with pytest.raises(UnknownIdError):
        ps.positives_of(3)
    with pytest.raises(DataError):
        PositiveSet([[0, 1]])  # type: ignore[arg-type]
    empty = PositiveSet(Interactions.from_arrays([], [], num_users=2, num_items=3))
    assert not empty.contains([[0], [1]], [0, 1, 2]).any()
    assert not empty.contains_torch(torch.tensor([0, 1]), torch.tensor([2, 2])).any()


# --------------------------------------------------------------------------- samplers
def make(kind: str, data: Interactions, k: int) -> NegativeSampler:
    if kind == "uniform":
        return UniformSampler(data, k)
    if kind == "popularity":
        return PopularitySampler(data, k, alpha=0.75)
    return HardNegativeSampler(data, k, hard_fraction=0.5)


@SETTINGS
@given(
    data=train_sets(),
    kind=st.sampled_from(["uniform", "popularity", "hard"]),
    k=st.integers(1, 5),
    seed=st.integers(0, 5),
)
def test_samplers_never_return_a_positive(data: Interactions, kind: str, k: int, seed: int) -> None:
    sampler = make(kind, data, k)
    assert isinstance(sampler, NegativeSampler)
    if kind == "hard":  # candidates: everything, positives and -1 padding included
        assert isinstance(sampler, HardNegativeSampler)
        cand = np.tile(np.r_[np.arange(data.num_items), -1], (data.num_users, 1))
        sampler.set_candidates(np.random.default_rng(seed).permuted(cand, axis=1))
    users = np.random.default_rng(seed).integers(0, data.num_users, size=64)
    if kind == "popularity":  # only items seen in training can be drawn
        seen = np.bincount(data.items, minlength=data.num_items) > 0
        samplable = np.array(
            [
                sum(1 for i in np.flatnonzero(seen) if (u, int(i)) not in positive_pairs(data))
                for u in range(data.num_users)
            ]
        )
        if np.any(samplable[users] == 0):
            with pytest.raises(DataError, match="no item"):
                sampler.sample(users, np.random.default_rng(seed))
            return
    out = sampler.sample(users, np.random.default_rng(seed))
    assert out.shape == (64, k) and out.dtype == np.int64
    assert np.all((out >= 0) & (out < data.num_items))
    ref = positive_pairs(data)
    assert not any((int(u), int(i)) in ref for u, row in zip(users, out, strict=True) for i in row)
    again = sampler.sample(users, np.random.default_rng(seed))
    assert np.array_equal(out, again)  # same seed, same negatives
    assert sampler.sample(users, np.random.default_rng(seed), num_negatives=2).shape == (64, 2)


def big_train(num_users: int = 300, num_items: int = 200, seed: int = 0) -> Interactions:
    """Zipf-like item popularity, 20 distinct items per user."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, num_items + 1)
    p /= p.sum()
    g = np.log(p)[None, :] - np.log(-np.log(rng.random((num_users, num_items))))
    items = np.argsort(-g, axis=1)[:, :20]
    return Interactions.from_arrays(
        np.repeat(np.arange(num_users), 20), items.ravel(), num_items=num_items
    )


def test_samplers_differ_across_seeds_and_validate_input() -> None:
    data = big_train()
    users = np.arange(300)
    for sampler in (
        UniformSampler(data, 3),
        PopularitySampler(data, 3),
        HardNegativeSampler(data, 3),
    ):
        a = sampler.sample(users, np.random.default_rng(0))
        b = sampler.sample(users, np.random.default_rng(1))
        assert not np.array_equal(a, b)
        assert sampler.sample(np.zeros(0, dtype=np.int64), np.random.default_rng(0)).shape == (0, 3)
        with pytest.raises(UnknownIdError):
            sampler.sample(np.array([300]), np.random.default_rng(0))
        with pytest.raises(DataError):
            sampler.sample(np.array([[0]]), np.random.default_rng(0))
    with pytest.raises(ConfigError):
        UniformSampler(data, 0)
    with pytest.raises(ConfigError):
        PopularitySampler(data, 1, alpha=-1)
    with pytest.raises(ConfigError):
        HardNegativeSampler(data, 2, hard_fraction=1.5)


def test_user_with_every_item_raises_naming_the_user() -> None:
    data = Interactions.from_arrays([0, 0, 0, 1], [0, 1, 2, 0])
    sampler = UniformSampler(data, 2)
    assert set(sampler.sample(np.array([1, 1]), np.random.default_rng(0)).ravel().tolist()) <= {
        1,
        2,
    }
    with pytest.raises(DataError, match="user 0"):
        sampler.sample(np.array([1, 0]), np.random.default_rng(0))


def chi_square(observed: np.ndarray, expected: np.ndarray) -> float:
    return float(((observed - expected) ** 2 / expected).sum())


def test_uniform_sampler_is_uniform_over_non_positives() -> None:
    data = Interactions.from_arrays([0, 0, 0], [1, 4, 5], num_items=12)
    draws = UniformSampler(data, 10).sample(
        np.zeros(5000, dtype=np.int64), np.random.default_rng(3)
    )
    counts = np.bincount(draws.ravel(), minlength=12)
    assert counts[[1, 4, 5]].sum() == 0
    observed = np.delete(counts, [1, 4, 5])
    assert chi_square(observed, np.full(9, draws.size / 9)) < 30  # 8 dof, p ~ 2e-4
    assert np.allclose(UniformSampler(data, 1).log_probability(np.arange(12)), -math.log(12))


def test_popularity_sampler_matches_count_power_alpha() -> None:
    # user 0 has no positives: its draws follow q exactly; user 1 excludes its positives
    counts = np.array([40, 20, 10, 5, 5, 0, 1, 19])
    items = np.repeat(np.arange(8), counts)
    users = np.r_[np.ones(4, dtype=np.int64), np.full(items.size - 4, 2)]
    data = Interactions.from_arrays(users, items, num_users=3, num_items=8, duplicates="keep")
    sampler = PopularitySampler(data, 1, alpha=0.75)
    q = np.where(counts > 0, counts.astype(float) ** 0.75, 0.0)
    q /= q.sum()
    np.testing.assert_allclose(np.exp(sampler.log_probability(np.arange(8))), q, rtol=1e-6)
    assert sampler.log_probability([5])[0] == -np.inf
    n = 40_000
    draws = sampler.sample(np.zeros(n, dtype=np.int64), np.random.default_rng(0))[:, 0]
    freq = np.bincount(draws, minlength=8)
    assert freq[5] == 0
    live = q > 0
    assert chi_square(freq[live], n * q[live]) < 25  # 6 dof, p ~ 3e-4
    # user 1's positives are items 0 (all four of its rows): conditional distribution
    draws1 = sampler.sample(np.ones(n, dtype=np.int64), np.random.default_rng(1))[:, 0]
    q1 = q.copy()
    q1[0] = 0
    q1 /= q1.sum()
    freq1 = np.bincount(draws1, minlength=8)
    assert freq1[0] == 0
    live1 = q1 > 0
    assert chi_square(freq1[live1], n * q1[live1]) < 25


@pytest.mark.parametrize("seed", [0, 1])
def test_popularity_proposal_equals_inverse_cdf(seed: int) -> None:
    # long runs of zero-weight (unseen) items and a few heavy items stress the guide table
    counts = np.zeros(400, dtype=np.int64)
    counts[[0, 3, 150, 151, 399]] = [500, 1, 7, 2, 30]
    counts[200:230] = 1
    data = Interactions.from_arrays(
        np.zeros(int(counts.sum()), dtype=np.int64),
        np.repeat(np.arange(400), counts),
        num_users=2,
        num_items=400,
        duplicates="keep",
    )
    sampler = PopularitySampler(data, 1, alpha=0.5)
    got = sampler._propose((20_000,), np.random.default_rng(seed))
    w = np.where(counts > 0, counts.astype(float) ** 0.5, 0.0)
    cdf = np.cumsum(w)
    expected = np.searchsorted(
        cdf, np.random.default_rng(seed).random(20_000) * cdf[-1], side="right"
    )
    assert np.array_equal(got, np.minimum(expected, 399))
    assert set(np.unique(got).tolist()) <= set(np.flatnonzero(counts).tolist())


def test_popularity_exact_fallback_when_positives_hold_most_mass() -> None:
    # user 0 has the three heavy items; the only negatives are the rare items 3 and 4
    items = np.r_[[0, 1, 2], np.repeat([0, 1, 2], 1000), [3, 4, 4]]
    users = np.r_[np.zeros(3, dtype=np.int64), np.ones(items.size - 3, dtype=np.int64)]
    data = Interactions.from_arrays(users, items, num_users=2, num_items=5, duplicates="keep")
    sampler = PopularitySampler(data, 4, alpha=1.0, max_rounds=1)
    out = sampler.sample(np.zeros(3000, dtype=np.int64), np.random.default_rng(0))
    assert set(np.unique(out).tolist()) == {3, 4}
    share4 = float((out == 4).mean())
    assert abs(share4 - 2 / 3) < 0.03  # count 2 vs 1


def test_hard_sampler_takes_its_share_from_candidates() -> None:
    data = big_train()
    sampler = HardNegativeSampler(data, 8, hard_fraction=0.25)
    assert sampler.num_hard == 2
    users = np.arange(300)
    rng = np.random.default_rng(0)
    # before candidates are set, everything comes from the base sampler
    assert sampler.sample(users, rng).shape == (300, 8)
    cand = np.full((300, 6), -1, dtype=np.int64)
    ps = PositiveSet(data)
    for u in range(300):  # test-side setup: each user's first 5 non-positive items
        non_pos = np.flatnonzero(~ps.contains(u, np.arange(200)))
        cand[u, :5] = non_pos[:5]
    cand[0, :] = [int(ps.positives_of(0)[0]), -1, -1, -1, -1, -1]  # user 0: nothing usable
    sampler.set_candidates(cand)
    assert sampler.candidates is not None and sampler.candidates[0].tolist() == [-1] * 6
    out = sampler.sample(np.repeat(users, 20), np.random.default_rng(1))
    hard = out[:, :2]
    rows_user = np.repeat(users, 20)
    in_cand = (hard[:, :, None] == cand[rows_user][:, None, :]).any(axis=2)
    assert in_cand[rows_user != 0].all()  # the hard share comes from the candidates
    assert not ps.contains(rows_user[:, None], out).any()
    # the hard draws cover every candidate (uniform over the valid ones)
    assert np.unique(hard[rows_user == 5]).tolist() == sorted(cand[5, :5].tolist())
    assert np.allclose(sampler.log_probability([0, 1]), -math.log(200))
    with pytest.raises(DataError):
        sampler.set_candidates(np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(DataError):
        sampler.set_candidates(np.full((300, 2), 200))


def test_hard_sampler_with_popularity_base() -> None:
    data = big_train()
    base = PopularitySampler(data, 4)
    sampler = HardNegativeSampler(data, 4, hard_fraction=1.0, base=base)
    sampler.set_candidates(np.full((300, 3), -1, dtype=np.int64))  # no usable candidates at all
    out = sampler.sample(np.arange(300), np.random.default_rng(0))
    assert not PositiveSet(data).contains(np.arange(300)[:, None], out).any()
    assert np.array_equal(sampler.log_probability(np.arange(5)), base.log_probability(np.arange(5)))


def test_item_log_frequency() -> None:
    data = Interactions.from_arrays([0, 0, 1, 1], [0, 1, 0, 2], num_items=4)
    logq = item_log_frequency(data)
    assert logq.dtype == np.float32 and logq.shape == (4,)
    np.testing.assert_allclose(logq, np.log([2 / 4, 1 / 4, 1 / 4, 1 / 4]), rtol=1e-6)
    np.testing.assert_allclose(
        item_log_frequency(data, min_count=0.5)[3], np.log(0.5 / 4), rtol=1e-6
    )
    with pytest.raises(DataError):
        item_log_frequency(Interactions.from_arrays([], [], num_users=1, num_items=1))
    with pytest.raises(ConfigError):
        item_log_frequency(data, min_count=0)


@given(st.integers(0, 10_000), st.integers(1, 40), st.integers(1, 60))
@settings(max_examples=30, deadline=None)
def test_batch_mask_equals_dense_membership(seed: int, batch: int, cols: int) -> None:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 12, 150)
    items = rng.integers(0, 30, 150)
    data = Interactions.from_arrays(users, items, num_users=12, num_items=30, duplicates="keep")
    ps = PositiveSet(data)
    u = torch.from_numpy(rng.integers(0, 12, batch))
    c = torch.from_numpy(rng.integers(0, 30, cols))
    expected = ps.contains_torch(u[:, None], c[None, :])
    assert torch.equal(ps.batch_mask(u, c), expected)


@given(st.integers(0, 10_000), st.integers(1, 40), st.integers(1, 30))
@settings(max_examples=30, deadline=None)
def test_batch_hits_are_the_coordinates_of_dense_membership(seed: int, batch: int, cols: int) -> None:
    """Distinct items (ids outside the catalogue included): the hits are the dense test's True
    cells, rows ascending; the item-to-column table is reset, so the next call sees only its own."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 12, 150)
    items = rng.integers(0, 30, 150)
    ps = PositiveSet(Interactions.from_arrays(users, items, num_users=12, num_items=30, duplicates="keep"))
    u = torch.from_numpy(rng.integers(0, 12, batch))
    for _ in range(2):
        c = torch.from_numpy(rng.permutation(np.arange(-2, 32))[:cols])
        rows, hit_cols = ps.batch_hits(u, c)
        assert bool((rows[1:] >= rows[:-1]).all())
        found = torch.zeros((batch, cols), dtype=torch.bool)
        found[rows, hit_cols] = True
        assert len(rows) == int(found.sum())  # each hit once
        assert torch.equal(found, ps.contains_torch(u[:, None], c[None, :]))


def _same_hits(got: tuple[torch.Tensor, torch.Tensor], want: tuple[torch.Tensor, torch.Tensor]) -> None:
    for g, w in zip(got, want, strict=True):
        assert g.dtype == torch.int64 and g.device == w.device
        assert torch.equal(g, w)


@given(data=train_sets(), draw=st.data())
@settings(max_examples=300, deadline=None)
def test_batch_hits_compiled_walk_equals_the_torch_walk(data: Interactions, draw: st.DataObject) -> None:
    """The numba walk (CPU) and the torch ops (other devices) give the same tensors, in the same
    order: repeated users, users without positives, ids outside the catalogue, empty batches;
    consecutive calls with different items (the item-to-column table is reset after each)."""
    ps = PositiveSet(data)
    users = draw.draw(st.lists(st.integers(0, data.num_users - 1), max_size=24), label="users")
    u = torch.tensor(users, dtype=torch.long)
    for call in range(3):
        items = draw.draw(st.lists(st.integers(-3, data.num_items + 2), unique=True, max_size=data.num_items + 5),
                          label=f"items {call}")
        c = torch.tensor(items, dtype=torch.long)
        _same_hits(ps.batch_hits(u, c), ps._batch_hits_torch(u, c))
        assert ps._column_table is not None  # the compiled walk ran
        assert bool((ps._column_table == -1).all())


def test_batch_hits_compiled_walk_inputs_and_errors() -> None:
    data = big_train(num_users=40, num_items=25, seed=3)
    ps = PositiveSet(data)
    rng = np.random.default_rng(0)
    u = torch.from_numpy(rng.integers(0, 40, 64))
    c = torch.from_numpy(rng.permutation(25)[:20])
    want = ps._batch_hits_torch(u, c)
    _same_hits(ps.batch_hits(u.int(), c.int()), want)  # int32 ids
    _same_hits(ps.batch_hits(u[::2], c), ps._batch_hits_torch(u[::2], c))  # a strided view
    empty = torch.zeros(0, dtype=torch.long)
    for users, items in ((empty, c), (u, empty), (empty, empty)):
        rows, cols = ps.batch_hits(users, items)
        assert rows.shape == cols.shape == (0,) and rows.dtype == cols.dtype == torch.int64
    for bad in (-1, 40):
        with pytest.raises(UnknownIdError, match=rf"user index {bad} out of range \[0, 40\)"):
            ps.batch_hits(torch.tensor([0, bad]), c)
    assert ps._column_table is not None and bool((ps._column_table == -1).all())
    _same_hits(ps.batch_hits(u, c), want)


def test_batch_hits_from_threads() -> None:
    """The table is shared: concurrent calls (the walk releases the GIL) take turns."""
    from concurrent.futures import ThreadPoolExecutor

    data = big_train(num_users=60, num_items=80, seed=4)
    ps = PositiveSet(data)
    rng = np.random.default_rng(1)
    cases = [(torch.from_numpy(rng.integers(0, 60, 200)), torch.from_numpy(rng.permutation(80)[:40]))
             for _ in range(4)]
    wanted = [ps._batch_hits_torch(u, c) for u, c in cases]

    def work(k: int) -> None:
        u, c = cases[k]
        for _ in range(300):
            _same_hits(ps.batch_hits(u, c), wanted[k])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))



def test_numba_is_imported_on_first_use_only() -> None:
    """``import ncf.sampling`` leaves numba (~0.2 s of imports) to the first compiled walk."""
    import subprocess
    import sys

    code = "import sys, ncf.sampling; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- plain messages
def test_messages_show_plain_python_values() -> None:
    from ncf.data import IdMap, PairSet
    from ncf.errors import ConfigError

    data = Interactions.from_arrays(
        [0, 0, 0, 1], [0, 1, 2, 0], user_map=IdMap(np.array(["alice", "bob"]))
    )
    with pytest.raises(DataError) as err:
        UniformSampler(data, 2).sample(np.array([0]), np.random.default_rng(0))
    assert "user 0 (raw id 'alice')" in str(err.value) and "np." not in str(err.value)
    with pytest.raises(ConfigError, match=r"got 0$"):
        UniformSampler(data, np.int64(0))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"got 'x'$"):
        UniformSampler(data, "x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"got 'half'$"):
        HardNegativeSampler(data, 2, hard_fraction="half")  # type: ignore[arg-type]
    assert isinstance(PositiveSet(data), PairSet)
