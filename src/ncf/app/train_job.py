"""``ncf train``: read the data, split it, build and check the model (every option is validated
before anything is written), then write the run directory and train; a run that fails before its
first checkpoint leaves nothing behind."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ncf._io import check_output
from ncf._types import PathLike
from ncf.app.datasets import load_data, local_paths
from ncf.app.fitting import build_model, fit_model
from ncf.app.ranks import RankStart, all_ready, rank_split, split_fingerprint
from ncf.app.run_rules import check_fresh, mark_failed, resume_state
from ncf.app.rundir import STATUS_DONE, RunDir, RunInfo
from ncf.app.spec import RunSpec
from ncf.app.splitting import Carve, run_split, scaled_batch
from ncf.data.features import FeatureTable
from ncf.data.interactions import Split
from ncf.errors import ConfigError, DataError, NCFError, TrainingDivergedError, first_line
from ncf.models.base import Model, SequenceAware
from ncf.training import History
from ncf.training.distributed import DistributedContext
from ncf.training.strategy import SingleProcess, Strategy

logger = logging.getLogger(__name__)


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
        if model.blends_filter:
            loss += f" + graph filter (share {'auto' if model.filter_weight is None else model.filter_weight})"
        lines = [f"trained {model.name}{loss} in {self.seconds:.1f}s -> {self.run_dir}"]
        h = self.history
        if h is not None and h.best_metric is not None:
            lines.append(f"best validation {self.metric} = {h.best_metric:.4f} at epoch {h.best_epoch}")
        r = self.refit or {}
        blend = r.get("blend")
        if blend is not None:
            lines.append(f"spectral share {blend['share']} chosen on the validation carve ({blend['metric']} "
                         f"{blend['scores'][str(blend['share'])]:.4f}; alone {blend['scores']['0.0']:.4f})")
        fblend = r.get("filter_blend")
        if fblend is not None:
            lines.append(f"graph filter share {fblend['share']} chosen on the validation carve ({fblend['metric']} "
                         f"{fblend['scores'][str(fblend['share'])]:.4f}; without the filter "
                         f"{fblend['scores']['0.0']:.4f})")
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


def train(spec: RunSpec, out: PathLike, *, resume: bool = False, force: bool = False, show_progress: bool = True,
          distributed: DistributedContext | None = None) -> TrainResult:
    """Train ``spec`` into the run directory ``out`` (or continue it with ``resume``).

    With ``distributed`` (this process is one rank of a torchrun job:
    :func:`ncf.training.distributed.init_distributed`), rank 0 does everything a single
    process does and sends the others its options and a fingerprint of its split. Every other
    rank reads the split rank 0 wrote, or builds the same one from the data when it cannot see
    the run directory (another node without a shared file system), checks the fingerprint,
    trains its share of each epoch and writes nothing. Any rank's setup failure stops them all.

    Retrying (:func:`check_fresh`): a run that failed (``run.json`` status ``failed``: the loss
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
            spec, split, features = resume_state(run, spec)
        else:
            check_output(run.path, local_paths(spec.data.source, spec.data.path, spec.data.titles))
            check_fresh(run, force=force)
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
        strategy.broadcast(RankStart(options={}, fingerprint="", error=first_line(exc)))  # the other ranks wait
        raise
    if strategy.world_size > 1:  # the other ranks' start (hashing the split is for them alone)
        strategy.broadcast(RankStart(options=spec.to_options(), fingerprint=split_fingerprint(split)))
    try:
        all_ready(strategy, None)
        model, history, seconds, refit = fit_model(spec, cfg, model, split, run, resume, strategy, features)
    except BaseException as exc:
        if not resume and not run.has_checkpoint():  # never trained: not a run
            run.clear(keep_foreign=not created)
        elif isinstance(exc, (TrainingDivergedError, ConfigError, DataError, MemoryError)):
            mark_failed(run, exc)  # new options are needed, not a resume: a plain re-run replaces it
        # anything else (an interrupt, a lost peer process, a crash) leaves the run resumable
        raise
    _finish_run(run, info, spec, model, split, history, seconds, cfg.metric, refit)
    return TrainResult(run.path, spec, seconds, history, cfg.metric, refit)


def _train_rank(spec: RunSpec, run: RunDir, *, resume: bool, strategy: Strategy) -> TrainResult:
    """A rank other than 0: rank 0's options and split, its share of the training, nothing written."""
    start: RankStart = strategy.broadcast(None)
    if start.error is not None:
        raise NCFError(f"rank {strategy.rank}: stopped because rank 0 failed (see its message)")
    error = None
    try:
        spec = RunSpec.from_options(("rank 0", start.options))
        split, features = rank_split(spec, run, start.fingerprint)
        model = build_model(spec, split, features)
        cfg = spec.trainer_config(show_progress=False)
        if split.valid is not None:
            cfg = cfg.for_validation(sampled=split.valid_negatives is not None)
    except (NCFError, OSError) as exc:
        error = first_line(exc)
    all_ready(strategy, error)
    model, history, seconds, refit = fit_model(spec, cfg, model, split, run, resume, strategy, features)
    return TrainResult(run.path, spec, seconds, history, cfg.metric, refit)


def _announce(carve: Carve) -> None:
    """Say how the validation carve was made: a warning when timestamps exist but carry no order
    (the progress display repeats it when training starts: :class:`ncf.app.fitting._CarveLine`)."""
    if carve.rule in ("random", "mixed") and "timestamps" in carve.reason and "no timestamps" not in carve.reason:
        logger.warning("%s", carve.describe())
    else:
        logger.info("%s", carve.describe())


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
