"""``python -m fabulaws`` is the ``fabulaws`` command."""

from .cli import main

main()
