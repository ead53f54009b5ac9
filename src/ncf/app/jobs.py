"""The jobs behind the command line: train a run directory, evaluate it, recommend, quickstart.

Plain typed functions over :class:`~ncf.app.spec.RunSpec` and :class:`~ncf.app.artifact.Run`,
which tests call directly. ``ncf train`` reads the data, splits it, builds and checks the model
(every option is validated here, before anything is written), then writes the run directory
and trains; a run that fails before its first checkpoint leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ncf._io import atomic_write
from ncf._types import PathLike
from ncf.app.artifact import Run
from ncf.app.rundir import STATUS_DONE, RunDir, RunInfo
from ncf.app.spec import RunSpec
from ncf.config import TrainConfig
from ncf.data.features import FeatureTable
from ncf.data.interactions import Interactions, Split
from ncf.errors import ConfigError, DataError, NCFError
from ncf.evaluation import EvalReport, evaluate
from ncf.models.base import ClosedForm, Model, SequenceAware
from ncf.training import History, Trainer
from ncf.training.distributed import DistributedContext, fingerprint

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------- data and split
def load_data(source: str, *, format: str | None = None, path: str | None = None) -> Any:
    """The dataset behind ``source`` (a registry name or a path); ``path`` is a local copy."""
    from ncf.data import load_dataset

    return load_dataset(source, format=format, path=path)


def make_split(data: Interactions, protocol: str, *, negatives: int, seed: int, test_fraction: float = 0.2) -> Split:
    """Split raw interactions: ``loo`` (each user's latest item), ``temporal`` or ``random``, with
    ``negatives`` sampled negatives per test row (0: none, for full ranking)."""
    from ncf.data.splits import leave_one_out, random_split, temporal_split

    if protocol == "loo":
        return leave_one_out(data, num_negatives=negatives, seed=seed)
    if protocol == "temporal":
        return temporal_split(data, test_fraction=test_fraction, num_negatives=negatives, seed=seed)
    if protocol == "random":
        return random_split(data, test_fraction=test_fraction, num_negatives=negatives, seed=seed)
    raise ConfigError(f"unknown split protocol {protocol!r}")


def split_dataset(source: str, out: PathLike, *, format: str | None = None, path: str | None = None,
                  protocol: str = "loo", negatives: int = 99, test_fraction: float = 0.2, seed: int = 0,
                  prefix: str = "data", force: bool = False) -> dict[str, Any]:
    """Split a dataset and write it in the NeuMF file format; an existing split is kept unless ``force``."""
    from ncf.data.writers import write_neumf

    target = Path(out)
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


def prepare_split(spec: RunSpec, dataset: Any) -> Split:
    """The dataset's published split (or one made by ``spec.split``), plus a validation carve."""
    from ncf.data.splits import validation_split

    split: Split | None = dataset.split
    if split is None:
        negatives = spec.split.test_negatives if spec.split.protocol == "loo" else 0
        split = make_split(dataset.interactions, spec.split.protocol, negatives=negatives,
                           seed=spec.train.seed, test_fraction=spec.split.test_fraction)
    if not spec.wants_validation():
        return split
    test_negs = split.test_negatives
    sampled = test_negs is not None
    negs = int(np.max(np.sum(test_negs >= 0, axis=1))) if test_negs is not None else 0
    train, valid, valid_negs = validation_split(
        split.train, method="loo" if sampled else "random", fraction=spec.split.valid_fraction,
        num_negatives=negs, seed=spec.train.seed,
    )
    return Split(train, split.test, valid, split.test_negatives, valid_negs)


# ---------------------------------------------------------------------- train
@dataclass(frozen=True)
class TrainResult:
    """What ``train`` did: where, which model, how long, and the training history."""

    run_dir: Path
    spec: RunSpec
    seconds: float
    history: History | None
    metric: str | None

    def summary(self) -> str:
        model = self.spec.model
        loss = "" if self.spec.closed_form else f" ({self.spec.train.loss})"
        if model.blends_spectral:
            loss += f" + {model.spectral_weight} x spectral"
        lines = [f"trained {model.name}{loss} in {self.seconds:.1f}s -> {self.run_dir}"]
        h = self.history
        if h is not None and h.best_metric is not None:
            lines.append(f"best validation {self.metric} = {h.best_metric:.4f} at epoch {h.best_epoch}")
        return "\n".join(lines)


def build_model(spec: RunSpec, split: Split, features: tuple[FeatureTable | None, FeatureTable | None]) -> Model:
    """The untrained model of ``spec`` over ``split``'s universe (parameters seeded by the run's seed)."""
    from ncf._rng import seed_everything

    seed_everything(spec.train.seed)
    return spec.model.build(split.num_users, split.num_items, seed=spec.train.seed,
                            sparse=spec.train.optimizer in ("sparse_adam", "adagrad"),
                            user_features=features[0], item_features=features[1])


def train(spec: RunSpec, out: PathLike, *, resume: bool = False, show_progress: bool = True,
          distributed: DistributedContext | None = None) -> TrainResult:
    """Train ``spec`` into the run directory ``out`` (or continue it with ``resume``).

    With ``distributed`` (this process is one rank of a torchrun job:
    :func:`ncf.training.distributed.init_distributed`), rank 0 does everything a single
    process does and sends the others its options and a fingerprint of its split. Every other
    rank reads the split rank 0 wrote, or builds the same one from the data when it cannot see
    the run directory (another node without a shared file system), checks the fingerprint,
    trains its share of each epoch and writes nothing. Any rank's setup failure stops them all.
    """
    spec.check_runtime()
    run = RunDir(out)
    if distributed is not None and not distributed.is_main:
        return _train_rank(spec, run, resume=resume, distributed=distributed)
    try:
        dataset = None
        if resume:
            spec, split, features = _resume_state(run, spec)
        else:
            _check_fresh(run)
            if spec.data.source is None:
                raise ConfigError("missing data: ncf train <dataset|path> --out RUN_DIR")
            dataset = load_data(spec.data.source, format=spec.data.format, path=spec.data.path)
            split = prepare_split(spec, dataset)
            features = (dataset.user_features, dataset.item_features)
        model = build_model(spec, split, features)  # checks the options against the data
        cfg = spec.trainer_config(show_progress=show_progress)
        if split.valid is not None:
            cfg = cfg.for_validation(sampled=split.valid_negatives is not None)
        created = not run.path.exists()
        info = run.read_info() if dataset is None else _start_run(run, spec, split, dataset, features)
    except BaseException as exc:
        if distributed is not None:  # the other ranks wait for rank 0's start: tell them it failed
            distributed.broadcast(_RankStart(options={}, fingerprint="", error=_first_line(exc)))
        raise
    if distributed is not None:
        distributed.broadcast(_RankStart(options=spec.to_options(), fingerprint=_split_fingerprint(split)))
    try:
        if distributed is not None:
            _all_ready(distributed, None)
        model, history, seconds = _fit(spec, cfg, model, split, run, resume, distributed)
    except BaseException:
        if not resume and not run.has_checkpoint():  # never trained: not a run
            run.clear(keep_foreign=not created)
        raise
    _finish_run(run, info, spec, model, split, history, seconds, cfg.metric)
    return TrainResult(run.path, spec, seconds, history, cfg.metric)


def check_train_target(out: PathLike, *, resume: bool) -> None:
    """The run-directory checks of :func:`train` alone (no data read): ``ncf train --nproc``
    makes them before it starts the processes."""
    run = RunDir(out)
    if resume:
        _resumable(run)
    else:
        _check_fresh(run)


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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _split_fingerprint(split: Split) -> str:
    """A hash of what every rank must hold alike: the training rows and the validation set."""
    valid = split.valid
    return fingerprint(split.train.users, split.train.items, split.num_users, split.num_items,
                       None if valid is None else valid.users, None if valid is None else valid.items,
                       split.valid_negatives)


def _all_ready(distributed: DistributedContext, error: str | None) -> None:
    """Every rank's setup outcome, gathered: all raise when one failed (none starts training alone)."""
    failed = [(rank, msg) for rank, msg in enumerate(distributed.all_gather(error)) if msg is not None]
    if failed:
        rank, msg = failed[0]
        raise NCFError(f"rank {rank}: {msg}")


def _train_rank(spec: RunSpec, run: RunDir, *, resume: bool, distributed: DistributedContext) -> TrainResult:
    """A rank other than 0: rank 0's options and split, its share of the training, nothing written."""
    start: _RankStart = distributed.broadcast(None)
    if start.error is not None:
        raise NCFError(f"rank {distributed.rank}: stopped because rank 0 failed (see its message)")
    error = None
    try:
        spec = RunSpec.from_options(("rank 0", start.options))
        split, features = _rank_split(spec, run, start.fingerprint)
        model = build_model(spec, split, features)
        cfg = spec.trainer_config(show_progress=False)
        if split.valid is not None:
            cfg = cfg.for_validation(sampled=split.valid_negatives is not None)
    except (NCFError, OSError) as exc:
        error = _first_line(exc)
    _all_ready(distributed, error)
    model, history, seconds = _fit(spec, cfg, model, split, run, resume, distributed)
    return TrainResult(run.path, spec, seconds, history, cfg.metric)


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


def _check_fresh(run: RunDir) -> None:
    if not run.exists():
        return
    info = run.read_info()
    if info.status == STATUS_DONE or run.has_checkpoint():
        raise ConfigError(f"{run.path} already holds a run; use --resume to continue it or another --out")
    logger.info("%s: re-using a run directory whose training never started", run.path)


def _resumable(run: RunDir) -> RunInfo:
    if not run.exists():
        raise ConfigError(f"{run.path}: nothing to resume (no run.json); train it without --resume")
    info = run.read_info()
    if info.status == STATUS_DONE:
        raise ConfigError(f"{run.path}: this run already finished; nothing to resume")
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


def _start_run(run: RunDir, spec: RunSpec, split: Split, dataset: Any,
               features: tuple[FeatureTable | None, FeatureTable | None]) -> RunInfo:
    run.path.mkdir(parents=True, exist_ok=True)
    run.clear()  # what a run that never trained left here
    run.path.mkdir(parents=True, exist_ok=True)
    run.save_split(split)
    run.save_features(*features)
    if getattr(dataset, "item_titles", None) is not None:
        run.save_titles([str(t) for t in dataset.item_titles])
    published = dataset.split is not None
    info = RunInfo(
        options=spec.to_options(),
        data={"source": spec.data.source, "format": getattr(dataset, "format", None),
              "path": getattr(dataset, "path", None)},
        split={"published": published, "protocol": "published" if published else spec.split.protocol,
               "seed": spec.train.seed, "valid": split.valid is not None},
    )
    run.write_info(info)
    return info


def _fit(spec: RunSpec, cfg: TrainConfig, model: Model, split: Split, run: RunDir, resume: bool,
         distributed: DistributedContext | None = None) -> tuple[Model, History | None, float]:
    t0 = time.perf_counter()
    history = None
    if isinstance(model, ClosedForm):
        model.fit(split.train)  # every rank fits the same (cheap) closed form; only rank 0 saves it
    else:
        if spec.model.pretrain:
            model = _pretrain_neumf(spec, cfg, split, run, resume, distributed)
        history = Trainer(cfg, distributed=distributed).fit(
            model, split.train, valid=split.valid, valid_negatives=split.valid_negatives,
            checkpoint_dir=run.checkpoint_dir, resume=resume, log_path=run.log_path,
        )
    if spec.model.blends_spectral and (distributed is None or distributed.is_main):
        model = _blend_spectral(spec, model, split.train)
    return model, history, time.perf_counter() - t0


def _pretrain_neumf(spec: RunSpec, cfg: TrainConfig, split: Split, run: RunDir, resume: bool,
                    distributed: DistributedContext | None = None) -> Model:
    """He et al. 2017 pre-training: train GMF and MLP, then initialise NeuMF from both (alpha 0.5)."""
    from ncf.models import NeuMF

    parts: dict[str, Any] = {}
    for name in ("gmf", "mlp"):  # parameters continue the run's seeded stream (no re-seeding)
        sub = dataclasses.replace(spec.model, name=name, pretrain=False, pretrain_epochs=None)
        part = sub.build(split.num_users, split.num_items, seed=spec.train.seed)
        sub_cfg = dataclasses.replace(cfg, epochs=spec.model.pretrain_epochs or cfg.epochs)
        Trainer(sub_cfg, distributed=distributed).fit(
            part, split.train, valid=split.valid, valid_negatives=split.valid_negatives,
            checkpoint_dir=run.pretrain_dir(name), resume=resume)
        parts[name] = part
    return NeuMF.from_pretrained(parts["gmf"], parts["mlp"], alpha=0.5)


def _blend_spectral(spec: RunSpec, model: Model, train: Interactions) -> Model:
    """``model + w * SpectralMF(train)`` as one :class:`Blend`, w = ``spectral-weight``."""
    from ncf.models import Blend, SpectralMF

    spectral = SpectralMF.from_spec(spec.model.with_name("spectral"), _context(spec, train)).fit(train)
    return Blend.of([model, spectral], [1.0, spec.model.spectral_weight])


def _context(spec: RunSpec, train: Interactions) -> Any:
    from ncf.models import BuildContext

    return BuildContext(train.num_users, train.num_items, seed=spec.train.seed)


def _finish_run(run: RunDir, info: RunInfo, spec: RunSpec, model: Model, split: Split,
                history: History | None, seconds: float, metric: str | None) -> None:
    import torch

    from ncf.persistence import save_model

    model.to(torch.device("cpu"))
    if isinstance(model, SequenceAware):  # rank after the latest item known before the test split
        known = split.train if split.valid is None else split.train.concat(split.valid)
        model.set_context(known)
    metadata: dict[str, Any] = {"options": spec.to_options(), "train_seconds": seconds}
    if history is not None:
        metadata.update(best_epoch=history.best_epoch, best_metric=history.best_metric, epochs=len(history.epochs))
    save_model(model, run.model_dir, user_map=split.train.user_map, item_map=split.train.item_map, metadata=metadata)
    info.status = STATUS_DONE
    info.train_seconds = seconds
    if history is not None:
        info.history = {"epochs": len(history.epochs), "best_epoch": history.best_epoch,
                        "best_metric": history.best_metric, "metric": metric, "stopped_early": history.stopped_early}
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
    split = run.split if data is None else _split_from_other_data(run, data, format)
    target = split.valid if part == "valid" else split.test
    negatives = split.valid_negatives if part == "valid" else split.test_negatives
    if target is None or len(target) == 0:
        raise DataError(f"the run has no {part} interactions to evaluate")
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
def recommend_run(run: Run | PathLike, raw_users: list[str], *, k: int = 10) -> dict[str, list[dict[str, Any]]]:
    """Top-``k`` unseen items per raw user id, with titles when the dataset has them."""
    from ncf.retrieval import recommend

    run = run if isinstance(run, Run) else Run.load(run)
    if k <= 0:
        raise ConfigError(f"k must be positive, got {k}")
    users = run.encode_users(raw_users)
    run.set_context(run.known())
    top = recommend(run.model, users, k=k, exclude=run.seen)
    titles = run.titles
    out: dict[str, list[dict[str, Any]]] = {}
    for r, raw in enumerate(raw_users):
        ids = np.asarray(top.ids[r])
        keep = ids >= 0
        raw_items = run.decode_items(ids[keep])
        out[str(raw)] = [
            {"item": item, "score": float(score), **({"title": titles[i]} if titles else {})}
            for item, score, i in zip(raw_items, np.asarray(top.scores[r])[keep], ids[keep], strict=True)
        ]
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
