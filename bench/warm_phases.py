"""Where a warm send's time goes: the phases of the child a warm service forks for it.

    BENCH_START=<time.monotonic() of the parent> python -m bench.warm_phases send NODE PATH

Does what ``service run --unlock`` does before it serves (imports everything a command needs,
unlocks the keystore from DICOM_COURIER_KEYSTORE_PASSWORD, checks the queue database,
freezes the collector), then forks
as the service does and runs ``bench.send_phases`` in the child: its marks count from the
fork, its CPU is the child's alone. The parent adds the child's end (``child exited``). The
client's part (its interpreter, connecting, passing its descriptors) is not in these marks:
``warm node list`` in ``bench.send_bench`` measures that fixed cost.
"""

import argparse
import gc
import os
import sys
import time

from bench import send_phases


def main() -> int:
    from desktop.commands.options import hold_unlocked, open_keystore
    from desktop.commands.service import preload
    from desktop.core.paths import courier_home
    from desktop.net.queue import check_ahead

    send_phases.instrument()  # before the parsers are built, as the service builds them
    preload()
    keystore = open_keystore(argparse.Namespace(password_file=None))
    keystore.trusted_pem()  # as the service checks it before serving
    hold_unlocked(keystore.unlock_all())
    check_ahead(courier_home() / "queue.sqlite")  # as the service does before each fork
    gc.freeze()
    sys.stdout.flush()
    forked = time.monotonic()
    pid = os.fork()
    if pid == 0:
        send_phases.START = forked
        send_phases.MARKS.clear()
        return send_phases.main()
    _, status, usage = os.wait4(pid, 0)
    ended = time.monotonic() - forked
    print(f"phase child exited {ended:.4f} {usage.ru_utime + usage.ru_stime:.4f}")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
