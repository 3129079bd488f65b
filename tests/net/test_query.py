"""Query/retrieve vocabulary: keys checked before anything is sent, statuses read as C-FIND and
C-MOVE define them, and the instances a move failed listed."""

from pathlib import Path

import pydicom
import pytest

from desktop.net import dimse
from desktop.net.encoding import encode
from desktop.net.query import QueryError, identifier
from tests.helpers import cli, node_add
from tests.net.scripted_peer import Conversation, Script, scripted_peer
from tests.peers import free_port


def test_a_misspelt_key_is_refused_with_the_nearest_keyword(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    assert cli(capsys, *node_add("pacs", "PACS", free_port()))[0] == 0
    status, out, err = cli(capsys, "find", "pacs", "-k", "PatientNmae=DOE*")
    assert status == 1 and out == ""
    assert "unknown query key 'PatientNmae': did you mean PatientName?" in err


def test_a_key_far_from_any_keyword_says_what_keys_are() -> None:
    with pytest.raises(QueryError, match=r"unknown query key 'Xyzzy' \(keys are DICOM keywords\)"):
        identifier("study", {"Xyzzy": "1"})


@pytest.mark.parametrize(
    ("level", "keys", "needs"),
    [
        ("series", {}, "a find at series level needs StudyInstanceUID (-k StudyInstanceUID="),
        ("image", {"StudyInstanceUID": "1.2"}, "a find at image level needs SeriesInstanceUID"),
        ("image", {}, "a find at image level needs StudyInstanceUID and SeriesInstanceUID"),
    ],
)
def test_lower_levels_need_the_unique_keys_above(
    level: str, keys: dict[str, str], needs: str
) -> None:
    with pytest.raises(QueryError) as raised:
        identifier(level, keys)
    assert needs in str(raised.value)


def test_series_find_carries_the_study_uid() -> None:
    query = identifier("series", {"StudyInstanceUID": "1.2.3", "Modality": "CT"})
    assert (query.QueryRetrieveLevel, query.StudyInstanceUID, query.Modality) == (
        "SERIES",
        "1.2.3",
        "CT",
    )


def move_answer(code: int, failed: list[str]) -> Script:
    """Accept, read our C-MOVE-RQ, answer one pending then a final ``code`` (with the
    Failed SOP Instance UID List when ``failed``)."""

    def script(peer: Conversation) -> None:
        peer.accept()
        context_id, command = peer.read_message()
        message_id = int(command[dimse.MESSAGE_ID])
        base = {dimse.COMMAND_FIELD: dimse.C_MOVE_RSP, dimse.MESSAGE_ID_RESPONDED: message_id}
        counts = {dimse.REMAINING: 1, dimse.COMPLETED: 1, dimse.FAILED_COUNT: 0}
        peer.respond(context_id, {**base, **counts, dimse.STATUS: 0xFF00})
        dataset = None
        if failed:
            identifier = pydicom.Dataset()
            identifier.FailedSOPInstanceUIDList = failed
            dataset = encode(identifier, peer.proposed[0].transfer_syntaxes[0])
        final = {dimse.REMAINING: 0, dimse.COMPLETED: 1, dimse.FAILED_COUNT: len(failed)}
        peer.respond(context_id, {**base, **final, dimse.STATUS: code}, dataset)

    return script


def test_a_move_with_failed_instances_lists_them(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    with scripted_peer(move_answer(0xB000, ["1.2.3.4", "1.2.3.5"])) as peer:
        assert cli(capsys, *node_add("pacs", "PACS", peer.port))[0] == 0
        status, out, err = cli(capsys, "move", "pacs", "--study", "1.2.3")
    assert status == 1
    assert "0xB000 warning: sub-operations complete, one or more failures" in out
    assert "failed instances: 1.2.3.4, 1.2.3.5" in err


def test_move_destination_unknown_is_said_so(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    with scripted_peer(move_answer(0xA801, [])) as peer:
        assert cli(capsys, *node_add("pacs", "PACS", peer.port))[0] == 0
        status, _, err = cli(capsys, "move", "pacs", "--study", "1.2.3", "--dest", "NOBODY")
    assert status == 1
    assert "the peer failed the retrieve: 0xA801 failure: refused: move destination unknown" in err
