"""`python -m runners`: the same as the `taxi-pipeline` command."""

from runners.cli import entry_point

entry_point()
