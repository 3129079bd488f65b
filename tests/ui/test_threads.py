"""Off the GUI thread: a node's identity is unlocked and its TLS context built once per session,
on a worker; transfers have a pool of their own."""

import threading

from PySide6.QtCore import QThreadPool

from desktop.demo import DEMO_NODE
from desktop.ui.main_window import MainWindow
from tests.ui.clicking import button, click


def test_the_identity_is_unlocked_once_and_off_the_gui_thread(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    keystore = window.services.keystore
    unlock = keystore.tls_identity  # how a TLS context opens the identity
    threads: list[threading.Thread] = []

    def recording(name: str):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread())
        return unlock(name)

    keystore.tls_identity = recording  # type: ignore[method-assign]
    window.nodes.list.setCurrentItem(window.nodes.item_for(DEMO_NODE))
    for echoes in (1, 2):
        click(qtbot, button(window.nodes, "Echo"))
        qtbot.waitUntil(
            lambda n=echoes: sum(e.summary.startswith("echo") for e in window.log.entries) == n,
            timeout=20000,
        )
    assert len(threads) == 1 and threads[0] is not threading.main_thread()
    assert window.controller.pool is not QThreadPool.globalInstance()


def test_what_start_up_made_leaves_the_collectors_full_passes_once_shown(
    window: MainWindow,
) -> None:
    """A full collection walked the whole start-up heap holding the GIL (0.1-0.25 s, the
    longest GUI gap of a send once the key unlock was fixed); frozen, it walks what is new."""
    import gc

    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the modules, Qt wrappers and panels of the window just shown
    window.hide()
    window.show()
    assert gc.get_freeze_count() == frozen  # once: later objects are collected as usual
