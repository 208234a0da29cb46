"""`python -m gateway`: the `egress` command, as the console script runs it."""

from gateway.main import main

main()
