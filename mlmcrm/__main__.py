"""``python -m mlmcrm``: see :mod:`mlmcrm.cli`."""

import sys

from mlmcrm.cli import main

sys.exit(main())
