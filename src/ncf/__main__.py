"""``python -m ncf``: the command line (also what ``torchrun -m ncf`` runs)."""

from ncf.cli import main

if __name__ == "__main__":
    main()
