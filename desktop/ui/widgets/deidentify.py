"""The De-identify… dialog (``dicom-courier deid``'s choices: output folder, profile options,
project key, recipient, burned-in text) and the summary shown when the copies are made."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.deid.table import Option
from desktop.ui.widgets.dialogs import path_row, refuse, stack, typed_path
from desktop.ui.widgets.recipient import Recipient, RecipientChooser

#: Table E.1-1's option columns in plain words (the command line's name in each tooltip).
OPTION_TEXT = {
    Option.RETAIN_UIDS: "Keep the original UIDs",
    Option.RETAIN_DEVICE_IDENTITY: "Keep the device's identity (serial numbers, station name)",
    Option.RETAIN_INSTITUTION_IDENTITY: "Keep the institution's name and address",
    Option.RETAIN_PATIENT_CHARACTERISTICS: "Keep the patient's sex, age, size and weight",
    Option.RETAIN_LONGITUDINAL_FULL_DATES: "Keep the dates and times as they are",
    Option.RETAIN_LONGITUDINAL_MODIFIED_DATES: "Keep the dates, shifted by a per-patient offset",
    Option.CLEAN_DESCRIPTORS: "Keep descriptions and comments, cleaned",
    Option.CLEAN_STRUCTURED_CONTENT: "Keep structured reports' content, cleaned",
    Option.CLEAN_GRAPHICS: "Keep graphics and overlays, cleaned",
    Option.RETAIN_SAFE_PRIVATE: "Keep private attributes known to be safe",
}
DATES = (Option.RETAIN_LONGITUDINAL_FULL_DATES, Option.RETAIN_LONGITUDINAL_MODIFIED_DATES)
#: ``--pixels`` in words, in the order shown.
PIXELS = {
    "off": "Leave the pixels as they are",
    "auto": "Mask the identifying text found",
    "review": "Show me the text found over each image first, to add, move or remove boxes",
}
NOBODY = "Nobody (the copies cannot be re-identified)"


@dataclass(frozen=True, slots=True)
class DeidChoice:
    """What the dialog was told: ``deid``'s ``--out``, ``--option``, ``--key-file``,
    ``--recipient`` and ``--pixels``."""

    out: Path
    options: frozenset[Option]
    key_file: Path | None
    recipient: Recipient | None
    pixels: str


class DeidDialog(QDialog):
    """Ask how to de-identify ``what``; ``choice()`` once accepted. ``recipients`` are the
    keystore's certificates by name; ``choose_folder`` and ``choose_file`` ask for a path."""

    def __init__(
        self,
        what: str,
        recipients: dict[str, str],
        choose_folder: Callable[[str], Path | None],
        choose_file: Callable[[str, str], Path | None],
        *,
        folder: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("De-identify")
        intro = QLabel(
            f"Write de-identified copies of {what} (Basic Application Level Confidentiality "
            "Profile). The originals are not changed."
        )
        intro.setWordWrap(True)
        self.out = QLineEdit(folder)
        self.out.setPlaceholderText("a folder for the copies")
        self.key_file = QLineEdit()
        self.key_file.setPlaceholderText("this computer's project key")
        self.key_file.setToolTip(
            "The same key gives the same new UIDs and date shifts on any machine: use a "
            "project's key file to keep its copies linked (made when missing)"
        )
        self.options: dict[Option, QCheckBox] = {}
        options = QGroupBox("Profile options")
        option_layout = QVBoxLayout(options)
        for option, text in OPTION_TEXT.items():
            box = self.options[option] = QCheckBox(text)
            box.setToolTip(f"--option {option.cli_name}")
            option_layout.addWidget(box)
        for one, other in (DATES, DATES[::-1]):
            self.options[one].toggled.connect(lambda on, other=other: self._untick(on, other))
        pixels = QGroupBox("Text burned into the pixels (ultrasound, screen captures, scans)")
        pixel_layout = QVBoxLayout(pixels)
        self.pixels: dict[str, QRadioButton] = {}
        group = QButtonGroup(self)
        for mode, text in PIXELS.items():
            button = self.pixels[mode] = QRadioButton(text)
            button.setToolTip(f"--pixels {mode}")
            group.addButton(button)
            pixel_layout.addWidget(button)
        self.pixels["off"].setChecked(True)
        self.form = QFormLayout()
        ask_out, ask_key = "De-identify: the folder for the copies", "The project key file"
        self.form.addRow("Output folder", path_row(self.out, lambda: choose_folder(ask_out)))
        self.form.addRow(
            "Project key file",
            path_row(self.key_file, lambda: choose_file(ask_key, "All files (*)")),
        )
        self.chooser = RecipientChooser(
            self.form, "Re-identifiable by", recipients, choose_file, none=NOBODY
        )
        self.recipient, self.recipient_file = self.chooser.combo, self.chooser.file
        self.recipient.setToolTip(
            "The original values are kept encrypted for this certificate: only its holder "
            "can restore them (dicom-courier reid)"
        )
        self.problem = stack(
            self, intro, self.form, options, pixels, ok_text="De-identify", min_width=620
        )

    def choice(self) -> DeidChoice:
        """What the dialog was told, once accepted."""
        options = frozenset(o for o, box in self.options.items() if box.isChecked())
        key = self.key_file.text().strip()
        pixels = next(mode for mode, button in self.pixels.items() if button.isChecked())
        return DeidChoice(
            typed_path(self.out),
            options,
            Path(key).expanduser() if key else None,
            self.chooser.chosen(),
            pixels,
        )

    def accept(self) -> None:
        """Go on, or say what is missing beside its field and keep what was typed."""
        for field in (self.out, self.recipient_file, self.key_file):
            field.setStyleSheet("")
        refused, message = self._refused()
        if refused is None:
            super().accept()
            return
        refuse(self.problem, refused, message)

    def _refused(self) -> tuple[QLineEdit | None, str]:
        out = self.out.text().strip()
        if not out:
            return self.out, "Choose the folder the copies go to."
        if Path(out).expanduser().exists() and not Path(out).expanduser().is_dir():
            return self.out, f"{out} is a file: the copies need a folder."
        key = self.key_file.text().strip()
        if key and Path(key).expanduser().is_dir():
            return self.key_file, f"{key} is a folder: the project key is a file."
        refused = self.chooser.refused()
        if refused:
            return self.recipient_file, refused
        return None, ""

    def _untick(self, ticked: bool, other: Option) -> None:
        """One kind of dates only: full or shifted."""
        if ticked:
            self.options[other].setChecked(False)


class DeidSummary(QDialog):
    """What was written, how many had burned-in text masked, and each file's problem; buttons
    to open the copies' folder in the file manager or in the browser."""

    def __init__(
        self,
        text: str,
        problems: list[str],
        open_folder: Callable[[], None],
        open_in_browser: Callable[[], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("De-identified")
        self.message = QLabel(text)
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        self.problems = QPlainTextEdit("\n".join(problems))
        self.problems.setReadOnly(True)
        self.problems.setVisible(bool(problems))
        layout.addWidget(self.problems)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        for label, action in (("Open folder", open_folder), ("Open in browser", open_in_browser)):
            button = buttons.addButton(label, QDialogButtonBox.ButtonRole.ActionRole)
            button.clicked.connect(action)
            button.clicked.connect(self.accept)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)
        if problems:
            self.resize(640, 360)
