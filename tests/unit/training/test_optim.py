"""Row-sparse optimizers against references; untouched rows stay untouched; optimizer choice and lr schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from ncf import GMF, MatrixFactorization, TrainConfig
from ncf.errors import ConfigError
from ncf.training.optim import RowAdagrad, RowAdam, lr_factor, make_optimizers, set_lr

NUM_ROWS, DIM = 20, 4
UNTOUCHED = (3, 11, 17)  # never in a batch


def _batches(steps: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    allowed = torch.tensor([r for r in range(NUM_ROWS) if r not in UNTOUCHED])
    # 12 draws from 17 rows: repeated rows within a batch, and rows missing from some batches
    return [allowed[torch.randint(0, allowed.numel(), (12,), generator=gen)] for _ in range(steps)]


def _run(opt_factory, sparse: bool, steps: int) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Initial weights, final weights and each step's dense gradient."""
    torch.manual_seed(0)
    emb = nn.Embedding(NUM_ROWS, DIM, sparse=sparse)
    w0 = emb.weight.detach().clone()
    opt = opt_factory(emb.parameters())
    grads = []
    for idx in _batches(steps):
        loss = (emb(idx) ** 2).sum() + emb(idx).sum()
        opt.zero_grad()
        loss.backward()
        g = emb.weight.grad
        grads.append((g.to_dense() if g.is_sparse else g).detach().clone())
        opt.step()
    return w0, emb.weight.detach().clone(), grads


def _lazy_adam(w0: torch.Tensor, grads: list[torch.Tensor], lr: float, b1: float = 0.9, b2: float = 0.999,
               eps: float = 1e-8) -> np.ndarray:
    """Adam that updates only the rows with a gradient (their moments too), in float64, row by row."""
    w = w0.double().numpy().copy()
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, grad in enumerate(grads, start=1):
        g = grad.double().numpy()
        for r in range(w.shape[0]):
            if not g[r].any():
                continue
            m[r] = b1 * m[r] + (1 - b1) * g[r]
            v[r] = b2 * v[r] + (1 - b2) * g[r] ** 2
            w[r] -= lr * math.sqrt(1 - b2**t) / (1 - b1**t) * m[r] / (np.sqrt(v[r]) + eps)
    return w


def _adagrad(w0: torch.Tensor, grads: list[torch.Tensor], lr: float, eps: float = 1e-10) -> np.ndarray:
    w = w0.double().numpy().copy()
    acc = np.zeros_like(w)
    for grad in grads:
        g = grad.double().numpy()
        acc += g**2
        w -= lr * g / (np.sqrt(acc) + eps)
    return w


def test_row_adam_matches_lazy_adam_reference_and_sparse_adam() -> None:
    w0, ours, grads = _run(lambda p: RowAdam(p, lr=0.01), sparse=True, steps=6)
    np.testing.assert_allclose(ours.double().numpy(), _lazy_adam(w0, grads, lr=0.01), rtol=1e-5, atol=1e-6)
    _, ref, _ = _run(lambda p: torch.optim.SparseAdam(list(p), lr=0.01), sparse=True, steps=6)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    moved = (ours - w0).abs().amax(dim=1)
    assert (moved[[r for r in range(NUM_ROWS) if r not in UNTOUCHED]] > 1e-3).all()  # every touched row moved


def test_row_adam_first_step_equals_dense_adam_on_touched_rows() -> None:
    w0, ours, grads = _run(lambda p: RowAdam(p, lr=0.01), sparse=True, steps=1)
    _, dense, _ = _run(lambda p: torch.optim.Adam(p, lr=0.01), sparse=False, steps=1)
    touched = grads[0].abs().sum(1) > 0
    torch.testing.assert_close(ours[touched], dense[touched], rtol=1e-5, atol=1e-6)
    assert torch.equal(ours[~touched], w0[~touched])


@pytest.mark.parametrize("factory", [lambda p: RowAdam(p, lr=0.01), lambda p: RowAdagrad(p, lr=0.1)],
                         ids=["adam", "adagrad"])
def test_untouched_rows_stay_untouched(factory) -> None:
    w0, ours, _ = _run(factory, sparse=True, steps=5)
    assert torch.equal(ours[list(UNTOUCHED)], w0[list(UNTOUCHED)])


def test_row_adagrad_matches_dense_adagrad() -> None:
    # a row without gradient adds nothing to its accumulator and does not move: Adagrad is
    # lazy by nature, so dense torch Adagrad is an exact reference over several steps
    w0, ours, grads = _run(lambda p: RowAdagrad(p, lr=0.1), sparse=True, steps=5)
    _, dense, _ = _run(lambda p: torch.optim.Adagrad(p, lr=0.1), sparse=False, steps=5)
    torch.testing.assert_close(ours, dense, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.double().numpy(), _adagrad(w0, grads, lr=0.1), rtol=1e-5, atol=1e-6)


