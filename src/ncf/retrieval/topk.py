"""Exact top-k over all items, in bounded-memory user chunks, with seen items masked.

Factorized models (:class:`ncf.models.base.Factorized`) are ranked with one matrix product
per user chunk against the item matrix, which is computed once. Any other model is scored
through ``model.score(users[:, None], items[None, :])`` in item chunks. Excluded items get a
score of ``-inf`` before ``torch.topk``; rows with fewer than ``k`` rankable items are padded
with id ``-1`` and score ``-inf`` (the faiss convention). Ties between equal scores are broken
by ``torch.topk`` (implementation-defined order).

On hardware with native bfloat16 matrix products (``scan="auto"``), factorized models are
first scanned in bfloat16, which is several times cheaper than float32 on AVX512-BF16 CPUs.
The best ``candidates`` items of each row are then re-scored in float32 and a row is accepted
only when an error bound proves that no item outside its candidates can enter its float32
top-k; rows it cannot certify try again with 4x the candidates from the same bfloat16 scores,
and what is still uncertain is ranked again in float32. The result is therefore the float32
ranking, not an approximation of it (up to the order of float32-level ties). When the bound
sends most rows back to float32 anyway, ``"auto"`` finishes the remaining users with the float32
scan.

Catalogues of more than :data:`ITEM_SCAN_FROM` items are also scanned in item blocks of
:data:`ITEM_BLOCK` items: each block's scores are ranked and merged into a running top-k per
user (for a bfloat16 scan, the running top ``4 * candidates`` bfloat16 scores, from which the
same certification runs), so memory stays at one ``(user chunk, ITEM_BLOCK)`` block however
large the catalogue is, and the user chunk stays wide enough for a matrix product. The merged
top-k is the top-k of the whole row: the result is the unblocked scan's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal, NamedTuple, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch
from torch import Tensor

from ncf.errors import ConfigError, DataError, NCFError
from ncf.models.base import Factorized, HistoryScorer, Model

__all__ = ["ChunkRanker", "ExactScan", "TopK", "item_block_size", "native_bf16", "topk"]

logger = logging.getLogger(__name__)

#: Floats in one ``(user chunk, num_items)`` score block (2**23 floats = 32 MiB). Measured on
#: Gowalla (29,858 x 40,981, d=64, 2 cores): blocks that fit the last-level cache rank a little
#: faster than larger ones, since ``torch.topk`` then reads the block from cache.
SCORE_BLOCK_FLOATS = 1 << 23
#: (user, item) pairs per ``model.score`` call for non-factorized models; their hidden layers
#: multiply the memory of a pair by the layer widths, so this is kept far below the score block.
PAIR_BLOCK = 1 << 17
#: Catalogues above this many items are scanned in item blocks (see the module notes). Below
#: it one ``(chunk, num_items)`` block is cheapest; above it a 32 MiB block would hold fewer
#: than 8 users, and a product of so few rows runs far below the matrix-product speed.
ITEM_SCAN_FROM = 1 << 20
#: Items per block of an item-blocked scan: 64 users per float32 block of
#: :data:`SCORE_BLOCK_FLOATS` (128 in bfloat16).
ITEM_BLOCK = 1 << 17
#: Unit roundoff of bfloat16 (8 significant bits, round to nearest).
BF16_EPS = 2.0**-8
#: ``scan="auto"`` drops to the float32 scan for the remaining users once more than this share
#: of the rows so far had to be re-ranked in float32. A bfloat16 pass costs about half a float32
#: one and each such row a full float32 row; measured on Gowalla, a cosine MF + spectral blend
#: re-ranked 57% of its rows and ranked in 5.1 s against 3.5 s in float32 (4,096 users).
AUTO_FLOAT32_SHARE = 1.0 / 3.0

Scan = Literal["auto", "float32", "bfloat16"]


class TopK(NamedTuple):
    """Top-k items per query: ids ``(B, k)`` int64 (-1 padding) and scores ``(B, k)`` float32.

    Unpacks like a tuple: ``ids, scores = topk(...)``. Rows are sorted by descending score;
    padded slots hold id ``-1`` and score ``-inf``.
    """

    ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]


def _as_user_array(users: npt.ArrayLike, num_users: int) -> npt.NDArray[np.int64]:
    arr = np.asarray(users)
    if arr.ndim != 1:
        raise DataError(f"users must be a 1-D array of indices, got shape {arr.shape}")
    if arr.size and arr.dtype.kind == "O":  # Python ints beyond int64 (or other objects)
        bad = next((u for u in arr.tolist() if isinstance(u, bool) or not isinstance(u, int)
                    or not 0 <= u < num_users), None)
        if bad is not None:
            what = (f"user index {bad:,} is out of the model's range [0, {num_users:,})"
                    if isinstance(bad, int) and not isinstance(bad, bool) else
                    f"users must be integer indices, got {type(bad).__name__} {bad!r}")
            raise DataError(what, field="users")
    elif arr.size and arr.dtype.kind not in "iu":
        raise DataError(f"users must be integer indices, got dtype {arr.dtype}")
    arr = np.array(arr, dtype=np.int64)  # a writable copy, as torch.from_numpy wants
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= num_users):
        worst = int(arr.min()) if int(arr.min()) < 0 else int(arr.max())
        raise DataError(f"user index {worst:,} is out of the model's range [0, {num_users:,})", field="users")
    return arr


def _check_exclude(
    exclude: sp.spmatrix | sp.sparray | None, shape: tuple[int, int]
) -> sp.csr_matrix | None:
    if exclude is None:
        return None
    if not sp.issparse(exclude):
        raise DataError("exclude must be a scipy sparse (num_users x num_items) matrix or None")
    if tuple(exclude.shape) != shape:
        raise DataError(
            f"exclude has shape {tuple(exclude.shape)} but the model ranks {shape[0]} users x "
            f"{shape[1]} items"
        )
    return sp.csr_matrix(exclude)


def _mask_rows(scores: Tensor, exclude: sp.csr_matrix, users: npt.NDArray[np.int64]) -> None:
    """Set ``scores[b, i] = -inf`` for every stored entry ``(users[b], i)`` of ``exclude``."""
    sub = exclude[users]  # CSR row gather (vectorised in scipy)
    if sub.nnz == 0:
        return
    counts = np.diff(sub.indptr)
    rows = np.repeat(np.arange(users.size, dtype=np.int64), counts)
    cols = sub.indices.astype(np.int64, copy=False)
    dev = scores.device
    scores[torch.from_numpy(rows).to(dev), torch.from_numpy(cols).to(dev)] = -torch.inf


def item_block_size(num_items: int) -> int | None:
    """Items per block of the exact scan: None (the whole catalogue at once) up to
    :data:`ITEM_SCAN_FROM` items, else :data:`ITEM_BLOCK`."""
    return int(ITEM_BLOCK) if num_items > ITEM_SCAN_FROM else None


class _BlockMask:
    """One user chunk's excluded entries, sorted by item, so that each item block takes its slice."""

    def __init__(self, exclude: sp.csr_matrix, users: npt.NDArray[np.int64]) -> None:
        sub = exclude[users]
        rows = np.repeat(np.arange(users.size, dtype=np.int64), np.diff(sub.indptr))
        cols = sub.indices.astype(np.int64, copy=False)
        order = np.argsort(cols, kind="stable")
        self.rows = rows[order]
        self.cols = cols[order]

    def apply(self, scores: Tensor, lo: int, hi: int) -> None:
        """Set the excluded entries of items ``[lo, hi)`` (columns ``0..hi-lo`` of ``scores``) to -inf."""
        a, b = (int(x) for x in np.searchsorted(self.cols, [lo, hi]))
        if b > a:
            dev = scores.device
            rows = torch.from_numpy(self.rows[a:b]).to(dev)
            cols = torch.from_numpy(self.cols[a:b] - lo).to(dev)
            scores[rows, cols] = -torch.inf


