"""The jobs behind the command line: train a run directory, evaluate it, recommend, quickstart.

Plain typed functions over :class:`~ncf.app.spec.RunSpec` and :class:`~ncf.app.artifact.Run`,
which tests call directly. ``ncf train`` reads the data, splits it, builds and checks the model
(every option is validated here, before anything is written), then writes the run directory
and trains; a run that fails before its first checkpoint leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ncf._io import atomic_write, check_output
from ncf._types import PathLike
from ncf.app.artifact import Run
from ncf.app.filter_choice import filter_on_carve
from ncf.app.rundir import STATUS_DONE, STATUS_FAILED, RunDir, RunInfo
from ncf.app.spec import RunSpec
from ncf.app.splitting import Carve, make_split, run_split, scaled_batch
from ncf.config import TrainConfig
from ncf.data.features import FeatureTable
from ncf.data.interactions import Interactions, Split
from ncf.errors import ConfigError, DataError, NCFError, TrainingDivergedError, first_line
from ncf.evaluation import EvalReport, evaluate
from ncf.models.base import ClosedForm, Factorized, Model, SequenceAware
from ncf.training import Callback, History, Trainer
from ncf.training.callbacks import FitStart
from ncf.training.distributed import DistributedContext, fingerprint
from ncf.training.strategy import SingleProcess, Strategy

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------- data and split
def load_data(source: str, *, format: str | None = None, path: str | None = None) -> Any:
    """The dataset behind ``source`` (a registry name or a path); ``path`` is a local copy."""
    from ncf.data import load_dataset

    return load_dataset(source, format=format, path=path)


def split_dataset(source: str, out: PathLike, *, format: str | None = None, path: str | None = None,
                  protocol: str = "loo", negatives: int = 99, test_fraction: float = 0.2, seed: int = 0,
                  prefix: str = "data", force: bool = False) -> dict[str, Any]:
    """Split a dataset and write it in the NeuMF file format; an existing split is kept unless ``force``."""
    from ncf.data.writers import write_neumf

    target = check_output(out, _local_paths(source, path))
    existing = sorted(target.glob(f"{prefix}.*.rating")) + sorted(target.glob(f"{prefix}.test.negative"))
    if existing and not force:
        raise ConfigError(f"{target} already holds a split ({existing[0].name}); pass --force to replace it")
    if negatives < 1:
        raise ConfigError("the NeuMF file format needs sampled negatives: --negatives must be at least 1")
    dataset = load_data(source, format=format, path=path)
    split = make_split(dataset.interactions, protocol, negatives=negatives, seed=seed, test_fraction=test_fraction)
    write_neumf(split, target, prefix=prefix)
    counts = (split.test_negatives >= 0).sum(axis=1) if split.test_negatives is not None else np.zeros(0)
    return {"out": str(target), "protocol": protocol, "train": len(split.train), "test": len(split.test),
            "negatives_per_row": int(counts.max()) if counts.size else 0, "users": split.num_users,
            "items": split.num_items}


def _local_paths(*sources: str | None) -> list[Path]:
    """The data sources that are paths on this machine (a registry name is not one)."""
    return [Path(s) for s in sources if s is not None and Path(s).exists()]


def prepare_split(spec: RunSpec, dataset: Any) -> Split:
    """The dataset's published split (or one made by ``spec.split``), plus a validation carve."""
    return run_split(spec, dataset)[0]


