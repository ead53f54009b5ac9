"""The cost model: FLOP counts against hand counts, the measured peak and its cache, StepCost's
arithmetic, a trainer that reports its cost without training differently, the log and the CLI."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import ncf.training.cost as cost_module
from ncf import FPMC, MatrixFactorization, NeuMF, TrainConfig, Trainer, TwoTower
from ncf.data.splits import leave_one_out
from ncf.data.synthetic import synthetic
from ncf.training import (
    BPR,
    Batch,
    Callback,
    FitStart,
    ProgressBar,
    Softmax,
    StepCost,
    estimate_cost,
    matmul_peak,
)
from ncf.training.cost import step_flops


def _mean_of(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return module(x).mean()  # mean and its backward (expand, divide) count nothing


def test_a_linear_step_is_one_product_forward_and_two_backward() -> None:
    b, n_in, n_out = 16, 12, 5
    rows = torch.arange(b)
    # the input is an embedding lookup (it needs a gradient): input grad and weight grad, each 2 B in out
    model = nn.Sequential(nn.Embedding(30, n_in), nn.Linear(n_in, n_out, bias=False))
    assert step_flops(model, _mean_of, rows) == 3 * 2 * b * n_in * n_out
    # a bias's gradient is the sum of the output gradient over the batch: B * out more
    biased = nn.Sequential(nn.Embedding(30, n_in), nn.Linear(n_in, n_out))
    assert step_flops(biased, _mean_of, rows) == 3 * 2 * b * n_in * n_out + b * n_out
    # a leaf input needs no gradient: the backward pass is the weight's product alone
    assert step_flops(nn.Linear(n_in, n_out, bias=False), _mean_of, torch.randn(b, n_in)) == 2 * 2 * b * n_in * n_out


def _mf(d: int, *, num_users: int = 50, num_items: int = 40) -> MatrixFactorization:
    torch.manual_seed(0)
    return MatrixFactorization(num_users, num_items, embedding_dim=d, use_bias=False)


def _batch(b: int, k: int = 0, *, num_users: int = 50, num_items: int = 40) -> Batch:
    g = torch.Generator().manual_seed(1)
    return Batch(users=torch.randint(0, num_users, (b,), generator=g),
                 items=torch.randint(0, num_items, (b,), generator=g),
                 negatives=torch.randint(0, num_items, (b, k), generator=g) if k else None)


def _softmax_flops(b: int, d: int) -> float:
    objective = Softmax(torch.full((40,), 1 / 40), temperature=0.5, logq=False)
    return step_flops(_mf(d), objective, _batch(b))


@pytest.mark.parametrize(("b", "d"), [(8, 4), (16, 4), (8, 8), (24, 16)])
def test_mf_in_batch_softmax_count_is_the_analytic_one(b: int, d: int) -> None:
    # logits U V^T: 2 B B d forward (addmm), dU and dV: 2 B B d each; U / T is a multiply of
    # B d elements forward and B d backward (the loss's softmax counts nothing)
    assert _softmax_flops(b, d) == 3 * 2 * b * b * d + 2 * b * d


def test_mf_softmax_products_scale_with_the_dimension_and_the_square_of_the_batch() -> None:
    def products(b: int, d: int) -> float:
        return _softmax_flops(b, d) - 2 * b * d  # less the temperature's multiplies

    assert products(8, 8) == 2 * products(8, 4)
    assert products(16, 4) == 4 * products(8, 4)


@pytest.mark.parametrize(("b", "k", "d"), [(8, 3, 4), (16, 1, 8), (5, 7, 6)])
def test_mf_bpr_count_is_the_analytic_one(b: int, k: int, d: int) -> None:
    model, batch = _mf(d), _batch(b, k)
    # forward: the positives (u * v).sum(-1), B d multiplies and B d sums; the negatives an
    # einsum torch runs as one bmm, 2 B k d: together 2 B (1 + k) d
    model.requires_grad_(False)  # nothing to differentiate: the forward pass alone
    assert step_flops(model, BPR(), batch) == 2 * b * (1 + k) * d
    # backward: the bmm's two products (4 B k d), the positives' multiply gives du and dv (2 B d),
    # and the (B, 1) positive scores broadcast against k > 1 negatives sum their gradient back (B k)
    model.requires_grad_(True)
    broadcast = b * k if k > 1 else 0
    assert step_flops(model, BPR(), batch) == 2 * b * (1 + k) * d + 4 * b * k * d + 2 * b * d + broadcast


def test_counting_a_step_changes_no_parameter_gradient_mode_or_random_state() -> None:
    torch.manual_seed(0)
    model = NeuMF(50, 40, gmf_dim=4, mlp_dim=4, layers=(8, 4), dropout=0.5)  # dropout draws
    model.eval()
    marked = next(model.parameters())
    marked.grad = torch.full_like(marked, 3.0)
    grad = marked.grad
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    assert step_flops(model, BPR(), _batch(8, 2)) > 0
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert marked.grad is grad and bool((grad == 3.0).all())
    assert all(p.grad is None for p in model.parameters() if p is not marked)
    assert not model.training and torch.equal(rng, torch.get_rng_state())


def test_matmul_peak_is_measured_once_per_setting(monkeypatch) -> None:
    monkeypatch.setattr(cost_module, "_PEAKS", {})
    calls: list[int] = []
    timed = cost_module._best_seconds

    def counting(a: torch.Tensor, b: torch.Tensor, repeats: int) -> float:
        calls.append(a.shape[0])
        return timed(a, b, repeats)

    monkeypatch.setattr(cost_module, "_best_seconds", counting)
    first = matmul_peak(n=64)
    assert first > 0 and calls == [64]
    assert matmul_peak(n=64) is first and calls == [64]  # the kept float, not timed again
    assert matmul_peak(n=32) > 0 and calls == [64, 32]
    with pytest.raises(ValueError):
        matmul_peak(n=0)


def test_step_cost_arithmetic_and_its_line() -> None:
    c = StepCost(flops_per_step=2e9, steps_per_epoch=100, peak_gflops=50.0, threads=2, dtype="float32")
    assert c.flops_per_epoch == 2e11
    assert c.floor_seconds == pytest.approx(4.0)
    assert c.achieved_gflops(8.0) == pytest.approx(25.0) and c.peak_share(8.0) == pytest.approx(0.5)
    assert c.peak_share(8.0, epochs=0.5) == pytest.approx(0.25)  # half an epoch in the same time
    assert c.achieved_gflops(0.0) == 0.0
    assert c.describe() == ("cost model: 200 GFLOP per epoch (2 GFLOP/step x 100 steps); float32 matmul rate "
                            "50 GFLOP/s (1024^3, 2 threads) -> arithmetic floor 4 s/epoch")
    small = StepCost(flops_per_step=8.5e5, steps_per_epoch=9, peak_gflops=91.8, threads=1, dtype="float32")
    assert small.describe().endswith("(1024^3, 1 thread) -> arithmetic floor 0.0833 ms/epoch")
    d = json.loads(json.dumps(c.to_dict()))
    assert d["flops_per_epoch"] == 2e11 and d["floor_seconds"] == pytest.approx(4.0) and d["dtype"] == "float32"


def test_estimate_cost_counts_the_step_and_measures_the_peak() -> None:
    est = estimate_cost(_mf(4), BPR(), _batch(8, 3), steps_per_epoch=7)
    assert est.flops_per_step == step_flops(_mf(4), BPR(), _batch(8, 3))
    assert est.steps_per_epoch == 7 and est.peak_gflops > 0 and est.dtype == "float32" and est.device == "cpu"
    assert est.threads == torch.get_num_threads()


@pytest.fixture(scope="module")
def split():
    syn = synthetic(num_users=120, num_items=80, seed=4)
    return leave_one_out(syn.interactions, num_negatives=20, seed=0)


class _Starts(Callback):
    def __init__(self) -> None:
        self.starts: list[FitStart] = []

    def on_fit_start(self, start: FitStart) -> None:
        self.starts.append(start)


_CONFIGS = {
    "mf-bpr-fused": (lambda nu, ni: MatrixFactorization(nu, ni, embedding_dim=8), dict(loss="bpr")),
    "neumf-bce-dropout": (lambda nu, ni: NeuMF(nu, ni, gmf_dim=4, mlp_dim=4, layers=(8, 4), dropout=0.3),
                          dict(loss="bce", num_negatives=2)),
    "mf-softmax-extra": (lambda nu, ni: MatrixFactorization(nu, ni, embedding_dim=8),
                         dict(loss="softmax", extra_negatives=16)),
    # hard negatives are mined before each epoch: the cost's batch is drawn before the first mining
    "mf-bpr-hard-popularity": (lambda nu, ni: MatrixFactorization(nu, ni, embedding_dim=8),
                               dict(loss="bpr", num_negatives=4, sampler="popularity", hard_negatives=0.5,
                                    hard_candidates=10)),
    "fpmc-bpr": (lambda nu, ni: FPMC(nu, ni, embedding_dim=8), dict(loss="bpr", num_negatives=2)),
    "two-tower-softmax": (lambda nu, ni: TwoTower(nu, ni, 8, layers=(16, 8), dropout=0.2), dict(loss="softmax")),
}


@pytest.mark.parametrize("name", sorted(_CONFIGS))
def test_the_cost_model_leaves_training_bit_identical(split, name: str) -> None:
    make, opts = _CONFIGS[name]
    cfg = TrainConfig(epochs=2, batch_size=300, lr=0.01, seed=3, show_progress=False, **opts)
    weights, losses, starts = [], [], []
    for on in (False, True):
        torch.manual_seed(0)
        model = make(split.num_users, split.num_items)
        seen = _Starts()
        history = Trainer(cfg, callbacks=[seen], cost_model=on).fit(model, split.train)
        weights.append(model.state_dict())
        losses.append([log.loss for log in history])
        starts.append(seen.starts[0])
    assert losses[0] == losses[1]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert starts[0].cost is None
    on = starts[1].cost
    assert isinstance(on, StepCost) and on.flops_per_step > 0 and on.peak_gflops > 0
    assert on.steps_per_epoch == starts[1].num_batches == -(-len(split.train) // 300)


def test_the_log_file_and_the_epoch_records_carry_the_rate_with_a_cost_model(split, tmp_path, caplog) -> None:
    cfg = TrainConfig(loss="bpr", epochs=2, batch_size=300, show_progress=False)
    rows, seen = {}, _Starts()
    for on in (False, True):
        path = tmp_path / f"log-{on}.jsonl"
        with caplog.at_level(logging.INFO, logger="ncf.training.epochs"):
            caplog.clear()
            Trainer(cfg, callbacks=[seen], cost_model=on).fit(
                MatrixFactorization(split.num_users, split.num_items, embedding_dim=8), split.train, log_path=path)
        rows[on] = [json.loads(line) for line in path.read_text().splitlines()]
        messages = [r.getMessage() for r in caplog.records if r.name == "ncf.training.epochs"]
        if on:  # the cost line, then each epoch's line and its rate
            assert len(messages) == 5 and messages[0] == seen.starts[-1].cost.describe()  # type: ignore[union-attr]
            assert re.fullmatch(r"  arithmetic [\d.]+ GFLOP/s, [\d.]+% of the float32 matmul peak", messages[2])
        else:
            assert len(messages) == 2 and all(m.startswith("epoch ") for m in messages)
    c = seen.starts[-1].cost
    assert c is not None
    assert [r["epoch"] for r in rows[True]] == [1, 2]
    for off, on in zip(rows[False], rows[True], strict=True):
        assert "gflops" not in off and "peak_share" not in off
        assert set(on) == set(off) | {"gflops", "peak_share"}  # nothing renamed or dropped
        assert on["gflops"] == pytest.approx(c.flops_per_epoch / on["seconds"] / 1e9)
        assert on["peak_share"] == pytest.approx(on["gflops"] / c.peak_gflops)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_display_on_a_terminal_shows_the_cost_and_each_epochs_rate(split) -> None:
    out = _Terminal()
    cfg = TrainConfig(loss="bpr", epochs=2, batch_size=300, show_progress=False)
    Trainer(cfg, callbacks=[ProgressBar(file=out, mininterval=0)], cost_model=True).fit(
        MatrixFactorization(split.num_users, split.num_items, embedding_dim=8), split.train)
    lines = [line for line in out.getvalue().replace("\r", "\n").splitlines() if line.strip()]
    summaries = [i for i, line in enumerate(lines) if line.startswith("epoch ") and "pos/s" in line]
    assert len(summaries) == 2 and lines[0].startswith("cost model: ")
    assert all(lines[i + 1].startswith("  arithmetic ") for i in summaries)


def test_ncf_train_prints_the_cost_line_on_stderr(neumf_dir, tmp_path) -> None:
    from ncf.cli import main

    args = ["train", str(neumf_dir), "--model", "mf", "--epochs", "2", "--spectral-weight", "0", "--dim", "8"]
    res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "run")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    lines = res.stderr.splitlines()
    assert re.fullmatch(r"cost model: [\d.]+ [KMGT]?FLOP per epoch \([\d.]+ [KMGT]?FLOP/step x \d+ steps\); "
                        r"float32 matmul rate [\d.]+ [KMGT]?FLOP/s \(1024\^3, \d+ threads?\) -> arithmetic floor "
                        r"[\d.]+ m?s/epoch", lines[0]), res.stderr
    assert lines[1].startswith("epoch 1/2: ") and lines[2].startswith("  arithmetic "), res.stderr
    assert "cost model:" not in res.stdout
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(row["gflops"] > 0 for row in logged)
    quiet = CliRunner().invoke(main, [*args, "-q", "--out", str(tmp_path / "quiet")], catch_exceptions=False)
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.stderr
