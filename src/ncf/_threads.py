"""How many CPU threads torch gets: what this process may really use, or what the user asked.

torch's default is every core of the machine, even when a CPU quota (containers) or an
affinity mask allows fewer; oversubscribed OpenMP threads then wait on each other and a run
beside a busy neighbour slows down many times over. ``NCF_NUM_THREADS`` or ``--threads``
override the choice.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path

from ncf.errors import ConfigError

logger = logging.getLogger(__name__)

ENV = "NCF_NUM_THREADS"
#: More threads than any machine has cores: a typo, refused before torch sees it.
MAX_THREADS = 4096


def _cgroup_quota() -> float | None:
    """CPUs allowed by the cgroup CPU quota (v2 ``cpu.max`` or v1 CFS), or None when unlimited."""
    v2 = Path("/sys/fs/cgroup/cpu.max")
    try:
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1q, v1p = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
        if v1q.is_file() and v1p.is_file():
            quota_us = int(v1q.read_text())
            return None if quota_us <= 0 else quota_us / int(v1p.read_text())
    except (OSError, ValueError):
        return None
    return None


def available_cpus() -> int:
    """CPUs this process may run on: the affinity mask, capped by a cgroup CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota)))
    return max(1, cpus)


def resolve_threads(requested: int | None = None) -> int:
    """``requested``, else ``$NCF_NUM_THREADS``, else :func:`available_cpus`."""
    if requested is None:
        raw = os.environ.get(ENV)
        if raw:
            text = raw.strip()
            if not (text.isascii() and text.isdigit()):
                raise ConfigError(f"{ENV} must be a whole number, got {raw!r}")
            requested = int(text)
    if requested is None:
        return available_cpus()
    from ncf.config import check_whole

    return check_whole("threads", requested, lo=1, hi=MAX_THREADS)


def apply_threads(threads: int) -> None:
    """Give torch (OpenMP, MKL) ``threads`` threads, before or after torch is imported."""
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
    else:  # read by OpenMP and MKL when torch loads
        os.environ["OMP_NUM_THREADS"] = str(threads)
        os.environ["MKL_NUM_THREADS"] = str(threads)
    logger.debug("using %d CPU threads", threads)
