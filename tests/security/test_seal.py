"""``dicom-courier seal`` and ``unseal``: secure DICOM files, checked with the real openssl."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import hashes

from desktop.core.header import SEALED
from desktop.core.media import open_media
from desktop.security.cms import seal
from tests.helpers import cli, require_tool
from tests.pki import KEY_PASSWORD, Pki
from tests.security.signing_fixtures import add_identity, ct_copy


def _openssl(*args: object) -> bytes:
    done = subprocess.run(
        [require_tool("openssl"), *map(str, args)], capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def _decrypt(sealed: Path, pki: Pki, out: Path) -> bytes:
    """openssl cms -decrypt with the 'client' key (identity 'courier' of the signing home)."""
    _openssl(
        "cms", "-decrypt", "-inform", "DER", "-in", sealed, "-recip", pki.path("client"),
        "-inkey", pki.path("client", ".key"), "-passin", f"pass:{KEY_PASSWORD}", "-out", out,
        "-binary",
    )  # fmt: skip
    return out.read_bytes()


def _as_content_info(content_type: str, inner: bytes, spec: type, out: Path) -> Path:
    """The decrypted inner content wrapped as a ContentInfo, as openssl's -verify reads it."""
    out.write_bytes(
        cms.ContentInfo({"content_type": content_type, "content": spec.load(inner)}).dump()
    )
    return out


def _opened_by_openssl_digest(sealed: Path, pki: Pki, folder: Path) -> bytes:
    """A digested seal decrypted and its digest checked by openssl: the file it holds."""
    inner = _decrypt(sealed, pki, folder / "inner.der")
    wrapped = _as_content_info("digested_data", inner, cms.DigestedData, folder / "digested.der")
    _openssl(
        "cms", "-digest_verify", "-inform", "DER", "-in", wrapped, "-binary",
        "-out", folder / "original.dcm",
    )  # fmt: skip
    return (folder / "original.dcm").read_bytes()


def _seal(
    capsys: pytest.CaptureFixture[str],
    pki: Pki,
    source: Path,
    out: Path,
    *extra: object,
    recipient: str = "client",
) -> Path:
    """Seal ``source`` into ``out`` for the PKI's ``recipient`` certificate (by default the
    'client' one, identity 'courier')."""
    status, stdout, err = cli(
        capsys, "seal", source, "--recipient", pki.path(recipient), "--out", out, *extra
    )
    assert status == 0, err
    assert f"sealed {source} -> {out / source.name}: for CN={recipient}.test" in stdout
    return out / source.name


def test_signed_seal_opens_with_openssl_and_its_signature_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    source = ct_copy(tmp_path / "media")
    sealed = _seal(capsys, pki, source, tmp_path / "sealed", "--sign-with", "courier")
    assert sealed.read_bytes()[128:132] != b"DICM"
    assert source.read_bytes() not in sealed.read_bytes()  # encrypted, not just wrapped
    info = cms.ContentInfo.load(sealed.read_bytes())
    encrypted = info["content"]["encrypted_content_info"]
    assert encrypted["content_type"].native == "signed_data"  # PS3.15 D.1, not plain data
    assert encrypted["content_encryption_algorithm"]["algorithm"].native == "aes256_cbc"
    inner = _decrypt(sealed, pki, tmp_path / "inner.der")
    wrapped = _as_content_info("signed_data", inner, cms.SignedData, tmp_path / "signed.der")
    _openssl(
        "cms", "-verify", "-inform", "DER", "-in", wrapped, "-CAfile", pki.path("root-only"),
        "-purpose", "any", "-binary", "-out", tmp_path / "original.dcm",
    )  # fmt: skip
    assert (tmp_path / "original.dcm").read_bytes() == source.read_bytes()


def test_digested_seal_opens_with_openssl_and_its_digest_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    source = ct_copy(tmp_path / "media")
    sealed = _seal(capsys, pki, source, tmp_path / "sealed")
    assert _opened_by_openssl_digest(sealed, pki, tmp_path) == source.read_bytes()
    status, out, err = cli(
        capsys, "unseal", sealed, "--identity", "courier", "--out", tmp_path / "open"
    )
    assert status == 0, err
    assert "digest matches" in out
    assert (tmp_path / "open" / "ct.dcm").read_bytes() == source.read_bytes()


