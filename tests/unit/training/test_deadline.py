"""Trainer(deadline=...): the epoch running at the deadline ends early, is validated once, and the
best weights come back; without a deadline nothing changes."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import torch

from ncf import MatrixFactorization, TrainConfig, Trainer, evaluate
from ncf.data.splits import leave_one_out, validation_split
from ncf.data.synthetic import synthetic
from ncf.errors import ConfigError
from ncf.training.callbacks import BatchEnd, Callback, EpochEnd
from ncf.training.distributed import DistributedContext, World


@pytest.fixture(scope="module")
def carve():
    data = synthetic(num_users=200, num_items=300, seed=5).interactions
    train = leave_one_out(data, num_negatives=50, seed=0).train
    fit, valid, negs = validation_split(train, method="loo", num_negatives=50, seed=0)
    return fit, valid, negs


class Batches(Callback):
    """Counts the batches of each epoch; optionally sleeps after each (a slow model)."""

    def __init__(self, sleep: float = 0.0) -> None:
        self.sleep = sleep
        self.per_epoch: dict[int, int] = {}
        self.num_batches = 0
        self.ends: list[EpochEnd] = []

    def on_batch_end(self, batch: BatchEnd) -> None:
        self.per_epoch[batch.epoch] = batch.batch
        self.num_batches = batch.num_batches
        if self.sleep:
            time.sleep(self.sleep)

    def on_epoch_end(self, end: EpochEnd) -> None:
        self.ends.append(end)


def _mf(fit) -> MatrixFactorization:
    torch.manual_seed(0)
    return MatrixFactorization(fit.num_users, fit.num_items, embedding_dim=16)


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"loss": "bpr", "lr": 1e-2, "batch_size": 256, "max_epochs": 30, "patience": 30,
                          "show_progress": False, **kw})


def _valid_metric(model, fit, valid, negs) -> float:
    return evaluate(model, valid, exclude=fit, k=(10,), protocol="sampled", negatives=negs).metrics["ndcg@10"]


def test_a_past_deadline_gives_one_partial_validated_epoch(carve):
    fit, valid, negs = carve
    seen = Batches()
    history = Trainer(_cfg(), callbacks=[seen], deadline=time.monotonic() - 1.0).fit(
        _mf(fit), fit, valid=valid, valid_negatives=negs)
    assert len(history.epochs) == 1 and history.stopped_at_deadline and not history.stopped_early
    assert seen.per_epoch == {1: 1} and seen.num_batches > 1  # one batch of several: a partial epoch
    assert "ndcg@10" in history.epochs[0].metrics and history.best_epoch == 1
    assert seen.ends[-1].stopped_at_deadline and seen.ends[-1].stopping


def test_a_deadline_mid_training_stops_early_and_keeps_the_best(carve):
    fit, valid, negs = carve
    seen = Batches(sleep=0.01)  # ~5,100 positives / 256 = 20 batches: >= 0.2 s per epoch
    model = _mf(fit)
    t0 = time.monotonic()
    history = Trainer(_cfg(), callbacks=[seen], deadline=t0 + 1.0).fit(model, fit, valid=valid,
                                                                        valid_negatives=negs)
    elapsed = time.monotonic() - t0
    assert history.stopped_at_deadline and 1 < len(history.epochs) < 30
    assert elapsed < 1.0 + 2.0  # one batch and one evaluation past the deadline, with room for a busy machine
    assert all(log.metrics for log in history.epochs)  # the last one too, cut short or not
    assert history.best_metric == pytest.approx(_valid_metric(model, fit, valid, negs))  # best weights restored


def test_a_deadline_after_a_whole_epoch_validates_it_without_training_more(carve):
    fit, valid, negs = carve

    class Stall(Callback):  # the time runs out during epoch 2's end (after its validation was skipped)
        def on_epoch_end(self, end: EpochEnd) -> None:
            if end.log.epoch == 2:
                time.sleep(0.3)

    seen = Batches()
    t0 = time.monotonic()
    history = Trainer(_cfg(eval_every=5), callbacks=[seen, Stall()], deadline=t0 + 0.25).fit(
        _mf(fit), fit, valid=valid, valid_negatives=negs)
    if len(history.epochs) != 2:  # epochs 1-2 took longer than the deadline on a busy machine
        pytest.skip("the machine is too slow for this timing")
    assert history.stopped_at_deadline and set(seen.per_epoch) == {1, 2}
    assert history.epochs[1].metrics and not history.epochs[0].metrics and history.best_epoch == 2


def test_no_deadline_or_a_far_one_changes_nothing(carve):
    fit, valid, negs = carve
    cfg = _cfg(max_epochs=3)
    a, b = _mf(fit), _mf(fit)
    ha = Trainer(cfg).fit(a, fit, valid=valid, valid_negatives=negs)
    hb = Trainer(cfg, deadline=time.monotonic() + 3600).fit(b, fit, valid=valid, valid_negatives=negs)
    assert not ha.stopped_at_deadline and not hb.stopped_at_deadline and len(ha.epochs) == 3
    assert [x.metrics for x in ha.epochs] == [x.metrics for x in hb.epochs]
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key])


def test_a_cut_epoch_is_not_checkpointed(carve, tmp_path):
    fit, valid, negs = carve
    Trainer(_cfg(), deadline=time.monotonic() - 1.0).fit(_mf(fit), fit, valid=valid, valid_negatives=negs,
                                                          checkpoint_dir=tmp_path)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_a_deadline_is_single_process():
    with pytest.raises(ConfigError, match="single-process"):
        Trainer(_cfg(), distributed=DistributedContext(World(0, 2, 0, 2), torch.device("cpu"), "gloo",
                                                       timedelta(seconds=5)), deadline=time.monotonic())
    with pytest.raises(ConfigError, match="finite"):
        Trainer(_cfg(), deadline=float("nan"))
