"""`python -m mpiapp.config`: print the effective configuration, or the key reference."""

import sys

from . import main

sys.exit(main())
