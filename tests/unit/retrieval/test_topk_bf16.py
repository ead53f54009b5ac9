"""The bfloat16 first pass of ``topk``: its error bound holds and the ranking equals float32's."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from fake_models import FixedMF
from hypothesis import given, settings
from hypothesis import strategies as st

from ncf.errors import ConfigError, NCFError
from ncf.retrieval import topk
from ncf.retrieval.topk import bf16_score_bound, native_bf16


def reference_topk(
    p: np.ndarray, q: np.ndarray, users: np.ndarray, k: int, exclude: sp.csr_matrix | None
) -> tuple[np.ndarray, np.ndarray]:
    """float64 scores, excluded items dropped, stable argsort; -1 / -inf padding; ``k`` clamped to
    the catalogue, as :func:`ncf.retrieval.topk` does."""
    scores = p[users].astype(np.float64) @ q.astype(np.float64).T
    if exclude is not None:
        scores[exclude[users].toarray() > 0] = -np.inf
    width = min(k, q.shape[0])
    order = np.full((users.size, width), -1, dtype=np.int64)
    top = np.full((users.size, width), -np.inf)
    order[:, :width] = np.argsort(-scores, axis=1, kind="stable")[:, :width]
    top[:, :width] = np.take_along_axis(scores, order[:, :width], axis=1)
    order[top == -np.inf] = -1
    return order, top


def weights(model: FixedMF) -> tuple[np.ndarray, np.ndarray]:
    return model.p.detach().numpy(), model.q.detach().numpy()


def test_score_bound_holds_for_bfloat16_products() -> None:
    gen = torch.Generator().manual_seed(0)
    for dim in (1, 8, 64, 512):
        for scale in (1e-3, 1.0, 1e3):
            u = scale * torch.randn(64, dim, generator=gen)
            v = torch.randn(500, dim, generator=gen) * torch.rand(500, 1, generator=gen) * 10
            approx = (u.bfloat16() @ v.bfloat16().T).double()
            exact = u.double() @ v.double().T
            limit = bf16_score_bound(dim) * u.double().norm(dim=1)[:, None] * v.double().norm(dim=1)
            assert bool(((approx - exact).abs() <= limit).all()), (dim, scale)


def test_bound_is_tight_enough_to_be_useful() -> None:
    # about 3 bfloat16 roundings (1.2%) of ||u|| ||v||; a looser bound would send most rows back
    assert 0.011 < bf16_score_bound(64) < 0.016


def test_native_bf16_is_a_bool() -> None:
    assert isinstance(native_bf16(torch.device("cpu")), bool)
    assert native_bf16(torch.device("meta")) is False


@pytest.mark.parametrize("candidates", [None, 20, 64])
def test_bfloat16_scan_equals_float64_reference(candidates: int | None) -> None:
    model = FixedMF(60, 900, dim=16, seed=4)
    rng = np.random.default_rng(5)
    exclude = sp.csr_matrix((rng.random((60, 900)) < 0.05).astype(np.float32))
    users = np.arange(60)
    got = topk(model, users, k=20, exclude=exclude, scan="bfloat16", candidates=candidates)
    ids, scores = reference_topk(*weights(model), users, 20, exclude)
    np.testing.assert_array_equal(got.ids, ids)
    np.testing.assert_allclose(got.scores, scores, rtol=1e-5, atol=1e-5)
    f32 = topk(model, users, k=20, exclude=exclude, scan="float32")
    np.testing.assert_array_equal(got.ids, f32.ids)


def test_rows_the_first_candidates_cannot_certify_get_four_times_more(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # with as many candidates as k, the m-th bfloat16 score is about the k-th exact one, so the
    # bound fails for most rows; 4k candidates from the same bfloat16 rows then suffice
    model = FixedMF(60, 900, dim=16, seed=4)
    with caplog.at_level(logging.DEBUG, logger="ncf.retrieval.topk"):
        got = topk(model, np.arange(60), k=20, scan="bfloat16", candidates=20)
    assert "rows took 4x candidates, 0 re-ranked in float32" in caplog.text
    ids, _ = reference_topk(*weights(model), np.arange(60), 20, None)
    np.testing.assert_array_equal(got.ids, ids)


def test_near_ties_below_bfloat16_resolution_fall_back_to_float32(caplog: pytest.LogCaptureFixture) -> None:
    # Every item is the same vector plus a perturbation far below bfloat16's resolution: the
    # bfloat16 scan sees (nearly) one score for all items, so the bound certifies no row and
    # every row must be re-ranked in float32 to find the true order of the perturbations.
    model = FixedMF(30, 600, dim=8, seed=6)
    with torch.no_grad():
        base = torch.randn(1, 8)
        model.q.copy_(base + 1e-3 * torch.randn(600, 8, generator=torch.Generator().manual_seed(7)))
    users = np.arange(30)
    with caplog.at_level(logging.DEBUG, logger="ncf.retrieval.topk"):
        got = topk(model, users, k=10, scan="bfloat16", candidates=12)
    assert "30 of 30 rows took 4x candidates, 30 re-ranked in float32" in caplog.text
    ids, scores = reference_topk(*weights(model), users, 10, None)
    # the selected scores are the true top-10 to float32 precision; ids may differ only where
    # two items tie in float32 (gaps here are ~1e-3 * ||u||, far above float32's 1e-7)
    np.testing.assert_allclose(got.scores, scores, rtol=1e-6, atol=1e-6)
    assert (got.ids == ids).mean() > 0.95


@pytest.mark.skipif(not native_bf16(torch.device("cpu")), reason="auto uses bfloat16 only where it is native")
def test_auto_switches_to_float32_when_the_bound_certifies_too_few_rows(caplog: pytest.LogCaptureFixture) -> None:
    # the near-tie model of the test above: every row of the first chunk goes back to float32,
    # so "auto" ranks the remaining chunks with the float32 scan; "bfloat16" never switches
    model = FixedMF(30, 600, dim=8, seed=6)
    with torch.no_grad():
        model.q.copy_(torch.randn(1, 8) + 1e-3 * torch.randn(600, 8, generator=torch.Generator().manual_seed(7)))
    users = np.arange(30)
    with caplog.at_level(logging.DEBUG, logger="ncf.retrieval.topk"):
        got = topk(model, users, k=10, scan="auto", candidates=12, batch_size=10)
    assert "10 of 30 rows took 4x candidates, 10 re-ranked in float32; switched to the float32 scan" in caplog.text
    ref = topk(model, users, k=10, scan="float32", batch_size=10)
    np.testing.assert_array_equal(got.ids, ref.ids)
    np.testing.assert_array_equal(got.scores, ref.scores)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="ncf.retrieval.topk"):
        topk(model, users, k=10, scan="bfloat16", candidates=12, batch_size=10)
    assert "30 of 30 rows took 4x candidates, 30 re-ranked in float32" in caplog.text
    assert "switched" not in caplog.text


def test_short_rows_are_padded_and_masked_items_never_returned() -> None:
    model = FixedMF(3, 400, dim=8, seed=8)
    dense = np.zeros((3, 400), dtype=np.float32)
    dense[0, 5:] = 1  # user 0 can rank 5 items only
    dense[1, ::2] = 1
    exclude = sp.csr_matrix(dense)
    got = topk(model, [0, 1, 2], k=10, exclude=exclude, scan="bfloat16", candidates=16)
    ids, _ = reference_topk(*weights(model), np.arange(3), 10, exclude)
    np.testing.assert_array_equal(got.ids, ids)
    assert (got.ids[0, 5:] == -1).all() and np.isneginf(got.scores[0, 5:]).all()
    assert set(got.ids[1].tolist()).isdisjoint(range(0, 400, 2))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    num_items=st.integers(1, 300),
    k=st.integers(1, 25),
    extra=st.integers(0, 40),
    density=st.sampled_from([0.0, 0.1, 0.6, 0.97]),
    batch=st.sampled_from([None, 1, 7]),
)
def test_property_bfloat16_scan_is_the_float32_ranking(
    seed: int, num_items: int, k: int, extra: int, density: float, batch: int | None
) -> None:
    model = FixedMF(9, num_items, dim=12, seed=seed)
    rng = np.random.default_rng(seed)
    exclude = sp.csr_matrix((rng.random((9, num_items)) < density).astype(np.float32))
    users = rng.integers(0, 9, size=12)
    got = topk(model, users, k=k, exclude=exclude, scan="bfloat16", candidates=k + extra, batch_size=batch)
    ids, scores = reference_topk(*weights(model), users, k, exclude)
    np.testing.assert_array_equal(got.ids, ids)
    np.testing.assert_allclose(got.scores, scores, rtol=1e-5, atol=1e-5)


def test_nan_scores_raise_in_the_bfloat16_path() -> None:
    model = FixedMF(2, 400)
    with torch.no_grad():
        model.q[100, 0] = float("nan")
    with pytest.raises(NCFError, match="NaN"):
        topk(model, [0, 1], k=5, scan="bfloat16")


def test_bad_scan_arguments() -> None:
    model = FixedMF(2, 10)
    with pytest.raises(ConfigError, match="scan"):
        topk(model, [0], k=2, scan="float16")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="candidates"):
        topk(model, [0], k=2, candidates=0)


@pytest.mark.parametrize("scan", ["float32", "bfloat16", "auto"])
@pytest.mark.parametrize("batch", [None, 7])
def test_vector_scan_is_the_model_scan(scan: str, batch: int | None) -> None:
    # ExactScan (used by ncf.index.ExactIndex) on the model's vectors gives topk's exact output
    from ncf.retrieval.topk import ExactScan

    model = FixedMF(40, 700, dim=16, seed=9)
    rng = np.random.default_rng(10)
    exclude = sp.csr_matrix((rng.random((40, 700)) < 0.1).astype(np.float32))
    users = rng.integers(0, 40, size=25)
    want = topk(model, users, k=15, exclude=exclude, scan=scan, batch_size=batch)  # type: ignore[arg-type]
    items = ExactScan(model.item_vectors().detach(), scan=scan)  # type: ignore[arg-type]
    with torch.inference_mode():
        got = items.topk(model.user_vectors(torch.from_numpy(users)).detach(), 15, exclude=exclude[users], batch_size=batch)
        again = items.topk(model.user_vectors(torch.from_numpy(users)).detach(), 15, exclude=exclude[users], batch_size=batch)
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_array_equal(got.scores, want.scores)
    np.testing.assert_array_equal(again.ids, want.ids)  # the prepared bfloat16 items are reused
    assert (items._bf16 is not None) == (scan == "bfloat16" or (scan == "auto" and native_bf16(torch.device("cpu"))))


def test_vector_scan_pads_and_rejects_a_bad_scan() -> None:
    from ncf.retrieval.topk import ExactScan

    items = ExactScan(torch.randn(3, 4), scan="float32")
    top = items.topk(torch.randn(2, 4), 5)
    assert top.ids.shape == (2, 5) and (top.ids[:, 3:] == -1).all()
    assert items.topk(torch.zeros(0, 4), 2).ids.shape == (0, 2)
    with pytest.raises(ConfigError, match="scan"):
        ExactScan(torch.randn(3, 4), scan="half")  # type: ignore[arg-type]
