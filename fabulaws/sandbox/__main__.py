"""``python -m fabulaws.sandbox`` is ``fabulaws sandbox``."""

from .cli import main

main()
