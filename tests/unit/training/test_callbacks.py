"""Callbacks: hook order and payloads, the log file, the progress display and its silence off a terminal."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from ncf import MatrixFactorization, TrainConfig, Trainer
from ncf.data.splits import leave_one_out, validation_split
from ncf.data.synthetic import synthetic
from ncf.training.callbacks import (
    BatchEnd,
    Callback,
    EpochEnd,
    FitStart,
    JsonlLogger,
    ProgressBar,
    as_callback,
    epoch_summary,
)
from ncf.training.history import EpochLog, History
from ncf.training.optim import lr_factor


@pytest.fixture(scope="module")
def split():
    syn = synthetic(num_users=120, num_items=80, seed=4)
    return leave_one_out(syn.interactions, num_negatives=20, seed=0)


@pytest.fixture(scope="module")
def with_valid(split):
    return validation_split(split.train, method="loo", num_negatives=20, seed=0)


def _model(split, dim: int = 8) -> MatrixFactorization:
    return MatrixFactorization(split.num_users, split.num_items, embedding_dim=dim)


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def on_fit_start(self, start: FitStart) -> None:
        self.events.append(("fit_start", start))

    def on_epoch_start(self, epoch: int) -> None:
        self.events.append(("epoch_start", epoch))

    def on_batch_end(self, batch: BatchEnd) -> None:
        self.events.append(("batch_end", (batch.epoch, batch.batch, batch.samples, batch.lr, batch.mean_loss())))

    def on_epoch_end(self, end: EpochEnd) -> None:
        self.events.append(("epoch_end", end))

    def on_fit_end(self, history: History | None) -> None:
        self.events.append(("fit_end", history))


def test_hooks_run_in_order_with_their_payloads(split) -> None:
    rec = Recorder()
    cfg = TrainConfig(loss="bpr", epochs=2, batch_size=1000, lr_schedule="linear", lr=0.01, show_progress=False)
    hist = Trainer(cfg, callbacks=[rec]).fit(_model(split), split.train)
    n = len(split.train)
    num_batches = -(-n // 1000)
    kinds = [k for k, _ in rec.events]
    per_epoch = ["epoch_start"] + ["batch_end"] * num_batches + ["epoch_end"]
    assert kinds == ["fit_start", *per_epoch, *per_epoch, "fit_end"]
    start = rec.events[0][1]
    assert start == FitStart(first_epoch=1, max_epochs=2, early_stopping=False, num_batches=num_batches,
                             num_samples=n, metric=None, logs=())
    batches = [p for k, p in rec.events if k == "batch_end"]
    assert [b[:2] for b in batches[:num_batches]] == [(1, i) for i in range(1, num_batches + 1)]
    assert batches[num_batches - 1][2] == n  # all positives seen at the end of the epoch
    # the learning rate of each step follows the schedule over all steps of the run
    lrs = [b[3] for b in batches]
    assert lrs == [pytest.approx(0.01 * lr_factor("linear", s / (2 * num_batches))) for s in range(2 * num_batches)]
    # the running mean at the last batch is the epoch's logged loss
    ends = [p for k, p in rec.events if k == "epoch_end"]
    assert [e.log for e in ends] == list(hist.epochs)
    assert batches[num_batches - 1][4] == hist.epochs[0].loss
    assert [e.stopping for e in ends] == [False, True]
    assert rec.events[-1] == ("fit_end", hist)


def test_epoch_end_carries_the_best_so_far(split, with_valid) -> None:
    train, valid, vneg = with_valid
    rec = Recorder()
    cfg = TrainConfig(loss="bpr", lr=0.05, max_epochs=8, patience=2, batch_size=512, show_progress=False)
    hist = Trainer(cfg, callbacks=[rec]).fit(_model(split), train, valid=valid, valid_negatives=vneg)
    ends = [p for k, p in rec.events if k == "epoch_end"]
    assert isinstance(ends[0], EpochEnd)
    seen: list[float] = []
    for end in ends:
        seen.append(end.log.metrics["ndcg@10"])
        assert end.metric == "ndcg@10" and end.best_metric == max(seen)
        assert end.best_epoch == 1 + seen.index(max(seen))
    assert ends[-1].stopped_early == hist.stopped_early


def test_functions_are_called_with_each_epoch_log(split) -> None:
    logs: list[EpochLog] = []
    Trainer(TrainConfig(loss="bpr", epochs=2, show_progress=False), callbacks=[logs.append]).fit(_model(split),
                                                                                             split.train)
    assert [log.epoch for log in logs] == [1, 2]
    with pytest.raises(TypeError):
        as_callback(3)  # type: ignore[arg-type]


class _Boom(Exception):
    pass


def test_fit_end_is_called_when_training_raises(split) -> None:
    rec = Recorder()

    def boom(log: EpochLog) -> None:
        raise _Boom

    with pytest.raises(_Boom):
        Trainer(TrainConfig(loss="bpr", epochs=3, show_progress=False), callbacks=[rec, boom]).fit(
            _model(split), split.train)
    assert rec.events[-1] == ("fit_end", None)
    assert [k for k, _ in rec.events].count("epoch_end") == 1


def test_jsonl_log_has_one_line_per_epoch(split, tmp_path) -> None:
    path = tmp_path / "sub" / "log.jsonl"
    hist = Trainer(TrainConfig(loss="bpr", epochs=3, show_progress=False)).fit(_model(split), split.train,
                                                                               log_path=path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [e.to_dict() for e in hist.epochs]
    # the same as a callback of its own
    other = tmp_path / "other.jsonl"
    Trainer(TrainConfig(loss="bpr", epochs=2, show_progress=False), callbacks=[JsonlLogger(other)]).fit(
        _model(split), split.train)
    assert [json.loads(x)["epoch"] for x in other.read_text().splitlines()] == [1, 2]


def test_one_log_record_per_epoch(split, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="ncf.training"):
        Trainer(TrainConfig(loss="bpr", epochs=2, show_progress=False)).fit(_model(split), split.train)
    records = [r for r in caplog.records if r.name == "ncf.training.epochs" and r.levelno == logging.INFO]
    assert [r.epoch_log["epoch"] for r in records] == [1, 2]
    # a line to read, not a dict: epoch, loss and seconds
    assert re.fullmatch(r"epoch 1/2: loss \d+\.\d{4}, \d+\.\d s \([\d,]+ pos/s\); eta .*", records[0].getMessage())
    assert "{" not in records[1].getMessage()


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_shows_loss_throughput_metric_best_and_eta(split, with_valid) -> None:
    train, valid, vneg = with_valid
    out = FakeTerminal()
    cfg = TrainConfig(loss="bpr", epochs=3, batch_size=256, show_progress=False)
    Trainer(cfg, callbacks=[ProgressBar(file=out, every=1, mininterval=0)]).fit(_model(split), train, valid=valid,
                                                                 valid_negatives=vneg)
    text = out.getvalue()
    assert "epoch 1/3" in text and "loss=" in text and "pos_s=" in text  # the per-batch bar
    lines = [line for line in text.replace("\r", "\n").splitlines() if line.startswith("epoch ") and "pos/s" in line]
    assert len(lines) == 3  # one summary per epoch
    assert "ndcg@10 " in lines[0] and "best " in lines[0] and "eta " in lines[0]
    assert "eta" not in lines[-1]  # nothing left after the last epoch


def test_show_progress_adds_a_bar_that_is_silent_off_a_terminal(split, capsys) -> None:
    # stderr is captured here (not a terminal): no carriage-return bar lines in logs or pipes
    Trainer(TrainConfig(loss="bpr", epochs=1, show_progress=True)).fit(_model(split, dim=4), split.train)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    quiet = io.StringIO()
    bar = ProgressBar(file=quiet)
    Trainer(TrainConfig(loss="bpr", epochs=1, show_progress=False), callbacks=[bar]).fit(_model(split, dim=4),
                                                                                         split.train)
    assert quiet.getvalue() == "" and not bar.enabled


def _end(epoch: int, metrics: dict[str, float], best: tuple[int, float] | None, *, stopping: bool = False,
         stopped_early: bool = False) -> EpochEnd:
    log = EpochLog(epoch, 0.29314, 12.34, 81234.0, metrics, 1.0)
    return EpochEnd(log, 20, "ndcg@10" if metrics else None, best[0] if best else None, best[1] if best else None,
                    stopping, stopped_early)


def test_epoch_summary() -> None:
    end = _end(3, {"ndcg@10": 0.41234, "hr@10": 0.7}, (2, 0.42))
    assert epoch_summary(end, eta_seconds=200) == (
        "epoch 3/20: loss 0.2931, 12.3 s (81,234 pos/s); ndcg@10 0.4123, best 0.4200 at epoch 2; eta 3:20")
    assert epoch_summary(end, eta_seconds=3725, early_stopping=True).endswith("; eta <=1:02:05")
    assert epoch_summary(_end(3, {}, None), eta_seconds=5) == "epoch 3/20: loss 0.2931, 12.3 s (81,234 pos/s); eta 0:05"
    assert epoch_summary(_end(5, {"ndcg@10": 0.4}, (2, 0.42), stopping=True, stopped_early=True),
                         eta_seconds=5).endswith("; stopping early")
    with pytest.raises(ValueError):
        ProgressBar(every=0)
