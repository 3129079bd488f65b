"""``python -m desktop.warm ARGS``: ``dicom-courier ARGS`` run locally (how ``service start``
spawns ``service run``, whatever entry point started it)."""

import sys

from desktop.cli import main

sys.exit(main())
