"""`python -m leadrank` runs the `leadrank` command."""

from leadrank.cli import main

main()
