"""The in-batch softmax's passes over the logits, as the hand-written step runs them, two ways.

``HandSoftmaxStep`` turns a batch's ``(B, N)`` float32 logits into the loss and the logits'
gradient. Until 2026-12-07 it took one full pass each for the row maxima, the shift, the exp,
the row sums and the division (``separate``); now it calls torch's softmax, which works row by
row in cache, and reads the loss off the positive's probability (``softmax``). Both then add the
one-hot and cast to bfloat16 for the products, as the step does. Timed alternating in one
process at the Gowalla race's shape (batch 1024, about 980 distinct items), median ms per call;
the two results are checked equal.

    python benchmarks/bench_softmax_passes.py [--rounds 5] [--calls 50] [--threads 2]

Writes ``results/softmax_passes.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from _common import write_result


def separate(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The earlier sequence: max, shift, exp, sum, divide, one-hot, cast (loss = lse - own)."""
    b = logits.shape[0]
    own = logits.gather(1, target)
    top = logits.amax(dim=1, keepdim=True)
    grad = logits.sub_(top).exp_()
    total = grad.sum(dim=1, keepdim=True)
    loss = (top + total.log() - own).mean()
    grad.div_(total.mul_(b))
    grad.scatter_add_(1, target, grad.new_full((b, 1), -1.0 / b))
    return loss, grad.bfloat16()


def fused(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The step's sequence now: softmax, loss = -log p(positive), one-hot, cast (1/B applied later)."""
    b = logits.shape[0]
    grad = torch.softmax(logits, dim=1)
    loss = grad.gather(1, target).clamp_min_(torch.finfo(grad.dtype).tiny).log_().mean().neg_()
    grad.scatter_add_(1, target, grad.new_full((b, 1), -1.0))
    return loss, grad.bfloat16()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--items", type=int, default=980)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(args.batch, args.items, generator=gen) * 3  # cosine / T with T 0.1 spans [-10, 10]
    target = torch.randint(0, args.items, (args.batch, 1), generator=gen)
    loss_a, grad_a = separate(logits.clone(), target)
    loss_b, grad_b = fused(logits.clone(), target)
    torch.testing.assert_close(loss_b, loss_a, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_b.float() / args.batch, grad_a.float(), rtol=1e-2, atol=1e-6)
    ms: dict[str, list[float]] = {"separate": [], "softmax": []}
    for r in range(args.rounds):
        order = [("separate", separate), ("softmax", fused)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            inputs = [logits.clone() for _ in range(args.calls)]
            t = time.perf_counter()
            for x in inputs:
                fn(x, target)
            ms[name].append(round((time.perf_counter() - t) / args.calls * 1e3, 4))
    summary = {k: statistics.median(v) for k, v in ms.items()}
    result = {"setup": f"float32 logits ({args.batch}, {args.items}), loss + gradient + bfloat16 cast; "
                       "alternating rounds, median ms per call", "threads": args.threads,
              "ms_per_call": summary, "rounds": ms, "speedup": round(summary["separate"] / summary["softmax"], 3),
              "command": "python benchmarks/bench_softmax_passes.py " + " ".join(sys.argv[1:])}
    print(summary, f"{result['speedup']}x")
    print(f"wrote {write_result('softmax_passes', result)}")


if __name__ == "__main__":
    main()