@pytest.mark.parametrize(
    ("identity", "subject"),
    [("courier", "CN=client.test,O=DICOM Courier"), ("courier-ec", "CN=ec.test,O=DICOM Courier")],
)
def test_a_folder_sealed_and_unsealed_comes_back_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki,
    identity: str, subject: str,
) -> None:  # fmt: skip
    media = tmp_path / "media"
    sources = [ct_copy(media / "a", "one.dcm"), ct_copy(media / "b", "two.dcm")]
    (media / "autorun.inf").write_text("[autorun]\n")  # media's other content: left alone
    status, _, err = cli(
        capsys, "seal", media, "--recipient", pki.path("client"), "--sign-with", identity,
        "--out", tmp_path / "sealed",
    )  # fmt: skip
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "sealed").rglob("*")) == [
        "a",
        "b",
        "one.dcm",
        "two.dcm",
    ]
    (tmp_path / "sealed" / "README.txt").write_text("sealed with dicom-courier\n")
    status, out, err = cli(
        capsys, "unseal", tmp_path / "sealed", "--identity", "courier", "--out", tmp_path / "o"
    )
    assert status == 0, err
    assert out.count(f"signature of {subject} valid") == 2
    for source in sources:
        opened = tmp_path / "o" / source.relative_to(media)
        assert opened.read_bytes() == source.read_bytes()
        assert opened.stat().st_mode & 0o777 == 0o600  # patient data: private
    for folder in (tmp_path / "o", tmp_path / "o" / "a", tmp_path / "sealed" / "b"):
        assert folder.stat().st_mode & 0o777 == 0o700  # as deid makes them (tester's G12, 8)


def _two_im000000(media: Path) -> list[Path]:
    """Two different DICOM files named IM000000 in two series, as on any CD."""
    first, second = ct_copy(media / "ST0", "IM000000"), ct_copy(media / "ST1", "IM000000")
    second.write_bytes(second.read_bytes() + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    return [first, second]


def test_files_of_one_name_are_sealed_and_unsealed_each_to_its_own_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    """Tester's finding 51: the second IM000000 overwrote the first, both reported sealed."""
    sources = _two_im000000(tmp_path / "media")
    sealed_folder = tmp_path / "sealed"
    status, _, err = cli(
        capsys, "seal", *sources, "--recipient", pki.path("client"), "--out", sealed_folder
    )
    assert status == 0, err
    sealed = [sealed_folder / s.relative_to(tmp_path / "media") for s in sources]
    for source, copy in zip(sources, sealed, strict=True):  # each opened by openssl
        assert _opened_by_openssl_digest(copy, pki, tmp_path) == source.read_bytes()
    status, _, err = cli(
        capsys, "unseal", *sealed, "--identity", "courier", "--out", tmp_path / "o"
    )
    assert status == 0, err
    for source in sources:
        assert (tmp_path / "o" / source.relative_to(tmp_path / "media")).read_bytes() == (
            source.read_bytes()
        )


def test_two_inputs_for_one_output_are_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    folder = ct_copy(tmp_path / "media" / "a", "one.dcm").parent
    status, _, err = cli(
        capsys, "seal", folder, folder / "one.dcm", "--recipient", pki.path("client"),
        "--out", tmp_path / "sealed",
    )  # fmt: skip
    assert status == 1
    assert "would both be written to" in err and "one.dcm" in err
    assert not list((tmp_path / "sealed").rglob("*.dcm"))


@pytest.mark.parametrize("key_transport", ["pkcs1", "oaep"])
def test_openssl_sign_then_encrypt_opens_with_unseal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki,
    key_transport: str,
) -> None:  # fmt: skip
    source = ct_copy(tmp_path / "media")
    signed, sealed = tmp_path / "signed.der", tmp_path / "sealed" / "ct.dcm"
    sealed.parent.mkdir()
    _openssl(
        "cms", "-sign", "-nodetach", "-binary", "-in", source, "-signer", pki.path("client"),
        "-inkey", pki.path("client", ".key"), "-passin", f"pass:{KEY_PASSWORD}",
        "-certfile", pki.path("intermediate"), "-outform", "DER", "-out", signed,
    )  # fmt: skip
    oaep = ["-keyopt", "rsa_padding_mode:oaep"] if key_transport == "oaep" else []
    _openssl(
        "cms", "-encrypt", "-aes256", "-binary", "-in", signed, "-outform", "DER",
        "-out", sealed, "-recip", pki.path("client"), *oaep,
    )  # fmt: skip
    status, out, err = cli(
        capsys, "unseal", sealed, "--identity", "courier", "--out", tmp_path / "open"
    )
    assert status == 0, err
    assert "signature of CN=client.test,O=DICOM Courier valid" in out
    assert (tmp_path / "open" / "ct.dcm").read_bytes() == source.read_bytes()


