"""The Trainer: shuffled positives in large batches, vectorised negatives, early stopping, resume.

All randomness of epoch ``e`` comes from generators seeded by ``(seed, e)``, so a run resumed
from the checkpoint of epoch ``e - 1`` follows exactly the path of an uninterrupted run.

The pieces: :mod:`~ncf.training.objectives` (the loss of a batch),
:mod:`~ncf.training.batches` (an epoch's batches), :mod:`~ncf.training.optim` (optimizers and
the learning-rate schedule), :mod:`~ncf.training.checkpoint` (what a resume restores) and
:mod:`~ncf.training.callbacks` (progress display, log file, user hooks).

``Trainer(config, distributed=context)`` trains one rank of a DistributedDataParallel job
(:mod:`~ncf.training.distributed`): each rank trains on its shard of every epoch with its own
negatives, rank 0 alone validates and writes, and every rank follows rank 0's early-stopping
decision. Whatever depends on the processes is asked of the fit's
:class:`~ncf.training.strategy.Strategy`: the context, or without ``distributed``
:class:`~ncf.training.strategy.SingleProcess` (a world of one, whose collectives do nothing).

``Trainer(config, deadline=t)`` (a :func:`time.monotonic` value) keeps a time budget: the clock
is read after every batch (and before each epoch but the fit's first), and once it is past ``t``
the epoch ends there, one validation runs (when there is validation data, due or not; none when
the epoch before was just validated), the best weights are restored as after early stopping and
:attr:`History.stopped_at_deadline` is set. The fit then overruns ``t`` by at most one batch and
one evaluation. The epoch the deadline ends is not checkpointed, so ``resume`` redoes it as an
uninterrupted run would. A deadline is single-process: the ranks of a DDP job would each read
their own clock, so ``distributed`` with a deadline is refused.

``Trainer(config, cost_model=True)`` estimates the fit's :class:`~ncf.training.cost.StepCost`
before the first epoch (rank 0 of a DDP job): the FLOPs of one step on the first batch of epoch
1, drawn from a generator of its own so the training draws do not change, and this machine's
measured matmul rate. It reaches the callbacks as ``FitStart.cost``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from ncf._types import PathLike
from ncf.config import TrainConfig, check_type
from ncf.data.interactions import Interactions
from ncf.data.sequences import previous_items
from ncf.errors import ConfigError, TrainingDivergedError
from ncf.models.base import DataInitialized, Model, SequenceAware
from ncf.sampling import (
    HardNegativeSampler,
    NegativeSampler,
    PopularitySampler,
    UniformSampler,
)
from ncf.training.batches import EpochBatches, check_negatives
from ncf.training.callbacks import (
    BatchEnd,
    CallbackLike,
    CallbackList,
    EpochEnd,
    FitStart,
    ProgressBar,
    default_callbacks,
)
from ncf.training.checkpoint import CHECKPOINT_FILE, FitState, load_checkpoint
from ncf.training.cost import StepCost, estimate_cost
from ncf.training.fused import FusedStep, make_fused_step
from ncf.training.history import EpochLog, History
from ncf.training.objectives import Batch, Objective, make_objective
from ncf.training.optim import lr_factor, make_optimizers, set_lr
from ncf.training.strategy import SingleProcess, StepModule, Strategy, resolve_device

__all__ = ["EpochLog", "History", "Trainer", "lr_factor", "resolve_device"]

logger = logging.getLogger(__name__)


def _epoch_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + int(epoch) * 7919) % (2**63 - 1)


@dataclass
class _Run:
    """What stays fixed during one ``fit``."""

    model: Model
    train: Interactions
    config: TrainConfig
    optimizers: list[torch.optim.Optimizer]
    objective: Objective
    batches: EpochBatches
    sampler: NegativeSampler | None
    valid: Interactions | None
    valid_negatives: npt.NDArray[np.int64] | None
    max_epochs: int
    checkpoint: Path | None
    use_amp: bool
    amp_dtype: torch.dtype
    scaler: torch.amp.GradScaler | None
    #: The processes the fit runs in (:class:`~ncf.training.strategy.SingleProcess`: this one).
    strategy: Strategy
    #: The model and objective as the strategy trains them (set once any checkpoint is loaded).
    module: StepModule | None = None
    #: ``time.monotonic()`` value after which training stops (None: no time limit).
    deadline: float | None = None
    #: Set when the deadline ended training.
    deadline_hit: bool = False
    #: The fused step of the batch's rows (:mod:`~ncf.training.fused`), when the model, loss and
    #: optimizer have one and it is not turned off.
    fused: FusedStep | None = None

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    @property
    def early_stopping(self) -> bool:
        return self.config.epochs is None


class Trainer:
    """Fits any ncf model on positive interactions with a configurable loss.

    Parameters
    ----------
    config : TrainConfig
    callbacks : sequence of Callback, or functions called with each :class:`EpochLog`
        See :mod:`ncf.training.callbacks`. A progress bar is added when
        ``config.show_progress`` is set (unless a :class:`ProgressBar` is among them).
        In a DDP job they run on every rank (``FitStart.rank`` tells which); the built-in
        logging, log file and progress bar only on rank 0.
    distributed : DistributedContext or another Strategy, optional
        Train as one rank of a DistributedDataParallel job
        (:func:`~ncf.training.distributed.init_distributed`); ``config.device`` is then the
        context's device. ``batch_size`` is per rank. None (default):
        :class:`~ncf.training.strategy.SingleProcess`.
    deadline : float, optional
        A :func:`time.monotonic` value: once the clock passes it (checked after each batch,
        so at least one batch is trained), the epoch ends early, one validation runs, the
        best weights are restored and the history says ``stopped_at_deadline`` (see the
        module docstring).
    fused : bool, optional
        Take the fused step of :mod:`~ncf.training.fused` (the batch's rows only, optimizer
        update in the same pass) where the model, loss and optimizer have one (matrix
        factorisation under BPR, BCE or in-batch softmax, any optimizer; not with gradient
        clipping, mixed precision or DDP); the same update as the ordinary step, to float
        rounding, faster. None (default): on unless ``NCF_FUSED=0``.
    cost_model : bool, default False
        Estimate FLOPs per epoch against the measured matmul rate before training
        (:mod:`~ncf.training.cost`, about 0.1 s and one extra forward and backward pass) and
        give it to the callbacks as ``FitStart.cost``; training itself is unchanged.

    Raises
    ------
    ConfigError
        If ``config.device`` is unknown or not available on this machine, or for a
        ``deadline`` in a DDP job (single-process only).

    Example
    -------
    >>> trainer = Trainer(TrainConfig(loss="bpr", epochs=5))          # doctest: +SKIP
    >>> history = trainer.fit(model, split.train, valid=split.test)   # doctest: +SKIP
    """

    def __init__(self, config: TrainConfig | None = None, *, callbacks: Sequence[CallbackLike] = (),
                 distributed: Strategy | None = None, deadline: float | None = None,
                 fused: bool | None = None, cost_model: bool = False) -> None:
        self.strategy: Strategy = SingleProcess() if distributed is None else distributed
        self.strategy.check_deadline(deadline)
        if deadline is not None and not math.isfinite(deadline):
            raise ConfigError(f"deadline must be a finite time.monotonic() value, got {deadline!r}")
        if config is not None:
            check_type(config, TrainConfig, "config")
        self.config = config or TrainConfig()
        self.callbacks = list(callbacks)
        self.deadline = deadline
        self.fused = os.environ.get("NCF_FUSED", "1").strip() != "0" if fused is None else bool(fused)
        self.cost_model = bool(cost_model)
        self.device = self.strategy.device_for(self.config.device)

    # ------------------------------------------------------------------ public
    def fit(
        self,
        model: Model,
        train: Interactions,
        *,
        valid: Interactions | None = None,
        valid_negatives: npt.NDArray[np.int64] | None = None,
        checkpoint_dir: PathLike | None = None,
        resume: bool = False,
        log_path: PathLike | None = None,
    ) -> History:
        """Train ``model`` in place and return its :class:`History`.

        With ``valid``, the validation metric is computed every ``eval_every`` epochs; without
        ``config.epochs`` training stops after ``patience`` evaluations without improvement
        and the best weights are restored. ``checkpoint_dir`` gets an atomic checkpoint every
        ``checkpoint_every`` epochs (and after the last); ``resume=True`` continues from it.
        ``log_path`` gets one JSON line per epoch (:class:`~ncf.training.callbacks.JsonlLogger`).
        In a DDP job only rank 0 reads the checkpoint (and sends it to the others) and writes
        the checkpoints and the log.

        Raises
        ------
        ConfigError
            Before any training, for settings that cannot work with this model and data.
        TrainingDivergedError
            When the loss becomes NaN or infinite.
        """
        check_type(model, Model, "model")
        check_type(train, Interactions, "train")
        if valid is not None:
            check_type(valid, Interactions, "valid")
        config = self._check(model, train, valid, valid_negatives)
        run = self._prepare(config, model, train, valid, valid_negatives, checkpoint_dir)
        if run.fused is not None and run.fused.objective is not run.objective:
            # a subclass's _prepare swapped the objective: the fused step would train the old one
            run.fused = make_fused_step(model, run.objective, run.optimizers, config)
        state = self._restore(run, resume)
        cost = self._cost(run) if self.cost_model and run.strategy.is_main else None
        run.module = run.strategy.wrap(model, run.objective)  # after the restore: DDP starts from rank 0's weights
        callbacks = self._callback_list(log_path)
        history: History | None = None
        try:
            callbacks.on_fit_start(FitStart(
                first_epoch=state.next_epoch + 1, max_epochs=run.max_epochs, early_stopping=run.early_stopping,
                num_batches=run.batches.num_batches, num_samples=run.batches.num_samples,
                metric=config.metric if valid is not None else None, logs=tuple(state.logs),
                rank=run.strategy.rank, world_size=run.strategy.world_size, cost=cost,
            ))
            with run.strategy.guard():  # a failed collective (another rank died) becomes one clear error
                first = run.max_epochs if state.finished else state.next_epoch
                for epoch in range(first, run.max_epochs):
                    if epoch > first and run.past_deadline():  # the time ran out after the last epoch
                        self._stop_between_epochs(run, state, epoch - 1)
                        break
                    callbacks.on_epoch_start(epoch + 1)
                    end = self._epoch(run, state, epoch, callbacks)
                    callbacks.on_epoch_end(end)
                    if end.stopped_early or end.stopped_at_deadline:
                        break
            history = self._finish(run, state)
            return history
        finally:
            run.module = None  # a DDP wrapper alive when the process group goes aborts the process at exit
            callbacks.on_fit_end(history)

    @staticmethod
    def _restore(run: _Run, resume: bool) -> FitState:
        """The progress to continue from: the checkpoint's with ``resume`` (weights and optimizers
        loaded), else a fresh one. Rank 0 reads it and broadcasts it."""
        path = run.checkpoint if resume else None
        saved = run.strategy.from_main(lambda: load_checkpoint(path) if path is not None and path.is_file() else None)
        if saved is None:
            return FitState()
        state = FitState.from_checkpoint(saved, run.model, run.optimizers)
        if run.strategy.is_main:
            logger.info("resumed from %s at epoch %d", run.checkpoint, state.next_epoch + 1)
        return state

    # ------------------------------------------------------------------ setup
    def _check(
        self, model: Model, train: Interactions, valid: Interactions | None,
        valid_negatives: npt.NDArray[np.int64] | None,
    ) -> TrainConfig:
        """The config of this fit; every refusal that needs no training happens here, first."""
        cfg = self.config
        if valid is not None:
            cfg = cfg.for_validation(sampled=valid_negatives is not None)
        if len(train) == 0:
            raise ConfigError("the training set is empty")
        if model.num_users < train.num_users or model.num_items < train.num_items:
            raise ConfigError("the model's universe is smaller than the training data's")
        if cfg.epochs is None and valid is None:
            raise ConfigError("without a validation set, give a fixed number of epochs (epochs=N)")
        if cfg.loss == "mse" and train.weights is None:
            raise ConfigError("loss 'mse' needs ratings (weights) in the training data")
        if cfg.loss in ("bpr", "bce"):
            check_negatives(len(train), batch_size=cfg.batch_size, num_negatives=cfg.num_negatives)
        elif cfg.loss == "softmax" and cfg.num_negatives > 0 and cfg.extra_negatives == 0:
            logger.debug("softmax uses in-batch negatives; num_negatives is ignored")
        self.strategy.check_model(model)
        return cfg

    def _prepare(
        self, cfg: TrainConfig, model: Model, train: Interactions, valid: Interactions | None,
        valid_negatives: npt.NDArray[np.int64] | None, checkpoint_dir: PathLike | None,
    ) -> _Run:
        device = self.device
        model.to(device)
        if isinstance(model, DataInitialized) and model.needs_data_init:
            model.init_from_data(train, seed=cfg.seed)  # once: the model records it in its state
        optimizers = make_optimizers(model, cfg)
        sampler = self._make_sampler(cfg, train)
        # sequence-aware models (FPMC) train on transitions: each row's previous item
        previous = None
        if isinstance(model, SequenceAware):
            previous = previous_items(train)
            model.set_context(train)
        strategy = self.strategy
        batches = EpochBatches(
            train, batch_size=cfg.batch_size, device=device, sampler=sampler, ratings=cfg.loss == "mse",
            previous=previous, extra_negatives=cfg.extra_negatives if cfg.loss == "softmax" else 0,
            rank=strategy.rank, world_size=strategy.world_size,
        )
        use_amp = cfg.amp and device.type == "cuda"
        amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
        objective = make_objective(cfg, train, device=device)
        fused = None
        if self.fused and not strategy.syncs_gradients and not use_amp and previous is None:
            fused = make_fused_step(model, objective, optimizers, cfg)
        return _Run(
            model=model, train=train, config=cfg, optimizers=optimizers,
            objective=objective, batches=batches, sampler=sampler, fused=fused,
            valid=valid, valid_negatives=valid_negatives,
            max_epochs=cfg.epochs if cfg.epochs is not None else cfg.max_epochs,
            checkpoint=Path(checkpoint_dir) / CHECKPOINT_FILE if checkpoint_dir is not None else None,
            use_amp=use_amp, amp_dtype=amp_dtype,
            scaler=torch.amp.GradScaler("cuda") if use_amp and amp_dtype == torch.float16 else None,
            strategy=strategy, deadline=self.deadline,
        )

    @staticmethod
    def _cost(run: _Run) -> StepCost:
        """The fit's cost model, on the first batch of epoch 1 as training will draw it (from a
        generator of its own: the training draws stay as they are)."""
        shared = _epoch_seed(run.config.seed, 0)
        rank_rng = run.strategy.rank_draws(run.config.seed, 0, shared)[1]
        batch = next(iter(run.batches.epoch(np.random.default_rng(shared), rank_rng=rank_rng)))
        return estimate_cost(run.model, run.objective, batch, steps_per_epoch=run.batches.num_batches,
                             dtype=run.amp_dtype if run.use_amp else None)

    @staticmethod
    def _make_sampler(cfg: TrainConfig, train: Interactions) -> NegativeSampler | None:
        if cfg.loss in ("mse", "softmax") or cfg.num_negatives == 0:
            return None
        base: UniformSampler | PopularitySampler
        if cfg.sampler == "popularity":
            base = PopularitySampler(train, cfg.num_negatives, alpha=cfg.popularity_alpha)
        else:
            base = UniformSampler(train, cfg.num_negatives)
        if cfg.hard_negatives > 0:
            return HardNegativeSampler(train, cfg.num_negatives, hard_fraction=cfg.hard_negatives, base=base)
        return base

    def _callback_list(self, log_path: PathLike | None) -> CallbackList:
        if not self.strategy.is_main:
            return CallbackList(self.callbacks)  # logging, log file and progress belong to rank 0
        show = self.config.show_progress and not any(isinstance(c, ProgressBar) for c in self.callbacks)
        return CallbackList([*default_callbacks(show_progress=show, log_path=log_path), *self.callbacks])

    # ------------------------------------------------------------------ one epoch
    def _epoch(self, run: _Run, state: FitState, epoch: int, callbacks: CallbackList) -> EpochEnd:
        """Train epoch ``epoch`` (0-based), validate, update early stopping, checkpoint."""
        cfg = run.config
        loss, seconds, samples = self._train_epoch(run, state, epoch, callbacks)
        metrics, eval_seconds = self._validate(run, state, epoch, force=run.deadline_hit)
        stopped_early = run.early_stopping and state.bad_evals >= cfg.patience
        log = EpochLog(epoch + 1, loss, seconds, samples / seconds, metrics, eval_seconds)
        state.logs.append(log)
        state.next_epoch = epoch + 1
        state.finished = stopped_early or run.deadline_hit or epoch + 1 == run.max_epochs
        # an epoch cut at the deadline is not checkpointed: a resume redoes it, as an uninterrupted run would
        if run.checkpoint is not None and not run.deadline_hit and ((epoch + 1) % cfg.checkpoint_every == 0
                                                                     or state.finished):
            if run.strategy.is_main:
                state.save(run.checkpoint, run.model, run.optimizers)
            state.checkpoint_epoch = epoch + 1
        return EpochEnd(log=log, max_epochs=run.max_epochs, metric=cfg.metric if run.valid is not None else None,
                        best_epoch=state.best_epoch, best_metric=state.best_metric, stopping=state.finished,
                        stopped_early=stopped_early, stopped_at_deadline=run.deadline_hit)

    def _stop_between_epochs(self, run: _Run, state: FitState, epoch: int) -> None:
        """The deadline passed after epoch ``epoch`` (0-based) ended: validate it if it was not
        (``eval_every > 1``), and end the fit there."""
        run.deadline_hit = True
        state.finished = True
        last = state.logs[-1] if state.logs else None
        if run.valid is not None and last is not None and last.epoch == epoch + 1 and not last.metrics:
            metrics, eval_seconds = self._validate(run, state, epoch, force=True)
            state.logs[-1] = dataclasses.replace(last, metrics=metrics, eval_seconds=eval_seconds)

    def _train_epoch(self, run: _Run, state: FitState, epoch: int,
                     callbacks: CallbackList) -> tuple[float, float, int]:
        """One pass over the shuffled positives (cut short at the deadline); returns the mean
        batch loss, the seconds and the positives trained on."""
        t0 = time.perf_counter()
        shared = _epoch_seed(run.config.seed, epoch)
        rng = np.random.default_rng(shared)
        # the permutation is shared; in a DDP job, negatives (and dropout) are the rank's own
        torch_seed, rank_rng = run.strategy.rank_draws(run.config.seed, epoch, shared)
        torch.manual_seed(torch_seed)
        if isinstance(run.sampler, HardNegativeSampler):
            self._refresh_hard_candidates(run.model, run.train, run.sampler)
        run.model.train()
        num_batches, batch_size = run.batches.num_batches, run.batches.batch_size
        world = run.strategy.world_size
        total = torch.zeros((), device=self.device, dtype=torch.float64)
        done = 0
        for b, batch in enumerate(run.batches.epoch(rng, rank_rng=rank_rng)):
            lr = self._schedule_lr(run, epoch * num_batches + b)
            total += self._step(run, batch).detach().double()
            done = b + 1
            if callbacks.wants_batches:
                callbacks.on_batch_end(BatchEnd(
                    epoch=epoch + 1, batch=b + 1, num_batches=num_batches,
                    samples=min((b + 1) * batch_size * world, run.batches.num_samples),
                    seconds=time.perf_counter() - t0, lr=lr, loss_sum=total,
                ))
            if b % 50 == 49 and not self._finite(run, total):
                break
            if run.past_deadline():  # single-process only (refused with DDP)
                run.deadline_hit = True
                break
        # the mean over every rank's batches (every rank trains as many; the deadline is single-process)
        mean_loss = float(run.strategy.all_sum(total).item()) / (max(done, 1) * world)
        if not math.isfinite(mean_loss):
            raise TrainingDivergedError(self._diverged(run, state, mean_loss, epoch))
        samples = run.batches.num_samples if done == num_batches else min(done * batch_size, run.batches.num_samples)
        return mean_loss, time.perf_counter() - t0, samples

    @staticmethod
    def _finite(run: _Run, total: Tensor) -> bool:
        """Whether the loss sum is finite: on every rank (one decision for all) in a DDP job."""
        return bool(torch.isfinite(run.strategy.all_sum(total)))

    def _schedule_lr(self, run: _Run, step: int) -> float:
        """Set the learning rate of global step ``step``; return it."""
        cfg = run.config
        if cfg.lr_schedule == "constant":
            return cfg.lr
        lr = cfg.lr * lr_factor(cfg.lr_schedule, step / (run.max_epochs * run.batches.num_batches))
        set_lr(run.optimizers, lr)
        return lr

    def _step(self, run: _Run, batch: Batch) -> Tensor:
        """Loss, backward pass and optimizer step of one batch; returns the loss."""
        if run.fused is not None:
            return run.fused(batch)
        assert run.module is not None, "fit wraps the model before the first step"
        with torch.autocast(device_type=self.device.type, dtype=run.amp_dtype, enabled=run.use_amp):
            loss = run.module(batch)
        for opt in run.optimizers:
            opt.zero_grad(set_to_none=True)
        (loss if run.scaler is None else run.scaler.scale(loss)).backward()
        run.module.reduce_gradients()
        if run.scaler is not None:
            for opt in run.optimizers:
                run.scaler.step(opt)
            run.scaler.update()
        else:
            if run.config.grad_clip is not None:
                nn.utils.clip_grad_norm_(run.model.parameters(), run.config.grad_clip)
            for opt in run.optimizers:
                opt.step()
        return loss

    @staticmethod
    def _diverged(run: _Run, state: FitState, loss: float, epoch: int) -> str:
        msg = f"loss became {loss} in epoch {epoch + 1}; lower the learning rate"
        saved = state.checkpoint_epoch
        if saved is not None and run.checkpoint is not None and run.checkpoint.is_file():
            msg += f"; the last good checkpoint (epoch {saved}) is kept in {run.checkpoint}"
        return msg

    def _refresh_hard_candidates(self, model: Model, train: Interactions, sampler: HardNegativeSampler) -> None:
        from ncf.retrieval import topk

        users = np.arange(train.num_users, dtype=np.int64)
        top = topk(model, users, k=self.config.hard_candidates, exclude=train.to_csr(), device=self.device)
        sampler.set_candidates(np.asarray(top.ids, dtype=np.int64))

    # ------------------------------------------------------------------ validation and end
    def _validate(self, run: _Run, state: FitState, epoch: int, *,
                  force: bool = False) -> tuple[dict[str, float], float]:
        """Validation metrics of epoch ``epoch`` when it is due (or ``force``), else none; updates
        the best.

        Rank 0 evaluates; every rank gets its metrics by broadcast and updates its copy of the
        best with them, so every rank holds rank 0's progress (the same since the restore) and
        reaches its early-stopping decision.
        """
        cfg = run.config
        due = force or (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == run.max_epochs
        if run.valid is None or not due:
            return {}, 0.0
        metrics, seconds = run.strategy.from_main(lambda: self._evaluate(run))
        state.update_best(metrics[str(cfg.metric)], epoch + 1, run.model)
        return metrics, seconds

    def _evaluate(self, run: _Run) -> tuple[dict[str, float], float]:
        """The validation metrics of the model as it is, and the seconds they took."""
        from ncf.evaluation import evaluate  # local: evaluation imports models, not training

        cfg = run.config
        assert run.valid is not None
        report = evaluate(
            run.model,
            run.valid,
            exclude=run.train,
            k=cfg.eval_k or (),
            protocol="sampled" if cfg.eval_protocol == "sampled" else "full",
            negatives=run.valid_negatives if cfg.eval_protocol == "sampled" else None,
            device=self.device,
        )
        return dict(report.metrics), report.seconds

    @staticmethod
    def _finish(run: _Run, state: FitState) -> History:
        """Restore the best weights when stopping early or at the deadline; the model ends in eval mode."""
        if (run.early_stopping or run.deadline_hit) and state.best_state is not None:
            run.model.load_state_dict(state.best_state)
        run.model.eval()
        stopped_early = run.early_stopping and state.bad_evals >= run.config.patience
        return History(tuple(state.logs), state.best_epoch, state.best_metric, stopped_early,
                       stopped_at_deadline=run.deadline_hit)
