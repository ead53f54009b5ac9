"""Trainer: models learn planted structure, runs are repeatable, bad settings are refused before training."""

from __future__ import annotations

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
from ncf.data.interactions import Interactions
from ncf.data.splits import leave_one_out, validation_split
from ncf.data.synthetic import synthetic
from ncf.errors import ConfigError
from ncf.training.callbacks import Callback
from ncf.training.trainer import resolve_device


@pytest.fixture(scope="module")
def data():
    syn = synthetic(num_users=300, num_items=200, seed=11)
    split = leave_one_out(syn.interactions, num_negatives=99, seed=0)
    return syn, split


def _hr10(model, split) -> float:
    report = evaluate(model, split.test, exclude=split.train, k=(10,), protocol="sampled",
                      negatives=split.test_negatives)
    return report.metrics["hr@10"]


def _models(syn, nu, ni):
    # a few epochs of batches of 256 on ~9k positives; settings chosen so every model clears
    # popularity by > 0.3 HR@10 on three data seeds (11, 12, 13)
    small = dict(batch_size=256, epochs=3)
    return {
        "mf-bpr": (MatrixFactorization(nu, ni, embedding_dim=32), dict(loss="bpr", lr=2e-2, **small)),
        "gmf-bce": (GMF(nu, ni, embedding_dim=16), dict(loss="bce", lr=2e-2, **small)),
        "mlp-bce": (MLP(nu, ni, embedding_dim=16, layers=(32, 16)), dict(loss="bce", lr=3e-2, batch_size=256, epochs=4)),
        "neumf-bce": (NeuMF(nu, ni, gmf_dim=16, mlp_dim=16, layers=(32, 16)), dict(loss="bce", lr=1e-2, **small)),
        "mf-softmax": (MatrixFactorization(nu, ni, embedding_dim=32),
                       dict(loss="softmax", lr=2e-2, temperature=0.5, **small)),
        "two-tower-softmax": (TwoTower(nu, ni, embedding_dim=32, layers=(64, 32), temperature=0.1),
                              dict(loss="softmax", lr=5e-3, **small)),
        "two-tower-features": (TwoTower(nu, ni, embedding_dim=32, layers=(64, 32), temperature=0.1,
                                        user_features=syn.user_features, item_features=syn.item_features),
                               dict(loss="softmax", lr=5e-3, **small)),
    }


@pytest.mark.parametrize("name", ["mf-bpr", "gmf-bce", "mlp-bce", "neumf-bce", "mf-softmax",
                                  "two-tower-softmax", "two-tower-features"])
def test_every_model_beats_popularity(data, name):
    syn, split = data
    torch.manual_seed(0)
    model, kw = _models(syn, split.num_users, split.num_items)[name]
    Trainer(TrainConfig(show_progress=False, seed=0, **kw)).fit(model, split.train)
    pop = Popularity(split.num_users, split.num_items).fit(split.train)
    hr, hr_pop = _hr10(model, split), _hr10(pop, split)  # on each user's held-out latest item
    assert hr > hr_pop + 0.25, (name, hr, hr_pop)


def _train_mf(train, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)  # the same initial weights: only the training seed differs
    m = MatrixFactorization(train.num_users, train.num_items, embedding_dim=8)
    Trainer(TrainConfig(loss="bpr", epochs=2, seed=seed, sampler="popularity", show_progress=False)).fit(m, train)
    return m.state_dict()


def test_same_seed_same_weights_other_seed_other_weights(data):
    _, split = data
    a, b, c = _train_mf(split.train, 5), _train_mf(split.train, 5), _train_mf(split.train, 6)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the seed drives shuffling and negatives


def _planted_ratings(seed: int = 0) -> tuple[Interactions, Interactions]:
    """Ratings 3 + u.v (clipped to [1, 5]) of rank-2 factors on half of the pairs; 20% held out."""
    rng = np.random.default_rng(seed)
    nu, ni = 100, 80
    uf, vf = rng.normal(size=(nu, 2)), rng.normal(size=(ni, 2))
    users, items = np.nonzero(rng.random((nu, ni)) < 0.5)
    ratings = np.clip(3 + (uf[users] * vf[items]).sum(1), 1, 5).astype(np.float32)
    test = rng.random(users.size) < 0.2

    def part(rows: np.ndarray) -> Interactions:
        return Interactions(users[rows], items[rows], nu, ni, None, ratings[rows])

    return part(~test), part(test)