def test_a_plain_dicom_file_is_not_taken_for_a_sealed_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path
) -> None:
    source = ct_copy(tmp_path / "media")
    status, _, err = cli(capsys, "unseal", source, "--identity", "courier", "--out", tmp_path / "o")
    assert status == 1
    assert f"{source}: not opened: a plain DICOM file, not sealed" in err


def test_a_sealed_file_that_holds_no_dicom_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    sealed = tmp_path / "letter.p7m"
    sealed.write_bytes(seal(b"Dear colleague" * 20, pki.client.certificate, None))
    status, _, err = cli(capsys, "unseal", sealed, "--identity", "courier", "--out", tmp_path / "o")
    assert status == 1
    assert f"{sealed}: not opened: its content is not a DICOM file" in err
    assert not (tmp_path / "o" / "letter.p7m").exists()


def test_a_tampered_byte_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    source = ct_copy(tmp_path / "media")
    sealed = _seal(capsys, pki, source, tmp_path / "sealed", "--sign-with", "courier")
    original = sealed.read_bytes()
    recipient = cms.ContentInfo.load(original)["content"]["recipient_infos"][0].chosen
    key_at = original.index(recipient["encrypted_key"].contents)
    for position in (key_at + 10, len(original) // 2, len(original) - 40, len(original) - 1):
        damaged = bytearray(original)
        damaged[position] ^= 0x01
        sealed.write_bytes(bytes(damaged))
        status, _, err = cli(
            capsys, "unseal", sealed, "--identity", "courier", "--out", tmp_path / "open"
        )
        assert status == 1, position
        assert f"{sealed}: not opened: " in err and "tampered with" in err, err
        assert not (tmp_path / "open" / "ct.dcm").exists()


def test_another_recipient_is_told_it_is_not_theirs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    sealed = _seal(capsys, pki, ct_copy(tmp_path / "media"), tmp_path / "s", recipient="server")
    status, _, err = cli(capsys, "unseal", sealed, "--identity", "courier", "--out", tmp_path / "o")
    assert status == 1
    assert not (tmp_path / "o").exists()  # tester's F9: no empty folders when nothing is written
    assert (
        "not sealed for identity courier (CN=client.test,O=DICOM Courier): it is sealed for "
        f"the certificate with serial {pki.server.certificate.serial_number:X} issued by "
        "Test Intermediate CA" in err
    )  # tester's F9: "the certificate that Common Name: Test Intermediate CA ... issued"
    assert "that is your identity" not in err  # the keystore holds no server identity


def test_another_recipient_is_told_which_of_its_identities_opens_the_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signing_home_copy: Path,
    pki: Pki,
) -> None:
    """Tester's F9: the keystore holds the recipient's identity under another name."""
    add_identity(signing_home_copy, "recip", pki, "server")
    sealed = tmp_path / "ct.dcm"
    sealed.write_bytes(seal(ct_copy(tmp_path / "media").read_bytes(), pki.server.certificate, None))
    status, _, err = cli(capsys, "unseal", sealed, "--identity", "courier", "--out", tmp_path / "o")
    assert status == 1
    assert (
        "issued by Test Intermediate CA; that is your identity 'recip': "
        "open it with --identity recip" in err
    ), err
    status, _, err = cli(capsys, "unseal", sealed, "--identity", "recip", "--out", tmp_path / "o")
    assert status == 0, err


