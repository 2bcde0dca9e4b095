"""`python -m runners`: the same as the `taxi-pipeline` command."""

import sys

from runners.cli import main

sys.exit(main())
