"""The choice of what a de-identifying send does with burned-in text (``SEND_PIXELS``), shared
by the node dialog and the send confirmation."""

from PySide6.QtWidgets import QComboBox

CHOICES = {
    "off": "Not searched: images that may show text are held back",
    "auto": "Searched, the text found masked (auto)",
}


def send_pixels_box(mode: str) -> QComboBox:
    """A combo box of ``CHOICES`` set to ``mode``; its current data is the mode chosen."""
    box = QComboBox()
    for value, text in CHOICES.items():
        box.addItem(text, value)
    box.setCurrentIndex(box.findData(mode))
    box.setToolTip(
        "Burned-in text (a name, an ID, a date written into the image, as on ultrasound and "
        "screen captures): a send has nobody to review it, so the images whose header says "
        "they may show text are either held back, unsearched, or searched and masked"
    )
    return box
