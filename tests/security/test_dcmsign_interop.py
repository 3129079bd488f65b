"""Interoperability with DCMTK's dcmsign, both ways: profile x hash x direction x tampering.

Each signed file is made once per (profile, hash, direction) and then checked untouched, with
one pixel byte changed and with the Patient Name changed: both tools must agree.
"""

import datetime as dt
from pathlib import Path

import pytest

from desktop.core.signatures.profiles import Profile
from desktop.security.signing import signer
from desktop.signing import sign_file
from tests.helpers import cli
from tests.pki import Pki
from tests.security.signing_fixtures import (
    ct_copy,
    dcmsign_sign,
    dcmsign_verify,
    tamper,
    verify_json,
    with_sequence,
)

PROFILES = {"base": "+pb", "creator": "+pc", "authorization": "+pa"}
HASHES = {"sha256": "+m2", "sha384": "+m3", "sha512": "+m5"}
TAMPERING = ["untouched", "pixel", "patient-name"]
_signed: dict[tuple[str, str, str], Path] = {}


def _signed_file(
    tmp_path_factory: pytest.TempPathFactory,
    pki: Pki,
    profile: str,
    hash_name: str,
    direction: str,
) -> Path:
    key = (profile, hash_name, direction)
    if key not in _signed:
        folder = tmp_path_factory.mktemp(f"{profile}-{hash_name}-{direction}")
        source = ct_copy(folder / "in")
        target = folder / "signed.dcm"
        if direction == "dcmsign-to-courier":
            dcmsign_sign(pki, "client", source, target, PROFILES[profile], HASHES[hash_name])
        else:  # in-process: the keystore's deliberately slow unlock is tested elsewhere
            sign_file(source, target, signer(pki.unlocked(pki.client), dt.datetime.now(dt.UTC)),
                      profile=Profile(profile), algorithm=hash_name.upper())  # fmt: skip
        _signed[key] = target
    return _signed[key]


@pytest.mark.parametrize("tampering", TAMPERING)
@pytest.mark.parametrize("direction", ["dcmsign-to-courier", "courier-to-dcmsign"])
@pytest.mark.parametrize("hash_name", sorted(HASHES))
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_matrix(
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    signing_home: Path,
    pki: Pki,
    profile: str,
    hash_name: str,
    direction: str,
    tampering: str,
) -> None:
    signed = _signed_file(tmp_path_factory, pki, profile, hash_name, direction)
    path = signed if tampering == "untouched" else tamper(signed, tampering)
    intact = tampering == "untouched"
    if direction == "courier-to-dcmsign":
        done = dcmsign_verify(pki, path)
        assert (done.returncode == 0) is intact, done.stderr
        if not intact:
            assert "signature is invalid" in done.stderr
        return
    status, report = verify_json(capsys, path)
    [signature] = report["files"][0]["signatures"]
    assert signature["hash"] == hash_name.upper()
    assert signature["signer"] == "CN=client.test,O=DICOM Courier"
    assert "PixelData (7FE0,0010)" in signature["covered"]
    if intact:
        assert (status, signature["verdict"]) == (0, "valid")
    else:
        assert (status, signature["verdict"]) == (1, "invalid")
        assert signature["reason"] == "the signed data changed after signing"


def test_our_profiles_are_named_in_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path
) -> None:
    """dcmsign's profiles leave no mark; ours write the Digital Signature Purpose."""
    source = ct_copy(tmp_path / "in")
    for profile in ("creator", "authorization"):
        out = tmp_path / profile
        status, _, err = cli(
            capsys, "sign", source, "--identity", "courier", "--profile", profile, "--out", out
        )
        assert status == 0, err
        _, report = verify_json(capsys, out / source.name)
        signature = report["files"][0]["signatures"][0]
        assert signature["profile"] == profile
        assert signature["purpose"] in ("Source Signature", "Verification Signature")


