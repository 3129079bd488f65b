"""Signatures in the browser: verify the selected instances on a worker, show each verdict in
the Signature column (an invalid one in bold red) and the details of every signature in a
dialog. The checks are ``dicom-courier verify``'s, with the keystore's trusted CAs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QObject
from PySide6.QtGui import QBrush, QColor, QFont, QStandardItem
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.security.keystore import Keystore
from desktop.security.signing import Verdict
from desktop.ui.actions import tipped_action
from desktop.ui.models.media_model import CHECK_ROLE, SIGNATURE_COLUMN, MediaTreeModel
from desktop.ui.prompter import Prompter
from desktop.ui.widgets.browser import BrowserPanel
from desktop.ui.workers import GeneratorWorker, start

if TYPE_CHECKING:  # pydicom (~0.5 s to import) is not needed to show the window
    from desktop.signing import Checked, FileCheck

DETAIL_COLUMNS = ("Location", "Signer", "Time", "Profile", "Hash", "Verdict", "Reason")


PARTIAL = "valid, partial"  # valid signatures, but elements none of them covers


def _worst(check: FileCheck) -> str:
    """unsigned, unreadable, INVALID if any signature is, else the worst verdict (valid, but
    partial when elements of the data set are covered by none)."""
    if check.status != "signed":
        return check.status
    verdicts = {c.verdict for c in check.signatures}
    worst = next((v for v in Verdict if v is not Verdict.VALID and v in verdicts), Verdict.VALID)
    if worst is Verdict.VALID and check.uncovered:
        return PARTIAL
    return "INVALID" if worst is Verdict.INVALID else worst.value


def verdict_text(check: FileCheck) -> str:
    """The Signature cell: the worst verdict, with the count when there are several."""
    count = len(check.signatures)
    return f"{_worst(check)} ({count})" if count > 1 else _worst(check)


def _colour_of(worst: str) -> str:
    """Red for what must not be missed (an invalid signature, an unreadable file), orange for
    a signer not trusted, the default for valid and unsigned."""
    if worst in ("INVALID", "unreadable"):
        return "red"
    return "" if worst in (Verdict.VALID.value, "unsigned") else "darkorange"


SEVERITY = [
    "INVALID",
    "unreadable",
    *(v.value for v in Verdict if v not in (Verdict.INVALID, Verdict.VALID)),
    PARTIAL,
    Verdict.VALID.value,
    "unsigned",
]


def _group_text(checks: list[FileCheck]) -> tuple[str, str]:
    """A series', study's or patient's cell: its worst verdict and how many have it (the text
    and the verdict)."""
    counts = Counter(_worst(c) for c in checks)
    worst = next(k for k in SEVERITY if counts[k])
    calm = worst in (Verdict.VALID.value, "unsigned") and len(counts) == 1
    return (worst if calm else f"{counts[worst]} {worst}"), worst


def paint(cell: QStandardItem, text: str, *, tip: str, colour: str) -> None:
    """Write a Signature cell, bold in ``colour`` unless that is empty."""
    cell.setText(text)
    cell.setToolTip(tip)
    font = QFont(cell.font())
    font.setBold(bool(colour))
    cell.setFont(font)
    cell.setForeground(QBrush(QColor(colour)) if colour else QBrush())


def roll_up(model: MediaTreeModel, parent: QModelIndex) -> list[FileCheck]:
    """Show on each patient, study and series row the worst verdict below it (a collapsed
    series hides no invalid signature); the checks found under ``parent``."""
    found: list[FileCheck] = []
    for row in range(model.rowCount(parent)):
        index = model.index(row, 0, parent)
        check = model.check(index)
        below = [check] if check is not None else roll_up(model, index)
        cell = model.signature_cell(index)
        if check is None and below and cell is not None:
            text, worst = _group_text(below)
            paint(cell, text, tip=summary(below), colour=_colour_of(worst))
        found += below
    return found


def summary(checks: Iterable[FileCheck]) -> str:
    """The status bar's line, e.g. "Signatures: 3 signed, 1 INVALID, 2 unsigned"."""
    counts = Counter(_worst(check) for check in checks)
    signed = sum(n for worst, n in counts.items() if worst not in ("unsigned", "unreadable"))
    order = ["INVALID", *(v.value for v in Verdict if v is not Verdict.INVALID), PARTIAL]
    others = [f"{counts[k]} {k}" for k in [*order, "unsigned", "unreadable"] if counts[k]]
    return "Signatures: " + ", ".join([f"{signed} signed", *others])


def _tip(check: FileCheck) -> str:
    if check.error:
        return check.error
    if not check.signatures:
        return "This instance has no digital signature"
    lines = [f"{c.verdict.value}: {c.reason}" for c in check.signatures]
    if check.uncovered:
        names = ", ".join(check.as_json()["uncovered"])
        lines.append(
            f"{len(check.uncovered)} element(s) covered by no signature (added or changed "
            f"after signing?): {names}"
        )
    return "\n".join(lines)


