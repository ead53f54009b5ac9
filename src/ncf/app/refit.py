"""Refit: once validation has chosen the epoch count, train again on all of the training data.

A validation carve takes rows out of training for good; the model that is saved (by ``ncf
train`` after early stopping, and by ``ncf train --config best.toml`` after ``ncf tune``) is
trained on the whole training part with the chosen settings, for :func:`refit_epochs` epochs.
"""

from __future__ import annotations

#: How the chosen epoch count carries over to the larger refit set: ``"same"`` keeps the count
#: (each epoch already has proportionally more steps), ``"scaled"`` multiplies it by the row
#: ratio. Chosen on validation-only evidence (a nested carve, benchmarks/refit_rule.py): equal
#: on ML-100K (a one-item carve: the ratio is 1.01), scaled ahead on Yelp (a 10% carve).
REFIT_RULES = ("same", "scaled")
DEFAULT_REFIT_RULE = "scaled"


def refit_epochs(best_epoch: int, carved_rows: int, full_rows: int, rule: str = DEFAULT_REFIT_RULE) -> int:
    """Epochs of the refit on ``full_rows`` rows, given the best epoch found on ``carved_rows``."""
    if best_epoch < 1:
        raise ValueError(f"best_epoch must be at least 1, got {best_epoch}")
    if carved_rows < 1 or full_rows < carved_rows:
        raise ValueError(f"need 1 <= carved_rows <= full_rows, got {carved_rows} and {full_rows}")
    if rule == "same":
        return best_epoch
    if rule == "scaled":
        return max(1, round(best_epoch * full_rows / carved_rows))
    raise ValueError(f"unknown refit rule {rule!r}; one of {', '.join(REFIT_RULES)}")