def test_an_unsigned_file_says_its_sender_is_not_authenticated_and_can_be_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    """Tester's F15: anyone can seal a digested file for a public certificate; 'digest
    matches' read as if its origin were checked, and nothing could refuse it."""
    source = ct_copy(tmp_path / "media")
    sealed = tmp_path / "sealed.dcm"
    sealed.write_bytes(seal(source.read_bytes(), pki.client.certificate, None))
    status, out, err = cli(
        capsys, "unseal", sealed, "--identity", "courier", "--out", tmp_path / "o"
    )
    assert status == 0, err
    assert "digest matches; NOT SIGNED: the sender is not authenticated" in out
    assert "warning: 1 file(s) NOT SIGNED" in err
    status, _, err = cli(capsys, "unseal", sealed, "--identity", "courier",
                         "--out", tmp_path / "o2", "--require-signed")  # fmt: skip
    assert status == 1 and "refused, as a signed file is required" in err
    assert not (tmp_path / "o2" / "sealed.dcm").exists()
    signed = tmp_path / "signed.dcm"
    signer = pki.unlocked(pki.client, "courier")
    signed.write_bytes(seal(source.read_bytes(), pki.client.certificate, signer))
    status, out, err = cli(capsys, "unseal", signed, "--identity", "courier",
                           "--out", tmp_path / "o3", "--require-signed")  # fmt: skip
    assert status == 0 and "signature of CN=client.test" in out and "NOT SIGNED" not in err


def test_the_setting_refuses_unsigned_sealed_files_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    """F15 left over: only one `unseal --require-signed` refused an unsigned file; a setting
    now does it for every unseal (CLI and GUI), and --allow-unsigned opens it once."""
    sealed = tmp_path / "sealed.dcm"
    sealed.write_bytes(seal(ct_copy(tmp_path / "media").read_bytes(), pki.client.certificate, None))
    assert cli(capsys, "settings")[1] == "require signed sealed files: off\n"
    status, out, err = cli(capsys, "settings", "--require-signed-sealed", "on")
    assert status == 0 and out == "require signed sealed files: on\n", err
    assert json.loads((signing_home / "config.json").read_text())["require_signed_sealed"]
    unseal = ("unseal", sealed, "--identity", "courier", "--out")
    status, _, err = cli(capsys, *unseal, tmp_path / "o")
    assert status == 1 and (
        f"{sealed}: not opened: NOT SIGNED: the sender is not authenticated (only a digest "
        "protects it); refused, as a signed file is required" in err
    ), err
    assert not (tmp_path / "o" / "sealed.dcm").exists()
    status, out, err = cli(capsys, *unseal, tmp_path / "o2", "--allow-unsigned")
    assert status == 0 and "digest matches; NOT SIGNED" in out, err
    assert (tmp_path / "o2" / "sealed.dcm").is_file()
    cli(capsys, "settings", "--require-signed-sealed", "off")
    status, _, err = cli(capsys, *unseal, tmp_path / "o3")
    assert status == 0 and "warning: 1 file(s) NOT SIGNED" in err


def test_an_untrusted_signer_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    source = ct_copy(tmp_path / "media")
    sealed = tmp_path / "sealed.dcm"
    rogue = pki.unlocked(pki.rogue_client, "rogue")
    sealed.write_bytes(seal(source.read_bytes(), pki.client.certificate, rogue))
    status, _, err = cli(capsys, "unseal", sealed, "--identity", "courier", "--out", tmp_path / "o")
    assert status == 1
    assert "signer CN=rogue-client.test" in err and "(untrusted)" in err
    assert "to a trusted CA of the keystore" in err
    assert not (tmp_path / "o" / "sealed.dcm").exists()


@pytest.mark.parametrize(
    ("stem", "reason"),
    [
        ("ec", "has no RSA key: sealing needs an RSA certificate (ECDH key agreement is not"),
        ("expired", "is valid from"),
    ],
)
def test_a_recipient_that_cannot_be_sealed_for_is_refused_in_plain_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki,
    stem: str, reason: str,
) -> None:  # fmt: skip
    source = ct_copy(tmp_path / "media")
    out = tmp_path / "out"
    status, _, err = cli(capsys, "seal", source, "--recipient", pki.path(stem), "--out", out)
    assert status == 1
    assert reason in err
    assert not (out / "ct.dcm").exists()


