"""Training tests use one torch thread: their tensors are tiny, and on a loaded machine (or
under ``pytest -n``) idle OpenMP threads spinning for a core cost more than they save."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