def test_dense_gradients_update_like_the_references() -> None:
    # with a dense gradient every row counts as touched (zero-gradient rows included)
    w0, ours, grads = _run(lambda p: RowAdagrad(p, lr=0.1), sparse=False, steps=4)
    np.testing.assert_allclose(ours.double().numpy(), _adagrad(w0, grads, lr=0.1), rtol=1e-5, atol=1e-6)
    w0, ours, grads = _run(lambda p: RowAdam(p, lr=0.01), sparse=False, steps=4)
    touched_every_step = np.ones(NUM_ROWS, dtype=bool)
    for g in grads:
        touched_every_step &= (g.abs().sum(1) > 0).numpy()
    ref = _lazy_adam(w0, grads, lr=0.01)
    np.testing.assert_allclose(ours.double().numpy()[touched_every_step], ref[touched_every_step], rtol=1e-5,
                               atol=1e-6)


def test_make_optimizers_splits_sparse_and_dense() -> None:
    sparse_mf = MatrixFactorization(10, 8, embedding_dim=4, sparse=True)
    opts = make_optimizers(sparse_mf, TrainConfig(optimizer="adagrad", lr=0.05))
    assert isinstance(opts[0], RowAdagrad)
    assert isinstance(make_optimizers(sparse_mf, TrainConfig(optimizer="sparse_adam"))[0], RowAdam)
    with pytest.raises(ConfigError, match="cannot update sparse embeddings"):
        make_optimizers(sparse_mf, TrainConfig(optimizer="adamw"))
    dense = make_optimizers(GMF(10, 8), TrainConfig(optimizer="adamw", weight_decay=0.1))
    assert [type(o) for o in dense] == [torch.optim.AdamW]
    assert dense[0].param_groups[0]["weight_decay"] == 0.1
    frozen = GMF(10, 8)
    frozen.requires_grad_(False)
    with pytest.raises(ConfigError, match="no trainable parameters"):
        make_optimizers(frozen, TrainConfig())


def test_lr_factor_and_set_lr() -> None:
    assert [lr_factor(s, 0.0) for s in ("constant", "linear", "cosine")] == [1.0, 1.0, 1.0]
    assert lr_factor("linear", 0.25) == pytest.approx(0.75)
    assert lr_factor("cosine", 0.5) == pytest.approx(0.5)
    assert lr_factor("cosine", 0.25) == pytest.approx((1 + math.cos(math.pi / 4)) / 2)
    assert lr_factor("constant", 0.9) == 1.0
    opts = make_optimizers(GMF(10, 8), TrainConfig())
    set_lr(opts, 0.123)
    assert all(g["lr"] == 0.123 for o in opts for g in o.param_groups)


@pytest.mark.parametrize("optimizer", ["sparse_adam", "adagrad"])
def test_a_run_on_the_row_optimizers_never_loads_torch_dynamo(optimizer: str) -> None:
    # torch's Optimizer methods import torch._dynamo on first call (~1 s); the row optimizers skip that
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from ncf import MatrixFactorization, TrainConfig, Trainer\n"
        "from ncf.data.synthetic import synthetic\n"
        "d = synthetic(num_users=120, num_items=80, seed=1).interactions\n"
        "m = MatrixFactorization(d.num_users, d.num_items, embedding_dim=8, use_bias=False, normalize=True,"
        " sparse=True)\n"
        f"cfg = TrainConfig(loss='softmax', optimizer={optimizer!r}, epochs=1, show_progress=False)\n"
        "Trainer(cfg, fused=False).fit(m, d)\n"  # the ordinary step: zero_grad and step each batch
        "Trainer(cfg).fit(m, d)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_row_optimizer_state_round_trips_through_state_dict() -> None:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(6, 3))
    opt = RowAdam([w], lr=0.01)
    opt.update_rows(w, torch.tensor([1, 4]), torch.randn(2, 3))
    other = RowAdam([torch.nn.Parameter(w.detach().clone())], lr=0.5)
    other.load_state_dict(opt.state_dict())
    assert other.param_groups[0]["lr"] == 0.01
    state = other.state[other.param_groups[0]["params"][0]]
    torch.testing.assert_close(state["exp_avg"], opt.state[w]["exp_avg"])
    assert float(state["step"]) == 1.0
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2, 3))], "lr": 0.2})
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.2] and opt.param_groups[1]["betas"] == (0.9, 0.999)
