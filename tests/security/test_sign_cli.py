"""``dicom-courier sign`` and ``verify``: what they refuse, what they report, what they keep."""

import datetime as dt
import hashlib
from pathlib import Path

import pydicom
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from desktop.core.signatures.profiles import Profile
from desktop.security.keystore import UnlockedIdentity
from desktop.security.pki import rsa_key
from desktop.security.signing import Signer, SigningError, signer
from desktop.signing import sign_file
from tests.helpers import cli, sample_file
from tests.pki import Pki
from tests.security.signing_fixtures import (
    ct_copy,
    dcmsign_sign,
    dcmsign_verify,
    verify_json,
    with_sequence,
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _only_signature(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    status, report = verify_json(capsys, *args)
    [signature] = report["files"][0]["signatures"]
    return status, signature


def test_sign_out_keeps_the_source_and_verify_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path
) -> None:
    source = ct_copy(tmp_path / "media")
    before = _digest(source)
    status, out, err = cli(
        capsys, "sign", source, "--identity", "courier", "--profile", "creator", "--out",
        tmp_path / "signed",
    )  # fmt: skip
    assert status == 0, err
    assert "creator profile, SHA256, main data set" in out
    assert _digest(source) == before
    status, out, err = cli(capsys, "verify", source, tmp_path / "signed" / source.name)
    assert status == 1 and f"{source}: unsigned" in out  # a stripped signature does not pass
    assert "1 file(s) unsigned: not verified (--allow-unsigned lets them pass)" in err
    status, out, _ = cli(
        capsys, "verify", "--allow-unsigned", source, tmp_path / "signed" / source.name
    )
    assert status == 0
    assert f"{source}: unsigned" in out
    assert "1 signature(s), all valid" in out and "signer:  CN=client.test" in out
    assert "profile: creator (Source Signature), hash SHA256" in out


def test_in_place_replaces_the_file_atomically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path
) -> None:
    source = ct_copy(tmp_path / "media")
    before = _digest(source)
    status, _, err = cli(capsys, "sign", source, "--identity", "courier", "--in-place")
    assert status == 0, err
    assert _digest(source) != before
    assert sorted(p.name for p in source.parent.iterdir()) == ["ct.dcm"]  # no temporary left
    assert _only_signature(capsys, source)[1]["verdict"] == "valid"


def test_signed_copies_are_private_and_a_file_signed_in_place_keeps_its_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path
) -> None:
    """Copies of patient data are 0600 in 0700 folders, as deid and unseal make them
    (tester's G12, 8: sign made 0644 files); a file signed in place stays as it was."""
    source = ct_copy(tmp_path / "media")
    source.chmod(0o644)
    (tmp_path / "media").chmod(0o755)
    status, _, err = cli(capsys, "sign", source, "--identity", "courier", "--out",
                         tmp_path / "signed")  # fmt: skip
    assert status == 0, err
    assert (tmp_path / "signed").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "signed" / source.name).stat().st_mode & 0o777 == 0o600
    assert cli(capsys, "sign", source, "--identity", "courier", "--in-place")[0] == 0
    assert source.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "media").stat().st_mode & 0o777 == 0o755


def test_folders_keep_their_layout_and_skip_the_dicomdir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path
) -> None:
    media = tmp_path / "media"
    ct_copy(media / "a", "one.dcm")
    ct_copy(media / "b", "two.dcm")
    (media / "DICOMDIR").write_bytes(b"not signed")
    (media / "README.TXT").write_text("a viewer's read-me on the CD")
    status, out, err = cli(capsys, "sign", media, "--identity", "courier", "--out", tmp_path / "o")
    assert status == 0 and out.count("signed ") == 2, err
    signed = sorted(str(p.relative_to(tmp_path / "o")) for p in (tmp_path / "o").rglob("*.dcm"))
    assert signed == ["a/one.dcm", "b/two.dcm"]
    status, report = verify_json(capsys, tmp_path / "o")
    assert status == 0 and [f["status"] for f in report["files"]] == ["signed", "signed"]
    before = sorted(p.read_bytes() for p in media.rglob("*.dcm"))
    status, _, err = cli(capsys, "sign", media, "--identity", "courier", "--out", media)
    assert status == 1 and err.count("--out would overwrite the source") == 2
    assert sorted(p.read_bytes() for p in media.rglob("*.dcm")) == before


def test_files_of_one_name_are_signed_each_to_its_own_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path
) -> None:
    """Tester's finding 51: ``sign --out`` wrote two IM000000 to one file (the last won)."""
    media = tmp_path / "media"
    sources = [ct_copy(media / "ST0", "IM000000"), ct_copy(media / "ST1", "IM000000")]
    dataset = pydicom.dcmread(sources[1])
    dataset.PatientName = "Other^Patient"
    dataset.save_as(sources[1])
    status, out, err = cli(
        capsys, "sign", *sources, "--identity", "courier", "--out", tmp_path / "o"
    )
    assert status == 0 and out.count("signed ") == 2, err
    for source in sources:
        copy = tmp_path / "o" / source.relative_to(media)
        assert pydicom.dcmread(copy).PatientName == pydicom.dcmread(source).PatientName
    status, report = verify_json(capsys, tmp_path / "o")
    assert status == 0 and [f["status"] for f in report["files"]] == ["signed", "signed"]


