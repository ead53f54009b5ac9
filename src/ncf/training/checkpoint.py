"""Training checkpoints: model + optimizer + progress, written atomically, loaded without pickle."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from ncf._io import atomic_write
from ncf._types import PathLike
from ncf.errors import DataError

CHECKPOINT_FILE = "checkpoint.pt"


def save_checkpoint(path: PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) to ``path`` atomically."""
    buf = io.BytesIO()
    torch.save(state, buf)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())


def load_checkpoint(path: PathLike) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` (no arbitrary unpickling)."""
    p = Path(path)
    if not p.is_file():
        raise DataError("no checkpoint to resume from", path=p)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupted or foreign file
        raise DataError(f"unreadable checkpoint: {exc}", path=p) from exc
    if not isinstance(state, dict) or "epoch" not in state:
        raise DataError("not an ncf checkpoint", path=p)
    return state
