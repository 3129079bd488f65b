"""The GUI on the small screens hospitals still run (1366×768, 1280×720): the node dialog
and the main window fit, their buttons stay on the screen (G2, G7 of findings7)."""

from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QWidget,
)

from desktop.core.config import load_config
from desktop.ui.main_window import MainWindow
from desktop.ui.nodes_controller import NodesController
from desktop.ui.shell import Shell
from desktop.ui.widgets.audit import AuditPanel
from tests.ui.clicking import button, click, press_ok
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_deid_send import checkbox, tick
from tests.ui.test_deid_send_pixels import NODE_DEID, choose

SMALL = QSize(1280, 720)  # the smallest screen the GUI is made for
TITLE_BAR = 40  # and the window's title bar, about


def fits(size: QSize, screen: QSize) -> bool:
    """``size`` (a window's) fits ``screen`` with the window's title bar."""
    return size.width() <= screen.width() and size.height() <= screen.height() - TITLE_BAR


def shown_whole(widget: QWidget) -> bool:
    """``widget`` is on the screen, not clipped by its window or a scroll area."""
    return widget.isVisible() and widget.visibleRegion().boundingRect().size() == widget.size()


def test_the_node_dialog_fits_a_small_screen_with_its_buttons_in_view(
    qtbot,  # type: ignore[no-untyped-def]
    shell: Shell,
    nodes_controller: NodesController,
    prompter: ScriptedPrompter,
) -> None:
    panel = nodes_controller.nodes
    seen: dict[str, object] = {}

    def fill(dialog: QDialog) -> None:
        options = checkbox(dialog, "retain-uids")
        seen["options while off"] = options.isVisible()
        tick(qtbot, checkbox(dialog, NODE_DEID))
        seen["fits"] = fits(dialog.minimumSizeHint(), SMALL)
        dialog.resize(dialog.width(), 400)  # a short screen: the form scrolls, not the buttons
        qtbot.waitUntil(lambda: dialog.height() == 400)
        [box] = dialog.findChildren(QDialogButtonBox)
        seen["buttons"] = shown_whole(box.button(QDialogButtonBox.StandardButton.Ok))
        pixels = dialog.deid_pixels  # type: ignore[attr-defined]
        seen["pixels before scrolling"] = shown_whole(pixels)
        dialog.fields.ensureWidgetVisible(pixels)  # type: ignore[attr-defined]
        seen["pixels scrolled to"] = shown_whole(pixels)
        choose(qtbot, pixels, "auto")
        for field, text in (("name", "Research"), ("ae_title", "TRIAL"), ("host", "127.0.0.1")):
            qtbot.keyClicks(getattr(dialog, field), text)
        press_ok(qtbot, dialog)

    prompter.answer("run", fill)
    click(qtbot, button(panel, "Add…"))
    assert seen == {
        "options while off": False,  # the ten profile options only for a de-identifying node
        "fits": True,
        "buttons": True,
        "pixels before scrolling": False,
        "pixels scrolled to": True,
    }
    node = load_config(shell.services.home).nodes["Research"]
    assert node.deid and node.deid_pixels == "auto"


def test_every_tab_of_the_main_window_is_usable_1280_px_wide_and_narrower(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
) -> None:
    """Each tab's buttons and filters whole on the window (the Audit's filter row wraps, the
    node buttons wrap, long titles elide), and Verify chain still works when clicked."""
    audit = window.tabs.widget(window.tabs.count() - 1)
    assert isinstance(audit, AuditPanel)
    for width in (SMALL.width(), 1024):
        window.resize(width, SMALL.height() - TITLE_BAR)
        qtbot.wait(10)
        assert window.width() == width, f"the window stays {window.width()} px wide"
        for tab in range(window.tabs.count()):
            window.tabs.setCurrentIndex(tab)
            qtbot.wait(10)  # laid out
            controls = [
                c
                for c in window.findChildren(QWidget)
                if isinstance(c, QAbstractButton | QComboBox)
                and c.isVisible()
                and c.window() is window
                and not c.objectName().startswith("qt_")  # Qt's own: tab scrollers…
            ]
            assert len(controls) > 5
            cut = [c.text() or c.toolTip() for c in controls if not inside(c, window)]
            assert cut == [], f"{window.tabs.tabText(tab)} at {width} px"
    click(qtbot, button(audit, "Verify chain"))
    assert audit.verdict.isVisible() and "chain intact" in audit.verdict.text()


def inside(widget: QWidget, window: QWidget) -> bool:
    """``widget`` whole within ``window`` and not clipped by the panels it is in."""
    where = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
    return window.rect().contains(where) and shown_whole(widget)