def _blocked_top(
    num_items: int, block: int, k: int, scores_of: Callable[[int, int], Tensor]
) -> tuple[Tensor, Tensor]:
    """Top-``k`` (scores, ids) per row over item blocks: each block's top-``k`` merged into a running list.

    ``scores_of(lo, hi)`` gives the (already masked) scores of items ``[lo, hi)``; the result,
    best first, is the top-``k`` of the whole row (``k`` at most ``num_items``).
    """
    top, ids = torch.topk(scores_of(0, min(block, num_items)), min(k, block, num_items), dim=1, largest=True, sorted=True)
    for lo in range(block, num_items, block):
        hi = min(lo + block, num_items)
        b_top, b_ids = torch.topk(scores_of(lo, hi), min(k, hi - lo), dim=1, largest=True, sorted=True)
        both = torch.cat([top, b_top], dim=1)
        both_ids = torch.cat([ids, b_ids + lo], dim=1)
        top, pos = torch.topk(both, min(k, both.shape[1]), dim=1, largest=True, sorted=True)
        ids = torch.gather(both_ids, 1, pos)
    return top, ids


def _scan_blocked(
    queries: Tensor, item_t: Tensor, k: int, mask: _BlockMask | None, block: int
) -> tuple[Tensor, Tensor]:
    """Float32 top-``k`` (scores, ids) of ``queries @ item_t`` over item blocks of ``block`` items."""

    def scores_of(lo: int, hi: int) -> Tensor:
        scores = queries @ item_t[:, lo:hi]
        if mask is not None:
            mask.apply(scores, lo, hi)
        return scores

    return _blocked_top(int(item_t.shape[1]), block, k, scores_of)


