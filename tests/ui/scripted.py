"""A prompter for tests: each question gets the next scripted answer of its kind, or a default.

Dialogs of ours are shown for real and handed to a scripted function that types into their
fields and clicks their buttons, as a person would.
"""

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QDialog

from desktop.ui.prompter import Prompter
from desktop.ui.widgets.send_confirmation import SendConfirmation

DialogHandler = Callable[[QDialog], None]


class ScriptedPrompter(Prompter):
    def __init__(self) -> None:
        super().__init__()
        self.answers: dict[str, deque[Any]] = {}
        self.defaults: dict[str, Any] = {"confirm": False}
        self.asked: list[tuple[str, str]] = []
        self.errors: list[tuple[str, str, str]] = []  # title, message, details
        self.told: list[tuple[str, str, str, bool]] = []  # title, text, details, warning
        self.questions: list[str] = []  # the text of each confirm
        self.suggested: list[str] = []  # the path each save_file proposed

    def answer(self, kind: str, *values: Any) -> None:
        """Queue answers for questions of ``kind`` (open_file, open_folder, save_file, confirm,
        text, run)."""
        self.answers.setdefault(kind, deque()).extend(values)

    def _next(self, kind: str, title: str) -> Any:
        self.asked.append((kind, title))
        queued = self.answers.get(kind)
        return queued.popleft() if queued else self.defaults.get(kind)

    def open_file(self, title: str, filters: str) -> Path | None:
        return self._next("open_file", title)  # type: ignore[no-any-return]

    def open_folder(self, title: str) -> Path | None:
        return self._next("open_folder", title)  # type: ignore[no-any-return]

    def save_file(self, title: str, suggested: str, filters: str) -> Path | None:
        self.suggested.append(suggested)
        return self._next("save_file", title)  # type: ignore[no-any-return]

    def confirm(self, title: str, text: str) -> bool:
        self.questions.append(text)
        return bool(self._next("confirm", title))

    def text(
        self, title: str, label: str, default: str = "", *, secret: bool = False
    ) -> str | None:
        return self._next("text", title)  # type: ignore[no-any-return]

    def error(self, title: str, message: str, details: str = "") -> None:
        self.errors.append((title, message, details))

    def inform(self, title: str, text: str, details: str = "", *, warning: bool = False) -> None:
        self.told.append((title, text, details, warning))

    def run(self, dialog: QDialog) -> bool:
        """Show the real dialog and let the scripted handler fill it in (none: Cancel). The
        send confirmation without a handler is a yes/no question: the next "confirm" answer
        accepts it as it opened."""
        if isinstance(dialog, SendConfirmation) and not self.answers.get("run"):
            accepted = bool(self._next("confirm", dialog.windowTitle()))
            return accepted
        handler: DialogHandler | None = self._next("run", dialog.windowTitle())
        dialog.show()
        if handler is None:
            dialog.reject()
        else:
            handler(dialog)
        accepted = dialog.result() == QDialog.DialogCode.Accepted
        dialog.close()
        return accepted