def test_a_sha1_signature_inside_is_refused_as_weak(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    source = ct_copy(tmp_path / "media")
    signed, sealed = tmp_path / "signed.der", tmp_path / "sealed.dcm"
    _openssl(
        "cms", "-sign", "-nodetach", "-binary", "-md", "sha1", "-in", source,
        "-signer", pki.path("client"), "-inkey", pki.path("client", ".key"),
        "-passin", f"pass:{KEY_PASSWORD}", "-outform", "DER", "-out", signed,
    )  # fmt: skip
    _openssl(
        "cms", "-encrypt", "-aes256", "-binary", "-in", signed, "-outform", "DER",
        "-out", sealed, "-recip", pki.path("client"),
    )  # fmt: skip
    status, _, err = cli(capsys, "unseal", sealed, "--identity", "courier", "--out", tmp_path / "o")
    assert status == 1
    assert "it uses the sha1 hash, which is weak or unknown: not accepted" in err


def test_the_browser_reports_a_sealed_file_as_sealed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    _seal(capsys, pki, ct_copy(tmp_path / "source"), tmp_path / "media")
    (tmp_path / "media" / "notes.txt").write_bytes(b"not dicom at all" * 20)
    tree = open_media(tmp_path / "media")
    reasons = {p.path.name: p.reason for p in tree.problems}
    assert reasons["ct.dcm"] == SEALED
    assert reasons["notes.txt"].startswith("not a DICOM file")


def _signing_only_leaf(pki: Pki, folder: Path) -> Path:
    """A leaf of the trusted chain whose key usage is digitalSignature only, made by openssl."""
    secret = f"pass:{KEY_PASSWORD}"
    request, extensions, out = folder / "sign.csr", folder / "sign.ext", folder / "sign.pem"
    _openssl(
        "req", "-new", "-key", pki.path("client", ".key"), "-passin", secret,
        "-subj", "/O=DICOM Courier/CN=sign-only.test", "-out", request,
    )  # fmt: skip
    extensions.write_text("keyUsage=critical,digitalSignature\n")
    _openssl(
        "x509", "-req", "-in", request, "-CA", pki.path("intermediate"), "-CAkey",
        pki.path("intermediate", ".key"), "-passin", secret, "-days", "30", "-set_serial", "77",
        "-extfile", extensions, "-out", out,
    )  # fmt: skip
    return out


@pytest.mark.parametrize("command", ["seal", "deid"])
def test_a_ca_an_untrusted_or_a_signing_only_recipient_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki, command: str
) -> None:
    """Tester's finding 30: patient data was encrypted for a CA's or any certificate."""
    source = ct_copy(tmp_path / "media")
    out = tmp_path / "out"
    for recipient, reason in (
        (pki.path("root-only"), "it is a CA certificate"),
        (pki.path("rogue_client"), "not issued by a CA the keystore trusts"),
        (_signing_only_leaf(pki, tmp_path), "does not allow keyEncipherment"),
    ):
        status, _, err = cli(capsys, command, source, "--recipient", recipient, "--out", out)
        assert (status, reason) == (1, reason) and reason in err, err
        assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))
    status, stdout, err = cli(
        capsys, command, source, "--recipient", pki.path("rogue_client"),
        "--untrusted-recipient", "--out", out,
    )  # fmt: skip
    assert status == 0, err
    fingerprint = pki.rogue_client.certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    assert "recipient: CN=rogue-client.test" in stdout and "issuer: CN=Rogue Root CA" in stdout
    assert f"SHA-256: {fingerprint}" in stdout and "NOT issued by a CA the keystore trusts" in (
        stdout
    )


def test_a_trusted_recipient_is_named_with_its_fingerprint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    source = ct_copy(tmp_path / "media")
    status, stdout, err = cli(
        capsys, "seal", source, "--recipient", pki.path("client"), "--out", tmp_path / "s"
    )
    assert status == 0, err
    fingerprint = pki.client.certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    assert f"SHA-256: {fingerprint}" in stdout and "issuer: CN=Test Intermediate CA" in stdout
    assert "NOT issued" not in stdout


def test_export_media_sealed_for_a_recipient_opens_only_with_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    """CD/USB media for one recipient: every file, the DICOMDIR too, a secure DICOM file
    (nothing of the patient readable), the plain copy gone; unsealed, a DICOMDIR media again."""
    import pydicom

    source = ct_copy(tmp_path / "media", "ct.dcm")
    study = str(pydicom.dcmread(source).StudyInstanceUID)
    status, out, err = cli(
        capsys, "export-media", "--study", study, "--from", tmp_path / "media",
        "--out", tmp_path / "cd", "--seal-for", pki.path("client"),
    )  # fmt: skip
    assert status == 0, err
    assert "recipient: CN=client.test,O=DICOM Courier" in out and "wrote 1 instance with" in out
    sealed = sorted(p for p in (tmp_path / "cd").rglob("*") if p.is_file())
    assert [p.name for p in sealed] == ["DICOMDIR", "IM000000"]
    assert not any(b"CompressedSamples" in p.read_bytes() for p in sealed)  # the name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cd", "media"]  # no plain copy left
    assert b"DICM" in _decrypt(sealed[0], pki, tmp_path / "dicomdir.p7")  # its digested DICOMDIR
    status, _, err = cli(
        capsys, "unseal", tmp_path / "cd", "--identity", "courier", "--out", tmp_path / "o"
    )
    assert status == 0, err
    opened = open_media(tmp_path / "o")
    assert opened.source == "dicomdir" and [i.sop_instance_uid for i in opened.instances()] == [
        str(pydicom.dcmread(source).SOPInstanceUID)
    ]