@pytest.mark.parametrize("direction", ["dcmsign-to-courier", "courier-to-dcmsign"])
def test_ecdsa(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signing_home: Path,
    pki: Pki,
    direction: str,
) -> None:
    """ECDSA signatures (dcmsign makes them outside any RSA profile only)."""
    source = ct_copy(tmp_path / "in")
    signed = tmp_path / "signed.dcm"
    if direction == "dcmsign-to-courier":
        dcmsign_sign(pki, "ec", source, signed, "+m3")
    else:
        status, _, err = cli(
            capsys, "sign", source, "--identity", "courier-ec", "--hash", "sha384", "--out",
            tmp_path / "out",
        )  # fmt: skip
        assert status == 0, err
        signed = tmp_path / "out" / source.name
        assert dcmsign_verify(pki, signed).returncode == 0
        assert dcmsign_verify(pki, tamper(signed, "pixel")).returncode != 0
    status, report = verify_json(capsys, signed)
    assert status == 0 and report["files"][0]["signatures"][0]["verdict"] == "valid"
    status, report = verify_json(capsys, tamper(signed, "patient-name"))
    assert status == 1 and report["files"][0]["signatures"][0]["verdict"] == "invalid"


def test_several_signatures_and_signatures_in_items(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    """Ours in an item, dcmsign's on the data set, ours again: each tool verifies all three."""
    source = with_sequence(tmp_path / "in")
    first = tmp_path / "first"
    status, _, err = cli(
        capsys, "sign", source, "--identity", "courier", "--item",
        "ReferencedImageSequence[1]", "--out", first,
    )  # fmt: skip
    assert status == 0, err
    second = tmp_path / "second.dcm"
    dcmsign_sign(pki, "client", first / source.name, second, "+m5")
    status, _, err = cli(capsys, "sign", second, "--identity", "courier-ec", "--in-place")
    assert status == 0, err
    done = dcmsign_verify(pki, second)
    assert done.returncode == 0 and done.stderr.count("Verification : OK") == 3, done.stderr
    status, report = verify_json(capsys, second)
    signatures = report["files"][0]["signatures"]
    assert status == 0 and [s["verdict"] for s in signatures] == ["valid"] * 3
    assert [s["location"] for s in signatures] == [
        "main data set",
        "main data set",
        "ReferencedImageSequence(0008,1140)[1]",
    ]
    assert [s["mac_id"] for s in signatures] == [0, 1, 0]
    nested = signatures[2]["covered"]
    assert nested == [
        "ReferencedSOPClassUID (0008,1150)",
        "ReferencedSOPInstanceUID (0008,1155)",
        "PurposeOfReferenceCodeSequence (0040,A170)",
    ]
    # a signature added inside an item the data set's signatures cover breaks none of them
    status, _, err = cli(
        capsys, "sign", second, "--identity", "courier", "--item", "ReferencedImageSequence[0]",
        "--in-place",
    )  # fmt: skip
    assert status == 0, err
    done = dcmsign_verify(pki, second)
    assert done.returncode == 0 and done.stderr.count("Verification : OK") == 4, done.stderr
    status, report = verify_json(capsys, second)
    assert status == 0 and len(report["files"][0]["signatures"]) == 4


def test_dcmsign_signature_in_an_item(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    signed = tmp_path / "item.dcm"
    source = with_sequence(tmp_path / "in")
    dcmsign_sign(pki, "client", source, signed, "+m3", item="ReferencedImageSequence[1]")
    status, report = verify_json(capsys, signed)
    [signature] = report["files"][0]["signatures"]
    assert status == 0 and signature["verdict"] == "valid"
    assert signature["location"] == "ReferencedImageSequence(0008,1140)[1]"
    data = bytearray(signed.read_bytes())
    at = bytes(data).index(b"Localizer")  # the nested code's meaning, inside the signed item
    data[at] = ord("l")
    (changed := tmp_path / "changed.dcm").write_bytes(bytes(data))
    assert dcmsign_verify(pki, changed).returncode != 0
    status, report = verify_json(capsys, changed)
    assert status == 1 and report["files"][0]["signatures"][0]["verdict"] == "invalid"