def _bf16_product(uvec: Tensor, items_t16: Tensor) -> Tensor:
    """``uvec @ items`` in bfloat16 with float32 accumulation (no reduced-precision split-K on CUDA)."""
    if uvec.is_cuda:  # the bound assumes float32 accumulation: no bf16 split-K reductions
        flag = torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction
        torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
        try:
            return uvec.to(torch.bfloat16) @ items_t16
        finally:
            torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = flag
    return uvec.to(torch.bfloat16) @ items_t16


def native_bf16(device: torch.device) -> bool:
    """Whether bfloat16 matrix products are native (hence faster than float32) on ``device``."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - torch builds without oneDNN
        return False


def bf16_score_bound(dim: int) -> float:
    """``c`` such that ``|s_bf16 - s| <= c * ||u|| * ||v||`` for a bfloat16 product.

    Rounding ``u`` and ``v`` to bfloat16 perturbs each term ``u_j v_j`` by at most
    ``(2e + e^2) |u_j v_j|``; float32 accumulation of ``dim`` terms adds ``dim * 2^-24`` of
    ``sum |u_j v_j|``; rounding the result to bfloat16 adds ``e`` of it; and
    ``sum |u_j v_j| <= ||u|| ||v||`` (Cauchy-Schwarz). ``e`` is :data:`BF16_EPS`; the bound is
    padded by 25% for the products of the terms neglected here.
    """
    e = BF16_EPS
    gamma = dim * 2.0**-24 / (1.0 - dim * 2.0**-24)
    return 1.25 * ((2 * e + e * e) * (1 + gamma) + gamma + e * (1 + 2 * e) * (1 + gamma))


class _Bf16Items:
    """The ``k``-independent part of a bfloat16 scan: the bfloat16 item matrix and its bound."""

    def __init__(self, items_f32: Tensor) -> None:
        self.items = items_f32.contiguous()  # (N, d)
        self.items_t16 = self.items.to(torch.bfloat16).T  # (d, N) view, like the float32 path
        self.max_norm = float(torch.linalg.vector_norm(self.items, dim=1).max()) if len(items_f32) else 0.0
        self.bound = bf16_score_bound(self.items.shape[1])


class _Bf16Scan:
    """The bfloat16 first pass of :func:`topk` for a factorized model (see the module notes)."""

    def __init__(self, prepared: _Bf16Items, k: int, candidates: int) -> None:
        self.items = prepared.items
        self.items_t16 = prepared.items_t16
        self.max_norm = prepared.max_norm
        self.bound = prepared.bound
        self.k = k
        self.m = min(max(candidates, k), self.items.shape[0])
        self.second_rows = 0
        self.fallback_rows = 0

    def rank(
        self, uvec: Tensor, mask: sp.csr_matrix | None, chunk: npt.NDArray[np.int64]
    ) -> tuple[Tensor, Tensor]:
        """Top-``k`` (scores, ids) of ``uvec @ items.T`` in float32, seen items masked."""
        approx = _bf16_product(uvec, self.items_t16)
        if mask is not None:
            _mask_rows(approx, mask, chunk)
        err = self.bound * torch.linalg.vector_norm(uvec, dim=1) * self.max_norm
        e_top, ids, ok = self._candidates(approx, uvec, err, self.m)
        if not bool(ok.all()):  # second try on the same bfloat16 rows with 4x the candidates
            redo = torch.nonzero(~ok).squeeze(1)
            self.second_rows += int(redo.numel())
            r_top, r_ids, r_ok = self._candidates(approx[redo], uvec[redo], err[redo], 4 * self.m)
            e_top[redo], ids[redo] = r_top, r_ids
            ok[redo] = r_ok
        if not bool(ok.all()):  # what the bound still cannot certify is ranked in float32
            redo = torch.nonzero(~ok).squeeze(1)
            self.fallback_rows += int(redo.numel())
            scores = uvec[redo] @ self.items.T
            if mask is not None:
                _mask_rows(scores, mask, chunk[redo.cpu().numpy()])
            r_top, r_ids = torch.topk(scores, self.k, dim=1, largest=True, sorted=True)
            e_top[redo] = r_top
            ids[redo] = r_ids
        return e_top, ids

    def rank_blocked(
        self,
        uvec: Tensor,
        mask: sp.csr_matrix | None,
        chunk: npt.NDArray[np.int64],
        block: int,
    ) -> tuple[Tensor, Tensor]:
        """:meth:`rank` over item blocks: the same certification on the merged bfloat16 top list.

        Each block's bfloat16 scores give their best ``min(4 m, N)`` (the widest list either try
        reads), merged into a running top list; the ``m``-th (or ``4 m``-th) best bfloat16 score
        of the row is then the list's, as in the unblocked scan. Rows the bound cannot certify
        are ranked by the float32 blocked scan.
        """
        n = int(self.items.shape[0])
        width = min(4 * self.m, n)
        blocks = _BlockMask(mask, chunk) if mask is not None else None

        def approx_of(lo: int, hi: int) -> Tensor:
            approx = _bf16_product(uvec, self.items_t16[:, lo:hi])
            if blocks is not None:
                blocks.apply(approx, lo, hi)
            return approx

        a_list, c_list = _blocked_top(n, block, width, approx_of)
        err = self.bound * torch.linalg.vector_norm(uvec, dim=1) * self.max_norm
        m1 = min(self.m, n)
        e_top, ids, ok = self._certify(a_list[:, :m1].float(), c_list[:, :m1], uvec, err, complete=m1 == n)
        if not bool(ok.all()):  # second try with 4x the candidates from the same bfloat16 list
            redo = torch.nonzero(~ok).squeeze(1)
            self.second_rows += int(redo.numel())
            r_top, r_ids, r_ok = self._certify(
                a_list[redo].float(), c_list[redo], uvec[redo], err[redo], complete=width == n
            )
            e_top[redo], ids[redo] = r_top, r_ids
            ok[redo] = r_ok
        if not bool(ok.all()):  # what the bound still cannot certify is ranked in float32
            redo = torch.nonzero(~ok).squeeze(1)
            self.fallback_rows += int(redo.numel())
            redo_rows = chunk[redo.cpu().numpy()]
            redo_mask = _BlockMask(mask, redo_rows) if mask is not None else None
            r_top, r_ids = _scan_blocked(uvec[redo], self.items.T, self.k, redo_mask, block)
            e_top[redo] = r_top
            ids[redo] = r_ids
        return e_top, ids

    def _candidates(self, approx: Tensor, uvec: Tensor, err: Tensor, m: int) -> tuple[Tensor, Tensor, Tensor]:
        """Exact top-k among the best ``m`` bfloat16 scores of each row, and which rows are certain."""
        m = min(m, approx.shape[1])
        a_top, cand = torch.topk(approx, m, dim=1, largest=True, sorted=True)
        return self._certify(a_top.float(), cand, uvec, err, complete=m == approx.shape[1])

    def _certify(
        self, a_top: Tensor, cand: Tensor, uvec: Tensor, err: Tensor, *, complete: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Exact top-k among candidates ``cand`` (bfloat16 scores ``a_top``, best first) and
        which rows are certain; ``complete``: the candidates are the whole catalogue."""
        cand_vecs = self.items.index_select(0, cand.reshape(-1)).view(*cand.shape, -1)
        exact = torch.bmm(cand_vecs, uvec[:, :, None]).squeeze(2)  # (B, m) float32
        exact = exact.masked_fill(a_top == -torch.inf, -torch.inf)  # masked items stay out
        e_top, pos = torch.topk(exact, self.k, dim=1, largest=True, sorted=True)
        ids = torch.gather(cand, 1, pos)
        if complete:  # every item was re-scored exactly
            return e_top, ids, torch.ones(len(ids), dtype=torch.bool, device=ids.device)
        # An item outside the candidates scores at most a_m + err exactly; it cannot enter the
        # top-k when that is strictly below the k-th exact score (or when only masked items,
        # scored -inf, were left out).
        a_m = a_top[:, -1]
        ok = (a_m == -torch.inf) | (a_m + err < e_top[:, -1])
        return e_top, ids, ok