# ---------------------------------------------------------------------- train
@dataclass(frozen=True)
class TrainResult:
    """What ``train`` did: where, which model, how long, and the training history."""

    run_dir: Path
    spec: RunSpec
    seconds: float
    history: History | None
    metric: str | None
    refit: dict[str, Any] | None = None  # what the refit did (run.json's history.refit)

    def summary(self) -> str:
        model = self.spec.model
        loss = "" if self.spec.closed_form else f" ({self.spec.train.loss})"
        if model.blends_spectral:
            loss += f" + {'auto' if model.spectral_weight is None else model.spectral_weight} x spectral"
        lines = [f"trained {model.name}{loss} in {self.seconds:.1f}s -> {self.run_dir}"]
        h = self.history
        if h is not None and h.best_metric is not None:
            lines.append(f"best validation {self.metric} = {h.best_metric:.4f} at epoch {h.best_epoch}")
        r = self.refit or {}
        blend = r.get("blend")
        if blend is not None:
            lines.append(f"spectral share {blend['share']} chosen on the validation carve ({blend['metric']} "
                         f"{blend['scores'][str(blend['share'])]:.4f}; alone {blend['scores']['0.0']:.4f})")
        shape = r.get("filter_shape")
        if shape is not None:
            chosen = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in shape["chosen"].items())
            lines.append(f"graph filter shape chosen on the validation carve ({shape['metric']} {shape['value']:.4f}, "
                         f"{shape['candidates']} candidates on {shape['users']} users): {chosen}")
        rank = r.get("spectral_rank")
        if rank is not None:
            lines.append(f"spectral rank {rank['chosen']} chosen on the validation carve ({rank['metric']} "
                         f"{rank['scores'][str(rank['chosen'])]:.4f})")
        if r.get("done"):
            epochs = f" for {r['epochs']} epochs" if "epochs" in r else ""
            lines.append(f"refit on all {r['rows']:,} training rows{epochs} ({r['seconds']:.1f}s)")
        elif "reason" in r:
            lines.append(f"no refit: {r['reason']}")
        return "\n".join(lines)


def build_model(spec: RunSpec, split: Split, features: tuple[FeatureTable | None, FeatureTable | None]) -> Model:
    """The untrained model of ``spec`` over ``split``'s universe (parameters seeded by the run's seed)."""
    from ncf._rng import seed_everything

    seed_everything(spec.train.seed)
    try:
        return spec.model.build(split.num_users, split.num_items, seed=spec.train.seed,
                                sparse=spec.train.optimizer in ("sparse_adam", "adagrad"),
                                user_features=features[0], item_features=features[1])
    except (MemoryError, RuntimeError) as exc:  # torch's allocator raises RuntimeError
        if isinstance(exc, RuntimeError) and "allocate" not in str(exc):
            raise
        rows = split.num_users + split.num_items
        raise ConfigError(f"the {spec.model.name} model does not fit in memory: {rows:,} users and items x "
                          f"--dim {spec.model.dim:,} is {rows * spec.model.dim * 4 / 2**30:,.1f} GiB of "
                          "embeddings alone; lower --dim") from None


def train(spec: RunSpec, out: PathLike, *, resume: bool = False, force: bool = False, show_progress: bool = True,
          distributed: DistributedContext | None = None) -> TrainResult:
    """Train ``spec`` into the run directory ``out`` (or continue it with ``resume``).

    With ``distributed`` (this process is one rank of a torchrun job:
    :func:`ncf.training.distributed.init_distributed`), rank 0 does everything a single
    process does and sends the others its options and a fingerprint of its split. Every other
    rank reads the split rank 0 wrote, or builds the same one from the data when it cannot see
    the run directory (another node without a shared file system), checks the fingerprint,
    trains its share of each epoch and writes nothing. Any rank's setup failure stops them all.

    Retrying (:func:`_check_fresh`): a run that failed (``run.json`` status ``failed``: the loss
    diverged, memory ran out) or never reached a checkpoint is replaced by a plain re-run, with
    any options; a finished run, or an interrupted one with a checkpoint to resume, only with
    ``force``. A run that fails records ``failed`` and why in ``run.json``.
    """
    spec.check_runtime()
    run = RunDir(out)
    strategy: Strategy = SingleProcess() if distributed is None else distributed
    if not strategy.is_main:
        return _train_rank(spec, run, resume=resume, strategy=strategy)
    try:
        dataset = None
        if resume:
            spec, split, features = _resume_state(run, spec)
        else:
            check_output(run.path, _local_paths(spec.data.source, spec.data.path, spec.data.titles))
            _check_fresh(run, force=force)
            if spec.data.source is None:
                raise ConfigError("missing data: ncf train <dataset|path> --out RUN_DIR")
            dataset = load_data(spec.data.source, format=spec.data.format, path=spec.data.path)
            titles = _run_titles(spec, dataset)
            spec.check_split_options(dataset.split is not None, spec.data.source)
            split, carve = run_split(spec, dataset)
            features = (dataset.user_features, dataset.item_features)
            if carve is not None:
                _announce(carve)
            spec, scaled = scaled_batch(spec, len(split.train))
            if scaled is not None:
                logger.info("scale-batch: batch %d -> %d, lr %.4g -> %.4g for %d training rows",
                            *scaled["batch-size"], *scaled["lr"], scaled["rows"])
        model = build_model(spec, split, features)  # checks the options against the data
        cfg = spec.trainer_config(show_progress=show_progress)
        if split.valid is not None:
            cfg = cfg.for_validation(sampled=split.valid_negatives is not None)
        created = not run.path.exists()
        info = run.read_info() if dataset is None else _start_run(run, spec, split, titles, features, carve, dataset)
    except BaseException as exc:
        strategy.broadcast(_RankStart(options={}, fingerprint="", error=first_line(exc)))  # the other ranks wait
        raise
    if strategy.world_size > 1:  # the other ranks' start (hashing the split is for them alone)
        strategy.broadcast(_RankStart(options=spec.to_options(), fingerprint=_split_fingerprint(split)))
    try:
        _all_ready(strategy, None)
        model, history, seconds, refit = _fit(spec, cfg, model, split, run, resume, strategy, features)
    except BaseException as exc:
        if not resume and not run.has_checkpoint():  # never trained: not a run
            run.clear(keep_foreign=not created)
        elif isinstance(exc, (TrainingDivergedError, ConfigError, DataError, MemoryError)):
            _mark_failed(run, exc)  # new options are needed, not a resume: a plain re-run replaces it
        # anything else (an interrupt, a lost peer process, a crash) leaves the run resumable
        raise
    _finish_run(run, info, spec, model, split, history, seconds, cfg.metric, refit)
    return TrainResult(run.path, spec, seconds, history, cfg.metric, refit)


