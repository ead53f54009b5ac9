"""Refit after early stopping: does it help, and how does the chosen epoch count carry over?

The rule is chosen on validation only, by a nested carve of the training part T:
``T -> (T1, V1)`` (the carve ``ncf train`` makes) and ``T1 -> (T2, V2)`` (the same carve again).
Early stopping on (T2, V2) picks E2; then on V1 we compare the model trained on T2 (no refit)
with refits on T1 for E2 epochs ("same") and for E2 * |T1| / |T2| epochs ("scaled"). The test
split is read once, afterwards, for what users get: early stopping on (T1, V1) picks E1; the
model trained on T1 (``--no-refit``) against the refit on T for E1 epochs (the default).

    python benchmarks/refit_rule.py                          # ml-100k-loo, yelp, gowalla
    python benchmarks/refit_rule.py --datasets ml-100k-loo --model mf --loss softmax

Writes ``results/refit-rule.json`` (datasets already there are kept unless ``--force``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import Any

from _common import RESULTS, data_dir, machine, write_result

from ncf.app.jobs import build_model, load_data
from ncf.app.refit import refit_epochs
from ncf.app.spec import RunSpec
from ncf.app.splitting import carve_validation, test_split
from ncf.data.interactions import Interactions
from ncf.evaluation import evaluate
from ncf.training import Trainer

DATASETS = ("ml-100k-loo", "yelp", "gowalla")


def _score(model: Any, part: Interactions, known: list[Interactions], negatives: Any, metric: str) -> float:
    k = int(metric.split("@")[1])
    protocol = "sampled" if negatives is not None else "full"
    report = evaluate(model, part, exclude=known, k=(k,), protocol=protocol, negatives=negatives)
    return float(report.metrics[metric])


def _fit(spec: RunSpec, train: Interactions, split: Any, *, valid: Interactions | None = None,
         valid_negs: Any = None, epochs: int | None = None) -> tuple[Any, Any, float]:
    cfg = spec.trainer_config(show_progress=False).for_validation(sampled=split.test_negatives is not None)
    if epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=epochs)
    model = build_model(spec, split, (None, None))
    t0 = time.perf_counter()
    history = Trainer(cfg).fit(model, train, valid=valid, valid_negatives=valid_negs)
    return model, history, time.perf_counter() - t0


def study(dataset: str, options: dict[str, Any]) -> dict[str, Any]:
    spec = RunSpec.from_options(("refit_rule", {"data": str(data_dir() / dataset), **options}))
    data = load_data(spec.data.source)
    split = test_split(spec, data)
    metric = spec.trainer_config().for_validation(sampled=split.test_negatives is not None).metric
    assert metric is not None
    t1, v1, v1_negs, carve1 = carve_validation(split.train, split.test_negatives, spec)
    t2, v2, v2_negs, carve2 = carve_validation(t1, split.test_negatives, spec.replace(seed=spec.train.seed + 1))
    row: dict[str, Any] = {"metric": metric, "options": options, "rows": {"T": len(split.train), "T1": len(t1),
                                                                          "T2": len(t2)},
                           "carve": carve1.to_json()}
    # validation-only: which rule carries E2 from T2 to T1 best, judged on V1
    a, h2, s_a = _fit(spec, t2, split, valid=v2, valid_negs=v2_negs)
    e2 = int(h2.best_epoch)
    rules = {"same": refit_epochs(e2, len(t2), len(t1), "same"), "scaled": refit_epochs(e2, len(t2), len(t1), "scaled")}
    nested: dict[str, Any] = {"chosen_epoch_E2": e2, "no_refit_V1": _score(a, v1, [t1], v1_negs, metric),
                              "fit_seconds_T2": round(s_a, 2)}
    fitted: dict[int, float] = {}
    for rule, epochs in rules.items():
        if epochs not in fitted:
            model, _, secs = _fit(spec, t1, split, epochs=epochs)
            fitted[epochs] = _score(model, v1, [t1], v1_negs, metric)
        nested[rule] = {"epochs": epochs, "V1": fitted[epochs]}
    row["nested_validation"] = nested
    # test, read once: --no-refit against the default refit
    d, h1, s_d = _fit(spec, t1, split, valid=v1, valid_negs=v1_negs)
    e1 = int(h1.best_epoch)
    chosen_rule = max(("same", "scaled"), key=lambda r: (nested[r]["V1"], r == "same"))
    e_refit = refit_epochs(e1, len(t1), len(split.train), chosen_rule)
    e, _, s_e = _fit(spec, split.train, split, epochs=e_refit)
    full = split.train
    test_metric = metric
    row["test"] = {
        "chosen_epoch_E1": e1, "refit_epochs": e_refit, "rule_applied": chosen_rule,
        "no_refit": _score(d, split.test, [t1, v1], split.test_negatives, test_metric),
        "refit": _score(e, split.test, [full], split.test_negatives, test_metric),
        "seconds_no_refit": round(s_d, 2), "seconds_refit": round(s_e, 2),
    }
    if split.test_negatives is None:  # full ranking: NDCG@20 as well
        row["test"]["no_refit_ndcg@20"] = _score(d, split.test, [t1, v1], None, "ndcg@20")
        row["test"]["refit_ndcg@20"] = _score(e, split.test, [full], None, "ndcg@20")
    else:
        row["test"]["no_refit_hr@10"] = _score(d, split.test, [t1, v1], split.test_negatives, "hr@10")
        row["test"]["refit_hr@10"] = _score(e, split.test, [full], split.test_negatives, "hr@10")
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS))
    ap.add_argument("--model", default="mf")
    ap.add_argument("--loss", default=None, help="default: the model's default loss")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    path = RESULTS / "refit-rule.json"
    saved = json.loads(path.read_text()).get("datasets", {}) if path.is_file() else {}
    options: dict[str, Any] = {"model": args.model, **({"loss": args.loss} if args.loss else {})}
    for ds in args.datasets:
        if ds in saved and not args.force:
            continue
        print(f"{ds} ...", flush=True)
        saved[ds] = study(ds, options)
        print(json.dumps(saved[ds], indent=1), flush=True)
        write_result("refit-rule", {"benchmark": "refit-rule", "machine": machine(), "datasets": saved})
    return 0


if __name__ == "__main__":
    sys.exit(main())
