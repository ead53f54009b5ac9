"""Fused training steps (ncf.training.fused): one step equals the ordinary step, a training run
follows the same loss curve, and the trainer falls back where there is no fused step."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from ncf import GMF, MatrixFactorization, NeuMF, Popularity, TrainConfig, Trainer, evaluate
from ncf.data.splits import leave_one_out
from ncf.data.synthetic import synthetic
from ncf.sampling import PositiveSet
from ncf.training import trainer as trainer_module
from ncf.training.fused import (
    DenseRows,
    HandBPRStep,
    HandSoftmaxStep,
    RowAutogradStep,
    RowUpdate,
    fused_support,
    make_fused_step,
)
from ncf.training.objectives import BCE, BPR, Batch, Softmax, make_objective
from ncf.training.optim import make_optimizers, set_lr

NU, NI, DIM = 12, 9, 6

# (optimizer, sparse tables): the row optimizers on sparse tables, and dense tables under
# optimizers that move every row (DenseRows) or none without a gradient (plain SGD: rows)
OPTIMIZERS = [("sparse_adam", True), ("adagrad", True), ("sgd", True),
              ("adam", False), ("adamw", False), ("adagrad", False), ("sgd", False)]


def _batches(steps: int, negatives: int, *, seed: int = 0) -> list[Batch]:
    """Batches of 10 rows over 12 users and 9 items: users and items repeat within a batch."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        users = torch.randint(0, NU, (10,), generator=gen)
        users[:3] = users[0]  # the same user three times
        items = torch.randint(0, NI, (10,), generator=gen)
        items[5:7] = items[4]
        negs = torch.randint(0, NI, (10, negatives), generator=gen)
        negs[0, 0] = items[0]  # an item both positive and negative in one batch
        out.append(Batch(users, items, negatives=negs))
    return out


def _ordinary_step(model, objective, optimizers, batch: Batch) -> float:
    loss = objective(model, batch)
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    loss.backward()
    for opt in optimizers:
        opt.step()
    return float(loss.detach())


def _pair(loss: str, optimizer: str, sparse: bool, *, bias: bool, cosine: bool = False, l2: float = 0.01):
    torch.manual_seed(0)
    ref = MatrixFactorization(NU, NI, embedding_dim=DIM, use_bias=bias, normalize=cosine, sparse=sparse)
    ours = copy.deepcopy(ref)
    cfg = TrainConfig(loss=loss, optimizer=optimizer, lr=0.05, l2=l2,
                      weight_decay=0.01 if optimizer == "adamw" else 0.0)
    return ref, ours, cfg, make_optimizers(ref, cfg), make_optimizers(ours, cfg)


def _assert_same(ref, ours) -> None:
    for (name, a), b in zip(ref.named_parameters(), ours.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("hand", [True, False], ids=["hand", "autograd"])
@pytest.mark.parametrize("bias", [False, True], ids=["plain", "biases"])
@pytest.mark.parametrize(("optimizer", "sparse"), OPTIMIZERS, ids=[f"{o}-{'sparse' if s else 'dense'}" for o, s in OPTIMIZERS])
@pytest.mark.parametrize("loss", ["bpr", "bce"])
def test_fused_steps_equal_the_ordinary_steps(loss: str, optimizer: str, sparse: bool, bias: bool, hand: bool) -> None:
    ref, ours, cfg, ref_opts, our_opts = _pair(loss, optimizer, sparse, bias=bias)
    objective = BPR(l2=0.01) if loss == "bpr" else BCE(l2=0.01)
    row_local = sparse or optimizer == "sgd"
    step = make_fused_step(ours, objective, our_opts, cfg, hand=hand)
    assert step is not None
    assert type(step) is (HandBPRStep if hand else RowAutogradStep)
    assert all(isinstance(s, RowUpdate if row_local else DenseRows) for s in step.sinks.values())
    for batch in _batches(5, negatives=3):
        expected = _ordinary_step(ref, objective, ref_opts, batch)
        got = float(step(batch))
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-6)
    _assert_same(ref, ours)
    # the optimizer state is the ordinary optimizer's (checkpoints, resume, fall back)
    for a, b in zip(ref_opts, our_opts, strict=True):
        for p_ref, p_ours in zip(ref.parameters(), ours.parameters(), strict=True):
            if p_ref in a.state:
                for key, value in a.state[p_ref].items():
                    torch.testing.assert_close(b.state[p_ours][key], value, rtol=1e-5, atol=1e-5)


SOFTMAX_MODELS = ["cosine", "biases", "plain"]


