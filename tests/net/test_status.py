"""Statuses mean what their service says (PS3.4 C.4): one code, several meanings."""

import pytest

from desktop.net.status import ECHO, FIND, GET, MOVE, STORE, status


@pytest.mark.parametrize(
    ("service", "code", "category", "meaning"),
    [
        (MOVE, 0xA801, "failure", "refused: move destination unknown"),
        (MOVE, 0xB000, "warning", "sub-operations complete, one or more failures"),
        (STORE, 0xB000, "warning", "coercion of data elements"),
        (GET, 0xB000, "warning", "sub-operations complete, one or more failures or warnings"),
        (
            FIND,
            0xFF01,
            "pending",
            "matches are continuing, one or more optional keys not supported",
        ),
        (FIND, 0xFE00, "cancel", "matching terminated due to cancel request"),
        (FIND, 0xC123, "failure", "unable to process"),
        (STORE, 0xA7F0, "failure", "refused: out of resources"),
        (STORE, 0xC001, "failure", "error: cannot understand"),
        (ECHO, 0x0122, "failure", "SOP class not supported"),
    ],
)
def test_meaning_by_service(service: str, code: int, category: str, meaning: str) -> None:
    answer = status(service, code)
    assert (answer.category, answer.meaning) == (category, meaning)


@pytest.mark.parametrize("code", [0xFF00, 0xFF01])
def test_pending_is_never_a_stored_instance(code: int) -> None:
    answer = status(STORE, code)
    assert not answer.done and answer.failed
    assert answer.describe() == f"failure: pending, which is not a C-STORE answer (0x{code:04X})"


def test_a_code_the_service_does_not_define_is_a_failure() -> None:
    assert status(MOVE, 0xB006).describe() == "failure: a status C-MOVE does not define (0xB006)"
    assert status(STORE, 0xB006).done
