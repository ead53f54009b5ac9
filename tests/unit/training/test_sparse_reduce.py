"""Row-sparse gradients averaged over two real gloo ranks, against the mean of dense gradients.

The two ranks are a torchrun job (a few seconds: two Python processes importing torch); the
worker writes each rank's gradients before and after the reduction, and the test compares them
with the reference computed here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

WORKER = textwrap.dedent('''
    import sys
    import torch
    import torch.distributed as dist
    from torch import nn
    from ncf.training.sparse_reduce import all_reduce_sparse_gradients

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    wide = nn.Embedding(50, 4, sparse=True)       # rows touched on both ranks, repeats included
    bias = nn.Embedding(30, 1, sparse=True)       # a one-column table packed with the others
    only_one = nn.Embedding(10, 2, sparse=True)   # used on rank 1 only: rank 0 has no gradient
    dense = nn.Embedding(8, 3)                    # a dense gradient on the list: all-reduced as is
    g = torch.Generator().manual_seed(rank)
    rows = torch.randint(0, 50, (7 + 5 * rank,), generator=g)
    loss = (wide(rows) ** 2).sum() * (rank + 1) + bias(torch.randint(0, 30, (3,), generator=g)).sum()
    loss = loss + dense(torch.tensor([rank, 5])).sum() * (rank + 2)
    if rank == 1:
        loss = loss + only_one(torch.tensor([3, 3, 7])).sum()
    loss.backward()
    params = [wide.weight, bias.weight, only_one.weight, dense.weight]
    before = [torch.zeros_like(p) if p.grad is None else p.grad.to_dense() for p in params]
    all_reduce_sparse_gradients(params, world)
    after = [p.grad.is_sparse for p in params], [p.grad.to_dense() for p in params]
    torch.save({"before": before, "sparse": after[0], "after": after[1]}, f"{sys.argv[1]}/{rank}.pt")
    dist.destroy_process_group()
''')


def test_two_ranks_get_the_mean_of_their_gradients(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(script), str(tmp_path)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ranks = [torch.load(tmp_path / f"{r}.pt") for r in (0, 1)]
    for t in range(4):
        mean = (ranks[0]["before"][t] + ranks[1]["before"][t]) / 2
        assert mean.abs().sum() > 0
        for r in ranks:
            torch.testing.assert_close(r["after"][t], mean)
    assert ranks[0]["sparse"] == [True, True, True, False]  # layouts kept: sparse optimizers still apply
    assert not torch.equal(ranks[0]["before"][0], ranks[1]["before"][0])  # the ranks really differed
