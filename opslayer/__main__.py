"""`python -m opslayer` is the `opslayer` command."""

import sys

from opslayer.adapters.cli import main

sys.exit(main())