def _training_pairs(train, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` training pairs drawn with replacement (users, items), as the trainer's batches hold."""
    pairs = torch.from_numpy(np.stack([train.users, train.items], 1))
    rows = pairs[torch.randint(0, len(pairs), (n,), generator=gen)]
    return rows[:, 0].clone(), rows[:, 1].clone()


@pytest.mark.parametrize("hits", [True, False], ids=["hits", "own-item"])
@pytest.mark.parametrize("hand", [True, False], ids=["hand", "autograd"])
@pytest.mark.parametrize(("optimizer", "sparse"), [("sparse_adam", True), ("adam", False), ("adagrad", True),
                                                   ("sgd", False)])
@pytest.mark.parametrize("kind", SOFTMAX_MODELS)
def test_fused_softmax_step_equals_the_ordinary_step(kind: str, optimizer: str, sparse: bool, hand: bool,
                                                     hits: bool) -> None:
    """In-batch softmax with shared extra negatives, logQ, repeated users and items (the hand step
    works over distinct items with log-count logits), and hit masking by the training positives or
    only of the row's own item."""
    syn = synthetic(num_users=NU, num_items=NI, interactions_per_user=4, seed=2)
    train = syn.interactions
    ref, ours, cfg, ref_opts, our_opts = _pair("softmax", optimizer, sparse, bias=kind == "biases",
                                               cosine=kind == "cosine")
    cfg = TrainConfig(loss="softmax", optimizer=optimizer, lr=0.05, l2=0.01, temperature=0.5,
                      remove_accidental_hits=hits)
    objective = make_objective(cfg, train)
    assert isinstance(objective, Softmax) and isinstance(objective.positives, PositiveSet) == hits
    if hand and kind != "biases":  # built directly: on small dense tables the trainer keeps the ordinary step
        step: HandSoftmaxStep | RowAutogradStep | None = HandSoftmaxStep(ours, objective, our_opts)
    else:
        step = make_fused_step(ours, objective, our_opts, cfg, hand=False)
        assert type(step) is RowAutogradStep
    assert step is not None
    gen = torch.Generator().manual_seed(3)
    for _ in range(4):
        users, items = _training_pairs(train, 8, gen)
        users[1], items[1] = users[0], items[0]  # the same pair twice
        batch = Batch(users, items, extra=torch.randint(0, NI, (5,), generator=gen))
        expected = _ordinary_step(ref, objective, ref_opts, batch)
        assert float(step(batch)) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    _assert_same(ref, ours)


@pytest.mark.parametrize("cosine", [True, False], ids=["cosine", "plain"])
def test_hand_softmax_step_with_bfloat16_products_is_as_close_as_autograds(cosine: bool) -> None:
    """bfloat16 logits: one plain-SGD step (lr 1: the update is the gradient) of the hand step is as
    close to the float32 gradient as autograd's bfloat16 step is."""
    syn = synthetic(num_users=40, num_items=30, interactions_per_user=6, seed=4)
    train = syn.interactions
    torch.manual_seed(0)
    start = MatrixFactorization(40, 30, embedding_dim=16, use_bias=False, normalize=cosine, sparse=True)
    batch = Batch(*_training_pairs(train, 24, torch.Generator().manual_seed(1)))
    deltas = {}
    for name, bf16, hand in [("float32", False, False), ("autograd-bf16", True, False), ("hand-bf16", True, True)]:
        model = copy.deepcopy(start)
        cfg = TrainConfig(loss="softmax", optimizer="sgd", lr=1.0, temperature=0.1, softmax_bf16=bf16)
        step = make_fused_step(model, make_objective(cfg, train), make_optimizers(model, cfg), cfg, hand=hand)
        assert type(step) is (HandSoftmaxStep if hand else RowAutogradStep)
        step(batch)
        deltas[name] = torch.cat([model.user_embedding.weight - start.user_embedding.weight,
                                  model.item_embedding.weight - start.item_embedding.weight])
    exact = deltas["float32"]
    ours = (deltas["hand-bf16"] - exact).abs().max()
    autograd = (deltas["autograd-bf16"] - exact).abs().max()
    assert ours <= 2 * autograd + 1e-6
    assert ours < 0.05 * exact.abs().max()


def test_hand_softmax_step_reports_a_finite_loss_when_a_positive_underflows() -> None:
    """A row whose positive is less likely than the smallest float: the loss stays finite (the
    trainer stops on an infinite one), the update is still the ordinary step's."""
    torch.manual_seed(0)
    ref = MatrixFactorization(4, 3, embedding_dim=2, use_bias=False, sparse=True)
    with torch.no_grad():  # user 0 scores item 0 at -200 and item 1 at +200
        ref.user_embedding.weight.copy_(torch.tensor([[10.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 1.0]]))
        ref.item_embedding.weight.copy_(torch.tensor([[-20.0, 0.0], [20.0, 0.0], [0.0, 1.0]]))
    ours = copy.deepcopy(ref)
    cfg = TrainConfig(loss="softmax", optimizer="sgd", lr=1e-3, temperature=1.0, logq=False,
                      remove_accidental_hits=False)
    objective = make_objective(cfg, synthetic(num_users=4, num_items=3, interactions_per_user=1, seed=0).interactions)
    step = HandSoftmaxStep(ours, objective, make_optimizers(ours, cfg))
    batch = Batch(torch.tensor([0, 1]), torch.tensor([0, 1]))
    expected = _ordinary_step(ref, objective, make_optimizers(ref, cfg), batch)
    got = float(step(batch))
    assert expected > 150  # the exact loss: -log p(item 0 | user 0) / 2 is about 200
    assert math.isfinite(got) and got == pytest.approx(-math.log(torch.finfo(torch.float32).tiny) / 2, rel=0.02)
    _assert_same(ref, ours)


def test_no_fused_step_where_it_would_not_be_the_same_update() -> None:
    cfg = TrainConfig(loss="bce", optimizer="adam")
    for model in (GMF(NU, NI, embedding_dim=4), NeuMF(NU, NI, gmf_dim=4, mlp_dim=4, layers=(8, 4))):
        assert fused_support(model, BCE(), make_optimizers(model, cfg), cfg) is not None
    mf = MatrixFactorization(NU, NI, embedding_dim=4)
    assert fused_support(mf, BCE(), make_optimizers(mf, cfg), cfg) is None
    clipped = TrainConfig(loss="bce", optimizer="adam", grad_clip=1.0)
    assert "clipping" in str(fused_support(mf, BCE(), make_optimizers(mf, clipped), clipped))
    assert make_fused_step(mf, BCE(), make_optimizers(mf, clipped), clipped) is None


@pytest.fixture(scope="module")
def data():
    syn = synthetic(num_users=300, num_items=200, seed=11)
    return leave_one_out(syn.interactions, num_negatives=99, seed=0)


def _fit(split, *, fused: bool, loss: str, optimizer: str, sparse: bool, bias: bool = False):
    torch.manual_seed(0)
    model = MatrixFactorization(split.train.num_users, split.train.num_items, embedding_dim=32, use_bias=bias,
                                normalize=loss == "softmax", sparse=sparse)
    cfg = TrainConfig(loss=loss, optimizer=optimizer, lr=2e-2, batch_size=256, epochs=4, num_negatives=2,
                      temperature=0.5, seed=0, show_progress=False)
    history = Trainer(cfg, fused=fused).fit(model, split.train)
    hr = evaluate(model, split.test, exclude=split.train, k=(10,), protocol="sampled",
                  negatives=split.test_negatives).metrics["hr@10"]
    return [e.loss for e in history.epochs], hr


@pytest.mark.parametrize(("loss", "optimizer", "sparse", "bias"), [
    ("bpr", "sparse_adam", True, False),
    ("bce", "adam", False, False),
    ("bpr", "adagrad", True, True),
    ("softmax", "sparse_adam", True, False),
])
def test_training_follows_the_same_loss_curve_and_beats_popularity(data, loss, optimizer, sparse, bias) -> None:
    fused_losses, fused_hr = _fit(data, fused=True, loss=loss, optimizer=optimizer, sparse=sparse, bias=bias)
    plain_losses, plain_hr = _fit(data, fused=False, loss=loss, optimizer=optimizer, sparse=sparse, bias=bias)
    # the same batches and negatives: the curves agree to float rounding, not only in expectation
    np.testing.assert_allclose(fused_losses, plain_losses, rtol=2e-3)
    assert fused_losses[-1] < fused_losses[0]
    assert abs(fused_hr - plain_hr) <= 0.02
    pop = Popularity(data.train.num_users, data.train.num_items).fit(data.train)
    pop_hr = evaluate(pop, data.test, exclude=data.train, k=(10,), protocol="sampled",
                      negatives=data.test_negatives).metrics["hr@10"]
    assert fused_hr > pop_hr + 0.1


def test_trainer_takes_the_fused_step_unless_turned_off(data, monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[bool] = []
    original = trainer_module.Trainer._step

    def spy(self, run, batch):
        taken.append(run.fused is not None)
        return original(self, run, batch)

    monkeypatch.setattr(trainer_module.Trainer, "_step", spy)
    cfg = TrainConfig(loss="bpr", optimizer="sparse_adam", batch_size=1024, epochs=1, show_progress=False)
    model = MatrixFactorization(data.train.num_users, data.train.num_items, embedding_dim=8, sparse=True)
    Trainer(cfg).fit(model, data.train)
    assert taken and all(taken)
    taken.clear()
    Trainer(cfg, fused=False).fit(model, data.train)
    assert taken and not any(taken)
    taken.clear()
    monkeypatch.setenv("NCF_FUSED", "0")
    Trainer(cfg).fit(model, data.train)
    assert taken and not any(taken)
    taken.clear()
    monkeypatch.delenv("NCF_FUSED")
    gmf = GMF(data.train.num_users, data.train.num_items, embedding_dim=8)
    Trainer(TrainConfig(loss="bce", batch_size=1024, epochs=1, show_progress=False)).fit(gmf, data.train)
    assert taken and not any(taken)  # no fused step for GMF: the ordinary one


def test_autograd_step_on_dense_tables_only_when_the_tables_outgrow_the_batch() -> None:
    """Cosine MF under BPR has no hand-written step: the autograd one, where it pays."""
    cfg = TrainConfig(loss="bpr", optimizer="adam", batch_size=64, num_negatives=4)
    big = MatrixFactorization(300, 200, embedding_dim=4, use_bias=False, normalize=True)  # 500 rows > 64 x 6
    assert type(make_fused_step(big, BPR(), make_optimizers(big, cfg), cfg)) is RowAutogradStep
    small_cfg = TrainConfig(loss="bpr", optimizer="adam", batch_size=128, num_negatives=4)
    assert make_fused_step(big, BPR(), make_optimizers(big, small_cfg), small_cfg) is None  # 768 lookups
    sparse = MatrixFactorization(300, 200, embedding_dim=4, use_bias=False, normalize=True, sparse=True)
    sparse_cfg = TrainConfig(loss="bpr", optimizer="sparse_adam", batch_size=128, num_negatives=4)
    assert type(make_fused_step(sparse, BPR(), make_optimizers(sparse, sparse_cfg), sparse_cfg)) is RowAutogradStep
    for bias in (False, True):
        mf = MatrixFactorization(300, 200, embedding_dim=4, use_bias=bias)
        assert type(make_fused_step(mf, BPR(), make_optimizers(mf, small_cfg), small_cfg)) is HandBPRStep


@pytest.mark.parametrize("loss", ["bpr", "bce"])
def test_cosine_mf_pairwise_autograd_step_equals_the_ordinary_step(loss: str) -> None:
    ref, ours, cfg, ref_opts, our_opts = _pair(loss, "sparse_adam", True, bias=False, cosine=True)
    objective = BPR(l2=0.01) if loss == "bpr" else BCE(l2=0.01)
    step = make_fused_step(ours, objective, our_opts, cfg)
    assert type(step) is RowAutogradStep
    for batch in _batches(4, negatives=2):
        assert float(step(batch)) == pytest.approx(_ordinary_step(ref, objective, ref_opts, batch), rel=1e-5)
    _assert_same(ref, ours)


@pytest.mark.parametrize(("optimizer", "sparse"), [("sparse_adam", True), ("sgd", True), ("adam", False)])
def test_fused_step_follows_the_learning_rate_after_the_optimizer_state_is_reloaded(optimizer: str,
                                                                                    sparse: bool) -> None:
    """A resume replaces the optimizers' parameter groups; the schedule then sets the new ones."""
    ref, ours, cfg, ref_opts, our_opts = _pair("bpr", optimizer, sparse, bias=False)
    step = make_fused_step(ours, BPR(), our_opts, cfg)
    assert step is not None
    batches = _batches(4, negatives=2)
    for batch in batches[:2]:
        _ordinary_step(ref, BPR(), ref_opts, batch)
        step(batch)
    for opt in our_opts:
        opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    set_lr(ref_opts, 0.2)
    set_lr(our_opts, 0.2)
    for batch in batches[2:]:
        _ordinary_step(ref, BPR(), ref_opts, batch)
        step(batch)
    _assert_same(ref, ours)


def test_an_objective_swapped_by_a_subclass_is_the_one_trained(data) -> None:
    """A Trainer subclass whose _prepare replaces the objective (benchmarks/negatives_study.py does)
    trains that objective, not the fused step built for the one it replaced."""
    seen: list[int] = []

    class Counted(Softmax):  # a subclass: no fused step knows it
        def __call__(self, model, batch):  # type: ignore[no-untyped-def]
            seen.append(len(batch.items))
            return super().__call__(model, batch)

    class Swapping(Trainer):
        def _prepare(self, cfg, *args):  # type: ignore[no-untyped-def]
            run = super()._prepare(cfg, *args)
            base = run.objective
            run.objective = Counted(base.item_probs, temperature=base.temperature, logq=base.logq,
                                    logq_weight=base.logq_weight, positives=base.positives)
            return run

    cfg = TrainConfig(loss="softmax", optimizer="sparse_adam", batch_size=256, epochs=1, show_progress=False)
    model = MatrixFactorization(data.train.num_users, data.train.num_items, embedding_dim=8, use_bias=False,
                                sparse=True)
    assert make_fused_step(model, make_objective(cfg, data.train), make_optimizers(model, cfg), cfg) is not None
    Swapping(cfg).fit(model, data.train)
    assert sum(seen) == len(data.train)  # every row went through the swapped objective
