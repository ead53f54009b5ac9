"""Item-blocked exact top-k (catalogues above ``ITEM_SCAN_FROM`` items): the unblocked scan's result.

The thresholds are lowered so that a catalogue of a few thousand items is scanned in blocks;
every path (float32, certified bfloat16 with its second try and float32 fallback, ``auto``,
non-factorized models, ``ExactScan``) must give what the unblocked scan gives.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from fake_models import FixedMF
from hypothesis import given, settings
from hypothesis import strategies as st

from ncf.errors import NCFError
from ncf.models.base import Model
from ncf.retrieval import topk
from ncf.retrieval.topk import ExactScan, item_block_size

# the module (``ncf.retrieval.topk`` the attribute is the function)
topk_module = importlib.import_module("ncf.retrieval.topk")


class ScoredMF(Model):
    """A non-factorized wrapper of FixedMF: ``topk`` must score it through ``model.score``."""

    name = "scored-mf-test"

    def __init__(self, inner: FixedMF) -> None:
        super().__init__(inner.num_users, inner.num_items)
        self.inner = inner

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (self.inner.p[users] * self.inner.q[items]).sum(-1)

    def get_config(self) -> dict[str, Any]:
        return {}


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Scan catalogues above 500 items in blocks of 128 items."""
    monkeypatch.setattr(topk_module, "ITEM_SCAN_FROM", 500)
    monkeypatch.setattr(topk_module, "ITEM_BLOCK", 128)
    return 128


def unblocked(fn: Any) -> Any:
    """Run ``fn`` with item blocking off (the default thresholds, far above the test catalogues)."""
    saved = topk_module.ITEM_SCAN_FROM
    topk_module.ITEM_SCAN_FROM = 1 << 40
    try:
        return fn()
    finally:
        topk_module.ITEM_SCAN_FROM = saved


def data(num_users: int = 50, num_items: int = 1000, density: float = 0.05, seed: int = 0) -> tuple[FixedMF, sp.csr_matrix]:
    model = FixedMF(num_users, num_items, dim=16, seed=seed)
    rng = np.random.default_rng(seed)
    exclude = sp.csr_matrix((rng.random((num_users, num_items)) < density).astype(np.float32))
    return model, exclude


def test_block_size_switches_at_the_threshold(small_blocks: int) -> None:
    assert item_block_size(500) is None
    assert item_block_size(501) == small_blocks
    assert topk_module.default_user_batch(small_blocks) == topk_module.SCORE_BLOCK_FLOATS // small_blocks


def test_default_thresholds_leave_moderate_catalogues_unblocked() -> None:
    # ML-25M (59k items), Gowalla (41k), Amazon-Book (92k) keep the one-block scan
    assert item_block_size(100_000) is None and item_block_size(1_048_576) is None
    assert item_block_size(10_000_000) == topk_module.ITEM_BLOCK


@pytest.mark.parametrize("scan", ["float32", "bfloat16", "auto"])
@pytest.mark.parametrize("batch", [None, 7])
def test_blocked_scan_equals_the_unblocked_scan(small_blocks: int, scan: str, batch: int | None) -> None:
    model, exclude = data(num_items=1000)  # 8 blocks, the last one short (1000 = 7 * 128 + 104)
    users = np.random.default_rng(1).integers(0, 50, size=40)
    blocked_calls: list[int] = []
    real = topk_module._blocked_top

    def counting(num_items: int, block: int, k: int, scores_of: Any) -> Any:
        blocked_calls.append(num_items)
        return real(num_items, block, k, scores_of)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(topk_module, "_blocked_top", counting)
        want = unblocked(lambda: topk(model, users, k=20, exclude=exclude, scan=scan, batch_size=batch))
        assert blocked_calls == []
        got = topk(model, users, k=20, exclude=exclude, scan=scan, batch_size=batch)  # type: ignore[arg-type]
    assert blocked_calls and set(blocked_calls) == {1000}  # the blocked scan ran
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_array_equal(got.scores, want.scores)