class ExactScan:
    """Exact top-k of query vectors against one fixed item matrix: the scan behind :func:`topk`.

    The item side (the float32 matrix, and its bfloat16 copy and error bound once a bfloat16
    scan needs them) is prepared once, so one ``ExactScan`` serves many calls; an exact index
    (:class:`ncf.index.ExactIndex`) keeps one. Each call ranks query chunks with
    :meth:`ranker`, whose float32 / certified bfloat16 behaviour is the one described in the
    module notes.

    Parameters
    ----------
    items : (N, d) float32 tensor
        Item vectors, on the device where scores are computed.
    scan : {"auto", "float32", "bfloat16"}
        As in :func:`topk`.
    """

    def __init__(self, items: Tensor, *, scan: Scan = "auto") -> None:
        if scan not in ("auto", "float32", "bfloat16"):
            raise ConfigError(f"scan must be 'auto', 'float32' or 'bfloat16', got {scan!r}")
        # (d, N) as a transposed view: BLAS runs the "NT" product, which is faster here than a
        # contiguous copy of the transpose.
        self.item_t = items.to(torch.float32).contiguous().T
        self.scan: Scan = scan
        self._bf16: _Bf16Items | None = None

    @property
    def num_items(self) -> int:
        return int(self.item_t.shape[1])

    @property
    def device(self) -> torch.device:
        return self.item_t.device

    def ranker(
        self, k: int, *, candidates: int | None = None, batch_size: int | None = None
    ) -> ChunkRanker:
        """Per-call state: the chunk size and, for a bfloat16 scan, its counters and switch."""
        k_eff = min(k, self.num_items)
        n_cand = int(candidates) if candidates is not None else 2 * k_eff + 4
        use_bf16 = self.scan == "bfloat16" or (
            self.scan == "auto" and native_bf16(self.device) and self.num_items >= 8 * n_cand
        )
        bf16: _Bf16Scan | None = None
        if use_bf16:
            if self._bf16 is None:
                self._bf16 = _Bf16Items(self.item_t.T)
            bf16 = _Bf16Scan(self._bf16, k_eff, n_cand)
        return ChunkRanker(self.item_t, k_eff, bf16, self.scan, batch_size, item_block=item_block_size(self.num_items))

    def topk(
        self,
        queries: Tensor,
        k: int,
        *,
        exclude: sp.csr_matrix | None = None,
        candidates: int | None = None,
        batch_size: int | None = None,
    ) -> TopK:
        """Exact top-``k`` items for each query vector, ``exclude``'s entries masked.

        Parameters
        ----------
        queries : (B, d) float32 tensor
            On :attr:`device`.
        k : int
            Items per query (``>= 1``); short rows are padded with id -1 and score -inf.
        exclude : scipy CSR (B, N), optional
            Row ``b``'s stored entries are removed from query ``b``'s ranking.
        candidates, batch_size : int, optional
            As in :func:`topk` (``batch_size`` counts queries per chunk).

        Raises
        ------
        NCFError
            NaN scores (NaN in the queries or items).
        """
        num = int(queries.shape[0])
        ids_out = np.full((num, k), -1, dtype=np.int64)
        scores_out = np.full((num, k), -np.inf, dtype=np.float32)
        if num == 0:
            return TopK(ids_out, scores_out)
        ranker = self.ranker(k, candidates=candidates, batch_size=batch_size)
        rows = np.arange(num, dtype=np.int64)
        start = 0
        while start < num:
            chunk = rows[start : start + ranker.batch_size]
            top_scores, top_ids = ranker.rank(queries[start : start + chunk.size], exclude, chunk)
            _store(ids_out, scores_out, start, top_scores, top_ids)
            start += chunk.size
        ranker.log_stats(num)
        return TopK(ids_out, scores_out)


