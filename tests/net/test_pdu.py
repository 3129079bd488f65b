"""Every PDU and item type decoded from real toolkits' bytes and re-encoded to the same bytes;
every malformed variant is one ProtocolError, never an IndexError or struct.error."""

import io
import struct
from pathlib import Path

import pytest

from desktop.net import dimse, pdu
from desktop.net.link import ProtocolError
from tests.net import encoded_pdus as fx

PDUS = {
    "a_associate_rq": fx.a_associate_rq,
    "a_associate_rq_user_async": fx.a_associate_rq_user_async,
    "a_associate_rq_role": fx.a_associate_rq_role,
    # its presentation context's reserved byte is 0xFF, which we write as 0
    "a_associate_rq_user_id_user_pass": fx.a_associate_rq_user_id_user_pass.replace(
        b"\x01\x00\xff\x00\x30", b"\x01\x00\x00\x00\x30"
    ),
    "a_associate_rq_user_id_ext_neg": fx.a_associate_rq_user_id_ext_neg,
    "a_associate_rq_com_ext_neg": fx.a_associate_rq_com_ext_neg,
    "a_associate_rq_called": fx.a_associate_rq_called,
    "a_associate_rq_calling": fx.a_associate_rq_calling,
    "a_associate_ac": fx.a_associate_ac,
    # its PDU length says 184 bytes where 198 follow
    "a_associate_ac_user": b"\x02\x00\x00\x00\x00\xc6" + fx.a_associate_ac_user[6:],
    "a_associate_ac_zero_ts": fx.a_associate_ac_zero_ts,
    "a_associate_ac_no_ts": fx.a_associate_ac_no_ts,
    "a_associate_rj": fx.a_associate_rj,
    "a_release_rq": fx.a_release_rq,
    "a_release_rp": fx.a_release_rp,
    "a_abort": fx.a_abort,
    "a_p_abort": fx.a_p_abort,
    "p_data_tf": fx.p_data_tf,
    "p_data_tf_rq": fx.p_data_tf_rq,
    "p_data_tf_n_event_report": fx.p_data_tf_n_event_report,
}
ITEMS = {
    "application_context": fx.application_context,
    "application_context_empty": fx.application_context_empty,
    "presentation_context_rq": fx.presentation_context_rq,
    "presentation_context_ac": fx.presentation_context_ac,
    "user_information": fx.user_information,
}
SUB_ITEMS = {
    "maximum_length_received": (fx.maximum_length_received, pdu.MaximumLength),
    "implementation_class_uid": (fx.implementation_class_uid, pdu.ImplementationClass),
    "implementation_class_uid_empty": (fx.implementation_class_uid_empty, pdu.ImplementationClass),
    "asynchronous_window_ops": (fx.asynchronous_window_ops, pdu.AsyncWindow),
    "role_selection": (fx.role_selection, pdu.RoleSelection),
    "role_selection_odd": (fx.role_selection_odd, pdu.RoleSelection),
    "implementation_version_name": (fx.implementation_version_name, pdu.ImplementationVersion),
    "implementation_version_name_empty": (
        fx.implementation_version_name_empty,
        pdu.ImplementationVersion,
    ),
    "extended_negotiation": (fx.extended_negotiation, pdu.ExtendedNegotiation),
    "common_extended_negotiation": (
        fx.common_extended_negotiation,
        pdu.CommonExtendedNegotiation,
    ),
    "user_identity_rq_user_nopw": (fx.user_identity_rq_user_nopw, pdu.UserIdentityRequest),
    "user_identity_rq_user_pass": (fx.user_identity_rq_user_pass, pdu.UserIdentityRequest),
    "user_identity_ac": (fx.user_identity_ac, pdu.UserIdentityResponse),
}


def decode(data: bytes) -> pdu.Pdu:
    kind, _, length = struct.unpack_from(">BBI", data)
    assert length == len(data) - 6
    return pdu.decode(kind, data[6:])


@pytest.mark.parametrize("name", sorted(PDUS))
def test_pdu_round_trip(name: str) -> None:
    assert decode(PDUS[name]).encode() == PDUS[name]


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_item_round_trip(name: str) -> None:
    data = ITEMS[name]
    item = pdu.decode_item(data[0], data[4:], "A-ASSOCIATE-RQ")
    assert item.encode() == data


@pytest.mark.parametrize("name", sorted(SUB_ITEMS))
def test_user_information_sub_item_round_trip(name: str) -> None:
    data, kind = SUB_ITEMS[name]
    item = pdu.decode_item(0x50, data, "A-ASSOCIATE-AC")
    assert isinstance(item, pdu.UserInformation)
    [sub_item] = item.sub_items
    assert isinstance(sub_item, kind)
    assert sub_item.encode() == data


