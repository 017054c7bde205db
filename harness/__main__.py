"""`python -m harness` runs the command line, like the `harness` console script."""

import sys

from harness.cli.main import main

sys.exit(main())
