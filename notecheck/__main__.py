"""``python -m notecheck`` runs the CLI."""

import sys

from notecheck.cli import main

sys.exit(main())
