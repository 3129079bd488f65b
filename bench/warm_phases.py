"""Where a warm send's time goes: the phases of the warm service's child that runs it.

    BENCH_START=<time.monotonic() of the parent> python -m bench.warm_phases send NODE PATH

Does what ``service run --unlock`` does before it serves (imports everything a command needs,
unlocks the keystore from DICOM_COURIER_KEYSTORE_PASSWORD, checks the queue database,
freezes the collector), then forks as the service forks its spare child, warms up as that
child does, and runs ``bench.send_phases`` there as if just handed the command: its marks
count from then, its CPU is the child's (the warming up included). The parent adds the
child's end (``child exited``). The client's part (its interpreter, connecting, passing its
descriptors) is not in these marks: ``warm node list`` in ``bench.send_bench`` measures it.
"""

import argparse
import gc
import os
import sys
import time

from bench import send_phases


def main() -> int:
    from desktop.commands.options import hold_unlocked, open_keystore
    from desktop.commands.service import preload, warm_up
    from desktop.core.paths import courier_home
    from desktop.net.queue import check_ahead
    from desktop.warm.server import Lease

    send_phases.instrument()  # before the parsers are built, as the service builds them
    preload()
    keystore = open_keystore(argparse.Namespace(password_file=None))
    keystore.trusted_pem()  # as the service checks it before serving
    lease = Lease(keystore.unlock_all())
    hold_unlocked(lease.holds)
    check_ahead(courier_home() / "queue.sqlite")  # as the service does before each fork
    gc.freeze()
    sys.stdout.flush()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # as the service's spare child: warmed up, then handed the command
        warm_up(lease)
        send_phases.START = time.monotonic()
        os.write(writer, repr(send_phases.START).encode())
        send_phases.MARKS.clear()
        return send_phases.main()
    handed = float(os.read(reader, 64))
    _, status, usage = os.wait4(pid, 0)
    ended = time.monotonic() - handed
    print(f"phase child exited {ended:.4f} {usage.ru_utime + usage.ru_stime:.4f}")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