def check_train_target(out: PathLike, *, resume: bool, force: bool = False) -> None:
    """The run-directory checks of :func:`train` alone (no data read): ``ncf train --nproc``
    makes them before it starts the processes."""
    run = RunDir(out)
    if resume:
        _resumable(run)
    else:
        _check_fresh(run, force=force)


def train_device(spec: RunSpec, out: PathLike, *, resume: bool) -> str:
    """The device option :func:`train` will use: the saved run's when resuming (unless given)."""
    if resume and "device" not in spec.explicit:
        run = RunDir(out)
        if run.exists():
            return str(run.read_info().options.get("device") or spec.train.device)
    return spec.train.device


@dataclass(frozen=True)
class _RankStart:
    """What rank 0 sends the other ranks once its run is set up (or why it could not be)."""

    options: dict[str, Any]
    fingerprint: str
    error: str | None = None


def _split_fingerprint(split: Split) -> str:
    """A hash of what every rank must hold alike: the training rows and the validation set."""
    valid = split.valid
    return fingerprint(split.train.users, split.train.items, split.num_users, split.num_items,
                       None if valid is None else valid.users, None if valid is None else valid.items,
                       split.valid_negatives)


def _all_ready(strategy: Strategy, error: str | None) -> None:
    """Every rank's setup outcome, gathered: all raise when one failed (none starts training alone)."""
    failed = [(rank, msg) for rank, msg in enumerate(strategy.all_gather(error)) if msg is not None]
    if failed:
        rank, msg = failed[0]
        raise NCFError(f"rank {rank}: {msg}")


def _train_rank(spec: RunSpec, run: RunDir, *, resume: bool, strategy: Strategy) -> TrainResult:
    """A rank other than 0: rank 0's options and split, its share of the training, nothing written."""
    start: _RankStart = strategy.broadcast(None)
    if start.error is not None:
        raise NCFError(f"rank {strategy.rank}: stopped because rank 0 failed (see its message)")
    error = None
    try:
        spec = RunSpec.from_options(("rank 0", start.options))
        split, features = _rank_split(spec, run, start.fingerprint)
        model = build_model(spec, split, features)
        cfg = spec.trainer_config(show_progress=False)
        if split.valid is not None:
            cfg = cfg.for_validation(sampled=split.valid_negatives is not None)
    except (NCFError, OSError) as exc:
        error = first_line(exc)
    _all_ready(strategy, error)
    model, history, seconds, refit = _fit(spec, cfg, model, split, run, resume, strategy, features)
    return TrainResult(run.path, spec, seconds, history, cfg.metric, refit)


