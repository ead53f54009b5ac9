"""``ncf evaluate``: a run's model on its saved test (or validation) split, or on another copy of
the data, and the rankings it made as TSV."""

from __future__ import annotations

import numpy as np

from ncf._io import atomic_write, check_output
from ncf._types import PathLike
from ncf.app.artifact import Run
from ncf.app.datasets import load_data, local_paths
from ncf.app.splitting import make_split
from ncf.data.interactions import Split
from ncf.errors import ConfigError, DataError
from ncf.evaluation import EvalReport, evaluate


def evaluate_run(
    run: Run | PathLike,
    *,
    k: list[int] | tuple[int, ...] = (10,),
    protocol: str | None = None,
    part: str = "test",
    data: str | None = None,
    format: str | None = None,
    save_rankings: PathLike | None = None,
) -> EvalReport:
    """Evaluate a run's model on its saved test (or validation) split, or on another copy of the data."""
    run = run if isinstance(run, Run) else Run.load(run)
    if save_rankings is not None:
        check_output(save_rankings, [*run.dir.owned_paths(), *local_paths(data)], what="--save-rankings")
    split = run.split if data is None else _split_from_other_data(run, data, format)
    target = split.valid if part == "valid" else split.test
    negatives = split.valid_negatives if part == "valid" else split.test_negatives
    if target is None or len(target) == 0:
        raise DataError(f"the run has no {part} interactions to evaluate")
    saved = run.info.history or {}
    if part == "valid" and data is None and (saved.get("refit") or {}).get("done"):
        raise ConfigError("this run was refit on train + validation after early stopping, so its model has seen the "
                          f"validation rows; the validation {saved.get('metric')} of the carved model is in run.json "
                          f"(history.best_metric = {saved.get('best_metric')}); train with --no-refit to evaluate "
                          "on the carve")
    if protocol is None:
        protocol = "sampled" if negatives is not None else "full"
    if protocol not in ("sampled", "full"):
        raise ConfigError(f"protocol must be 'sampled' or 'full', got {protocol!r}")
    if protocol == "sampled" and negatives is None:
        raise ConfigError("this split has no sampled negatives: use --protocol full")
    known = [split.train] + ([split.valid] if part == "test" and split.valid is not None else [])
    run.set_context(known)
    report = evaluate(
        run.model, target, exclude=known, k=tuple(k),
        protocol="sampled" if protocol == "sampled" else "full",
        negatives=negatives if protocol == "sampled" else None, train_counts=split.train.item_counts(),
        keep_rankings=save_rankings is not None,
    )
    if save_rankings is not None:
        write_rankings(save_rankings, report, run)
    return report


def _split_from_other_data(run: Run, data: str, format: str | None) -> Split:
    ds = load_data(data, format=format)
    for what, theirs, ours in (("item", ds.interactions.item_map, run.item_map),
                               ("user", ds.interactions.user_map, run.user_map)):
        if ours is not None and theirs is not None and theirs != ours:
            raise DataError(f"{data}: its {what} ids differ from the model's id map")
    if ds.split is not None:
        return ds.split  # type: ignore[no-any-return]
    spec = run.spec
    negatives = spec.split.test_negatives if spec.split.protocol == "loo" else 0
    return make_split(ds.interactions, spec.split.protocol, negatives=negatives,
                      seed=spec.train.seed, test_fraction=spec.split.test_fraction)


def write_rankings(path: PathLike, report: EvalReport, run: Run) -> None:
    """Each evaluated user's ranking as TSV: a header, then ``user rank item score`` rows."""
    if report.rankings is None or report.ranked_users is None:
        raise DataError("this evaluation produced no rankings to save")
    users = np.asarray(report.ranked_users)
    ids = np.asarray(report.rankings.ids)
    scores = np.asarray(report.rankings.scores)
    raw_users = run.decode_users(users)
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write("user\trank\titem\tscore\n")
        for r, raw_user in enumerate(raw_users):
            keep = ids[r] >= 0
            raw_items = run.decode_items(ids[r][keep])
            for rank, (item, score) in enumerate(zip(raw_items, scores[r][keep], strict=True), 1):
                fh.write(f"{raw_user}\t{rank}\t{item}\t{float(score):.6g}\n")