def test_sealed_media_signed_with_an_identity_pass_require_signed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    """Tester's F3 (round 6): export-media could not sign, so every sealed disc was NOT
    SIGNED and a recipient using --require-signed refused all of it, without a word at export."""
    import pydicom

    source = ct_copy(tmp_path / "media", "ct.dcm")
    study = str(pydicom.dcmread(source).StudyInstanceUID)

    def export(out: str, *extra: object) -> tuple[str, str]:
        status, stdout, err = cli(
            capsys, "export-media", "--study", study, "--from", tmp_path / "media",
            "--out", tmp_path / out, "--seal-for", pki.path("client"), *extra,
        )  # fmt: skip
        assert status == 0, err
        return stdout, err

    def unseal(media: str) -> tuple[int, str, str]:
        return cli(capsys, "unseal", tmp_path / media, "--identity", "courier",
                   "--out", tmp_path / f"{media}-open", "--require-signed")  # fmt: skip

    _, err = export("unsigned")
    assert "warning: the media are sealed but NOT SIGNED" in err and "--sign-with" in err
    status, _, err = unseal("unsigned")
    assert status == 1 and "refused, as a signed file is required" in err

    out, err = export("signed", "--sign-with", "courier")
    assert "signed: by identity courier" in out and "NOT SIGNED" not in err
    status, out, err = unseal("signed")
    assert status == 0, err
    assert out.count("signature of CN=client.test") == 2  # the DICOMDIR and the image
    assert open_media(tmp_path / "signed-open").source == "dicomdir"

    status, _, err = cli(
        capsys, "export-media", "--study", study, "--from", tmp_path / "media",
        "--out", tmp_path / "plain", "--sign-with", "courier",
    )  # fmt: skip
    assert status == 1 and "--sign-with signs sealed media: give --seal-for CERT too" in err
    assert not (tmp_path / "plain").exists()


