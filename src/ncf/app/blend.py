"""Choices made on the validation carve for the spectral model: its rank (``--model spectral``
without ``--spectral-rank``) and its share in a blend (``--spectral-weight auto``), and the blend
itself."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from ncf.app.spec import RunSpec
from ncf.data.interactions import Interactions, Split
from ncf.errors import ConfigError
from ncf.evaluation import evaluate
from ncf.models.base import Factorized, Model


def carve_metric(spec: RunSpec, split: Split) -> str:
    """The metric early stopping uses on this split's carve (NDCG@10 sampled, Recall@20 full)."""
    metric = spec.trainer_config().for_validation(sampled=split.valid_negatives is not None).metric
    assert metric is not None
    return metric


def _score_on_carve(model: Model, split: Split, metric: str) -> float:
    """``metric`` of ``model`` on the validation carve, training rows excluded."""
    assert split.valid is not None
    sampled = split.valid_negatives is not None
    report = evaluate(model, split.valid, exclude=split.train, k=(int(metric.split("@")[1]),),
                      protocol="sampled" if sampled else "full", negatives=split.valid_negatives)
    return float(report.metrics[metric])


def choose_spectral_rank(spec: RunSpec, split: Split) -> dict[str, Any]:
    """The spectral rank with the best validation metric on the carve: one SVD at the largest
    candidate rank, each smaller rank scored by truncation (ties go to the smaller rank)."""
    from ncf.app.model_builders import build_spectral
    from ncf.models.spectral import rank_candidates

    if split.valid is None:
        raise ConfigError("choosing the spectral rank needs a validation carve")
    metric = carve_metric(spec, split)
    candidates = rank_candidates(split.num_users, split.num_items)
    top = build_spectral(spec.model.with_name("spectral"), spec.build_context(split.train)).fit(split.train)
    scores = {r: _score_on_carve(top.truncated(r), split, metric) for r in candidates}
    best = max(candidates, key=lambda r: (scores[r], -r))
    return {"metric": metric, "scores": {str(r): v for r, v in scores.items()}, "chosen": best, "model": top}


def spectral_on_carve(spec: RunSpec, split: Split) -> tuple[Model, Interactions, dict[str, Any]]:
    """``--model spectral`` without a rank: choose it on the carve, then fit it on train + carve."""
    from ncf.app.model_builders import build_spectral

    t0 = time.perf_counter()
    chosen = choose_spectral_rank(spec, split)
    top = chosen.pop("model")
    assert split.valid is not None
    if not spec.split.refit:
        info = {"done": False, "reason": "--no-refit: the model fitted on the carved training rows is kept",
                "spectral_rank": chosen}
        return top.truncated(chosen["chosen"]), split.train, info
    full = split.train.concat(split.valid)
    fixed = spec.model.with_name("spectral")
    fixed = dataclasses.replace(fixed, spectral_rank=chosen["chosen"])
    model = build_spectral(fixed, spec.build_context(full)).fit(full)
    return model, full, {"done": True, "rows": len(full), "carved_rows": len(split.train),
                         "seconds": time.perf_counter() - t0, "spectral_rank": chosen}


#: Shares of the spectral part tried when ``--spectral-weight auto`` (0: the trained model alone).
BLEND_SHARES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9)


def choose_blend_share(spec: RunSpec, model: Model, split: Split) -> dict[str, Any]:
    """``--spectral-weight auto``: the share of a spectral model (rank chosen on the carve) in
    ``(1 - s) * model / spread(model) + s * spectral / spread(spectral)`` with the best validation
    metric, among :data:`BLEND_SHARES` (ties go to the smaller share). ``model`` is trained on the
    carved rows; each part's scores are divided by their spread so a share means the same on
    every dataset and loss."""
    from ncf.models import Blend, score_spread

    if split.valid is None:
        raise ConfigError("choosing the blend needs a validation carve")
    rank = spec.model.spectral_rank
    ranks: dict[str, Any] | None = None
    if rank is None:
        ranks = choose_spectral_rank(spec, split)
        spectral = ranks.pop("model").truncated(ranks["chosen"])
    else:
        from ncf.app.model_builders import build_spectral

        spectral = build_spectral(spec.model.with_name("spectral"), spec.build_context(split.train)).fit(split.train)
    if not isinstance(model, Factorized):
        raise ConfigError(f"a spectral blend needs a factorized model, not {model.name!r}")
    metric = carve_metric(spec, split)
    a, b = score_spread(model, seed=spec.train.seed), score_spread(spectral, seed=spec.train.seed)
    scores = {str(share): _score_on_carve(model if share == 0.0 else Blend.of([model, spectral],
                                                                             [(1 - share) / a, share / b]),
                                          split, metric)
              for share in BLEND_SHARES}
    best = max(BLEND_SHARES, key=lambda s: (scores[str(s)], -s))
    return {"metric": metric, "scores": scores, "share": best,
            "spectral_rank": spectral.rank if ranks is None else ranks["chosen"], "spectral": spectral}


def blend_spectral(spec: RunSpec, model: Model, train: Interactions, split: Split,
                    share: dict[str, Any] | None = None) -> tuple[Model, dict[str, Any] | None]:
    """``model + w * SpectralMF(train)`` as one :class:`Blend`, w = ``spectral-weight``; with
    ``auto`` the share chosen by :func:`choose_blend_share` (each part's scores normalised by
    their spread; share 0 keeps ``model`` alone). Without a rank, the spectral part's rank is
    chosen on the carve first (returned, else None)."""
    from ncf.app.model_builders import build_spectral
    from ncf.models import Blend, score_spread

    sub = spec.model.with_name("spectral")
    chosen = None
    if share is not None:
        if share["share"] == 0.0:
            return model, None
        sub = dataclasses.replace(sub, spectral_rank=share["spectral_rank"])
    elif sub.spectral_rank is None:
        chosen = choose_spectral_rank(spec, split)
        chosen.pop("model")
        sub = dataclasses.replace(sub, spectral_rank=chosen["chosen"])
    if share is not None and train is split.train and "spectral" in share:
        spectral = share["spectral"]  # the carve's fit the share was chosen with: no second SVD
    else:
        spectral = build_spectral(sub, spec.build_context(train)).fit(train)
    if share is None:
        weight = spec.model.spectral_weight
        assert weight is not None
        return Blend.of([model, spectral], [1.0, weight]), chosen
    s, seed = share["share"], spec.train.seed
    assert isinstance(model, Factorized)  # choose_blend_share checked it
    return Blend.of([model, spectral], [(1 - s) / score_spread(model, seed=seed),
                                        s / score_spread(spectral, seed=seed)]), chosen
