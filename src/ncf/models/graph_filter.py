"""Graph filters: closed-form recommenders that smooth a user's history over the item-item graph.

With ``R`` the binary user x item matrix, ``R~ = (D_u + a)^-1/2 R (D_i + a)^-1/2`` (``a`` the degree
offset: SVD-GCN's renormalisation, which damps the rarest items; ChebyCF uses ``a = 0``) and the
item-item operator
``P~ = R~^T R~`` (eigenvalues in ``[0, 1]``), a graph filter scores a user's history ``x`` as
``(x D_i^-b) (H(P~) + w V V^T) D_i^b``:

* ``H`` is the filter: ``linear`` is ``P~`` itself (GF-CF's linear part, Shen et al. 2021);
  ``chebyshev`` is an order-``K`` Chebyshev interpolation of a plateau-shaped low-pass on
  ``L~ = I - 2 P~`` (ChebyCF, Kim et al. 2025): 1 on the smoothest signals, 1/2 mid-spectrum,
  0 on the roughest, ``flatness`` shaping the plateau;
* ``V`` holds the top ``ideal_rank`` right singular vectors of ``R~`` (the ideal low-pass, as in
  :class:`~ncf.models.SpectralMF`), weighted ``w``;
* ``b`` (``degree_power``) divides item popularity out of the signal and puts it back after.

``P~`` is never formed: each application is two sparse products with ``R~`` (memory: the
training matrix plus ``ideal_rank`` floats per item; time: ``2 K nnz(R)`` per user). The scores
are not a dot product of two small vectors, so the model is a :class:`HistoryScorer`: ranking
scores whole rows, and a new user is scored from their history directly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from numpy.polynomial import chebyshev
from torch import Tensor

from ncf._checks import positive_int
from ncf.data.interactions import Interactions
from ncf.errors import ConfigError, DataError, NotFittedError
from ncf.models.base import ClosedForm, HistoryScorer, Model
from ncf.models.spectral import _randomized_svd, normalized_graph
from ncf.nn.sparse import csr_tensor

#: The filters :class:`GraphFilter` applies.
FILTERS = ("chebyshev", "linear")
#: Floats one scoring chunk may hold (the filter's ``order + 2`` signals of ``(num_items, B)``).
_CHUNK_FLOATS = 1 << 25


def plateau(x: np.ndarray, flatness: float) -> np.ndarray:
    """ChebyCF's target response on ``L~``'s spectrum ``x`` in ``[-1, 1]``: ``1`` at ``-1`` (the
    smoothest signals), ``1/2`` at ``0``, ``0`` at ``1``; a larger ``flatness`` widens both plateaus."""
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    return np.asarray(0.5 - 0.5 * np.sign(x) * np.abs(x) ** flatness)


def chebyshev_coefficients(order: int, flatness: float) -> np.ndarray:
    """Coefficients ``c_k`` of the order-``order`` Chebyshev interpolant of :func:`plateau`
    (at the Chebyshev points of the first kind), so ``H(L~) = sum_k c_k T_k(L~)``."""
    coeffs: np.ndarray = chebyshev.chebinterpolate(lambda x: plateau(x, flatness), order)
    return coeffs.astype(np.float64)


@dataclasses.dataclass(frozen=True)
class FilterShape:
    """The parts of a graph filter that need no refit: they can be chosen on one fit."""

    flatness: float
    degree_power: float
    ideal_weight: float
    ideal_rank: int


class GraphFilter(Model, ClosedForm, HistoryScorer):
    """Closed-form graph filter over the normalised item-item graph (see the module docstring).

    Parameters
    ----------
    num_users, num_items : int
    filter : {"chebyshev", "linear"}
    order : int
        Chebyshev order ``K`` (``chebyshev`` only): ``K`` applications of ``P~`` per score.
    flatness : float
        Plateau shape of the Chebyshev target, > 0.
    degree_power : float
        Item-degree exponent ``b`` of the pre/post normalisation, >= 0.
    ideal_rank : int
        Singular vectors of the ideal low-pass part (computed only when ``ideal_weight > 0``).
    ideal_weight : float
        Weight ``w`` of the ideal low-pass, >= 0.
    degree_offset : float
        ``a`` added to every degree in ``R~`` (>= 0; 3 was better than 0 on the validation carves
        of ML-100K, Yelp and Gowalla, docs/benchmarks.md).
    oversample, niter, seed : int
        The randomised SVD of the ideal part (as :class:`~ncf.models.SpectralMF`).

    Examples
    --------
    >>> from ncf.data import synthetic
    >>> data = synthetic(num_users=50, num_items=40, seed=0).interactions
    >>> model = GraphFilter(data.num_users, data.num_items, ideal_rank=8).fit(data)
    >>> model.score_rows(torch.tensor([0, 1])).shape
    torch.Size([2, 40])
    """

    name = "graph-filter"
    indptr: Tensor
    indices: Tensor
    item_degree: Tensor
    ideal: Tensor
    fitted: Tensor

    def __init__(
        self,
        num_users: int,
        num_items: int,
        *,
        filter: str = "chebyshev",
        order: int = 8,
        flatness: float = 1.5,
        degree_power: float = 0.4,
        ideal_rank: int = 512,
        ideal_weight: float = 0.2,
        degree_offset: float = 3.0,
        oversample: int = 16,
        niter: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__(num_users, num_items)
        if filter not in FILTERS:
            raise ConfigError(f"filter must be one of {', '.join(FILTERS)}, got {filter!r}")
        self.filter = filter
        self.order = positive_int("order", order)
        self.flatness = _finite(flatness, "flatness", positive=True)
        self.degree_power = _finite(degree_power, "degree_power")
        self.ideal_weight = _finite(ideal_weight, "ideal_weight")
        self.degree_offset = _finite(degree_offset, "degree_offset")
        self.ideal_rank = positive_int("ideal_rank", ideal_rank)
        if self.ideal_weight > 0 and self.ideal_rank > min(self.num_users, self.num_items):
            raise ConfigError(f"ideal_rank {self.ideal_rank} exceeds min(num_users, num_items) = "
                              f"{min(self.num_users, self.num_items)}")
        self.oversample, self.niter, self.seed = int(oversample), int(niter), int(seed)
        if self.oversample < 0 or self.niter < 0:
            raise ConfigError("oversample and niter must be >= 0")
        width = self.ideal_rank if self.ideal_weight > 0 else 0
        self.register_buffer("indptr", torch.zeros(self.num_users + 1, dtype=torch.int64))
        self.register_buffer("indices", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("item_degree", torch.zeros(self.num_items))
        self.register_buffer("ideal", torch.zeros(self.num_items, width))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self._operator: tuple[Tensor, Tensor] | None = None

    # ------------------------------------------------------------------ fitting
    def fit(self, interactions: Interactions) -> GraphFilter:
        """Keep the training graph and compute the ideal low-pass part; returns ``self``."""
        if interactions.shape != (self.num_users, self.num_items):
            raise DataError(f"interactions span {interactions.shape[0]} users x {interactions.shape[1]} items, "
                            f"the model {self.num_users} x {self.num_items}")
        if len(interactions) == 0:
            raise DataError("cannot fit a graph filter on no interactions")
        r: sp.csr_matrix = interactions.to_csr().astype(np.float64)
        r.sum_duplicates()
        r.data[:] = 1.0
        r.sort_indices()
        with torch.no_grad():
            self.indptr.copy_(torch.from_numpy(r.indptr.astype(np.int64)))
            self.indices = torch.from_numpy(r.indices.astype(np.int64))
            self.item_degree.copy_(torch.from_numpy(np.asarray(r.sum(axis=0)).ravel()).float())
            if self.ideal.shape[1] > 0:
                rn = normalized_graph(r, self.degree_offset)
                q = min(self.ideal_rank + self.oversample, min(rn.shape))
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(self.seed)
                    _, s, v = _randomized_svd(rn, q=q, niter=self.niter)
                order = torch.argsort(s, descending=True)[: self.ideal_rank]
                self.ideal.copy_(v[:, order].float())
            self.fitted.fill_(True)
        self._operator = None
        return self

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        # the training graph's size is data, not config: take the saved buffer's length
        key = prefix + "indices"
        if key in state_dict:
            self.indices = torch.empty_like(state_dict[key])
        self._operator = None
        super()._load_from_state_dict(state_dict, prefix, *args)

    def _check_fitted(self) -> None:
        if not bool(self.fitted):
            raise NotFittedError("GraphFilter is not fitted: call .fit(train) first")

    # ------------------------------------------------------------------ the operator
    def _operators(self) -> tuple[Tensor, Tensor]:
        """``R~`` and ``R~^T`` as float32 CSR tensors (built once from the stored graph)."""
        if self._operator is None:
            indptr, indices = self.indptr.cpu().numpy(), self.indices.cpu().numpy()
            r = sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=(self.num_users, self.num_items))
            rn = normalized_graph(r, self.degree_offset)
            dev = self.indptr.device
            self._operator = (csr_tensor(rn).to(dev), csr_tensor(rn.T).to(dev))
        return self._operator

    def _smooth(self, signal_t: Tensor) -> Tensor:
        """``L~ v = v - 2 R~^T (R~ v)`` for ``(num_items, B)`` signals."""
        a, at = self._operators()
        out: Tensor = signal_t - 2.0 * (at @ (a @ signal_t))
        return out

    def _linear(self, signal_t: Tensor) -> Tensor:
        a, at = self._operators()
        out: Tensor = at @ (a @ signal_t)
        return out

    def chebyshev_bases(self, signal: Tensor) -> Tensor:
        """``(order + 1, num_items, B)``: ``T_k(L~)`` applied to each ``(B, num_items)`` signal row,
        item-major (the layout the sparse products give), so a filter is one matrix-vector product."""
        t0 = signal.T.contiguous()
        bases = [t0, self._smooth(t0)]
        for _ in range(2, self.order + 1):
            bases.append(2.0 * self._smooth(bases[-1]) - bases[-2])
        return torch.stack(bases[: self.order + 1])

    def _filtered(self, signal: Tensor, coeffs: Tensor) -> Tensor:
        """``H(P~)`` applied to ``(B, num_items)`` signals (the recurrence kept to three terms)."""
        t = signal.T.contiguous()
        if self.filter == "linear":
            return self._linear(t).T
        prev, cur = t, self._smooth(t)
        out = coeffs[0] * prev + coeffs[1] * cur
        for k in range(2, self.order + 1):
            prev, cur = cur, 2.0 * self._smooth(cur) - prev
            out += coeffs[k] * cur
        return out.T

    # ------------------------------------------------------------------ scoring
    def shape(self) -> FilterShape:
        return FilterShape(self.flatness, self.degree_power, self.ideal_weight, self.ideal_rank)

    def score_histories(self, histories: Tensor) -> Tensor:
        """``(B, num_items)`` scores of the histories ``(B, num_items)`` (1 = interacted)."""
        self._check_fitted()
        x = histories.to(self.item_degree.device, torch.float32)
        if x.dim() != 2 or x.shape[1] != self.num_items:
            raise DataError(f"histories must be (B, {self.num_items}) rows, got {tuple(histories.shape)}")
        coeffs = torch.from_numpy(chebyshev_coefficients(self.order, self.flatness)).float()
        pre, post = _degree_scaling(self.item_degree, self.degree_power)
        step = max(1, _CHUNK_FLOATS // ((self.order + 2) * self.num_items))
        rows = []
        for s0 in range(0, x.shape[0], step):
            signal = x[s0 : s0 + step] * pre
            out = self._filtered(signal, coeffs)
            if self.ideal.shape[1] > 0 and self.ideal_weight != 0:
                out = out + self.ideal_weight * ((signal @ self.ideal) @ self.ideal.T)
            rows.append(out * post)
        return torch.cat(rows) if rows else x.new_zeros((0, self.num_items))

    def histories(self, users: Tensor) -> Tensor:
        """``(B, num_items)`` 0/1 rows of the fitted training history of ``users``."""
        self._check_fitted()
        u = users.reshape(-1).to(self.indptr.device, torch.int64)
        if u.numel() and (int(u.min()) < 0 or int(u.max()) >= self.num_users):
            raise DataError(f"user indices must lie in [0, {self.num_users})")
        starts, ends = self.indptr[u], self.indptr[u + 1]
        counts = ends - starts
        rows = torch.repeat_interleave(torch.arange(u.numel(), device=u.device), counts)
        offsets = torch.arange(int(counts.sum()), device=u.device) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts)
        cols = self.indices[torch.repeat_interleave(starts, counts) + offsets]
        out = torch.zeros((u.numel(), self.num_items), device=u.device)
        out[rows, cols] = 1.0
        return out

    def score_rows(self, users: Tensor) -> Tensor:
        """``(B, num_items)`` scores of every item for known ``users``, from their training history."""
        return self.score_histories(self.histories(users))

    def score(self, users: Tensor, items: Tensor) -> Tensor:
        """Pair scores (arguments broadcast): each distinct user's row is computed once."""
        shape = np.broadcast_shapes(tuple(users.shape), tuple(items.shape))
        u, i = users.expand(shape), items.expand(shape)
        distinct, inverse = torch.unique(u.reshape(-1), return_inverse=True)
        rows = self.score_rows(distinct)
        return rows[inverse, i.reshape(-1).to(rows.device)].reshape(u.shape)

    def with_shape(self, shape: FilterShape) -> GraphFilter:
        """This fit with another flatness, degree power, ideal weight or a lower ideal rank
        (none of them needs a refit): one fit serves every candidate chosen on validation."""
        self._check_fitted()
        if shape.ideal_weight > 0 and (self.ideal.shape[1] == 0 or shape.ideal_rank > self.ideal.shape[1]):
            raise ConfigError(f"this fit has {self.ideal.shape[1]} ideal components, not {shape.ideal_rank}")
        config = {**self.get_config(), "flatness": shape.flatness, "degree_power": shape.degree_power,
                  "ideal_weight": shape.ideal_weight, "ideal_rank": shape.ideal_rank}
        out = GraphFilter(**config)
        with torch.no_grad():
            out.indptr.copy_(self.indptr)
            out.indices = self.indices
            out.item_degree.copy_(self.item_degree)
            if out.ideal.shape[1] > 0:
                out.ideal.copy_(self.ideal[:, : shape.ideal_rank])
            out.fitted.fill_(True)
        out._operator = self._operator
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            "num_users": self.num_users,
            "num_items": self.num_items,
            "filter": self.filter,
            "order": self.order,
            "flatness": self.flatness,
            "degree_power": self.degree_power,
            "ideal_rank": self.ideal_rank,
            "ideal_weight": self.ideal_weight,
            "degree_offset": self.degree_offset,
            "oversample": self.oversample,
            "niter": self.niter,
            "seed": self.seed,
        }

    def extra_repr(self) -> str:
        return (f"num_users={self.num_users}, num_items={self.num_items}, filter={self.filter}, "
                f"order={self.order}, flatness={self.flatness}, degree_power={self.degree_power}, "
                f"degree_offset={self.degree_offset}, "
                f"ideal={self.ideal_weight} x rank {self.ideal_rank}")


