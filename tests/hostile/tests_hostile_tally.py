"""How hostile cases ended (clear error, correct result, traceback, silent result), per session."""

from __future__ import annotations

from collections import Counter

TALLY: Counter[str] = Counter()


def record(outcome: str) -> None:
    TALLY[outcome] += 1
