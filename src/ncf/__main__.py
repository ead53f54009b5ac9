"""``ncf`` and ``python -m ncf`` (also what ``torchrun -m ncf`` runs): the command line.

Before torch loads, idle OpenMP threads are told to sleep rather than spin
(``OMP_WAIT_POLICY=PASSIVE``, unless the environment says otherwise): a spinning thread steals
the CPU from the very thread it waits for when another process shares the cores.
"""

from __future__ import annotations

import os


def main() -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ncf.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