class FilterBases:
    """The expensive part of scoring some histories with one degree power, shared by every shape
    that differs only in flatness, ideal weight or a lower ideal rank: the ``T_k(L~) x`` bases
    (``order + 1`` floats per history and item) and the projection on the ideal part."""

    def __init__(self, model: GraphFilter, histories: Tensor, degree_power: float) -> None:
        model._check_fitted()
        self.model, self.degree_power = model, float(degree_power)
        pre, self.post = _degree_scaling(model.item_degree, self.degree_power)
        self.signal = histories.to(model.item_degree.device, torch.float32) * pre
        if model.filter == "chebyshev":
            self.bases = model.chebyshev_bases(self.signal)
        else:
            self.bases = model._linear(self.signal.T.contiguous())[None]
        self.projection = self.signal @ model.ideal if model.ideal.shape[1] > 0 else None

    def scores(self, shape: FilterShape) -> Tensor:
        """``(B, num_items)`` scores of the histories under ``shape`` (this degree power)."""
        if shape.degree_power != self.degree_power:
            raise ConfigError(f"these bases hold degree power {self.degree_power}, not {shape.degree_power}")
        k, n, b = self.bases.shape
        if self.model.filter == "chebyshev":
            coeffs = torch.from_numpy(chebyshev_coefficients(self.model.order, shape.flatness)).float()
            out = (coeffs @ self.bases.reshape(k, n * b)).reshape(n, b).T
        else:
            out = self.bases[0].T
        if shape.ideal_weight > 0:
            if self.projection is None or shape.ideal_rank > self.projection.shape[1]:
                raise ConfigError(f"this fit has no ideal part of rank {shape.ideal_rank}")
            r = shape.ideal_rank
            out = out + shape.ideal_weight * (self.projection[:, :r] @ self.model.ideal[:, :r].T)
        result: Tensor = out * self.post
        return result


def default_shape(num_users: int, num_items: int) -> FilterShape:
    """ChebyCF's published Gowalla setting, the ideal rank clipped to the universe."""
    return FilterShape(flatness=1.5, degree_power=0.4, ideal_weight=0.2,
                       ideal_rank=max(1, min(512, num_users // 2, num_items // 2)))


def _degree_scaling(degree: Tensor, power: float) -> tuple[Tensor, Tensor]:
    """``d^-b`` and ``d^b`` per item (0 for items never seen)."""
    seen = degree > 0
    d = degree.clamp(min=1.0)
    return torch.where(seen, d.pow(-power), 0.0), torch.where(seen, d.pow(power), 0.0)


def _finite(value: float, name: str, *, positive: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v < 0 or (positive and v == 0):
        raise ConfigError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")
    return v
