"""Entry point of the frozen application: the same ``dicom-courier`` command as the wheel's."""

import sys

from desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
