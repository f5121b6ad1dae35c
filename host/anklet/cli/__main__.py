"""`python -m anklet.cli` is `anklet`."""

from anklet.cli import main

main()
