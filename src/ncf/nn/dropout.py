"""Dropout whose CPU mask costs a sixth of ``torch.bernoulli_``'s.

On the CPU, ``nn.Dropout`` draws its mask with ``bernoulli_``, one Mersenne-Twister draw per
element: about 6 ns each on this project's 2-core test machine, a third of a NeuMF training step at
RecBole's shape (``benchmarks/neumf_step_profile.py``). :class:`FastDropout` draws 64-bit
integers from torch's own generator (so ``torch.manual_seed`` still fixes every mask), reads
them as four 16-bit lanes, and drops an element when its lane falls below a threshold: one draw
per four elements. The drop probability is ``p`` rounded to a multiple of 1/65,536
(:func:`effective_p`; 0.1 becomes 0.1000061) and kept elements are scaled by ``1 / (1 - p')``,
so the output's expectation is the input exactly. Off the CPU, and in eval mode, it is
``nn.Dropout``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["FastDropout", "effective_p"]

_LANES = 1 << 16  # values of one 16-bit lane


def effective_p(p: float) -> float:
    """The drop probability :class:`FastDropout` applies for ``p``: a multiple of 1/65,536."""
    return round(float(p) * _LANES) / _LANES


def _keep_mask(shape: torch.Size, device: torch.device, p: float) -> Tensor:
    """A boolean mask of ``shape``, each element False with probability :func:`effective_p`."""
    n = shape.numel()
    words = torch.randint(-(1 << 63), (1 << 63) - 1, ((n + 3) // 4,), dtype=torch.int64, device=device)
    lanes = words.view(torch.int16)[:n].view(shape)
    return lanes >= int(round(p * _LANES)) - (_LANES >> 1)


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with a cheaper CPU mask (module docstring); same arguments, same state."""

    def forward(self, input: Tensor) -> Tensor:
        p = effective_p(self.p)
        if not self.training or p == 0.0 or input.device.type != "cpu" or self.inplace or p >= 1.0:
            return super().forward(input)
        keep = _keep_mask(input.shape, input.device, self.p)
        return input * (keep.to(input.dtype) * (1.0 / (1.0 - p)))
