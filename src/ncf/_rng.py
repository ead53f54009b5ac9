"""Seeds to generators: one place that turns a seed into numpy and torch random streams."""

from __future__ import annotations

import numpy as np
import torch


def numpy_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A numpy Generator from a seed (or pass a Generator through)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A seeded torch Generator on ``device``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def seed_everything(seed: int) -> None:
    """Seed torch's global generators (used for parameter initialisation)."""
    torch.manual_seed(int(seed))