def test_abstract_and_transfer_syntax_sub_items() -> None:
    context = fx.presentation_context_rq
    assert context[8:].startswith(fx.abstract_syntax)
    assert context.endswith(fx.transfer_syntax)
    item = pdu.decode_item(0x20, context[4:], "A-ASSOCIATE-RQ")
    assert item == pdu.ProposedContext(1, "1.2.840.10008.1.1", ("1.2.840.10008.1.2",))


def test_presentation_data_value_item() -> None:
    data = fx.presentation_data_value
    unit = pdu.decode(pdu.P_DATA_TF, data)
    assert isinstance(unit, pdu.PData)
    [pdv] = unit.pdvs
    assert (pdv.context_id, pdv.command, pdv.last) == (1, True, True)
    assert pdv.data == fx.presentation_data[1:]
    assert unit.encode()[6:] == data
    command = dimse.decode_command(pdv.data)
    assert command[dimse.COMMAND_FIELD] == dimse.C_ECHO_RSP and command[dimse.STATUS] == 0


def test_fields_of_dcmtk_acceptance() -> None:
    unit = decode(fx.a_associate_ac)
    assert isinstance(unit, pdu.Associate) and unit.kind == pdu.A_ASSOCIATE_AC
    assert unit.max_pdu_length == 16384
    assert unit.results == [pdu.ContextResult(1, 0, "1.2.840.10008.1.2")]
    version = unit.user_information.find(pdu.ImplementationVersion)
    assert version == pdu.ImplementationVersion("OFFIS_DCMTK_360")


def test_context_results_without_a_syntax() -> None:
    zero, none = decode(fx.a_associate_ac_zero_ts), decode(fx.a_associate_ac_no_ts)
    assert isinstance(zero, pdu.Associate) and isinstance(none, pdu.Associate)
    assert zero.results[1] == pdu.ContextResult(3, 3, "")
    assert none.results == [pdu.ContextResult(1, 3, None)]


def test_rejection_and_aborts_in_words() -> None:
    rejection = decode(fx.a_associate_rj)
    assert isinstance(rejection, pdu.Rejection) and not rejection.transient
    assert rejection.describe() == "association rejected permanently by the peer: no reason given"
    abort = decode(fx.a_p_abort)
    assert abort == pdu.Abort(2, 4)
    assert abort.describe() == "the peer aborted the association: unrecognised PDU parameter"
    assert decode(fx.a_release_rq) == pdu.Release(pdu.A_RELEASE_RQ)


def test_our_request_decodes_to_what_we_meant() -> None:
    contexts = [
        pdu.ProposedContext(1, "1.2.840.10008.1.1", ("1.2.840.10008.1.2",)),
        pdu.ProposedContext(3, "1.2.840.10008.5.1.4.1.1.2", ("1.2.840.10008.1.2.1",)),
    ]
    unit = decode(pdu.associate_request("PACS", "COURIER", contexts, 262144))
    assert isinstance(unit, pdu.Associate)
    assert (unit.called, unit.calling) == ("PACS".ljust(16), "COURIER".ljust(16))
    assert [i for i in unit.items if isinstance(i, pdu.ProposedContext)] == contexts
    assert unit.max_pdu_length == 262144


def associate_ac(*items: bytes) -> bytes:
    """An A-ASSOCIATE-AC body: DCMTK's fixed part followed by ``items``."""
    return fx.a_associate_ac[6:74] + b"".join(items)


