"""Entry point of the frozen application: the same ``dicom-courier`` command as the wheel's."""

import multiprocessing
import sys

if __name__ == "__main__":
    # A spawned worker (JPEG 2000 and RLE packing for the wire run in a process pool) starts
    # this executable again: freeze_support runs its task and exits instead of the command.
    multiprocessing.freeze_support()
    from desktop.warm.client import main  # a warm service runs the command, else here

    sys.exit(main())
