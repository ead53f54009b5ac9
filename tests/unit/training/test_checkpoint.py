"""Checkpoints: safe loading, exact resume after an interruption, finished runs, the divergence message."""

from __future__ import annotations

import json

import pytest
import torch

from ncf import MatrixFactorization, TrainConfig, Trainer
from ncf.data.splits import leave_one_out, validation_split
from ncf.data.synthetic import synthetic
from ncf.errors import DataError, TrainingDivergedError
from ncf.training.checkpoint import CHECKPOINT_FILE, FitState, load_checkpoint, save_checkpoint
from ncf.training.history import EpochLog
from ncf.training.optim import make_optimizers


@pytest.fixture(scope="module")
def split():
    syn = synthetic(num_users=150, num_items=100, seed=8)
    return leave_one_out(syn.interactions, num_negatives=30, seed=0)


def _fresh(split) -> MatrixFactorization:
    torch.manual_seed(0)
    return MatrixFactorization(split.num_users, split.num_items, embedding_dim=8)


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sb = b.state_dict()
    for k, v in a.state_dict().items():
        assert torch.equal(v, sb[k]), k


def test_save_and_load(tmp_path) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"epoch": 3, "w": torch.arange(4.0), "logs": ["{}"]})
    state = load_checkpoint(path)
    assert state["epoch"] == 3 and torch.equal(state["w"], torch.arange(4.0))
    with pytest.raises(DataError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="unreadable"):
        load_checkpoint(tmp_path / "junk.pt")
    save_checkpoint(tmp_path / "other.pt", {"weights": torch.zeros(2)})
    with pytest.raises(DataError, match="not an ncf checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_fit_state_round_trip(split, tmp_path) -> None:
    model = _fresh(split)
    opts = make_optimizers(model, TrainConfig())
    model.user_vectors(torch.tensor([0])).sum().backward()
    opts[0].step()  # some optimizer state
    state = FitState(logs=[EpochLog(1, 0.5, 1.0, 10.0, {"ndcg@10": 0.3})], best_metric=0.3, best_epoch=1,
                     best_state={k: v.clone() for k, v in model.state_dict().items()}, bad_evals=1, next_epoch=1)
    state.save(tmp_path / "c.pt", model, opts)
    other = MatrixFactorization(split.num_users, split.num_items, embedding_dim=8)
    other_opts = make_optimizers(other, TrainConfig())
    back = FitState.restore(tmp_path / "c.pt", other, other_opts)
    assert (back.logs, back.best_metric, back.best_epoch, back.bad_evals, back.next_epoch, back.finished) == (
        state.logs, 0.3, 1, 1, 1, False)
    assert back.checkpoint_epoch == 1
    _assert_same_weights(model, other)
    assert torch.equal(other_opts[0].state_dict()["state"][0]["exp_avg"], opts[0].state_dict()["state"][0]["exp_avg"])


class _Stop(Exception):
    pass


def test_resume_after_interruption_repeats_the_uninterrupted_run(split, tmp_path) -> None:
    cfg = TrainConfig(loss="bpr", epochs=4, batch_size=512, seed=3, checkpoint_every=2, show_progress=False,
                      lr_schedule="cosine")
    full = _fresh(split)
    full_hist = Trainer(cfg).fit(full, split.train)

    def stop_after_third(log: EpochLog) -> None:
        if log.epoch == 3:
            raise _Stop

    with pytest.raises(_Stop):
        Trainer(cfg, callbacks=[stop_after_third]).fit(_fresh(split), split.train, checkpoint_dir=tmp_path,
                                                       log_path=tmp_path / "log.jsonl")
    assert load_checkpoint(tmp_path / CHECKPOINT_FILE)["epoch"] == 1  # written after epoch 2 only
    resumed = MatrixFactorization(split.num_users, split.num_items, embedding_dim=8)  # other init: overwritten
    hist = Trainer(cfg).fit(resumed, split.train, checkpoint_dir=tmp_path, resume=True,
                            log_path=tmp_path / "log.jsonl")
    assert [e.epoch for e in hist.epochs] == [1, 2, 3, 4]
    assert [e.loss for e in hist.epochs] == [e.loss for e in full_hist.epochs]
    _assert_same_weights(full, resumed)
    logged = [json.loads(line)["epoch"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3, 4]  # the resumed run rewrote the whole log, earlier epochs included


def test_resuming_a_run_that_stopped_early_trains_nothing(split, tmp_path) -> None:
    train, valid, vneg = validation_split(split.train, method="loo", num_negatives=30, seed=0)
    cfg = TrainConfig(loss="bpr", lr=0.05, max_epochs=30, patience=1, batch_size=512, show_progress=False)
    model = _fresh(split)
    hist = Trainer(cfg).fit(model, train, valid=valid, valid_negatives=vneg, checkpoint_dir=tmp_path)
    assert hist.stopped_early and len(hist.epochs) < 30
    seen: list[EpochLog] = []
    again = _fresh(split)
    resumed = Trainer(cfg, callbacks=[seen.append]).fit(again, train, valid=valid, valid_negatives=vneg,
                                                        checkpoint_dir=tmp_path, resume=True)
    assert seen == [] and resumed == hist
    _assert_same_weights(model, again)  # the best weights, restored from the checkpoint


def _poison(model: torch.nn.Module, after_epoch: int):
    def callback(log: EpochLog) -> None:
        if log.epoch == after_epoch:
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(float("nan"))
    return callback


def test_divergence_names_the_checkpoint_only_when_there_is_one(split, tmp_path) -> None:
    cfg = TrainConfig(loss="bpr", epochs=3, show_progress=False)
    model = _fresh(split)
    with pytest.raises(TrainingDivergedError) as err:
        Trainer(cfg, callbacks=[_poison(model, 1)]).fit(model, split.train, checkpoint_dir=tmp_path)
    path = tmp_path / CHECKPOINT_FILE
    assert str(err.value) == (f"loss became nan in epoch 2; lower the learning rate; the last good checkpoint "
                              f"(epoch 1) is kept in {path}")
    assert load_checkpoint(path)["epoch"] == 0
    # diverging in the first epoch: no checkpoint of this run (a stale file of another run is not one)
    model = _fresh(split)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    for kwargs in ({}, {"checkpoint_dir": tmp_path / "empty"}, {"checkpoint_dir": tmp_path}):
        with pytest.raises(TrainingDivergedError) as err:
            Trainer(cfg).fit(model, split.train, **kwargs)
        assert str(err.value) == "loss became nan in epoch 1; lower the learning rate"
    assert not (tmp_path / "empty" / CHECKPOINT_FILE).exists()