class SignaturesDialog(QDialog):
    """Every signature of one instance: where, who, when, how, and the verdict with its
    reason; invalid ones in red."""

    def __init__(self, check: FileCheck, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Signatures of {check.path.name}")
        self.resize(1000, 300)
        heading = QLabel(f"{check.path}: {check.error or verdict_text(check)}")
        heading.setWordWrap(True)
        self.table = QTableWidget(len(check.signatures), len(DETAIL_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(DETAIL_COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        for row, checked in enumerate(check.signatures):
            self._fill(row, checked)
        self.table.resizeColumnsToContents()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.table)
        if check.uncovered:  # what the signatures say nothing of
            self.uncovered = QLabel(_tip(check).rsplit("\n", 1)[-1])
            self.uncovered.setWordWrap(True)
            self.uncovered.setStyleSheet("color: darkorange; font-weight: bold")
            layout.addWidget(self.uncovered)
        layout.addWidget(buttons)

    def _fill(self, row: int, checked: Checked) -> None:
        shown = checked.as_json()
        verdict = "INVALID" if checked.verdict is Verdict.INVALID else checked.verdict.value
        cells = [
            shown["location"],
            shown["signer"],
            shown["datetime"],
            shown["profile"],
            shown["hash"],
            verdict,
            shown["reason"],
        ]
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            if checked.verdict is Verdict.INVALID:
                item.setForeground(QBrush(QColor("red")))
                font = QFont(item.font())
                font.setBold(True)
                item.setFont(font)
            self.table.setItem(row, column, item)

    def rows(self) -> list[list[str]]:
        """The table as text (what a person reads)."""
        model = self.table.model()
        return [
            [str(model.index(r, c).data()) for c in range(model.columnCount())]
            for r in range(model.rowCount())
        ]


class SignatureController(QObject):
    """The "Verify signatures" and "Signature details…" actions of the browsers."""

    def __init__(
        self,
        parent: QWidget,
        keystore: Keystore,
        browsers: Iterable[BrowserPanel],
        current: Callable[[], BrowserPanel],
        prompter: Prompter,
        status: Callable[[str], None],
        report: Callable[[str, Exception], None],
    ) -> None:
        super().__init__(parent)
        self.keystore, self.current, self.prompter = keystore, current, prompter
        self.status, self.report = status, report
        self.worker: GeneratorWorker | None = None
        self.verify_action = tipped_action(
            parent,
            "&Verify signatures",
            "Check the digital signatures of the selected instances (all when none is selected)",
            self.verify,
            shortcut="Ctrl+Shift+V",
        )
        self.details_action = tipped_action(
            parent,
            "Signature &details…",
            "Every signature of the current instance, in detail",
            self.show_details,
        )
        for browser in browsers:
            browser.view.doubleClicked.connect(self._double_clicked)

    def verify(self) -> GeneratorWorker | None:
        """Verify the selected instances (every one when none is selected) on the pool."""
        browser = self.current()
        instances = browser.selected_instances()
        if not instances and browser.tree is not None:
            instances = list(browser.tree.instances())
        paths = [i.path for i in instances if i.path is not None]
        if not paths:
            self.status("Open media first: there is nothing to verify")
            return None
        if self.worker is not None:
            self.worker.cancel()
        from desktop.signing import trust_of, verify_files

        keystore, model = self.keystore, browser.model
        checks: list[FileCheck] = []

        def run() -> Generator[FileCheck, None, None]:
            # Trusted CAs are public: reading them asks for no password.
            yield from verify_files(paths, trust_of(keystore, []))

        def show(check: FileCheck) -> None:
            checks.append(check)
            cell = model.instance_signature_cell(check.path)
            if cell is not None:
                cell.setData(check, CHECK_ROLE)
                paint(cell, verdict_text(check), tip=_tip(check), colour=_colour_of(_worst(check)))
            self.status(f"Verifying signatures: {len(checks)} of {len(paths)}")

        def done(_: Any) -> None:
            self.worker = None
            roll_up(model, QModelIndex())
            browser.view.resizeColumnToContents(SIGNATURE_COLUMN)
            self.status(summary(checks))

        def failed(error: Exception) -> None:
            self.worker = None
            self.report("Verify signatures", error)

        worker = GeneratorWorker(run)
        worker.signals.yielded.connect(show)
        worker.signals.returned.connect(done)
        worker.signals.errored.connect(failed)
        self.status(f"Verifying the signatures of {len(paths)} instance(s) …")
        self.worker = start(worker)
        return worker

    def show_details(self) -> bool:
        """The Signatures dialog of the current row's instance, once it is verified."""
        browser = self.current()
        return self._details(browser.view.currentIndex(), browser)

    def _double_clicked(self, index: QModelIndex) -> None:
        if index.column() == SIGNATURE_COLUMN:
            self._details(index, self.current())

    def _details(self, index: QModelIndex, browser: BrowserPanel) -> bool:
        check = browser.model.check(index)
        if check is None:
            self.status("Select a verified instance first (Verify signatures)")
            return False
        self.prompter.run(SignaturesDialog(check, browser))
        return True
