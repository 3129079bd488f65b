"""The send confirmation: what goes where, over what, and whether copies are de-identified
(checked and fixed for a node that only takes de-identified copies)."""

from dataclasses import replace

from PySide6.QtWidgets import QCheckBox, QDialog, QFormLayout, QLabel, QVBoxLayout, QWidget

from desktop.core.deid.setting import Deidentification
from desktop.ui.widgets.dialogs import ok_cancel
from desktop.ui.widgets.send_pixels import send_pixels_box

DEID_TEXT = "De-identify before sending"
WIDTH_IN_CHARACTERS = 84  # the sentence wraps in a few readable lines, not a narrow column


class SendConfirmation(QDialog):
    """Ask before a send; ``deidentification()`` is the choice made."""

    def __init__(
        self, text: str, by_node: Deidentification | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send")
        self.by_node = by_node
        self.message = QLabel(text)
        self.message.setWordWrap(True)
        self.message.setMinimumWidth(self.fontMetrics().averageCharWidth() * WIDTH_IN_CHARACTERS)
        self.deid = QCheckBox(DEID_TEXT)
        self.deid.setChecked(by_node is not None)
        self.deid.setEnabled(by_node is None)
        if by_node is not None:
            self.deid.setToolTip("This node receives de-identified copies only (node settings)")
        self.pixels = send_pixels_box(by_node.pixels if by_node else "off")
        self.pixels_row = QWidget()
        QFormLayout(self.pixels_row).addRow("Burned-in text", self.pixels)
        self.how = QLabel()
        self.how.setWordWrap(True)
        self.deid.toggled.connect(self._show_how)
        self.pixels.currentIndexChanged.connect(self._show_how)
        self._show_how()
        layout = QVBoxLayout(self)
        for widget in (self.message, self.deid, self.pixels_row, self.how):
            layout.addWidget(widget)
        layout.addWidget(ok_cancel(self))

    def deidentification(self) -> Deidentification | None:
        """The copies' de-identification (None: the originals are sent)."""
        if not self.deid.isChecked():
            return None
        return replace(self.by_node or Deidentification(), pixels=self.pixels.currentData())

    def _show_how(self) -> None:
        chosen = self.deidentification()
        self.how.setVisible(chosen is not None)
        self.pixels_row.setVisible(chosen is not None)
        if chosen is not None:
            self.how.setText(
                f"Sends {chosen.describe()}, made in a private temporary folder and removed "
                "afterwards; the originals are not changed."
            )
        if self.isVisible():  # rows shown or hidden in the open dialog: it fits them again
            self.adjustSize()