def _rank_split(spec: RunSpec, run: RunDir,
                expected: str) -> tuple[Split, tuple[FeatureTable | None, FeatureTable | None]]:
    """Rank 0's split: read from its run directory when this rank sees it, else rebuilt from the data."""
    if run.exists() and run.split_dir.is_dir():
        try:
            split, features = run.load_split(), run.load_features()
        except (NCFError, OSError):
            pass
        else:
            if _split_fingerprint(split) == expected:
                return split, features
    if spec.data.source is None:
        raise DataError("cannot read rank 0's split and there is no data source to build it from", path=run.path)
    dataset = load_data(spec.data.source, format=spec.data.format, path=spec.data.path)
    split = prepare_split(spec, dataset)
    if _split_fingerprint(split) != expected:
        raise DataError(f"the split built here from {spec.data.source} differs from rank 0's: give every node the "
                        "same data at the same path, or put the run directory on a shared file system")
    return split, (dataset.user_features, dataset.item_features)


def _check_fresh(run: RunDir, *, force: bool = False) -> None:
    """The retry rule: a new run may replace what is at ``run`` when nothing good would be lost
    (a failed run, one that never reached a checkpoint) or when ``force`` says so; a finished
    run or an interrupted one with a checkpoint to resume is refused otherwise."""
    if not run.exists():
        return
    try:
        info = run.read_info()
    except DataError:
        if not force:
            raise
        return
    if info.status == STATUS_FAILED:
        logger.warning("%s: replacing a run that failed (%s)", run.path, info.failure or "no reason recorded")
        return
    if force:
        logger.warning("%s: --force: replacing the run that was here", run.path)
        return
    if info.status == STATUS_DONE:
        raise ConfigError(f"{run.path} already holds a finished run; use --force to replace it or another --out")
    if run.has_checkpoint():
        raise ConfigError(f"{run.path} already holds a run that stopped at a checkpoint; use --resume to continue "
                          "it, --force to start over, or another --out")
    logger.info("%s: re-using a run directory whose training never started", run.path)


def _mark_failed(run: RunDir, exc: BaseException) -> None:
    """Record in ``run.json`` that training failed and why (a plain re-run then replaces it)."""
    try:
        info = run.read_info()
        info.status = STATUS_FAILED
        info.failure = first_line(exc)
        run.write_info(info)
    except (NCFError, OSError) as err:  # the original error matters more
        logger.debug("could not record the failure in %s: %s", run.info_path, err)


def _resumable(run: RunDir) -> RunInfo:
    if not run.exists():
        raise ConfigError(f"{run.path}: nothing to resume (no run.json); train it without --resume")
    info = run.read_info()
    if info.status == STATUS_DONE:
        raise ConfigError(f"{run.path}: this run already finished; nothing to resume")
    if info.status == STATUS_FAILED:
        raise ConfigError(f"{run.path}: this run failed ({info.failure or 'no reason recorded'}); train it again "
                          "without --resume, with new options: the failed run is replaced")
    if not run.has_checkpoint():
        raise ConfigError(f"{run.path}: no checkpoint was written before it stopped; train it again without --resume")
    return info


def _resume_state(run: RunDir, spec: RunSpec) -> tuple[RunSpec, Split, tuple[FeatureTable | None, FeatureTable | None]]:
    info = _resumable(run)
    saved = RunSpec.from_options((str(run.info_path), info.options))
    changed = sorted(k for k in spec.explicit if k != "data" and spec.value(k) != saved.value(k))
    if changed:
        raise ConfigError(f"--resume with different options: {', '.join(changed)}")
    return saved, run.load_split(), run.load_features()


def _announce(carve: Carve) -> None:
    """Say how the validation carve was made: a warning when timestamps exist but carry no order
    (the progress display repeats it when training starts: :class:`_CarveLine`)."""
    if carve.rule in ("random", "mixed") and "timestamps" in carve.reason and "no timestamps" not in carve.reason:
        logger.warning("%s", carve.describe())
    else:
        logger.info("%s", carve.describe())


class _CarveLine(Callback):
    """The progress display's first line: which validation carve training stops on, and why."""

    def __init__(self, text: str) -> None:
        self.text = text

    def on_fit_start(self, start: FitStart) -> None:
        if start.is_main:
            print(self.text, file=sys.stderr, flush=True)