def test_profiles_refuse_naming_the_missing_attribute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path
) -> None:
    dataset = pydicom.dcmread(sample_file("CT_small.dcm"))
    del dataset.SeriesInstanceUID
    source = tmp_path / "no-series.dcm"
    dataset.save_as(source)
    for profile in ("creator", "authorization"):
        status, _, err = cli(
            capsys, "sign", source, "--identity", "courier", "--profile", profile, "--out",
            tmp_path / "out",
        )  # fmt: skip
        assert status == 1
        assert "requires SeriesInstanceUID (0020,000E)" in err
    assert not list((tmp_path / "out").iterdir())
    status, _, err = cli(
        capsys, "sign", with_sequence(tmp_path / "seq"), "--identity", "courier", "--profile",
        "creator", "--item", "ReferencedImageSequence[0]", "--out", tmp_path / "out",
    )  # fmt: skip
    assert status == 1 and "signs the main data set only" in err


def test_weak_hashes_are_never_produced_and_flagged_when_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    source = ct_copy(tmp_path)
    with pytest.raises(SystemExit):
        cli(capsys, "sign", source, "--identity", "courier", "--hash", "md5", "--in-place")
    for options, name in ((["+mm"], "MD5"), (["+ms"], "SHA1"), ([], "RIPEMD160")):
        signed = tmp_path / f"{name}.dcm"
        dcmsign_sign(pki, "client", source, signed, *options)  # RIPEMD160: dcmsign's default
        status, signature = _only_signature(capsys, signed)
        assert status == 1 and signature["verdict"] == "weak" and name in signature["reason"]


def test_untrusted_signer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    signed = tmp_path / "rogue.dcm"
    dcmsign_sign(pki, "rogue_client", ct_copy(tmp_path), signed, "+m2")
    status, signature = _only_signature(capsys, signed)
    assert status == 1 and signature["verdict"] == "untrusted"
    assert "Rogue Root CA" in signature["reason"]


