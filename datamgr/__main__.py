"""`python -m datamgr` runs the command line."""

from datamgr.cli import main

main()