def test_mse_learns_planted_ratings():
    train, test = _planted_ratings()
    torch.manual_seed(0)
    model = MatrixFactorization(train.num_users, train.num_items, embedding_dim=8)
    hist = Trainer(TrainConfig(loss="mse", epochs=10, lr=0.05, batch_size=256, show_progress=False)).fit(model, train)
    assert hist.epochs[-1].loss < 0.1 * hist.epochs[0].loss
    with torch.no_grad():
        pred = model.score(torch.tensor(test.users), torch.tensor(test.items)).numpy()
    mse = float(((pred - test.weights) ** 2).mean())
    mean_only = float(((train.weights.mean() - test.weights) ** 2).mean())  # type: ignore[union-attr]
    assert mse < 0.25 * mean_only, (mse, mean_only)  # held-out ratings, not just the training loss


def test_mse_needs_ratings(data):
    _, split = data
    with pytest.raises(ConfigError, match="ratings"):
        Trainer(TrainConfig(loss="mse", epochs=1, show_progress=False)).fit(
            MatrixFactorization(split.num_users, split.num_items), split.train)


def test_early_stopping_keeps_best_and_hard_negatives(data):
    _, split = data
    train, valid, vneg = validation_split(split.train, method="loo", num_negatives=50, seed=0)
    m = MatrixFactorization(train.num_users, train.num_items, embedding_dim=16)
    cfg = TrainConfig(loss="bpr", lr=0.05, max_epochs=30, patience=2, hard_negatives=0.5,
                      hard_candidates=20, batch_size=512, show_progress=False)
    hist = Trainer(cfg).fit(m, train, valid=valid, valid_negatives=vneg)
    assert hist.stopped_early and hist.best_epoch is not None
    assert len(hist.epochs) == hist.best_epoch + 2
    assert hist.best_metric == max(e.metrics["ndcg@10"] for e in hist.epochs)
    final = evaluate(m, valid, exclude=train, k=(10,), protocol="sampled", negatives=vneg)
    assert final.metrics["ndcg@10"] == pytest.approx(hist.best_metric)  # the best weights were restored


def test_fit_needs_epochs_or_validation(data):
    _, split = data
    m = MatrixFactorization(split.num_users, split.num_items)
    with pytest.raises(ConfigError, match="epochs"):
        Trainer(TrainConfig(show_progress=False)).fit(m, split.train)


class _Spy(Callback):
    def __init__(self) -> None:
        self.calls = 0

    def on_fit_start(self, start) -> None:  # type: ignore[no-untyped-def]
        self.calls += 1


def _refused_before_training(split, cfg: TrainConfig, tmp_path, **fit_kw) -> ConfigError:
    """Fit and expect a ConfigError with the model, the checkpoint dir and the callbacks untouched."""
    torch.manual_seed(0)
    model = MatrixFactorization(split.num_users, split.num_items, embedding_dim=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    spy = _Spy()
    with pytest.raises(ConfigError) as err:
        Trainer(cfg, callbacks=[spy]).fit(model, split.train, checkpoint_dir=tmp_path / "ckpt",
                                          log_path=tmp_path / "log.jsonl", **fit_kw)
    assert spy.calls == 0 and not (tmp_path / "ckpt").exists() and not (tmp_path / "log.jsonl").exists()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    return err.value


def test_metric_of_another_protocol_is_refused_before_training(data, tmp_path):
    _, split = data
    cfg = TrainConfig(loss="bpr", epochs=2, metric="precision@10", show_progress=False)
    err = _refused_before_training(split, cfg, tmp_path, valid=split.test, valid_negatives=split.test_negatives)
    assert "sampled-protocol metric" in str(err)
    # the same metric is fine under full ranking
    Trainer(cfg).fit(MatrixFactorization(split.num_users, split.num_items, embedding_dim=4), split.train,
                     valid=split.test)


def test_too_many_negatives_are_refused_before_training(data, tmp_path):
    _, split = data
    cfg = TrainConfig(loss="bpr", epochs=1, num_negatives=100_000, batch_size=2048, show_progress=False)
    err = _refused_before_training(split, cfg, tmp_path)
    assert str(err).startswith("2,048 rows x 100,000 negatives = 204,800,000 negative items per batch")
    assert "use fewer negatives or a smaller batch size" in str(err)


def test_unavailable_or_unknown_devices_are_config_errors():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="did you mean 'cuda'"):
        resolve_device("cdua")
    with pytest.raises(ConfigError, match="cuda:99"):
        resolve_device("cuda:99")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="'cuda' is not available") as err:
            Trainer(TrainConfig(device="cuda"))  # at construction, before any data is touched
        assert "use device 'cpu' or 'auto'" in str(err.value)