def test_a_certificate_not_for_signing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    now = dt.datetime.now(dt.UTC)
    key = rsa_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "encrypt-only.test")]))
        .issuer_name(pki.intermediate.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.KeyUsage(False, False, True, False, False, False, False, False, False), True
        )
        .sign(pki.intermediate.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    identity = UnlockedIdentity("encrypt-only", key, certificate, [pki.intermediate.certificate])
    with pytest.raises(SigningError, match="key usage does not allow signatures"):
        signer(identity, now)
    signed = tmp_path / "signed.dcm"  # as another tool would sign with it
    sign_file(ct_copy(tmp_path / "in"), signed, Signer(identity), profile=Profile.BASE,
              algorithm="SHA256")  # fmt: skip
    status, signature = _only_signature(capsys, signed)
    assert status == 1 and signature["verdict"] == "untrusted"
    assert "key usage does not allow signatures" in signature["reason"]


def test_expired_at_signing_time_and_revoked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    source = ct_copy(tmp_path)
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(SigningError, match="not now"):
        signer(pki.unlocked(pki.expired), now)
    expired = tmp_path / "expired.dcm"  # as another tool would sign with an expired certificate
    sign_file(source, expired, Signer(pki.unlocked(pki.expired)), profile=Profile.BASE,
              algorithm="SHA256", now=now)  # fmt: skip
    status, signature = _only_signature(capsys, expired)
    assert status == 1 and signature["verdict"] == "expired"
    assert "not valid at signing time" in signature["reason"]
    revoked = tmp_path / "revoked.dcm"
    sign_file(source, revoked, signer(pki.unlocked(pki.revoked), now), profile=Profile.BASE,
              algorithm="SHA256", now=now)  # fmt: skip
    assert _only_signature(capsys, revoked)[1]["verdict"] == "valid"  # no CRL given
    status, signature = _only_signature(capsys, revoked, "--crl", pki.path("intermediate", ".crl"))
    assert status == 1 and signature["verdict"] == "revoked"
    assert "revoked.test" in signature["reason"]


def test_what_changed_is_told_where_it_can_be(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    source = ct_copy(tmp_path / "in")
    signed = tmp_path / "signed.dcm"
    sign_file(source, signed, signer(pki.unlocked(pki.client), dt.datetime.now(dt.UTC)),
              profile=Profile.BASE, algorithm="SHA256")  # fmt: skip
    # a covered element removed: named
    dataset = pydicom.dcmread(signed)
    del dataset.PatientName
    removed = tmp_path / "removed.dcm"
    dataset.save_as(removed)
    status, signature = _only_signature(capsys, removed)
    assert status == 1 and signature["changed"] == ["PatientName (0010,0010)"]
    # the Signature value itself damaged: the data is not blamed
    data = bytearray(signed.read_bytes())
    at = bytes(data).index(pydicom.dcmread(signed).DigitalSignaturesSequence[0].Signature)
    data[at + 10] ^= 0xFF
    (broken := tmp_path / "broken.dcm").write_bytes(bytes(data))
    status, signature = _only_signature(capsys, broken)
    assert status == 1 and "does not belong to the signer's certificate" in signature["reason"]
    # another signature covering less, still valid, narrows where the change is
    both = tmp_path / "both.dcm"
    dcmsign_sign(pki, "client", signed, both, "+m2", "-t", "7fe0,0010", "-t", "0010,0010")
    data = bytearray(both.read_bytes())
    at = bytes(data).index(b"e+1")  # Study Description "e+1", same length
    data[at : at + 3] = b"e+2"
    (changed := tmp_path / "changed.dcm").write_bytes(bytes(data))
    status, report = verify_json(capsys, changed)
    ours, theirs = report["files"][0]["signatures"]
    assert status == 1 and theirs["verdict"] == "valid" and ours["verdict"] == "invalid"
    assert "other signatures show the change is in" in ours["reason"]
    assert ours["changed"] and "PixelData (7FE0,0010)" not in ours["changed"]
    assert "StudyDescription (0008,1030)" in ours["changed"]


def test_implicit_and_encapsulated_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    for name in ("MR_small_implicit.dcm", "SC_rgb_jpeg_dcmtk.dcm"):
        status, out, err = cli(
            capsys, "sign", sample_file(name), "--identity", "courier", "--out", tmp_path
        )
        assert status == 0, err
        assert ("re-encoded as Explicit VR Little Endian" in out) is ("implicit" in name)
        signed = tmp_path / name
        assert dcmsign_verify(pki, signed).returncode == 0
        assert _only_signature(capsys, signed)[1]["verdict"] == "valid"
    # dcmsign keeps an implicit VR file implicit: its 'US or SS' values hash as SS when the
    # Pixel Representation is signed (MR_small), as DCMTK resolves them
    theirs = tmp_path / "theirs-implicit.dcm"
    dcmsign_sign(pki, "client", sample_file("MR_small_implicit.dcm"), theirs, "+m2")
    assert _only_signature(capsys, theirs)[1]["verdict"] == "valid"


def test_unreadable_files_fail_verification(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path
) -> None:
    (junk := tmp_path / "junk.dcm").write_bytes(b"not dicom")
    status, out, _ = cli(capsys, "verify", junk)
    assert status == 1 and "unreadable: " in out and "not a DICOM Part 10 file" in out
    status, _, err = cli(capsys, "sign", junk, "--identity", "courier", "--out", tmp_path / "o")
    assert status == 1 and "not signed" in err
    ct = sample_file("CT_small.dcm").read_bytes()
    (truncated := tmp_path / "truncated.dcm").write_bytes(ct[: len(ct) // 2])
    header = ct[: ct.index(b"\x08\x00\x05\x00CS")]  # preamble and meta of a real file
    opening = b"\x08\x00\x40\x11SQ\x00\x00\xff\xff\xff\xff\xfe\xff\x00\xe0\xff\xff\xff\xff"
    (nested := tmp_path / "nested.dcm").write_bytes(header + opening * 5000)
    status, report = verify_json(capsys, truncated, nested)
    assert status == 1
    assert [f["status"] for f in report["files"]] == ["unreadable", "unreadable"]
    assert "truncated or damaged: element (7FE0,0010) runs past" in report["files"][0]["error"]
    assert "nests sequences too deeply" in report["files"][1]["error"]


def test_elements_added_after_signing_are_named_and_fail_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    """A forged Patient Comments and a private element added to a signed file are covered by
    no signature: 'valid' would vouch for them (tester's G14). They are named, in words and
    JSON, and the file fails unless --allow-uncovered."""
    source = ct_copy(tmp_path / "in")
    signed = tmp_path / "signed.dcm"
    sign_file(source, signed, signer(pki.unlocked(pki.client), dt.datetime.now(dt.UTC)),
              profile=Profile.BASE, algorithm="SHA256")  # fmt: skip
    status, report = verify_json(capsys, signed)
    assert status == 0 and report["files"][0]["uncovered"] == []
    dataset = pydicom.dcmread(signed)
    dataset.PatientComments = "forged comment"
    dataset.add_new(0x00091010, "LO", "x")
    forged = tmp_path / "forged.dcm"
    dataset.save_as(forged)
    status, out, err = cli(capsys, "verify", forged)
    assert status == 1
    assert f"{forged}: 1 signature(s), all valid, but 2 element(s) covered by none" in out
    [warning] = [line for line in out.splitlines() if "WARNING" in line]
    assert "PatientComments (0010,4000)" in warning and "(0009,1010)" in warning
    assert "1 file(s) hold elements no signature covers" in err
    status, report = verify_json(capsys, forged, "--allow-uncovered")
    assert status == 0
    [uncovered_one, uncovered_two] = report["files"][0]["uncovered"]
    assert "(0009,1010)" in uncovered_one and uncovered_two == "PatientComments (0010,4000)"
