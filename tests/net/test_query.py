"""Query/retrieve vocabulary: keys checked before anything is sent, statuses read as C-FIND and
C-MOVE define them, and the instances a move failed listed."""

from pathlib import Path

import pydicom
import pytest

from desktop.net import dimse
from desktop.net.encoding import decode, encode
from desktop.net.query import QueryError, find, identifier
from desktop.net.store import Peer
from tests.helpers import cli, node_add
from tests.net.scripted_peer import Conversation, Script, scripted_peer
from tests.peers import free_port

PEER = Peer("PACS", "COURIER")


def test_a_misspelt_key_is_refused_with_the_nearest_keyword(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    assert cli(capsys, *node_add("pacs", "PACS", free_port()))[0] == 0
    status, out, err = cli(capsys, "find", "pacs", "-k", "PatientNmae=DOE*")
    assert status == 1 and out == ""
    assert "unknown query key 'PatientNmae': did you mean PatientName?" in err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["find", "-k", "PixelData=1"], "PixelData cannot be a query key (its value is binary"),
        (["find", "-k", "ReferencedStudySequence=1"], "ReferencedStudySequence is a sequence"),
        (["find", "-k", "StudyDate=garbage"], "StudyDate is a date YYYYMMDD or a range FROM-TO"),
        (["find", "-k", "StudyDate=20240101-2024013"], "not '20240101-2024013'"),
        (["find", "-k", "StudyTime=25"], "StudyTime is a time HHMMSS"),
        (["find", "-k", "AcquisitionDateTime=2024x"], "AcquisitionDateTime is a date and time"),
        (["find", "-k", "StudyDescription=" + "z" * 5000], "at most 64 characters (VR LO)"),
        (["find", "-k", "StudyInstanceUID=1.2.x"], "StudyInstanceUID is not a UID"),
        (["get", "--study", "not a uid"], "StudyInstanceUID is not a UID (digits and dots"),
        (["move", "--study", "1.2", "--series", "1..2"], "SeriesInstanceUID is not a UID"),
    ],
)
def test_keys_that_cannot_match_are_refused_by_name_before_any_association(
    capsys: pytest.CaptureFixture[str],
    recwarn: pytest.WarningsRecorder,
    home: Path,
    arguments: list[str],
    message: str,
) -> None:
    assert cli(capsys, *node_add("pacs", "PACS", free_port()))[0] == 0  # nothing listens
    command, *options = arguments
    status, out, err = cli(capsys, command, "pacs", *options)
    assert status == 1 and out == ""
    assert message in err and err.count("\n") == 1, err  # one plain line, not a refused connection
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_valid_ranges_lists_and_wildcards_pass() -> None:
    query = identifier(
        "study",
        {
            "StudyDate": "20240101-20240131",
            "StudyTime": "-1200",
            "StudyInstanceUID": "1.2.3\\1.2.4",
            "PatientName": "DOE*",
            "ModalitiesInStudy": "CT\\MR",
        },
    )
    assert query.StudyDate == "20240101-20240131" and list(query.ModalitiesInStudy) == ["CT", "MR"]


def test_the_audit_record_of_a_query_keeps_the_keys_it_can_encode() -> None:
    from desktop.core.audit.events import encode_query

    encoded = encode_query({"PixelData": "1", "PatientID": "P1"})
    assert b"P1" in encoded and encoded.startswith(b"\x10\x00\x20\x00LO")


def test_a_key_far_from_any_keyword_says_what_keys_are() -> None:
    with pytest.raises(QueryError, match=r"unknown query key 'Xyzzy' \(keys are DICOM keywords\)"):
        identifier("study", {"Xyzzy": "1"})


def strict_archive(asked: list[tuple[str, str]]) -> Script:
    """A hierarchical archive: two studies for patient P1, one CT series in each; a series
    query without StudyInstanceUID, or with a study-level key, is refused (0xA900)."""

    def script(peer: Conversation) -> None:
        peer.accept()
        context_id, command = peer.read_message()
        syntax = peer.proposed[0].transfer_syntaxes[0]
        query = decode(peer.dataset, syntax)
        level, study = str(query.QueryRetrieveLevel), str(query.get("StudyInstanceUID", ""))
        asked.append((level, study))
        base = {
            dimse.COMMAND_FIELD: dimse.C_FIND_RSP,
            dimse.MESSAGE_ID_RESPONDED: int(command[dimse.MESSAGE_ID]),
        }
        if level == "SERIES" and (not study or "PatientID" in query):
            peer.respond(context_id, {**base, dimse.STATUS: 0xA900})
            return
        for uid in ("1.1", "1.2") if level == "STUDY" else (study,):
            match = pydicom.Dataset()
            match.QueryRetrieveLevel = level
            match.StudyInstanceUID = uid
            if level == "SERIES":
                match.SeriesInstanceUID = f"{uid}.1"
                match.Modality = "CT"
            peer.respond(context_id, {**base, dimse.STATUS: 0xFF00}, encode(match, syntax))
        peer.respond(context_id, {**base, dimse.STATUS: 0})

    return script


def test_a_series_find_fills_in_the_studies_first() -> None:
    asked: list[tuple[str, str]] = []
    with scripted_peer(strict_archive(asked), connections=3) as peer:
        connect = peer.connector(5)
        matches = list(find(connect, PEER, "series", {"PatientID": "P1", "Modality": "CT"}))
    assert [str(m.SeriesInstanceUID) for m in matches] == ["1.1.1", "1.2.1"]
    assert asked == [("STUDY", ""), ("SERIES", "1.1"), ("SERIES", "1.2")]


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
    assert "warning: sub-operations complete, one or more failures (0xB000)" in out
    assert "failed instances: 1.2.3.4, 1.2.3.5" in err


def test_move_destination_unknown_is_said_so(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    with scripted_peer(move_answer(0xA801, [])) as peer:
        assert cli(capsys, *node_add("pacs", "PACS", peer.port))[0] == 0
        status, _, err = cli(capsys, "move", "pacs", "--study", "1.2.3", "--dest", "NOBODY")
    assert status == 1
    assert "failed the retrieve: failure: refused: move destination unknown (0xA801)" in err


def test_a_failed_move_into_our_listener_that_nothing_reached_says_the_usual_cause(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    """The archive could not connect back (it knows us at another port): say so, rather than
    leave the admin to find it in the archive's log (tester's G12, 9)."""
    port = free_port()
    with scripted_peer(move_answer(0xC000, [])) as peer:
        assert cli(capsys, *node_add("pacs", "PACS", peer.port))[0] == 0
        status, _, err = cli(capsys, "move", "pacs", "--study", "1.2.3", "--listen", "--port",
                             port)  # fmt: skip
    assert status == 1
    assert (
        f"hint: nothing reached our listener on 127.0.0.1:{port}: pacs may know COURIER at "
        "another address or port (its list of known AE titles says)"
    ) in err, err
