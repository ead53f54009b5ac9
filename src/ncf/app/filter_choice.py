"""A graph filter's shape chosen on the validation carve: one fit, the Chebyshev bases shared by
every candidate, scored through the same :func:`ncf.evaluation.evaluate` as any model."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ncf.app.model_builders import build_graph_filter
from ncf.errors import ConfigError
from ncf.evaluation import evaluate
from ncf.models.base import HistoryScorer, Model
from ncf.models.graph_filter import FilterBases, FilterShape, GraphFilter, default_shape
from ncf.models.spectral import rank_candidates

if TYPE_CHECKING:
    from ncf.app.spec import RunSpec
    from ncf.data.interactions import Interactions, Split

#: Candidates of each option a run leaves to ncf, searched one option at a time (coordinate
#: ascent) from ChebyCF's published Gowalla setting; they bracket what the three development
#: datasets chose (docs/benchmarks.md, graph filters).
DEGREE_POWERS = (0.0, 0.2, 0.4, 0.6, 0.8)
FLATNESS = (1.0, 1.5, 2.0, 3.0, 5.0)
IDEAL_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0)
#: Ideal-part ranks tried: the spectral model's powers of two between these two.
SMALLEST_IDEAL_RANK = 64
LARGEST_IDEAL_RANK = 512
#: Rounds of the coordinate ascent (it stops earlier when a round changes nothing).
ROUNDS = 2
#: Carve users scored per candidate: a seeded sample, at most :data:`CARVE_USERS`, fewer when
#: their bases (``(order + 1) x users x num_items`` floats, held for one degree power at a time)
#: would pass :data:`BASES_FLOATS` (1.5 GB), never fewer than :data:`MIN_CARVE_USERS`.
CARVE_USERS = 2048
BASES_FLOATS = 3 << 27
MIN_CARVE_USERS = 256



def search_space(spec: RunSpec, num_users: int, num_items: int) -> dict[str, tuple[Any, ...]]:
    """Option -> candidates for every shape option the run leaves to ncf (fixed ones are absent)."""
    m = spec.model
    ranks = tuple(r for r in rank_candidates(num_users, num_items, largest=LARGEST_IDEAL_RANK)
                  if r >= SMALLEST_IDEAL_RANK)
    space: dict[str, tuple[Any, ...]] = {}
    if m.degree_power is None:
        space["degree_power"] = DEGREE_POWERS
    if m.filter_flatness is None and m.filter == "chebyshev":  # the linear filter has no plateau
        space["flatness"] = FLATNESS
    if m.ideal_weight is None:
        space["ideal_weight"] = IDEAL_WEIGHTS
    if m.ideal_rank is None:
        space["ideal_rank"] = ranks or (max(rank_candidates(num_users, num_items)),)
    return space


def start_shape(spec: RunSpec, num_users: int, num_items: int) -> FilterShape:
    """Where the search starts: the run's fixed options, the published defaults for the rest."""
    m, d = spec.model, default_shape(num_users, num_items)
    return FilterShape(flatness=d.flatness if m.filter_flatness is None else m.filter_flatness,
                       degree_power=d.degree_power if m.degree_power is None else m.degree_power,
                       ideal_weight=d.ideal_weight if m.ideal_weight is None else m.ideal_weight,
                       ideal_rank=d.ideal_rank if m.ideal_rank is None else m.ideal_rank)


class ScoreRows(Model, HistoryScorer):
    """Precomputed score rows of a few users, ranked through the standard evaluation."""

    name = "graph-filter-rows"

    def __init__(self, num_users: int, rows: Tensor, users: np.ndarray) -> None:
        super().__init__(num_users, rows.shape[1])
        self.rows = rows
        self.where = torch.full((num_users,), -1, dtype=torch.int64)
        self.where[torch.from_numpy(users)] = torch.arange(users.size)

    def score_rows(self, users: Tensor) -> Tensor:
        return self.rows[self.where[users.reshape(-1)]]

    def score_histories(self, histories: Tensor) -> Tensor:  # pragma: no cover - not used by evaluate
        raise ConfigError("precomputed rows cannot score a new history")

    def score(self, users: Tensor, items: Tensor) -> Tensor:
        shape = np.broadcast_shapes(tuple(users.shape), tuple(items.shape))
        u, i = users.expand(shape), items.expand(shape)
        return self.rows[self.where[u], i]

    def get_config(self) -> dict[str, Any]:
        return {}


@dataclasses.dataclass
class _CarveSample:
    """A seeded sample of carve users, their training histories and carve rows."""

    users: np.ndarray
    histories: Tensor
    valid: Interactions
    negatives: np.ndarray | None
    exclude: Any


