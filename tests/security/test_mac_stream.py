"""Our MAC byte stream is dcmsign's, byte for byte (its ``--dump``): nested sequences, items
holding signatures, encapsulated pixel data, a purpose code inside the signature item."""

from pathlib import Path

import pytest

from desktop.core.signatures import mac
from desktop.core.signatures.elements import read_part10
from desktop.core.signatures.inventory import signatures
from desktop.core.signatures.location import (
    LocationError,
    describe_location,
    parse_location,
)
from tests.helpers import cli, sample_file
from tests.pki import Pki
from tests.security.signing_fixtures import dcmsign_sign, with_sequence


@pytest.mark.parametrize("case", ["sequence-with-nested-signature", "encapsulated-purpose"])
def test_stream_equals_dcmsign_dump(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki, case: str
) -> None:
    if case == "encapsulated-purpose":
        source, options = sample_file("SC_rgb_jpeg_dcmtk.dcm"), ["+sp", "14", "+m3"]
    else:
        source, options = with_sequence(tmp_path / "in"), ["+m5"]
        status, _, err = cli(
            capsys, "sign", source, "--identity", "courier", "--item",
            "ReferencedImageSequence[1]", "--in-place",
        )  # fmt: skip
        assert status == 0, err
    dump, signed = tmp_path / "dump.bin", tmp_path / "signed.dcm"
    dcmsign_sign(pki, "client", source, signed, "+d", str(dump), *options)
    part10 = read_part10(signed.read_bytes())
    [theirs] = [s for s in signatures(part10) if not s.location]
    ours = b"".join(mac.stream(part10, theirs.level, theirs.signed_tags, (part10, theirs.item)))
    assert ours == dump.read_bytes()


def test_item_locations() -> None:
    location = parse_location("ReferencedImageSequence[1].(0040,A170)[0]")
    assert location == ((0x00081140, 1), (0x0040A170, 0))
    assert describe_location(location) == (
        "ReferencedImageSequence(0008,1140)[1].PurposeOfReferenceCodeSequence(0040,A170)[0]"
    )
    for bad in ("ReferencedImageSequence", "NoSuchKeyword[0]", "(0008,1140)[x]"):
        with pytest.raises(LocationError):
            parse_location(bad)
