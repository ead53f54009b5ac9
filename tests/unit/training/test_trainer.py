"""Trainer: models learn planted structure, losses match references, runs are repeatable."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ncf import (
    GMF,
    MLP,
    MatrixFactorization,
    NeuMF,
    Popularity,
    TrainConfig,
    Trainer,
    TwoTower,
    evaluate,
)
from ncf.data.splits import leave_one_out, validation_split
from ncf.data.synthetic import synthetic
from ncf.errors import ConfigError
from ncf.sampling import PositiveSet, item_log_frequency


@pytest.fixture(scope="module")
def data():
    syn = synthetic(num_users=600, num_items=400, seed=11)
    split = leave_one_out(syn.interactions, num_negatives=99, seed=0)
    return syn, split


def _hr10(model, split) -> float:
    report = evaluate(model, split.test, exclude=split.train, k=(10,), protocol="sampled",
                      negatives=split.test_negatives)
    return report.metrics["hr@10"]


def _models(syn, nu, ni):
    return {
        "mf-bpr": (MatrixFactorization(nu, ni, embedding_dim=32), dict(loss="bpr", lr=1e-2, epochs=12)),
        "gmf-bce": (GMF(nu, ni, embedding_dim=16), dict(loss="bce", lr=1e-2, epochs=12)),
        "mlp-bce": (MLP(nu, ni, embedding_dim=16, layers=(32, 16)), dict(loss="bce", lr=1e-2, epochs=15, batch_size=256)),
        "neumf-bce": (NeuMF(nu, ni, gmf_dim=16, mlp_dim=16, layers=(32, 16)), dict(loss="bce", lr=3e-3, epochs=12)),
        "mf-softmax": (MatrixFactorization(nu, ni, embedding_dim=32),
                       dict(loss="softmax", lr=1e-2, epochs=12, batch_size=256, temperature=0.5)),
        "two-tower-softmax": (TwoTower(nu, ni, embedding_dim=32, layers=(64, 32), temperature=0.1),
                              dict(loss="softmax", lr=3e-3, epochs=12, batch_size=256)),
        "two-tower-features": (TwoTower(nu, ni, embedding_dim=32, layers=(64, 32), temperature=0.1,
                                        user_features=syn.user_features, item_features=syn.item_features),
                               dict(loss="softmax", lr=3e-3, epochs=12, batch_size=256)),
    }


@pytest.mark.parametrize("name", ["mf-bpr", "gmf-bce", "mlp-bce", "neumf-bce", "mf-softmax",
                                  "two-tower-softmax", "two-tower-features"])
def test_every_model_beats_popularity(data, name):
    syn, split = data
    torch.manual_seed(0)
    model, kw = _models(syn, split.num_users, split.num_items)[name]
    Trainer(TrainConfig(show_progress=False, seed=0, **kw)).fit(model, split.train)
    pop = Popularity(split.num_users, split.num_items).fit(split.train)
    hr, hr_pop = _hr10(model, split), _hr10(pop, split)
    assert hr > hr_pop + 0.15, (name, hr, hr_pop)


def test_softmax_batch_loss_matches_reference(data):
    _, split = data
    train = split.train
    model = MatrixFactorization(train.num_users, train.num_items, embedding_dim=8)
    cfg = TrainConfig(loss="softmax", temperature=0.3, extra_negatives=5, epochs=1, show_progress=False)
    trainer = Trainer(cfg)
    rng = np.random.default_rng(0)
    rows = rng.integers(0, len(train), 64)
    users = torch.from_numpy(train.users[rows])
    items = torch.from_numpy(train.items[rows])
    extra = torch.from_numpy(rng.integers(0, train.num_items, 5))
    freq = torch.from_numpy(item_log_frequency(train)).exp()
    positives = PositiveSet(train)
    got = trainer._batch_loss(model, users, items, None, None, extra, freq, positives, train.num_items)
    # naive reference, row by row
    with torch.no_grad():
        cols = torch.cat([items, extra])
        total = 0.0
        for b in range(64):
            logits = []
            for c in range(len(cols)):
                q = 64 * freq[cols[c]] + 5 / train.num_items
                s = float(model.score(users[b : b + 1], cols[c : c + 1])) / 0.3 - float(torch.log(q))
                accidental = c != b and (int(cols[c]) == int(items[b]) or
                                         bool(positives.contains(int(users[b]), int(cols[c]))))
                logits.append(-np.inf if accidental else s)
            logits = np.array(logits)
            total += -(logits[b] - np.log(np.exp(logits - logits.max()).sum()) - logits.max())
    assert float(got.detach()) == pytest.approx(total / 64, rel=1e-4)
    # bfloat16 logits: the same loss to bfloat16 precision (logits |s/T| <~ 30 here)
    bf16 = Trainer(dataclasses.replace(cfg, softmax_bf16=True))
    got16 = bf16._batch_loss(model, users, items, None, None, extra, freq, positives, train.num_items)
    assert float(got16.detach()) == pytest.approx(total / 64, rel=2e-2)
    assert float(got16.detach()) != float(got.detach())  # really computed in lower precision


def test_bce_loss_of_non_factorized_model_matches_reference(data):
    _, split = data
    train = split.train
    torch.manual_seed(0)
    model = NeuMF(train.num_users, train.num_items, gmf_dim=4, mlp_dim=4, layers=(8, 4))
    trainer = Trainer(TrainConfig(loss="bce", num_negatives=3, epochs=1, show_progress=False))
    rng = np.random.default_rng(1)
    users = torch.from_numpy(rng.integers(0, train.num_users, 32))
    items = torch.from_numpy(rng.integers(0, train.num_items, 32))
    negs = torch.from_numpy(rng.integers(0, train.num_items, (32, 3)))
    freq = torch.ones(train.num_items)
    got = trainer._batch_loss(model, users, items, negs, None, None, freq, None, train.num_items)
    with torch.no_grad():
        pos = model.score(users, items)
        neg = torch.stack([model.score(users, negs[:, j]) for j in range(3)], dim=1)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        ref = (bce(pos, torch.ones(32), reduction="sum") + bce(neg, torch.zeros(32, 3), reduction="sum")) / (32 * 4)
    assert float(got.detach()) == pytest.approx(float(ref), rel=1e-5)


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_lr_schedule_decays_per_step(data, schedule):
    from ncf.training.trainer import lr_factor

    assert lr_factor(schedule, 0.0) == 1.0
    expected_half = {"constant": 1.0, "linear": 0.5, "cosine": 0.5}[schedule]
    assert lr_factor(schedule, 0.5) == pytest.approx(expected_half)
    _, split = data
    model = MatrixFactorization(split.num_users, split.num_items, embedding_dim=8)
    seen: list[float] = []
    trainer = Trainer(TrainConfig(loss="bpr", epochs=3, lr=1e-2, lr_schedule=schedule, show_progress=False))
    orig = trainer._make_optimizer

    def spy(m):  # record the learning rate each epoch ends with
        opts = orig(m)
        trainer.callbacks.append(lambda log: seen.append(opts[0].param_groups[0]["lr"]))
        return opts

    trainer._make_optimizer = spy  # type: ignore[method-assign]
    trainer.fit(model, split.train)
    assert len(seen) == 3
    if schedule == "constant":
        assert seen == [1e-2] * 3
    else:
        assert 1e-2 > seen[0] > seen[1] > seen[2] > 0
        assert seen[2] < 1e-3  # close to 0 at the end of the last epoch
    with pytest.raises(ConfigError, match="did you mean 'cosine'"):
        TrainConfig(lr_schedule="cosin")


def test_same_seed_same_weights_and_mse(data):
    _, split = data
    train = split.train
    rated = dataclasses.replace(train)
    weights = []
    for _ in range(2):
        torch.manual_seed(0)
        m = MatrixFactorization(train.num_users, train.num_items, embedding_dim=8)
        Trainer(TrainConfig(loss="bpr", epochs=2, seed=5, show_progress=False)).fit(m, rated)
        weights.append(m.state_dict())
    for k in weights[0]:
        assert torch.equal(weights[0][k], weights[1][k])


def test_mse_needs_ratings_and_trains():
    syn = synthetic(num_users=100, num_items=80, seed=1)
    x = syn.interactions
    with pytest.raises(ConfigError, match="ratings"):
        Trainer(TrainConfig(loss="mse", epochs=1, show_progress=False)).fit(
            MatrixFactorization(x.num_users, x.num_items), x)
    rng = np.random.default_rng(0)
    rated = type(x)(x.users, x.items, x.num_users, x.num_items, x.timestamps,
                    rng.integers(1, 6, len(x)).astype(np.float32))
    m = MatrixFactorization(x.num_users, x.num_items, embedding_dim=8)
    hist = Trainer(TrainConfig(loss="mse", epochs=5, lr=0.05, show_progress=False)).fit(m, rated)
    assert hist.epochs[-1].loss < hist.epochs[0].loss


def test_early_stopping_keeps_best_and_hard_negatives(data):
    _, split = data
    train, valid, vneg = validation_split(split.train, method="loo", num_negatives=50, seed=0)
    m = MatrixFactorization(train.num_users, train.num_items, embedding_dim=16)
    cfg = TrainConfig(loss="bpr", lr=0.05, max_epochs=30, patience=2, hard_negatives=0.5,
                      hard_candidates=20, show_progress=False)
    hist = Trainer(cfg).fit(m, train, valid=valid, valid_negatives=vneg)
    assert hist.stopped_early and hist.best_epoch is not None
    assert len(hist.epochs) == hist.best_epoch + 2
    final = evaluate(m, valid, exclude=train, k=(10,), protocol="sampled", negatives=vneg)
    assert final.metrics["ndcg@10"] == pytest.approx(hist.best_metric)


def test_fit_needs_epochs_or_validation(data):
    _, split = data
    m = MatrixFactorization(split.num_users, split.num_items)
    with pytest.raises(ConfigError, match="epochs"):
        Trainer(TrainConfig(show_progress=False)).fit(m, split.train)


class _Stop(Exception):
    pass


def test_checkpoint_every_and_resume_after_interruption(data, tmp_path):
    from ncf.training.checkpoint import load_checkpoint

    _, split = data
    train = split.train

    def fresh() -> MatrixFactorization:
        torch.manual_seed(0)
        return MatrixFactorization(train.num_users, train.num_items, embedding_dim=8)

    cfg = TrainConfig(loss="bpr", epochs=4, batch_size=512, seed=3, checkpoint_every=2, show_progress=False)
    full = fresh()
    Trainer(cfg).fit(full, train)

    def stop_after_third(log) -> None:
        if log.epoch == 3:
            raise _Stop

    interrupted = fresh()
    with pytest.raises(_Stop):
        Trainer(cfg, callbacks=[stop_after_third]).fit(interrupted, train, checkpoint_dir=tmp_path)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1  # written after epoch 2 only
    resumed = fresh()
    hist = Trainer(cfg).fit(resumed, train, checkpoint_dir=tmp_path, resume=True)
    assert [e.epoch for e in hist.epochs] == [1, 2, 3, 4]
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_no_progress_bar_when_stderr_is_not_a_terminal(data, capsys):
    # a log file or a pipe gets no carriage-return bar lines (tqdm disables itself off a TTY)
    _, split = data
    model = MatrixFactorization(split.num_users, split.num_items, embedding_dim=4)
    Trainer(TrainConfig(loss="bpr", epochs=1, show_progress=True)).fit(model, split.train)
    err = capsys.readouterr().err
    assert "batch/s" not in err and "epoch 1/1" not in err
