"""``evaluate``: the entry point over the full-ranking and sampled protocols.

Example
-------
>>> report = evaluate(model, split.test, exclude=split.train, k=(10, 20))  # doctest: +SKIP
>>> report.metrics["ndcg@20"]                                               # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch

from ncf.config import check_type
from ncf.data.interactions import Interactions
from ncf.errors import ConfigError, DataError
from ncf.evaluation.metrics import as_cutoffs
from ncf.evaluation.protocols import check_negatives, full_ranking, sampled_ranking
from ncf.models.base import Model
from ncf.retrieval.recommend import ExcludeLike, as_exclusion_matrix
from ncf.retrieval.topk import TopK

__all__ = ["EvalReport", "evaluate"]

logger = logging.getLogger(__name__)

Protocol = Literal["full", "sampled"]


@dataclass(frozen=True)
class EvalReport:
    """Result of :func:`evaluate`: mean metrics plus what was evaluated and how long it took.

    Attributes
    ----------
    metrics : dict of str to float
        ``{"hr@10": ..., "ndcg@10": ..., ...}`` averaged over users (full) or rows (sampled).
    users : int
        Users evaluated (full) or test rows evaluated (sampled).
    seconds : float
        Wall-clock time of the evaluation.
    protocol : str
        ``"full"`` or ``"sampled"``.
    rankings : TopK or None
        Top-``max(k)`` lists of the evaluated users/rows (with ``keep_rankings``); under the
        sampled protocol these are ranked candidates (test item + negatives).
    ranked_users : (U,) int64 or None
        The user of each row of ``rankings``.
    skipped : int
        Test users without a relevant item left after exclusion (full protocol).
    """

    metrics: dict[str, float]
    users: int
    seconds: float
    protocol: str
    rankings: TopK | None = field(default=None, repr=False)
    ranked_users: npt.NDArray[np.int64] | None = field(default=None, repr=False)
    skipped: int = 0

    def to_dict(self) -> dict[str, float | int]:
        """The metrics, flat, plus ``"users"`` and ``"seconds"`` (JSON-serialisable)."""
        out: dict[str, float | int] = dict(self.metrics)
        out["users"] = self.users
        out["seconds"] = self.seconds
        return out

    def format_table(self, digits: int = 4) -> str:
        """A plain-text table: one line per metric, one column per cut-off ``K``."""
        by_metric: dict[str, dict[int, float]] = {}
        single: dict[str, float] = {}
        for name, value in self.metrics.items():
            base, sep, cut = name.partition("@")
            if sep and cut.isdigit():
                by_metric.setdefault(base, {})[int(cut)] = value
            else:
                single[name] = value
        ks = sorted({k for cols in by_metric.values() for k in cols})
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        lines = [f"{self.protocol} ranking: {self.users} users{skipped}, {self.seconds:.2f} s"]

        def fmt(v: float | None) -> str:
            if v is None:
                return "-"
            return "nan" if math.isnan(v) else f"{v:.{digits}f}"

        width = max([len(n) for n in [*by_metric, *single, "metric"]])
        cell = max(digits + 4, max((len(f"@{k}") for k in ks), default=0))
        if by_metric:
            lines.append("metric".ljust(width) + "".join(f"  {f'@{k}':>{cell}}" for k in ks))
            for name, cols in by_metric.items():
                lines.append(
                    name.ljust(width) + "".join(f"  {fmt(cols.get(k)):>{cell}}" for k in ks)
                )
        for name, value in single.items():
            lines.append(name.ljust(width) + f"  {fmt(value):>{cell}}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_table()


def _check_test_universe(model: Model, test: Interactions) -> None:
    if len(test) == 0:
        raise DataError("the test set is empty; nothing to evaluate")
    if int(test.users.max()) >= model.num_users:
        raise DataError(
            f"test user {int(test.users.max())} is outside the model's {model.num_users} users; "
            "train and test must share one universe",
            field="users",
        )
    if int(test.items.max()) >= model.num_items:
        raise DataError(
            f"test item {int(test.items.max())} is outside the model's {model.num_items} items; "
            "train and test must share one universe",
            field="items",
        )


def evaluate(
    model: Model,
    test: Interactions,
    *,
    exclude: ExcludeLike = None,
    k: int | Sequence[int] = (10,),
    protocol: Protocol = "full",
    negatives: npt.ArrayLike | None = None,
    train_counts: npt.ArrayLike | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    keep_rankings: bool = False,
) -> EvalReport:
    """Evaluate ``model`` on held-out interactions by full ranking or the sampled protocol.

    Parameters
    ----------
    model : Model
        Any ncf model; put in eval mode for the call and restored afterwards.
    test : Interactions
        Held-out interactions over the model's universe.
    exclude : Interactions, sequence of Interactions or scipy sparse, optional
        Known positives (train, valid) over ``test``'s universe. Full protocol: removed from
        every ranking, and dropped from a user's relevant set when also in ``test``. Sampled
        protocol: dropped from the negatives.
    k : int or sequence of int
        Cut-offs; all are computed in one pass.
    protocol : {"full", "sampled"}
        ``"full"``: each test user ranks all items (Recall/NDCG@K as in LightGCN).
        ``"sampled"``: each test row ranks its item against ``negatives`` (NeuMF).
    negatives : (len(test), C) int64, optional
        Required for ``"sampled"``; row ``r`` belongs to test row ``r``, padded with -1
        (``Split.test_negatives``).
    train_counts : (num_items,) int, optional
        Training interactions per item; adds ``popularity@K`` (full protocol).
    batch_size : int, optional
        Users per ranking chunk (full) or rows per scoring call (sampled).
    device : str or torch.device, optional
        Where the full ranking runs (see :func:`ncf.retrieval.topk`); sampled scoring runs on
        the model's device.
    keep_rankings : bool
        Keep the top-``max(k)`` lists in the report (full protocol).

    Returns
    -------
    EvalReport
        Full: ``hr``, ``recall``, ``precision``, ``ndcg``, ``mrr``, ``map`` and ``coverage``
        (plus ``popularity``) at each K, averaged over evaluated users. Sampled: ``hr``,
        ``ndcg``, ``mrr`` at each K and ``auc``, averaged over test rows.

    Raises
    ------
    ConfigError
        A non-positive ``k``, an unknown protocol, ``negatives`` missing for ``"sampled"`` or
        given for ``"full"``.
    DataError
        An empty test set, test indices outside the model's universe, ``exclude`` of another
        shape, or misaligned ``negatives``/``train_counts``.

    Examples
    --------
    >>> report = evaluate(model, split.test, exclude=split.train, k=(10, 20))  # doctest: +SKIP
    >>> print(report.format_table())                                           # doctest: +SKIP
    """
    check_type(model, Model, "model")
    check_type(test, Interactions, "test")
    start = time.perf_counter()
    ks = as_cutoffs(k)
    if protocol not in ("full", "sampled"):
        raise ConfigError(f"unknown protocol {protocol!r}; choose 'full' or 'sampled'")
    if not isinstance(test, Interactions):
        raise DataError(f"test must be Interactions, got {type(test).__name__}")
    _check_test_universe(model, test)
    mask = as_exclusion_matrix(exclude, test.shape, universe=(model.num_users, model.num_items))
    if protocol == "full":
        if negatives is not None:
            raise ConfigError("negatives are only used by protocol='sampled'")
        counts = None
        if train_counts is not None:
            counts = np.asarray(train_counts, dtype=np.float64)
            if counts.shape != (model.num_items,):
                raise DataError(
                    f"train_counts must have one count per item ({model.num_items},), got {counts.shape}",
                    field="train_counts",
                )
        result = full_ranking(
            model,
            test,
            exclude=mask,
            ks=ks,
            train_counts=counts,
            batch_size=batch_size,
            device=device,
            keep_rankings=keep_rankings,
        )
    else:
        if negatives is None:
            raise ConfigError(
                "protocol='sampled' needs negatives: a (len(test), C) array such as split.test_negatives"
            )
        neg = check_negatives(negatives, len(test), model.num_items)
        ks = as_cutoffs(ks, kmax=1 + int(neg.shape[1]))  # one rule with full ranking: k within the ranked list
        result = sampled_ranking(
            model, test, negatives=neg, exclude=mask, ks=ks, batch_size=batch_size,
            keep_rankings=keep_rankings,
        )
    seconds = time.perf_counter() - start
    logger.info("%s evaluation of %d users in %.2f s", protocol, result.users, seconds)
    return EvalReport(
        metrics=result.metrics,
        users=result.users,
        seconds=seconds,
        protocol=protocol,
        rankings=result.rankings,
        ranked_users=result.ranked_users,
        skipped=result.skipped,
    )