def _run_titles(spec: RunSpec, dataset: Any) -> list[str] | None:
    """The run's item titles: from ``--titles FILE`` (read and checked against the data's item
    ids before anything is written), else the dataset's own (MovieLens), else None."""
    if spec.data.titles is None:
        own = getattr(dataset, "item_titles", None)
        return None if own is None else [str(t) for t in own]
    from ncf.data.titles import titles_for_items

    data = dataset.interactions
    ids = data.item_map.raw_ids if data.item_map is not None else np.arange(data.num_items)
    return titles_for_items(spec.data.titles, ids, offset=spec.data.titles_offset)


def _start_run(run: RunDir, spec: RunSpec, split: Split, titles: list[str] | None,
               features: tuple[FeatureTable | None, FeatureTable | None], carve: Carve | None,
               dataset: Any) -> RunInfo:
    run.path.mkdir(parents=True, exist_ok=True)
    run.clear()  # what a run that never trained left here
    run.path.mkdir(parents=True, exist_ok=True)
    run.save_split(split)
    run.save_features(*features)
    if titles is not None:
        run.save_titles(titles)
    published = dataset.split is not None
    info = RunInfo(
        options=spec.to_options(),
        data={"source": spec.data.source, "format": getattr(dataset, "format", None),
              "path": getattr(dataset, "path", None)},
        split={"published": published, "protocol": "published" if published else spec.split.protocol,
               "seed": spec.train.seed, "valid": split.valid is not None,
               **({"carve": carve.to_json()} if carve is not None else {})},
    )
    run.write_info(info)
    return info


def _fit(spec: RunSpec, cfg: TrainConfig, model: Model, split: Split, run: RunDir, resume: bool,
         strategy: Strategy,
         features: tuple[FeatureTable | None, FeatureTable | None] = (None, None),
         ) -> tuple[Model, History | None, float, dict[str, Any] | None]:
    t0 = time.perf_counter()
    history = None
    refit: dict[str, Any] | None = None
    share: dict[str, Any] | None = None  # the spectral blend share chosen on the carve (auto)
    trained_on = split.train
    if isinstance(model, ClosedForm) and spec.model.chooses_spectral_rank:
        model, trained_on, refit = _spectral_on_carve(spec, split)
    elif spec.model.chooses_filter_shape and split.valid is not None:
        model, trained_on, refit = filter_on_carve(spec, split, _carve_metric(spec, split))
    elif isinstance(model, ClosedForm):
        model.fit(split.train)  # every rank fits the same (cheap) closed form; only rank 0 saves it
    else:
        if spec.model.pretrain:
            model = _pretrain_neumf(spec, cfg, split, run, resume, strategy)
        history = Trainer(cfg, distributed=strategy, callbacks=_carve_line(cfg, run, split, strategy)).fit(
            model, split.train, valid=split.valid, valid_negatives=split.valid_negatives,
            checkpoint_dir=run.checkpoint_dir, resume=resume, log_path=run.log_path,
        )
        refit = _refit_plan(spec, cfg, split, history)
        if spec.model.chooses_spectral_weight and strategy.is_main:
            share = choose_blend_share(spec, model, split)  # on the carved model, before any refit
        if refit is not None and refit["done"]:
            model, trained_on = _refit(spec, cfg, split, run, resume, strategy, features, refit)
        if share is not None:
            refit = {**(refit or {}), "blend": {k: v for k, v in share.items() if k != "spectral"}}
    if spec.model.blends_spectral and strategy.is_main:
        model, chosen = _blend_spectral(spec, model, trained_on, split, share)
        if chosen is not None:
            refit = {**(refit or {}), "spectral_rank": chosen}
    return model, history, time.perf_counter() - t0, refit


def _carve_metric(spec: RunSpec, split: Split) -> str:
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
    from ncf.models import SpectralMF
    from ncf.models.spectral import rank_candidates

    if split.valid is None:
        raise ConfigError("choosing the spectral rank needs a validation carve")
    metric = _carve_metric(spec, split)
    candidates = rank_candidates(split.num_users, split.num_items)
    top = SpectralMF.from_spec(spec.model.with_name("spectral"), spec.build_context(split.train)).fit(split.train)
    scores = {r: _score_on_carve(top.truncated(r), split, metric) for r in candidates}
    best = max(candidates, key=lambda r: (scores[r], -r))
    return {"metric": metric, "scores": {str(r): v for r, v in scores.items()}, "chosen": best, "model": top}


