"""`python -m feedclean` runs the command line."""

from .cli import main

main()
