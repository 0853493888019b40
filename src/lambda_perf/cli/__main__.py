"""``python -m lambda_perf.cli``: the same as the ``lambda-perf`` command."""

import sys

from . import main

sys.exit(main())