def _spectral_on_carve(spec: RunSpec, split: Split) -> tuple[Model, Interactions, dict[str, Any]]:
    """``--model spectral`` without a rank: choose it on the carve, then fit it on train + carve."""
    from ncf.models import SpectralMF

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
    model = SpectralMF.from_spec(fixed, spec.build_context(full)).fit(full)
    return model, full, {"done": True, "rows": len(full), "carved_rows": len(split.train),
                         "seconds": time.perf_counter() - t0, "spectral_rank": chosen}


def _carve_line(cfg: TrainConfig, run: RunDir, split: Split, strategy: Strategy) -> list[Callback]:
    """The progress display's carve line (on a terminal, rank 0, when there is a carve)."""
    if not cfg.show_progress or split.valid is None or not strategy.is_main:
        return []
    saved = run.read_info().split.get("carve") if run.info_path.is_file() else None
    return [_CarveLine(Carve(**saved).describe())] if isinstance(saved, dict) else []


def _refit_plan(spec: RunSpec, cfg: TrainConfig, split: Split, history: History) -> dict[str, Any] | None:
    """Whether (and for how many epochs) to train again on train + carve; None when there was no
    early stopping on a carve (nothing was chosen on held-out rows)."""
    from ncf.app.refit import DEFAULT_REFIT_RULE, refit_epochs

    if split.valid is None or (cfg.epochs is not None and not spec.model.chooses_spectral_weight):
        return None  # nothing was chosen on the carve
    if not spec.split.refit:
        return {"done": False, "reason": "--no-refit: the model trained on the carved training rows is kept"}
    if spec.model.pretrain:
        return {"done": False, "reason": "NeuMF pre-training has no refit (each part would need its own epoch "
                                         "count): the model trained on the carved rows is kept"}
    full = len(split.train) + len(split.valid)
    if cfg.epochs is not None:  # fixed epochs, the blend share chosen on the carve: the same count
        return {"done": True, "epochs": cfg.epochs, "chosen_epoch": None, "rule": "fixed",
                "rows": full, "carved_rows": len(split.train), "seconds": 0.0}
    if history.best_epoch is None:
        return {"done": False, "reason": "validation never produced a best epoch"}
    epochs = refit_epochs(history.best_epoch, len(split.train), full, DEFAULT_REFIT_RULE)
    return {"done": True, "epochs": epochs, "chosen_epoch": history.best_epoch, "rule": DEFAULT_REFIT_RULE,
            "rows": full, "carved_rows": len(split.train), "seconds": 0.0}


def _refit(spec: RunSpec, cfg: TrainConfig, split: Split, run: RunDir, resume: bool,
           strategy: Strategy, features: tuple[FeatureTable | None, FeatureTable | None],
           plan: dict[str, Any]) -> tuple[Model, Interactions]:
    """The same model, seed and settings trained from scratch on train + carve for the chosen epochs."""
    assert split.valid is not None
    t0 = time.perf_counter()
    full = split.train.concat(split.valid)
    model = build_model(spec, split, features)
    refit_cfg = dataclasses.replace(cfg, epochs=int(plan["epochs"]))
    Trainer(refit_cfg, distributed=strategy).fit(
        model, full, checkpoint_dir=run.refit_checkpoint_dir, resume=resume)
    plan["seconds"] = time.perf_counter() - t0
    return model, full