class ChunkRanker:
    """Ranks successive query chunks against an :class:`ExactScan`'s items (one call's state).

    ``batch_size`` is the number of queries the next chunk should have: by default one
    ``(chunk, N)`` score block of about :data:`SCORE_BLOCK_FLOATS` floats (twice the rows for a
    bfloat16 block); ``"auto"`` halves it again when it switches to the float32 scan. With
    ``item_block`` (:func:`item_block_size`) each chunk is scanned in blocks of that many items,
    and the default chunk fills one ``(chunk, item_block)`` block instead.
    """

    def __init__(
        self,
        item_t: Tensor,
        k: int,
        bf16: _Bf16Scan | None,
        scan: Scan,
        batch_size: int | None,
        *,
        item_block: int | None = None,
    ) -> None:
        self.item_t = item_t
        self.k = k
        self.bf16 = bf16
        self.stats = bf16
        self.scan = scan
        self.item_block = item_block
        self.fixed_batch = batch_size is not None
        ub = (
            int(batch_size)
            if batch_size is not None
            else default_user_batch(item_block if item_block is not None else int(item_t.shape[1]))
        )
        if bf16 is not None and batch_size is None:
            ub *= 2  # a bfloat16 block of twice the users has the bytes of the float32 one
        self.batch_size = ub
        self.rows_done = 0

    def rank(
        self, queries: Tensor, mask: sp.csr_matrix | None, rows: npt.NDArray[np.int64]
    ) -> tuple[Tensor, Tensor]:
        """Top-``k`` (scores, ids) of one chunk; ``mask`` rows ``rows`` are its exclusions."""
        self.rows_done += int(rows.size)
        if self.bf16 is not None:
            if self.item_block is not None:
                top = self.bf16.rank_blocked(queries, mask, rows, self.item_block)
            else:
                top = self.bf16.rank(queries, mask, rows)
            if self.scan == "auto" and self.bf16.fallback_rows > AUTO_FLOAT32_SHARE * self.rows_done:
                # the bound cannot certify this model's rankings (scores too close for its
                # vector norms): re-ranking most rows in float32 after a bfloat16 pass costs
                # more than the float32 scan alone
                self.bf16 = None
                if not self.fixed_batch:
                    self.batch_size = max(1, self.batch_size // 2)
            return top
        if self.item_block is not None:
            blocks = _BlockMask(mask, rows) if mask is not None else None
            return _scan_blocked(queries, self.item_t, self.k, blocks, self.item_block)
        scores = queries @ self.item_t
        if mask is not None:
            _mask_rows(scores, mask, rows)
        top_scores, top_ids = torch.topk(scores, self.k, dim=1, largest=True, sorted=True)
        return top_scores, top_ids

    def log_stats(self, total: int) -> None:
        """Log (at DEBUG) how many rows the bfloat16 bound could not certify at once."""
        if self.stats is not None and self.stats.second_rows:
            logger.debug(
                "bfloat16 scan: %d of %d rows took 4x candidates, %d re-ranked in float32%s",
                self.stats.second_rows,
                total,
                self.stats.fallback_rows,
                "" if self.bf16 is not None else "; switched to the float32 scan",
            )


def _store(
    ids_out: npt.NDArray[np.int64],
    scores_out: npt.NDArray[np.float32],
    start: int,
    top_scores: Tensor,
    top_ids: Tensor,
) -> None:
    """Write one chunk's top-k into the output arrays; masked (-inf) slots become id -1."""
    if bool(torch.isnan(top_scores).any()):  # NaN ranks above every number
        raise NCFError("the model produced NaN scores; check its weights (training may have diverged)")
    s_np = top_scores.cpu().numpy()
    i_np = top_ids.cpu().numpy().astype(np.int64, copy=False)
    i_np[s_np == -np.inf] = -1
    rows, width = s_np.shape
    ids_out[start : start + rows, :width] = i_np
    scores_out[start : start + rows, :width] = s_np


def _score_blocked(
    model: Model,
    users_t: Tensor,
    chunk: npt.NDArray[np.int64],
    all_items: Tensor,
    k: int,
    mask: sp.csr_matrix | None,
    block: int,
    ib: int,
    dev: torch.device,
) -> tuple[Tensor, Tensor]:
    """Top-``k`` of a non-factorized model's scores for one user chunk, over item blocks."""
    blocks = _BlockMask(mask, chunk) if mask is not None else None

    def scores_of(lo: int, hi: int) -> Tensor:
        scores = torch.empty((chunk.size, hi - lo), dtype=torch.float32, device=dev)
        for i0 in range(lo, hi, ib):
            i1 = min(i0 + ib, hi)
            part = model.score(users_t[:, None], all_items[None, i0:i1])
            scores[:, i0 - lo : i1 - lo] = part.to(dev, torch.float32)
        if blocks is not None:
            blocks.apply(scores, lo, hi)
        return scores

    return _blocked_top(int(all_items.numel()), block, k, scores_of)


def default_user_batch(num_items: int) -> int:
    """Users per chunk so that one score block stays near :data:`SCORE_BLOCK_FLOATS` floats."""
    return max(1, SCORE_BLOCK_FLOATS // max(1, num_items))


def topk(
    model: Model,
    users: npt.ArrayLike,
    *,
    k: int,
    exclude: sp.spmatrix | sp.sparray | None = None,
    batch_size: int | None = None,
    item_batch_size: int | None = None,
    device: str | torch.device | None = None,
    scan: Scan = "auto",
    candidates: int | None = None,
) -> TopK:
    """Exact top-``k`` items for each user over the whole catalogue, seen items masked.

    Parameters
    ----------
    model : Model
        Any ncf model. When it is :class:`~ncf.models.base.Factorized`, each user chunk is
        ranked with one product ``user_vectors @ item_vectors.T``; a
        :class:`~ncf.models.base.HistoryScorer` scores each chunk's rows in one call; otherwise
        ``model.score`` is called on ``(chunk, item_batch_size)`` blocks.
    users : (B,) int
        User indices in ``[0, model.num_users)``; repeats are allowed.
    k : int
        Items per user (``>= 1``); a ``k`` beyond the catalogue is clamped to ``num_items``
        (the widest ranking there is). When ``k`` exceeds the items left after masking, the row
        is padded with id ``-1`` and score ``-inf``.
    exclude : scipy sparse (num_users, num_items), optional
        Every stored entry ``(u, i)`` removes item ``i`` from user ``u``'s ranking.
    batch_size : int, optional
        Users per chunk; the default keeps one ``(chunk, num_items)`` float32 block near 32 MiB
        (``(chunk, ITEM_BLOCK)`` for catalogues above :data:`ITEM_SCAN_FROM` items, scanned in
        item blocks).
    item_batch_size : int, optional
        Items per ``model.score`` call for non-factorized models (ignored for factorized ones);
        the default keeps ``chunk * item_batch_size`` near 131k pairs.
    device : str or torch.device, optional
        Where scores are computed and ranked; default: the model's device. Factorized models
        compute their vectors on their own device and move them here.
    scan : {"auto", "float32", "bfloat16"}
        Precision of the first pass over the catalogue for factorized models. ``"bfloat16"``
        scans in bfloat16, re-scores the best ``candidates`` per row in float32 (then 4x as
        many for rows the error bound cannot certify) and re-ranks in float32 every row still
        uncertain, so the ranking is the float32 one. ``"auto"`` picks it where bfloat16 products are native
        (:func:`native_bf16`) and the catalogue is much larger than ``candidates``, and
        switches to float32 for the remaining users when the bound sends more than a third of
        the rows back to float32 (models whose score gaps are small for their vector norms).
    candidates : int, optional
        Items per row re-scored in float32 after a bfloat16 scan; default ``2 * k + 4``
        (measured on Gowalla: fewer send many rows back to float32, more slow the scan).

    Returns
    -------
    TopK
        ``ids`` ``(B, min(k, num_items))`` int64 and ``scores`` of the same shape, float32,
        best first.

    Raises
    ------
    ConfigError
        ``k``, ``batch_size``, ``item_batch_size`` or ``candidates`` not positive, or an
        unknown ``scan``.
    DataError
        Users outside the model's universe or ``exclude`` of the wrong shape.
    NCFError
        The model produced NaN scores.

    Examples
    --------
    >>> ids, scores = topk(model, np.arange(3), k=10, exclude=train.to_csr())  # doctest: +SKIP
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or int(k) <= 0:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    if scan not in ("auto", "float32", "bfloat16"):
        raise ConfigError(f"scan must be 'auto', 'float32' or 'bfloat16', got {scan!r}")
    for name, value in (
        ("batch_size", batch_size),
        ("item_batch_size", item_batch_size),
        ("candidates", candidates),
    ):
        if value is not None and int(value) <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")
    num_users, num_items = int(model.num_users), int(model.num_items)
    user_arr = _as_user_array(users, num_users)
    mask = _check_exclude(exclude, (num_users, num_items))
    block = item_block_size(num_items)
    ub = int(batch_size) if batch_size is not None else default_user_batch(block or num_items)
    model_device = model.device
    dev = torch.device(device) if device is not None else model_device
    k_eff = min(k, num_items)

    ids_out = np.full((user_arr.size, k_eff), -1, dtype=np.int64)
    scores_out = np.full((user_arr.size, k_eff), -np.inf, dtype=np.float32)
    if user_arr.size == 0:
        return TopK(ids_out, scores_out)

    factorized = isinstance(model, Factorized)
    fmodel = cast(Factorized, model)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            if factorized:
                items = ExactScan(fmodel.item_vectors().to(dev, torch.float32), scan=scan)
                ranker = items.ranker(k_eff, candidates=candidates, batch_size=batch_size)
                start = 0
                while start < user_arr.size:
                    chunk = user_arr[start : start + ranker.batch_size]
                    users_t = torch.from_numpy(chunk).to(model_device)
                    uvec = fmodel.user_vectors(users_t).to(dev, torch.float32)
                    top_scores, top_ids = ranker.rank(uvec, mask, chunk)
                    _store(ids_out, scores_out, start, top_scores, top_ids)
                    start += chunk.size
                ranker.log_stats(user_arr.size)
                return TopK(ids_out, scores_out)
            if isinstance(model, HistoryScorer):  # whole rows in one pass (graph filters)
                hb, start = (int(batch_size) if batch_size is not None else default_user_batch(num_items)), 0
                while start < user_arr.size:
                    chunk = user_arr[start : start + hb]
                    scores = model.score_rows(torch.from_numpy(chunk).to(model_device)).to(dev, torch.float32)
                    if mask is not None:
                        _mask_rows(scores, mask, chunk)
                    top_scores, top_ids = torch.topk(scores, k_eff, dim=1, largest=True, sorted=True)
                    _store(ids_out, scores_out, start, top_scores, top_ids)
                    start += chunk.size
                return TopK(ids_out, scores_out)
            ib = (
                int(item_batch_size)
                if item_batch_size is not None
                else max(1, PAIR_BLOCK // min(ub, user_arr.size))
            )
            all_items = torch.arange(num_items, device=model_device)
            start = 0
            while start < user_arr.size:
                chunk = user_arr[start : start + ub]
                users_t = torch.from_numpy(chunk).to(model_device)
                if block is not None:
                    top_scores, top_ids = _score_blocked(model, users_t, chunk, all_items, k_eff, mask, block, ib, dev)
                    _store(ids_out, scores_out, start, top_scores, top_ids)
                    start += chunk.size
                    continue
                scores = torch.empty((chunk.size, num_items), dtype=torch.float32, device=dev)
                for i0 in range(0, num_items, ib):
                    part = model.score(users_t[:, None], all_items[None, i0 : i0 + ib])
                    scores[:, i0 : i0 + ib] = part.to(dev, torch.float32)
                if mask is not None:
                    _mask_rows(scores, mask, chunk)
                top_scores, top_ids = torch.topk(scores, k_eff, dim=1, largest=True, sorted=True)
                _store(ids_out, scores_out, start, top_scores, top_ids)
                start += chunk.size
    finally:
        model.train(was_training)
    return TopK(ids_out, scores_out)
