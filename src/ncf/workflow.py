"""End-to-end jobs behind the CLI: train a run directory, evaluate it, recommend, quickstart.

Plain typed functions so tests call them directly with small arguments.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ncf._io import atomic_write
from ncf._types import PathLike
from ncf.config import TrainConfig
from ncf.data.features import FeatureTable
from ncf.data.interactions import Interactions, Split
from ncf.errors import ConfigError, DataError, UnknownIdError
from ncf.run import (
    load_split,
    open_run,
    require_model,
    save_split,
    write_run_info,
    write_titles,
)

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


#: Models fitted in closed form by ``model.fit(train)``, not by the trainer.
CLOSED_FORM_MODELS = ("popularity", "spectral")


def make_split(data: Interactions, protocol: str, *, negatives: int, seed: int, test_fraction: float = 0.2) -> Split:
    """Split raw interactions by ``protocol``: ``loo`` (with negatives), ``temporal`` or ``random``."""
    from ncf.data.splits import leave_one_out, random_split, temporal_split

    if protocol == "loo":
        return leave_one_out(data, num_negatives=negatives, seed=seed)
    if protocol == "temporal":
        return temporal_split(data, test_fraction=test_fraction)
    if protocol == "random":
        return random_split(data, test_fraction=test_fraction, seed=seed)
    raise ConfigError(f"unknown protocol {protocol!r}")


def parse_layers(text: str) -> tuple[int, ...]:
    try:
        layers = tuple(int(x) for x in str(text).replace(" ", "").split(",") if x)
    except ValueError as exc:
        raise ConfigError(f"--layers must be comma-separated integers, got {text!r}") from exc
    if not layers or any(w <= 0 for w in layers):
        raise ConfigError(f"--layers must be positive integers, got {text!r}")
    return layers


def default_metric(protocol: str) -> str:
    return "ndcg@10" if protocol == "sampled" else "recall@20"


def prepare_split(opts: dict[str, Any]) -> tuple[Split, Any]:
    """Read the data and build the split: a published split as-is, else the chosen protocol.

    A validation split is carved from train when ``valid`` is on (default: when the
    number of epochs is not fixed, i.e. early stopping needs it, and the model is trained, not
    fitted in closed form).
    """
    from ncf.data.readers import load_dataset
    from ncf.data.splits import validation_split

    ds = load_dataset(opts["data"], format=opts.get("format"))
    split = ds.split
    if split is None:
        split = make_split(ds.interactions, opts["protocol"], negatives=99, seed=opts["seed"])
    closed_form = opts.get("model") in CLOSED_FORM_MODELS  # fitted once: nothing to stop early
    use_valid = opts["valid"] if opts["valid"] is not None else (opts["epochs"] is None and not closed_form)
    if use_valid:
        test_negs = split.test_negatives
        sampled = test_negs is not None
        negs = int(np.max(np.sum(test_negs >= 0, axis=1))) if test_negs is not None else 0
        train, valid, valid_negs = validation_split(
            split.train,
            method="loo" if sampled else "random",
            fraction=0.1,
            num_negatives=negs,
            seed=opts["seed"],
        )
        split = Split(train, split.test, valid, split.test_negatives, valid_negs)
    return split, ds


def build_model(opts: dict[str, Any], num_users: int, num_items: int,
                user_features: FeatureTable | None = None, item_features: FeatureTable | None = None) -> Any:
    """Model from CLI options (dim, layers, dropout, temperature)."""
    from ncf.models import (
        FPMC,
        GMF,
        MLP,
        MatrixFactorization,
        NeuMF,
        Popularity,
        SpectralMF,
        TwoTower,
    )

    name = opts["model"]
    dim = int(opts["dim"])
    layers = parse_layers(opts["layers"])
    if name == "mf":
        cosine = bool(opts.get("cosine"))
        return MatrixFactorization(num_users, num_items, embedding_dim=dim, use_bias=not cosine, normalize=cosine,
                                   sparse=opts.get("optimizer") in ("sparse_adam", "adagrad"))
    if name == "gmf":
        return GMF(num_users, num_items, embedding_dim=dim)
    if name == "mlp":
        return MLP(num_users, num_items, embedding_dim=max(layers[0] // 2, 1), layers=layers, dropout=opts["dropout"])
    if name == "neumf":
        return NeuMF(num_users, num_items, gmf_dim=dim, mlp_dim=max(layers[0] // 2, 1), layers=layers, dropout=opts["dropout"])
    if name == "two-tower":
        kw: dict[str, Any] = {"embedding_dim": dim, "layers": layers, "dropout": opts["dropout"]}
        if opts.get("temperature") is not None:
            kw["temperature"] = opts["temperature"]
        if opts.get("features"):
            kw["user_features"] = user_features
            kw["item_features"] = item_features
        return TwoTower(num_users, num_items, **kw)
    if name == "popularity":
        return Popularity(num_users, num_items)
    if name == "fpmc":
        return FPMC(num_users, num_items, embedding_dim=dim)
    if name == "spectral":
        return SpectralMF(num_users, num_items, rank=_spectral_rank(opts, num_users, num_items), seed=opts["seed"])
    raise ConfigError(f"unknown model {name!r}")


def _spectral_rank(opts: dict[str, Any], num_users: int, num_items: int) -> int:
    """``spectral-rank``, clipped to the universe (a tiny dataset cannot have 1024 components)."""
    asked = int(opts.get("spectral-rank") or 1024)
    rank = max(1, min(asked, num_users, num_items))
    if rank < asked:
        logger.warning("spectral-rank %d exceeds min(users, items); using %d (all components: no low-pass "
                       "filtering, choose a smaller rank)", asked, rank)
    return rank


def _blend_spectral(opts: dict[str, Any], model: Any, train: Interactions) -> Any:
    """``model + w * SpectralMF(train)`` as one :class:`Blend`, w = ``spectral-weight``."""
    from ncf.models import Blend, SpectralMF

    spectral = SpectralMF(train.num_users, train.num_items, rank=_spectral_rank(opts, train.num_users, train.num_items),
                          seed=opts["seed"]).fit(train)
    return Blend.of([model, spectral], [1.0, float(opts["spectral-weight"])])


def _check_spectral_blend(opts: dict[str, Any], model: Any) -> bool:
    """Whether ``spectral-weight`` asks for a blend; raises before training when ``model`` cannot take one."""
    from ncf.models import Factorized, SequenceAware

    if not opts.get("spectral-weight") or opts["model"] in CLOSED_FORM_MODELS:
        return False
    if not isinstance(model, Factorized) or isinstance(model, SequenceAware):
        raise ConfigError(f"spectral-weight needs a factorized model without sequence context, not {opts['model']!r}")
    return True


def train_config(opts: dict[str, Any], *, sampled: bool, show_progress: bool) -> TrainConfig:
    protocol = "sampled" if sampled else "full"
    metric = opts["metric"] or default_metric(protocol)
    two_tower = opts["model"] == "two-tower"
    return TrainConfig(
        loss=opts["loss"],
        epochs=opts["epochs"],
        max_epochs=opts["max-epochs"],
        batch_size=opts["batch-size"],
        lr=opts["lr"],
        lr_schedule=opts.get("lr-schedule") or "constant",
        weight_decay=opts["weight-decay"],
        l2=opts["l2"],
        optimizer=opts["optimizer"],
        num_negatives=opts["negatives"],
        sampler=opts["sampler"],
        hard_negatives=opts["hard-negatives"],
        extra_negatives=opts["extra-negatives"],
        # the two-tower model owns its temperature; others scale softmax logits here
        temperature=1.0 if two_tower or opts["temperature"] is None else opts["temperature"],
        logq=opts["logq"],
        logq_weight=1.0 if opts.get("logq-weight") is None else opts["logq-weight"],
        patience=opts["patience"],
        metric=metric,
        eval_k=(10,) if sampled else (20,),
        eval_protocol=protocol,
        eval_every=opts["eval-every"],
        seed=opts["seed"],
        device=opts["device"],
        checkpoint_every=opts.get("checkpoint-every") or 1,
        softmax_bf16=bool(opts.get("softmax-bf16")),
        show_progress=show_progress,
    )


def _save_features(run_dir: Path, ds: Any) -> tuple[FeatureTable | None, FeatureTable | None]:
    feats = []
    for name in ("user_features", "item_features"):
        table = getattr(ds, name, None)
        if table is not None:
            table.save(run_dir / "features" / name)
        feats.append(table)
    return feats[0], feats[1]


def _load_features(run_dir: Path) -> tuple[FeatureTable | None, FeatureTable | None]:
    out = []
    for name in ("user_features", "item_features"):
        p = run_dir / "features" / name
        out.append(FeatureTable.load(p) if p.with_suffix(".npy").is_file() else None)
    return out[0], out[1]


def train_run(opts: dict[str, Any], out: PathLike, *, resume: bool = False, show_progress: bool = True) -> str:
    """Train per ``opts`` (resolved CLI options) into run directory ``out``; returns a summary."""
    import torch

    from ncf._rng import seed_everything
    from ncf.persistence import save_model
    from ncf.training import Trainer

    run_dir = Path(out)
    existing = (run_dir / "run.json").is_file()
    if existing and not resume:
        raise ConfigError(f"{run_dir} already holds a run; use --resume to continue it or another --out")
    if existing:
        info = open_run(run_dir).info
        saved = info["options"]
        changed = {k for k in saved if k != "data" and opts.get(k) is not None and opts.get(k) != saved[k]
                   and k in opts and opts[k] != _default(k)}
        if changed:
            raise ConfigError(f"--resume with different options: {', '.join(sorted(changed))}")
        opts = dict(saved)
        split = load_split(run_dir / "split")
        user_features, item_features = _load_features(run_dir)
    else:
        if opts.get("data") is None:
            raise ConfigError("no data given")
        split, ds = prepare_split(opts)
        run_dir.mkdir(parents=True, exist_ok=True)
        save_split(split, run_dir / "split")
        user_features, item_features = _save_features(run_dir, ds)
        if getattr(ds, "item_titles", None) is not None:
            write_titles(run_dir, [str(t) for t in ds.item_titles])
        info = {
            "format_version": FORMAT_VERSION,
            "data": {"source": str(opts["data"]), "format": getattr(ds, "format", None),
                     "path": getattr(ds, "path", None)},
            "split": {"published": ds.split is not None, "protocol": opts["protocol"] if ds.split is None else "published",
                      "seed": opts["seed"], "valid": split.valid is not None},
            "options": opts,
            "status": "training",
        }
        write_run_info(run_dir, info)

    sampled = split.test_negatives is not None
    cfg = train_config(opts, sampled=sampled, show_progress=show_progress)
    seed_everything(cfg.seed)
    train = split.train
    model = build_model(opts, train.num_users, train.num_items, user_features, item_features)
    blend = _check_spectral_blend(opts, model)  # fail before training, not after
    t0 = time.perf_counter()
    history = None
    if opts["model"] in CLOSED_FORM_MODELS:
        model.fit(train)
    else:
        if opts["model"] == "neumf" and opts.get("pretrain"):
            model = _pretrain_neumf(opts, cfg, split, run_dir, resume)
        trainer = Trainer(cfg)
        history = trainer.fit(
            model, train, valid=split.valid, valid_negatives=split.valid_negatives,
            checkpoint_dir=run_dir / "checkpoint", resume=resume, log_path=run_dir / "log.jsonl",
        )
    if blend:
        model = _blend_spectral(opts, model, train)
    seconds = time.perf_counter() - t0
    model.to(torch.device("cpu"))
    _set_sequence_context(model, _exclusions(split, "test"))  # rank after the latest known item
    metadata = {"options": opts, "train_seconds": seconds}
    if history is not None:
        metadata.update(best_epoch=history.best_epoch, best_metric=history.best_metric, epochs=len(history.epochs))
    save_model(model, run_dir / "model", user_map=train.user_map, item_map=train.item_map, metadata=metadata)
    info["status"] = "done"
    info["train_seconds"] = seconds
    if history is not None:
        info["history"] = {"epochs": len(history.epochs), "best_epoch": history.best_epoch,
                           "best_metric": history.best_metric, "metric": cfg.metric,
                           "stopped_early": history.stopped_early}
    write_run_info(run_dir, info)
    loss = "" if opts["model"] in CLOSED_FORM_MODELS else f" ({opts['loss']})"
    if opts.get("spectral-weight") and opts["model"] not in CLOSED_FORM_MODELS:
        loss += f" + {opts['spectral-weight']} x spectral"
    lines = [f"trained {opts['model']}{loss} in {seconds:.1f}s -> {run_dir}"]
    if history is not None and history.best_metric is not None:
        lines.append(f"best validation {cfg.metric} = {history.best_metric:.4f} at epoch {history.best_epoch}")
    return "\n".join(lines)


def _default(key: str) -> Any:
    from ncf.cli import TRAIN_OPTIONS

    return TRAIN_OPTIONS[key][0]


def _pretrain_neumf(opts: dict[str, Any], cfg: TrainConfig, split: Split, run_dir: Path, resume: bool) -> Any:
    """He et al. 2017 pre-training: train GMF and MLP, then initialise NeuMF from both (alpha 0.5)."""
    import dataclasses

    from ncf.models import NeuMF
    from ncf.training import Trainer

    parts = {}
    for name in ("gmf", "mlp"):
        sub = dict(opts, model=name)
        model = build_model(sub, split.num_users, split.num_items)
        sub_cfg = dataclasses.replace(cfg, epochs=opts.get("pretrain-epochs") or cfg.epochs)
        Trainer(sub_cfg).fit(model, split.train, valid=split.valid, valid_negatives=split.valid_negatives,
                             checkpoint_dir=run_dir / f"pretrain-{name}", resume=resume)
        parts[name] = model
    return NeuMF.from_pretrained(parts["gmf"], parts["mlp"], alpha=0.5)


def _set_sequence_context(model: Any, parts: list[Interactions]) -> None:
    """Sequence-aware models (FPMC) rank each user after their latest item in ``parts``."""
    from ncf.models import SequenceAware

    if not isinstance(model, SequenceAware):
        return
    known = parts[0]
    for extra in parts[1:]:
        known = known.concat(extra)
    model.set_context(known)


def _exclusions(split: Split, part: str) -> list[Interactions]:
    if part == "valid":
        return [split.train]
    return [split.train] + ([split.valid] if split.valid is not None else [])


def evaluate_run(run_dir: PathLike, *, k: list[int], protocol: str | None = None, data: str | None = None,
                 fmt: str | None = None, part: str = "test", save_rankings: PathLike | None = None) -> Any:
    """Evaluate the model of a run directory on its saved split (or on ``data``)."""
    from ncf.evaluation import evaluate
    from ncf.persistence import load_model

    run = open_run(run_dir)
    saved = load_model(require_model(run))
    split = load_split(run.split_dir)
    if data is not None:
        split = _split_from_other_data(data, fmt, run.info, split, saved)
    target = split.valid if part == "valid" else split.test
    negatives = split.valid_negatives if part == "valid" else split.test_negatives
    if target is None or len(target) == 0:
        raise DataError(f"the run has no {part} interactions to evaluate")
    if protocol is None:
        protocol = "sampled" if negatives is not None else "full"
    if protocol == "sampled" and negatives is None:
        raise ConfigError("this split has no sampled negatives: use --protocol full")
    _set_sequence_context(saved.model, _exclusions(split, part))
    report = evaluate(
        saved.model, target, exclude=_exclusions(split, part), k=tuple(k),
        protocol="sampled" if protocol == "sampled" else "full",
        negatives=negatives if protocol == "sampled" else None, train_counts=split.train.item_counts(),
        keep_rankings=save_rankings is not None,
    )
    if save_rankings is not None:
        _write_rankings(save_rankings, report, saved.user_map, saved.item_map)
    return report


def _split_from_other_data(data: str, fmt: str | None, info: dict[str, Any], split: Split, saved: Any) -> Split:
    from ncf.data.readers import load_dataset

    ds = load_dataset(data, format=fmt)
    if saved.item_map is not None and ds.interactions.item_map is not None and ds.interactions.item_map != saved.item_map:
        raise DataError(f"{data}: its item ids differ from the model's id map")
    if saved.user_map is not None and ds.interactions.user_map is not None and ds.interactions.user_map != saved.user_map:
        raise DataError(f"{data}: its user ids differ from the model's id map")
    if ds.split is None:
        opts = info["options"]

        other: Split = make_split(ds.interactions, opts["protocol"], negatives=99, seed=opts["seed"])
        return other
    return ds.split


def _write_rankings(path: PathLike, report: Any, user_map: Any, item_map: Any) -> None:
    if report.rankings is None or report.ranked_users is None:
        raise DataError("this evaluation produced no rankings to save")
    users = np.asarray(report.ranked_users)
    ids = np.asarray(report.rankings.ids)
    raw_users = user_map.decode(users) if user_map is not None else users
    with atomic_write(path, "w", encoding="utf-8") as fh:
        for r in range(len(users)):
            row = ids[r][ids[r] >= 0]
            raw_items = item_map.decode(row) if item_map is not None else row
            fh.write("\t".join([str(raw_users[r]), *map(str, raw_items)]) + "\n")


def recommend_run(run_dir: PathLike, raw_users: list[str], *, k: int = 10) -> dict[str, list[dict[str, Any]]]:
    """Top-``k`` unseen items per raw user id, with titles when the dataset has them."""
    from ncf.evaluation import recommend
    from ncf.persistence import load_model

    run = open_run(run_dir)
    saved = load_model(require_model(run))
    split = load_split(run.split_dir)
    if saved.user_map is not None:
        try:
            users = saved.user_map.encode(np.asarray(raw_users))
        except UnknownIdError as exc:
            raise UnknownIdError(f"{exc} (not a user of this run)") from exc
    else:
        users = np.asarray([int(u) for u in raw_users], dtype=np.int64)
    seen = split.train
    for extra in (split.valid, split.test):
        if extra is not None:
            seen = seen.concat(extra)
    top = recommend(saved.model, users, k=k, exclude=seen.to_csr())
    titles = run.item_titles()
    out: dict[str, list[dict[str, Any]]] = {}
    for r, raw in enumerate(raw_users):
        ids = np.asarray(top.ids[r])
        scores = np.asarray(top.scores[r])
        keep = ids >= 0
        raw_items = saved.item_map.decode(ids[keep]) if saved.item_map is not None else ids[keep]
        out[str(raw)] = [
            {"item": str(ri), "score": float(s), **({"title": titles[i]} if titles else {})}
            for ri, s, i in zip(raw_items, scores[keep], ids[keep], strict=True)
        ]
    return out


def quickstart(run_dir: PathLike, *, seed: int = 0, show_progress: bool = True) -> Iterator[str]:
    """Synthetic data -> leave-one-out split -> MF vs popularity -> top-10 for a few users."""
    from ncf.cli import TRAIN_OPTIONS
    from ncf.data.splits import leave_one_out
    from ncf.data.synthetic import synthetic
    from ncf.data.writers import write_neumf

    run_dir = Path(run_dir)
    data = synthetic(seed=seed)
    inter = data.interactions
    yield f"synthetic data: {inter.num_users} users, {inter.num_items} items, {len(inter)} interactions"
    split = leave_one_out(inter, num_negatives=99, seed=seed)
    data_dir = run_dir / "data"
    write_neumf(split, data_dir, prefix="synthetic")
    yield f"leave-one-out split with 99 negatives per user -> {data_dir}"
    base = {k: d for k, (d, _) in TRAIN_OPTIONS.items()}
    runs: tuple[tuple[str, dict[str, Any]], ...] = (
        ("popularity", {}),
        ("mf", {"loss": "bpr", "dim": 32, "lr": 5e-3, "negatives": 4, "batch-size": 1024}),
        ("neumf", {"loss": "bce", "dim": 16, "layers": "64,32,16", "lr": 2e-3, "negatives": 4, "batch-size": 512}),
    )
    for name, extra in runs:
        opts = dict(base, data=str(data_dir), model=name, seed=seed, **extra)
        out = run_dir / name
        yield train_run(opts, out, show_progress=show_progress)
        report = evaluate_run(out, k=[10], protocol="sampled")
        yield f"{name:>10} test: HR@10 {report.metrics['hr@10']:.4f}  NDCG@10 {report.metrics['ndcg@10']:.4f}"
    # titles of the synthetic items, shown by `ncf recommend`
    write_titles(run_dir / "mf", [str(t) for t in data.item_titles])
    raw_users = [str(u) for u in inter.user_map.decode(np.arange(3))] if inter.user_map is not None else ["0", "1", "2"]
    recs = recommend_run(run_dir / "mf", raw_users, k=10)
    for user, items in recs.items():
        yield f"top-10 for user {user}: " + ", ".join(r.get("title", r["item"]) for r in items)