def _pretrain_neumf(spec: RunSpec, cfg: TrainConfig, split: Split, run: RunDir, resume: bool,
                    strategy: Strategy) -> Model:
    """He et al. 2017 pre-training: train GMF and MLP, then initialise NeuMF from both (alpha 0.5)."""
    from ncf.models import NeuMF

    parts: dict[str, Any] = {}
    for name in ("gmf", "mlp"):  # parameters continue the run's seeded stream (no re-seeding)
        sub = dataclasses.replace(spec.model, name=name, pretrain=False, pretrain_epochs=None)
        part = sub.build(split.num_users, split.num_items, seed=spec.train.seed)
        sub_cfg = dataclasses.replace(cfg, epochs=spec.model.pretrain_epochs or cfg.epochs)
        Trainer(sub_cfg, distributed=strategy).fit(
            part, split.train, valid=split.valid, valid_negatives=split.valid_negatives,
            checkpoint_dir=run.pretrain_dir(name), resume=resume)
        parts[name] = part
    return NeuMF.from_pretrained(parts["gmf"], parts["mlp"], alpha=0.5)


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
        from ncf.models import SpectralMF

        spectral = SpectralMF.from_spec(spec.model.with_name("spectral"), spec.build_context(split.train)).fit(split.train)
    if not isinstance(model, Factorized):
        raise ConfigError(f"a spectral blend needs a factorized model, not {model.name!r}")
    metric = _carve_metric(spec, split)
    a, b = score_spread(model, seed=spec.train.seed), score_spread(spectral, seed=spec.train.seed)
    scores = {str(share): _score_on_carve(model if share == 0.0 else Blend.of([model, spectral],
                                                                             [(1 - share) / a, share / b]),
                                          split, metric)
              for share in BLEND_SHARES}
    best = max(BLEND_SHARES, key=lambda s: (scores[str(s)], -s))
    return {"metric": metric, "scores": scores, "share": best,
            "spectral_rank": spectral.rank if ranks is None else ranks["chosen"], "spectral": spectral}


def _blend_spectral(spec: RunSpec, model: Model, train: Interactions, split: Split,
                    share: dict[str, Any] | None = None) -> tuple[Model, dict[str, Any] | None]:
    """``model + w * SpectralMF(train)`` as one :class:`Blend`, w = ``spectral-weight``; with
    ``auto`` the share chosen by :func:`choose_blend_share` (each part's scores normalised by
    their spread; share 0 keeps ``model`` alone). Without a rank, the spectral part's rank is
    chosen on the carve first (returned, else None)."""
    from ncf.models import Blend, SpectralMF, score_spread

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
    spectral = SpectralMF.from_spec(sub, spec.build_context(train)).fit(train)
    if share is None:
        weight = spec.model.spectral_weight
        assert weight is not None
        return Blend.of([model, spectral], [1.0, weight]), chosen
    s, seed = share["share"], spec.train.seed
    assert isinstance(model, Factorized)  # choose_blend_share checked it
    return Blend.of([model, spectral], [(1 - s) / score_spread(model, seed=seed),
                                        s / score_spread(spectral, seed=seed)]), chosen



def _finish_run(run: RunDir, info: RunInfo, spec: RunSpec, model: Model, split: Split,
                history: History | None, seconds: float, metric: str | None,
                refit: dict[str, Any] | None = None) -> None:
    import torch

    from ncf.persistence import save_model

    model.to(torch.device("cpu"))
    if isinstance(model, SequenceAware):  # rank after the latest item known before the test split
        known = split.train if split.valid is None else split.train.concat(split.valid)
        model.set_context(known)
    metadata: dict[str, Any] = {"options": spec.to_options(), "train_seconds": seconds}
    if history is not None:
        metadata.update(best_epoch=history.best_epoch, best_metric=history.best_metric, epochs=len(history.epochs))
    if refit is not None:
        metadata["refit"] = refit
    save_model(model, run.model_dir, user_map=split.train.user_map, item_map=split.train.item_map, metadata=metadata)
    info.status = STATUS_DONE
    info.train_seconds = seconds
    if history is None and refit is not None:  # a closed form that chose its rank on the carve
        info.history = {"refit": refit}
    if history is not None:
        info.history = {"epochs": len(history.epochs), "best_epoch": history.best_epoch,
                        "best_metric": history.best_metric, "metric": metric, "stopped_early": history.stopped_early,
                        **({"refit": refit} if refit is not None else {})}
    run.write_info(info)


# ---------------------------------------------------------------------- evaluate
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
        check_output(save_rankings, [*run.dir.owned_paths(), *_local_paths(data)], what="--save-rankings")
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


