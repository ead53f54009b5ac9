"""Seeds to generators: one place that turns a seed into numpy and torch random streams."""

from __future__ import annotations

import numpy as np
import torch


def check_seed(seed: object) -> int:
    """The one rule for seeds: a whole number from 0 to 2**32 - 1 (numpy's range), else a
    ConfigError saying so (never numpy's "expected non-negative integer")."""
    from ncf.config import MAX_SEED, check_whole

    return check_whole("seed", seed, lo=0, hi=MAX_SEED)


def numpy_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A numpy Generator from a seed (or pass a Generator through)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(None if seed is None else check_seed(seed))


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A seeded torch Generator on ``device``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(check_seed(seed))
    return gen


def seed_everything(seed: int) -> None:
    """Seed torch's global generators (used for parameter initialisation)."""
    torch.manual_seed(check_seed(seed))
