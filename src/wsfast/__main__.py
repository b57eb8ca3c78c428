"""``python -m wsfast``: see :mod:`wsfast.cli`."""

from .cli import main

if __name__ == "__main__":
    main()