def test_blocked_bfloat16_takes_the_second_try_like_the_unblocked_scan(
    small_blocks: int, caplog: pytest.LogCaptureFixture
) -> None:
    # candidates = k: most rows need the 4x list, which the blocked scan keeps per block
    model, exclude = data(num_items=900, seed=4)
    users = np.arange(50)
    with caplog.at_level(logging.DEBUG, logger="ncf.retrieval.topk"):
        want = unblocked(lambda: topk(model, users, k=20, exclude=exclude, scan="bfloat16", candidates=20))
        unblocked_log = caplog.text
        caplog.clear()
        got = topk(model, users, k=20, exclude=exclude, scan="bfloat16", candidates=20)
    assert "rows took 4x candidates" in unblocked_log
    assert caplog.text == unblocked_log  # the same rows needed the second try and the fallback
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_array_equal(got.scores, want.scores)


def test_blocked_bfloat16_falls_back_to_the_blocked_float32_scan(
    small_blocks: int, caplog: pytest.LogCaptureFixture
) -> None:
    # near ties below bfloat16's resolution: no row can be certified, all are re-ranked in float32
    model = FixedMF(30, 700, dim=8, seed=6)
    with torch.no_grad():
        model.q.copy_(torch.randn(1, 8) + 1e-3 * torch.randn(700, 8, generator=torch.Generator().manual_seed(7)))
    rng = np.random.default_rng(2)
    exclude = sp.csr_matrix((rng.random((30, 700)) < 0.1).astype(np.float32))
    users = np.arange(30)
    with caplog.at_level(logging.DEBUG, logger="ncf.retrieval.topk"):
        got = topk(model, users, k=10, exclude=exclude, scan="bfloat16", candidates=12)
    assert "30 of 30 rows took 4x candidates, 30 re-ranked in float32" in caplog.text
    want = unblocked(lambda: topk(model, users, k=10, exclude=exclude, scan="float32"))
    # the items are 1e-3 apart, so neighbours can tie to within a float32 rounding: a block's
    # product may round them the other way. Compare the rankings by their exact (float64) scores.
    p, q = model.p.detach().double().numpy(), model.q.detach().double().numpy()
    exact = np.einsum("ud,ukd->uk", p[users], q[got.ids])
    np.testing.assert_allclose(exact, np.einsum("ud,ukd->uk", p[users], q[want.ids]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(got.scores, want.scores, rtol=0, atol=1e-6)
    assert not exclude[users[:, None], got.ids].toarray().any()  # no excluded item is returned
    assert all(len(set(row)) == 10 for row in got.ids.tolist())


def test_non_factorized_models_are_scored_in_item_blocks(small_blocks: int) -> None:
    model, exclude = data(num_items=800, seed=3)
    wrapped = ScoredMF(model)
    users = np.arange(50)
    want = unblocked(lambda: topk(wrapped, users, k=15, exclude=exclude, item_batch_size=50))
    got = topk(wrapped, users, k=15, exclude=exclude, item_batch_size=50)  # 50 does not divide 128
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-6, atol=1e-6)
    ref = topk(model, users, k=15, exclude=exclude, scan="float32")
    np.testing.assert_array_equal(got.ids, ref.ids)


def test_short_rows_are_padded_across_blocks(small_blocks: int) -> None:
    model = FixedMF(3, 600, dim=8, seed=8)
    dense = np.zeros((3, 600), dtype=np.float32)
    dense[0, 3:] = 1  # user 0 can rank items 0, 1, 2 only (all in the first block)
    dense[1, :590] = 1  # user 1 can rank the last 10 items only (all in the last block)
    exclude = sp.csr_matrix(dense)
    for scan in ("float32", "bfloat16"):
        got = topk(model, [0, 1, 2], k=12, exclude=exclude, scan=scan)  # type: ignore[arg-type]
        assert sorted(got.ids[0, :3].tolist()) == [0, 1, 2] and (got.ids[0, 3:] == -1).all()
        assert np.isneginf(got.scores[0, 3:]).all()
        assert sorted(got.ids[1, :10].tolist()) == list(range(590, 600)) and (got.ids[1, 10:] == -1).all()
        want = unblocked(lambda s=scan: topk(model, [0, 1, 2], k=12, exclude=exclude, scan=s))
        np.testing.assert_array_equal(got.ids, want.ids)


def test_k_above_the_block_size(small_blocks: int) -> None:
    model, exclude = data(num_users=6, num_items=600, seed=9)
    for scan in ("float32", "bfloat16"):
        got = topk(model, np.arange(6), k=300, exclude=exclude, scan=scan)  # type: ignore[arg-type]
        want = unblocked(lambda s=scan: topk(model, np.arange(6), k=300, exclude=exclude, scan=s))
        np.testing.assert_array_equal(got.ids, want.ids)


def test_nan_scores_raise_in_blocked_scans(small_blocks: int) -> None:
    model = FixedMF(2, 700)
    with torch.no_grad():
        model.q[650, 0] = float("nan")  # in the last block
    for scan in ("float32", "bfloat16"):
        with pytest.raises(NCFError, match="NaN"):
            topk(model, [0, 1], k=5, scan=scan)  # type: ignore[arg-type]


def test_exact_scan_uses_item_blocks(small_blocks: int) -> None:
    model, exclude = data(num_items=1000, seed=5)
    users = np.arange(50)
    items = ExactScan(model.item_vectors().detach(), scan="float32")
    assert items.ranker(10).item_block == small_blocks
    with torch.inference_mode():
        got = items.topk(model.user_vectors(torch.from_numpy(users)).detach(), 10, exclude=exclude[users])
    want = unblocked(lambda: topk(model, users, k=10, exclude=exclude, scan="float32"))
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_array_equal(got.scores, want.scores)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    num_items=st.integers(501, 900),
    k=st.integers(1, 40),
    extra=st.integers(0, 30),
    density=st.sampled_from([0.0, 0.2, 0.9]),
    scan=st.sampled_from(["float32", "bfloat16"]),
)
def test_property_blocked_equals_unblocked(
    seed: int, num_items: int, k: int, extra: int, density: float, scan: str
) -> None:
    saved = topk_module.ITEM_SCAN_FROM, topk_module.ITEM_BLOCK
    model, exclude = data(num_users=9, num_items=num_items, density=density, seed=seed)
    users = np.random.default_rng(seed).integers(0, 9, size=12)
    try:
        topk_module.ITEM_SCAN_FROM, topk_module.ITEM_BLOCK = 1 << 40, 128
        want = topk(model, users, k=k, exclude=exclude, scan=scan, candidates=k + extra)  # type: ignore[arg-type]
        topk_module.ITEM_SCAN_FROM = 500
        got = topk(model, users, k=k, exclude=exclude, scan=scan, candidates=k + extra)  # type: ignore[arg-type]
    finally:
        topk_module.ITEM_SCAN_FROM, topk_module.ITEM_BLOCK = saved
    # A block's product may round differently from the whole catalogue's (another matmul shape,
    # another summation order): float32 scores agree to a stated tolerance of a few ulps, not
    # bit for bit (seed 0, 644 items, k 18 differed by 2 ulps: 0.6588916778 vs 0.6588915586).
    tol = {"rtol": 1e-6, "atol": 1e-6}
    np.testing.assert_allclose(got.scores, want.scores, **tol)
    # The same ids, except that two items whose scores tie within that tolerance may swap places
    # (or trade the last place): wherever the ids differ, both lists' scores there are such a tie.
    differ = got.ids != want.ids
    assert np.allclose(got.scores[differ], want.scores[differ], **tol)
    for row in np.flatnonzero(differ.any(axis=1)):
        changed = set(got.ids[row].tolist()) ^ set(want.ids[row].tolist())
        last = want.scores[row][want.ids[row] >= 0].min(initial=np.inf)
        for item in changed - {-1}:  # an item in one list only: it ties with the last place
            mine = got if item in got.ids[row] else want
            score = mine.scores[row][mine.ids[row] == item][0]
            assert np.isclose(score, last, **tol), (row, item, score, last)


def test_bf16_product_turns_off_reduced_precision_reductions_on_cuda() -> None:
    # the CUDA branch of the bfloat16 product, exercised on the CPU through a tensor that says
    # it is on CUDA: the flag is off during the product and restored after it
    seen: list[bool] = []

    class CudaLike:
        is_cuda = True

        def to(self, dtype: torch.dtype) -> torch.Tensor:
            seen.append(torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction)
            return torch.ones(2, 3).to(dtype)

    before = torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction
    torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = True
    try:
        out = topk_module._bf16_product(CudaLike(), torch.ones(3, 4, dtype=torch.bfloat16))  # type: ignore[arg-type]
        assert seen == [False]
        assert torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction is True
        assert out.dtype == torch.bfloat16 and out.shape == (2, 4) and float(out[0, 0]) == 3.0
    finally:
        torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = before
