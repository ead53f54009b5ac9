"""``--filter-weight``: the trained model blended with a graph filter fitted on the same rows.

The blend is ``(1 - s) * model / spread(model) + s * filter / spread(filter)`` (a
:class:`~ncf.models.RowBlend`): each part's scores are divided by their spread, so a share ``s``
means the same on every dataset and loss. The filter takes the run's graph-filter options, and
ChebyCF's published shape for those left unset (its shape is not searched inside a blend).
``--filter-weight auto`` chooses ``s`` on the validation carve, scoring every share from each
part's rows computed once per chunk of carve users.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ncf.app.filter_choice import ScoreRows
from ncf.errors import ConfigError
from ncf.evaluation import evaluate
from ncf.models.base import Factorized, HistoryScorer, Model
from ncf.models.blend import RowBlend, row_scores, score_spread
from ncf.models.graph_filter import GraphFilter

if TYPE_CHECKING:
    from ncf.app.spec import RunSpec
    from ncf.data.interactions import Interactions, Split

#: Shares of the graph filter tried by ``--filter-weight auto`` (0: the trained model alone).
FILTER_SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: Carve users whose score rows are held at once while choosing the share.
CHUNK_USERS = 2048


def fit_filter_part(spec: RunSpec, train: Interactions) -> GraphFilter:
    """The run's graph filter (its filter options; ChebyCF's shape for unset ones), fitted on ``train``."""
    from ncf.app.model_builders import build_graph_filter

    return build_graph_filter(spec.model.with_name("graph-filter"), spec.build_context(train)).fit(train)


def filter_blend(model: Model, filt: GraphFilter, share: float, *, seed: int = 0) -> Model:
    """``model`` and ``filt`` as one :class:`~ncf.models.RowBlend` at filter share ``share``
    (``model`` itself at share 0)."""
    if not 0.0 <= share <= 1.0:
        raise ConfigError(f"the graph filter's share must be in [0, 1], got {share!r}")
    if share == 0.0:
        return model
    return RowBlend.of([model, filt], [(1 - share) / score_spread(model, seed=seed),
                                       share / score_spread(filt, seed=seed)])


def choose_filter_share(spec: RunSpec, model: Model, split: Split, metric: str) -> dict[str, Any]:
    """``--filter-weight auto``: the share in :data:`FILTER_SHARES` with the best carve ``metric``
    (ties go to the smaller share), for ``model`` trained on the carved rows and a filter fitted
    on them. Every carve user is scored, :data:`CHUNK_USERS` at a time."""
    if split.valid is None:
        raise ConfigError("choosing the graph filter's share needs a validation carve")
    if not isinstance(model, (Factorized, HistoryScorer)):
        raise ConfigError(f"a graph-filter blend needs a factorized model, not {model.name!r}")
    filt = fit_filter_part(spec, split.train)
    seed = spec.train.seed
    spreads = score_spread(model, seed=seed), score_spread(filt, seed=seed)
    valid, exclude = split.valid, split.train.to_csr()
    negatives = None if split.valid_negatives is None else np.asarray(split.valid_negatives)
    users = np.unique(valid.users)
    totals = dict.fromkeys(FILTER_SHARES, 0.0)
    counted = 0
    k = int(metric.split("@")[1])
    for c0 in range(0, users.size, CHUNK_USERS):
        chunk = users[c0:c0 + CHUNK_USERS]
        keep = np.isin(valid.users, chunk)
        rows_of_chunk = valid.select(keep)
        chunk_negatives = None if negatives is None else negatives[keep]
        with torch.inference_mode():
            u = torch.from_numpy(chunk)
            parts = row_scores(model, u) / spreads[0], row_scores(filt, u) / spreads[1]
        for share in FILTER_SHARES:
            rows = ScoreRows(model.num_users, (1 - share) * parts[0] + share * parts[1], chunk)
            report = evaluate(rows, rows_of_chunk, exclude=exclude, k=(k,),
                              protocol="full" if negatives is None else "sampled", negatives=chunk_negatives)
            totals[share] += float(report.metrics[metric]) * report.users
        counted += report.users  # the same users for every share of this chunk
    scores = {str(s): totals[s] / max(counted, 1) for s in FILTER_SHARES}
    best = max(FILTER_SHARES, key=lambda s: (scores[str(s)], -s))
    return {"metric": metric, "scores": scores, "share": best, "users": counted}


def blend_filter(spec: RunSpec, model: Model, train: Interactions, share: dict[str, Any] | None) -> Model:
    """``model`` blended with the run's graph filter fitted on ``train``, at the share chosen on
    the carve (``share``, from :func:`choose_filter_share`) or the run's ``--filter-weight``."""
    s = share["share"] if share is not None else spec.model.filter_weight
    assert s is not None
    if s == 0.0:
        return model
    return filter_blend(model, fit_filter_part(spec, train), float(s), seed=spec.train.seed)