def test_sealed_media_never_hold_a_plain_copy_even_when_the_run_is_terminated(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signing_home_copy: Path,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tester's F17: a SIGTERM (logout, shutdown) while sealing left the whole plain copy,
    names included, in a hidden folder beside the output, on the stick being made."""
    import os
    import signal
    import time

    import desktop.sealing

    home = signing_home_copy
    stale = home / "sealing" / "job-stale"  # a copy a killed run left: swept
    stale.mkdir(parents=True)
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    source = ct_copy(tmp_path / "media", "ct.dcm")
    study = open_media(tmp_path / "media").patients[0].studies[0].study_instance_uid
    (tmp_path / "usb").mkdir()  # the stick
    seen: list[Path] = []
    sealing = desktop.sealing.seal_files

    def terminated_while_sealing(jobs: Any, *args: Any) -> Any:
        for plain, _ in jobs:
            seen.append(plain)
        os.kill(os.getpid(), signal.SIGTERM)
        return sealing(jobs, *args)

    monkeypatch.setattr(desktop.sealing, "seal_files", terminated_while_sealing)
    status, _, err = cli(
        capsys, "export-media", "--study", study, "--from", source.parent,
        "--out", tmp_path / "usb" / "out", "--seal-for", pki.path("client"),
    )  # fmt: skip
    assert (status, err.strip()) == (130, "dicom-courier: interrupted"), err
    assert seen and all(p.is_relative_to(home / "sealing") for p in seen)  # never on the medium
    assert list((home / "sealing").iterdir()) == []  # the plain copy went, the stale one too
    on_the_stick = [p for p in (tmp_path / "usb").rglob("*") if p.is_file()]
    assert not any(p.read_bytes()[128:132] == b"DICM" for p in on_the_stick)  # nothing plain


def test_sealed_media_opened_as_they_are_say_they_are_sealed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    """Tester's F3: the sealed DICOMDIR was called unreadable, each sealed file said alike."""
    from desktop.core.header import SEALED
    from desktop.core.synthetic import SeriesSpec, StudySpec, write_files

    study = StudySpec("S", "Sealed^Disc", "20240101", "s", (SeriesSpec("CT", "ax", count=3),))
    write_files(tmp_path / "media", (study,))
    uid = open_media(tmp_path / "media").patients[0].studies[0].study_instance_uid
    status, _, err = cli(
        capsys, "export-media", "--study", uid, "--from", tmp_path / "media",
        "--out", tmp_path / "cd", "--seal-for", pki.path("client"),
    )  # fmt: skip
    assert status == 0, err
    status, out, _ = cli(capsys, "tree", tmp_path / "cd")
    assert status == 0
    problems = out.split("Problems (4):\n")[1].splitlines()
    assert problems[0] == (
        f"  {tmp_path / 'cd' / 'DICOMDIR'}: the DICOMDIR is {SEALED}; its folder is scanned instead"
    )
    assert problems[1].endswith(f"IM000000 and 2 more files: {SEALED}") and len(problems) == 2


def test_the_keystores_revocation_lists_refuse_a_revoked_signer_and_recipient(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signing_home_copy: Path,
    pki: Pki,
) -> None:
    """Tester's F13 and F14 (round 6): the CRLs of the keystore were checked for TLS only: a
    file signed by a revoked certificate passed unseal --require-signed and verify, and
    patients' data was sealed for a revoked recipient without a word."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from desktop.core.signatures.profiles import Profile
    from desktop.security.signing import Signer
    from desktop.signing import sign_file

    source = ct_copy(tmp_path / "media")
    sealed = tmp_path / "sealed" / "ct.dcm"  # for us, signed by the revoked certificate
    sealed.parent.mkdir()
    revoked_signer = pki.unlocked(pki.revoked, "stolen")
    sealed.write_bytes(seal(source.read_bytes(), pki.client.certificate, revoked_signer))
    revoked = tmp_path / "revoked.pem"
    revoked.write_bytes(pki.revoked.certificate.public_bytes(Encoding.PEM))

    def unseal(out: str) -> tuple[int, str, str]:
        return cli(capsys, "unseal", sealed, "--identity", "courier", "--out",
                   tmp_path / out, "--require-signed")  # fmt: skip

    assert unseal("before")[0] == 0  # no revocation list yet: nothing says otherwise
    assert cli(capsys, "keystore", "import-crl", pki.path("intermediate", ".crl"))[0] == 0
    status, _, err = unseal("after")
    assert status == 1 and "not accepted (revoked): CN=revoked.test" in err, err
    assert "was revoked on" in err and not (tmp_path / "after" / "ct.dcm").exists()
    signed = tmp_path / "signed.dcm"
    sign_file(source, signed, Signer(revoked_signer), profile=Profile.BASE, algorithm="SHA256")
    status, out, _ = cli(capsys, "verify", signed)  # no --crl: the keystore's are used
    assert (
        status == 1 and "REVOKED" in out and "CN=revoked.test,O=DICOM Courier was revoked on" in out
    ), out

    status, _, err = cli(capsys, "seal", source, "--recipient", revoked, "--out", tmp_path / "s")
    assert status == 1 and not (tmp_path / "s").exists()
    assert "refused recipient CN=revoked.test" in err and "was revoked on" in err, err
    assert "by a revocation list of the keystore" in err
    assert cli(capsys, "seal", source, "--recipient", pki.path("client"),
               "--out", tmp_path / "ok")[0] == 0  # fmt: skip

    stolen = pki.path("revoked", ".p12")  # the revoked certificate's identity: it may not sign
    (tmp_path / "p12.pass").write_text(KEY_PASSWORD)
    status, _, err = cli(capsys, "keystore", "import-identity", "stolen", stolen,
                         "--file-password-file", tmp_path / "p12.pass")  # fmt: skip
    assert status == 0 and "warning: CN=revoked.test" in err and "was revoked on" in err, err
    assert "identity stolen may not sign" in err
    for command in (
        ["sign", source, "--identity", "stolen", "--out", tmp_path / "sign"],
        ["seal", source, "--recipient", pki.path("client"), "--sign-with", "stolen",
         "--out", tmp_path / "seal"],
    ):  # fmt: skip
        status, _, err = cli(capsys, *command)
        assert status == 1 and "identity stolen may not sign: CN=revoked.test" in err, err
        assert not (tmp_path / str(command[0])).exists()