# ---------------------------------------------------------------------- recommend
def recommend_run(run: Run | PathLike, raw_users: list[str], *, k: int = 10, titles: list[str] | None = None,
                  index: str | None = "auto", chunk: int = 1024) -> dict[str, list[dict[str, Any]]]:
    """Top-``k`` unseen items per raw user id, with titles when the run has them (``titles``, by
    item index, replaces them: :meth:`Run.titles_from` a file).

    Ranks through :meth:`Recommender.from_run`, the engine the server and the library use, so
    ``ncf recommend`` and ``GET /recommend`` give the same lists; ``index`` as in
    :meth:`Recommender.load` (``"auto"``: the run's index when ``ncf index build`` made one).
    Users are ranked ``chunk`` at a time, which bounds memory for ``--all-users``.
    """
    from ncf.app.recommender import Recommender

    run = run if isinstance(run, Run) else Run.load(run)
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ConfigError(f"k must be positive, got {k}")
    rec = Recommender.from_run(run, index=index, titles=titles)
    out: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(raw_users), chunk):
        part = raw_users[start:start + chunk]
        for raw, res in zip(part, rec.recommend(part, k), strict=True):
            out[str(raw)] = res.to_dict()["items"]
    return out


def write_recommendations(path: PathLike, recommendations: dict[str, list[dict[str, Any]]]) -> None:
    """``recommend_run``'s result as TSV: a header, then ``user rank item score [title]`` rows."""
    with_titles = any("title" in rec for recs in recommendations.values() for rec in recs)
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write("user\trank\titem\tscore" + ("\ttitle" if with_titles else "") + "\n")
        for user, recs in recommendations.items():
            for rank, rec in enumerate(recs, 1):
                title = "\t" + str(rec.get("title", "")).replace("\t", " ") if with_titles else ""
                fh.write(f"{user}\t{rank}\t{rec['item']}\t{rec['score']:.6g}{title}\n")


# ---------------------------------------------------------------------- quickstart
def quickstart(run_dir: PathLike | None = None, *, seed: int = 0, show_progress: bool = True) -> Iterator[str]:
    """Synthetic data -> leave-one-out split -> popularity, MF and NeuMF -> top-10 for a few users.

    Without ``run_dir`` everything goes to a temporary directory that is removed at the end.
    """
    if run_dir is None:
        with tempfile.TemporaryDirectory(prefix="ncf-quickstart-") as tmp:
            yield from _quickstart(Path(tmp), seed, show_progress)
            yield "(the run directories were temporary and are removed; pass --out DIR to keep them)"
        return
    yield from _quickstart(Path(run_dir), seed, show_progress)
    yield f"run directories: {run_dir}"


def _quickstart(root: Path, seed: int, show_progress: bool) -> Iterator[str]:
    from ncf.data.splits import leave_one_out
    from ncf.data.synthetic import synthetic
    from ncf.data.writers import write_neumf

    data = synthetic(seed=seed)
    inter = data.interactions
    yield f"synthetic data: {inter.num_users} users, {inter.num_items} items, {len(inter)} interactions"
    split = leave_one_out(inter, num_negatives=99, seed=seed)
    data_dir = root / "data"
    write_neumf(split, data_dir, prefix="synthetic")
    yield f"leave-one-out split with 99 negatives per user -> {data_dir}"
    runs: tuple[tuple[str, dict[str, Any]], ...] = (
        ("popularity", {}),
        ("mf", {"loss": "bpr", "dim": 32, "lr": 5e-3, "negatives": 4, "batch-size": 1024}),
        ("neumf", {"loss": "bce", "dim": 16, "layers": "64,32,16", "lr": 2e-3, "negatives": 4, "batch-size": 512}),
    )
    for name, extra in runs:
        spec = RunSpec.from_options(("quickstart", {"data": str(data_dir), "model": name, "seed": seed, **extra}))
        result = train(spec, root / name, show_progress=show_progress)
        yield result.summary()
        report = evaluate_run(root / name, k=[10], protocol="sampled")
        yield f"{name:>10} test: HR@10 {report.metrics['hr@10']:.4f}  NDCG@10 {report.metrics['ndcg@10']:.4f}"
    RunDir(root / "mf").save_titles([str(t) for t in data.item_titles])  # shown by `ncf recommend`
    raw_users = [str(u) for u in inter.user_map.decode(np.arange(3))] if inter.user_map is not None else ["0", "1", "2"]
    recs = recommend_run(root / "mf", raw_users, k=10)
    for user, items in recs.items():
        yield f"top-10 for user {user}: " + ", ".join(r.get("title", r["item"]) for r in items)
