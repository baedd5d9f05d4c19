"""`python -m dmlp_cli train ...`, the form torchrun needs."""

import sys

from dmlp_cli.cli import main

sys.exit(main())
