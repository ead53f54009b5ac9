"""Fitting a run's model: the closed forms, the trainer with early stopping on the carve, NeuMF
pre-training, the refit on train + carve, and the spectral blend on top."""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any

from ncf.app.blend import blend_spectral, carve_metric, choose_blend_share, spectral_on_carve
from ncf.app.filter_blend import blend_filter, choose_filter_share
from ncf.app.filter_choice import filter_on_carve
from ncf.app.rundir import RunDir
from ncf.app.spec import RunSpec
from ncf.app.splitting import Carve
from ncf.config import TrainConfig
from ncf.data.features import FeatureTable
from ncf.data.interactions import Interactions, Split
from ncf.errors import ConfigError
from ncf.models.base import ClosedForm, Model
from ncf.training import Callback, History, Trainer
from ncf.training.callbacks import FitStart
from ncf.training.strategy import Strategy


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


def fit_model(spec: RunSpec, cfg: TrainConfig, model: Model, split: Split, run: RunDir, resume: bool,
         strategy: Strategy,
         features: tuple[FeatureTable | None, FeatureTable | None] = (None, None),
         ) -> tuple[Model, History | None, float, dict[str, Any] | None]:
    t0 = time.perf_counter()
    history = None
    refit: dict[str, Any] | None = None
    share: dict[str, Any] | None = None  # the spectral blend share chosen on the carve (auto)
    filter_share: dict[str, Any] | None = None  # the graph filter's share chosen on the carve (auto)
    trained_on = split.train
    if isinstance(model, ClosedForm) and spec.model.chooses_spectral_rank:
        model, trained_on, refit = spectral_on_carve(spec, split)
    elif spec.model.chooses_filter_shape and split.valid is not None:
        model, trained_on, refit = filter_on_carve(spec, split, carve_metric(spec, split))
    elif isinstance(model, ClosedForm):
        model.fit(split.train)  # every rank fits the same (cheap) closed form; only rank 0 saves it
    else:
        if spec.model.pretrain:
            model = _pretrain_neumf(spec, cfg, split, run, resume, strategy)
        history = Trainer(cfg, distributed=strategy, callbacks=_carve_line(cfg, run, split, strategy),
                          cost_model=True).fit(
            model, split.train, valid=split.valid, valid_negatives=split.valid_negatives,
            checkpoint_dir=run.checkpoint_dir, resume=resume, log_path=run.log_path,
        )
        refit = _refit_plan(spec, cfg, split, history)
        if spec.model.chooses_spectral_weight and strategy.is_main:
            share = choose_blend_share(spec, model, split)  # on the carved model, before any refit
        if spec.model.chooses_filter_weight and strategy.is_main:  # on the carved model and its spectral part
            carved = blend_spectral(spec, model, split.train, split, share)[0] if spec.model.blends_spectral else model
            filter_share = choose_filter_share(spec, carved, split, carve_metric(spec, split))
        if refit is not None and refit["done"]:
            model, trained_on = _refit(spec, cfg, split, run, resume, strategy, features, refit)
        if share is not None:
            refit = {**(refit or {}), "blend": {k: v for k, v in share.items() if k != "spectral"}}
        if filter_share is not None:
            refit = {**(refit or {}), "filter_blend": filter_share}
    if spec.model.blends_spectral and strategy.is_main:
        model, chosen = blend_spectral(spec, model, trained_on, split, share)
        if chosen is not None:
            refit = {**(refit or {}), "spectral_rank": chosen}
    if spec.model.blends_filter and strategy.is_main:
        model = blend_filter(spec, model, trained_on, filter_share)
    return model, history, time.perf_counter() - t0, refit


class _CarveLine(Callback):
    """The progress display's first line: which validation carve training stops on, and why."""

    def __init__(self, text: str) -> None:
        self.text = text

    def on_fit_start(self, start: FitStart) -> None:
        if start.is_main:
            print(self.text, file=sys.stderr, flush=True)


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

    if split.valid is None or (cfg.epochs is not None and not spec.model.chooses_spectral_weight
                               and not spec.model.chooses_filter_weight):
        return None  # nothing was chosen on the carve
    if not spec.split.refit:
        return {"done": False, "reason": "--no-refit: the model trained on the carved training rows is kept"}
    if spec.model.pretrain:
        return {"done": False, "reason": "NeuMF pre-training has no refit (each part would need its own epoch "
                                         "count): the model trained on the carved rows is kept"}
    full = len(split.train) + len(split.valid)
    if cfg.epochs is not None:  # fixed epochs, a blend share chosen on the carve: the same count
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
    Trainer(refit_cfg, distributed=strategy, cost_model=True).fit(
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
        Trainer(sub_cfg, distributed=strategy, cost_model=True).fit(
            part, split.train, valid=split.valid, valid_negatives=split.valid_negatives,
            checkpoint_dir=run.pretrain_dir(name), resume=resume)
        parts[name] = part
    return NeuMF.from_pretrained(parts["gmf"], parts["mlp"], alpha=0.5)