def carve_sample(model: GraphFilter, split: Split, *, seed: int = 0, users: int = CARVE_USERS) -> _CarveSample:
    """Up to ``users`` carve users (fewer when their bases would pass :data:`BASES_FLOATS`)."""
    assert split.valid is not None
    valid = split.valid
    cap = max(MIN_CARVE_USERS, BASES_FLOATS // ((model.order + 1) * model.num_items))
    pool = np.unique(valid.users)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(pool, size=min(users, cap, pool.size), replace=False))
    keep = np.isin(valid.users, sample)
    negatives = None if split.valid_negatives is None else np.asarray(split.valid_negatives)[keep]
    return _CarveSample(sample, model.histories(torch.from_numpy(sample)), valid.select(keep), negatives,
                        split.train.to_csr())


def carve_metric(model: GraphFilter, sample: _CarveSample, scores: Tensor, metric: str) -> float:
    """``metric`` of precomputed score rows on the sampled carve rows, through :func:`evaluate`."""
    report = evaluate(ScoreRows(model.num_users, scores, sample.users), sample.valid, exclude=sample.exclude,
                      k=(int(metric.split("@")[1]),), protocol="full" if sample.negatives is None else "sampled",
                      negatives=sample.negatives)
    return float(report.metrics[metric])


def choose_filter_shape(spec: RunSpec, split: Split, metric: str) -> dict[str, Any]:
    """The shape with the best carve ``metric``: every candidate degree power (each needs its own
    bases), and for each a coordinate ascent over the other options left to ncf (one option's
    candidates at a time, the others held; ties keep the current shape). One fit on the carved
    training rows at the largest candidate rank serves every candidate."""
    if split.valid is None:
        raise ConfigError("choosing the graph filter's shape needs a validation carve")
    t0 = time.perf_counter()
    space = search_space(spec, split.num_users, split.num_items)
    start = start_shape(spec, split.num_users, split.num_items)
    top_rank = max((*space.get("ideal_rank", ()), start.ideal_rank))
    top_weight = max((*space.get("ideal_weight", ()), start.ideal_weight))
    fit_spec = dataclasses.replace(spec.model, ideal_rank=top_rank, ideal_weight=top_weight)
    base = build_graph_filter(fit_spec, spec.build_context(split.train)).fit(split.train)
    sample = carve_sample(base, split, seed=spec.train.seed)
    inner = {k: v for k, v in space.items() if k != "degree_power"}
    scored: dict[FilterShape, float] = {}
    for power in space.get("degree_power", (start.degree_power,)):
        bases = FilterBases(base, sample.histories, power)
        best = dataclasses.replace(start, degree_power=power)
        for _ in range(ROUNDS):
            before = best
            for option, values in inner.items():
                if option == "ideal_rank" and best.ideal_weight == 0:
                    continue  # no ideal part: its rank is unused
                candidates = [dataclasses.replace(best, **{option: v}) for v in values]
                if best not in candidates:
                    candidates.append(best)
                for c in candidates:
                    if c not in scored:
                        scored[c] = carve_metric(base, sample, bases.scores(c), metric)
                best = max(candidates, key=lambda c: (scored[c], c == best))
            if best == before:
                break
        if not inner and best not in scored:
            scored[best] = carve_metric(base, sample, bases.scores(best), metric)
        del bases
    chosen = max(scored, key=lambda c: scored[c])
    ranked = sorted(scored.items(), key=lambda kv: -kv[1])
    return {"metric": metric, "users": int(sample.users.size), "candidates": len(scored),
            "seconds": round(time.perf_counter() - t0, 2), "chosen": dataclasses.asdict(chosen),
            "value": round(scored[chosen], 6), "start": dataclasses.asdict(start),
            "top": [{**dataclasses.asdict(sh), "value": round(v, 6)} for sh, v in ranked[:10]],
            "model": base.with_shape(chosen)}


def filter_on_carve(spec: RunSpec, split: Split, metric: str) -> tuple[Model, Interactions, dict[str, Any]]:
    """``--model graph-filter`` with options left to ncf: choose them on the carve (by ``metric``),
    then fit the chosen filter on train + carve (or keep the carve fit with ``--no-refit``)."""
    t0 = time.perf_counter()
    chosen = choose_filter_shape(spec, split, metric)
    carved: GraphFilter = chosen.pop("model")
    assert split.valid is not None
    if not spec.split.refit:
        return carved, split.train, {"done": False, "reason": "--no-refit: the filter fitted on the carved training "
                                                              "rows is kept", "filter_shape": chosen}
    full = split.train.concat(split.valid)
    shape = carved.shape()
    fixed = dataclasses.replace(spec.model, filter_flatness=shape.flatness, degree_power=shape.degree_power,
                                ideal_weight=shape.ideal_weight, ideal_rank=shape.ideal_rank)
    model = build_graph_filter(fixed, spec.build_context(full)).fit(full)
    return model, full, {"done": True, "rows": len(full), "carved_rows": len(split.train),
                         "seconds": time.perf_counter() - t0, "filter_shape": chosen}
