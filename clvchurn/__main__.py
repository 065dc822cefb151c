"""`python -m clvchurn`: the same command line as `clvchurn`."""

from clvchurn.cli import main

main()