MALFORMED = {
    "1-byte presentation context in an AC": (
        pdu.A_ASSOCIATE_AC,
        associate_ac(b"\x21\x00\x00\x01\x01"),
        "a presentation context item in the A-ASSOCIATE-AC is cut short",
    ),
    "1-byte maximum length in an AC": (
        pdu.A_ASSOCIATE_AC,
        associate_ac(b"\x50\x00\x00\x05\x51\x00\x00\x01\x00"),
        "the maximum length sub-item in the A-ASSOCIATE-AC is cut short",
    ),
    "item longer than the AC": (
        pdu.A_ASSOCIATE_AC,
        associate_ac(b"\x10\x00\x00\x40\x31"),
        "item 0x10 in the A-ASSOCIATE-AC is cut short: it needs 64 bytes, only 1 remain",
    ),
    "1-byte item header in an AC": (
        pdu.A_ASSOCIATE_AC,
        associate_ac(b"\x10"),
        "an item header in the A-ASSOCIATE-AC is cut short",
    ),
    "unknown item type in an AC": (
        pdu.A_ASSOCIATE_AC,
        associate_ac(b"\x99\x00\x00\x00"),
        "unexpected item type 0x99 in the variable items of the A-ASSOCIATE-AC",
    ),
    "unknown sub-item in a context": (
        pdu.A_ASSOCIATE_AC,
        associate_ac(b"\x21\x00\x00\x08\x01\x00\x00\x00\x41\x00\x00\x00"),
        "unexpected item type 0x41 in presentation context 1 of the A-ASSOCIATE-AC",
    ),
    "two syntaxes in an AC context": (
        pdu.A_ASSOCIATE_AC,
        associate_ac(b"\x21\x00\x00\x0c\x01\x00\x00\x00" + b"\x40\x00\x00\x00" * 2),
        "unexpected item type 0x40 in presentation context 1",
    ),
    "non-ASCII abstract syntax": (
        pdu.A_ASSOCIATE_RQ,
        fx.a_associate_rq[6:74] + fx.presentation_context_rq_utf8,
        "the abstract syntax in the A-ASSOCIATE-RQ is not ASCII text",
    ),
    "1-byte AC": (pdu.A_ASSOCIATE_AC, b"\x00", "the protocol version in the A-ASSOCIATE-AC"),
    "1-byte RJ": (pdu.A_ASSOCIATE_RJ, b"\x01", "the A-ASSOCIATE-RJ's 4 bytes"),
    "long RJ": (pdu.A_ASSOCIATE_RJ, b"\x00\x01\x01\x01\x00", "1 unexpected bytes at its end"),
    "short abort": (pdu.A_ABORT, b"\x00\x00", "the A-ABORT's 4 bytes"),
    "PDV shorter than its header": (
        pdu.P_DATA_TF,
        b"\x00\x00\x00\x01\x01",
        "declares 1 bytes, less than its 2-byte header",
    ),
    "PDV longer than the PDU": (
        pdu.P_DATA_TF,
        b"\x00\x00\x00\x50\x01\x03\x00",
        "a fragment in the P-DATA-TF is cut short: it needs 78 bytes, only 1 remain",
    ),
    "empty P-DATA": (pdu.P_DATA_TF, b"", "the P-DATA-TF holds no presentation data value"),
    "unknown PDU": (0x09, b"", "unknown PDU type 0x09"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_pdus_are_protocol_errors(case: str) -> None:
    kind, body, words = MALFORMED[case]
    with pytest.raises(ProtocolError) as raised:
        pdu.decode(kind, body)
    assert words in str(raised.value)
    assert str(raised.value).startswith("the peer broke the DICOM protocol: ")


@pytest.mark.parametrize("name", sorted(PDUS))
def test_every_truncation_decodes_or_is_a_protocol_error(name: str) -> None:
    data, refused = PDUS[name], 0
    for end in range(6, len(data)):
        try:
            pdu.decode(data[0], data[6:end])
        except ProtocolError:
            refused += 1
    assert refused >= (len(data) - 6) // 2


COMMANDS = {
    "element longer than the set": (b"\x00\x00\x00\x09\x02\x00\x00\x00\x00", "is cut short"),
    "status of 1 byte": (b"\x00\x00\x00\x09\x01\x00\x00\x00\x00", "has 1 bytes instead of 2"),
    "half an element header": (b"\x00\x00\x00\x09", "an element header in the command set"),
    "element outside group 0000": (
        b"\x08\x00\x18\x00\x00\x00\x00\x00",
        "holds element (0008,0018), outside group 0000",
    ),
}


@pytest.mark.parametrize("case", sorted(COMMANDS))
def test_malformed_command_sets_are_protocol_errors(case: str) -> None:
    data, words = COMMANDS[case]
    with pytest.raises(ProtocolError) as raised:
        dimse.decode_command(data)
    assert words in str(raised.value)


@pytest.mark.parametrize("size", [0, 1, 99, 100, 101, 700, 1000, 1234])
@pytest.mark.parametrize("on_disk", [True, False])
def test_file_frames_match_the_framing_of_bytes(size: int, on_disk: bool, tmp_path: Path) -> None:
    """A file read straight into framed batches (preadv on a descriptor, readinto without)
    gives the very PDUs ``frames`` makes of its bytes, and leaves the handle after them."""
    data = bytes(range(256)) * 8
    content = b"head" + data[:size] + b"tail"
    path = tmp_path / "file"
    path.write_bytes(content)
    with path.open("rb") if on_disk else io.BytesIO(content) as handle:
        handle.seek(4)
        sent = b"".join(bytes(v) for v in pdu.file_frames(3, handle, size, 100, batch=300))
        assert handle.read() == b"tail"
    expected = b"".join(pdu.frames(3, [data[:size]], size, 100, command=False, batch=300))
    assert sent == expected


def test_a_file_shorter_than_queued_fails_as_it_is_framed(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"x" * 250)
    with path.open("rb") as handle, pytest.raises(pdu.SourceFileError, match="ended 50 bytes"):
        for _ in pdu.file_frames(1, handle, 300, 100, batch=1000):
            pass


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_framing_stopped_after_its_file_was_closed_says_nothing(tmp_path: Path) -> None:
    """A send that fails mid-file closes the file before the framing generator is dropped:
    dropping it then must not raise (an 'Exception ignored' line on stderr)."""
    path = tmp_path / "file"
    path.write_bytes(b"x" * 1000)
    with path.open("rb") as handle:
        batches = pdu.file_frames(1, handle, 1000, 100, batch=300)
        next(batches)
    del batches
