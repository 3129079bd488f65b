"""Compressing for the wire (issue #14): lossless, decided by what the peer accepts, with real
peers over mutual TLS: DCMTK's storescp told to accept JPEG-LS (+xt) or RLE (+xr), and our own
listener, which accepts every syntax. Pixels are compared as decoded arrays."""

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless, RLELossless

from desktop.connect import listener_tls
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.security.keystore import Keystore
from desktop.security.tls import Profile
from tests.helpers import cli, node_add, sample_file
from tests.net.conftest import PASSWORD, Scp, make_study
from tests.peers import free_port, running, storescp_tls_command
from tests.pki import KEY_PASSWORD, Pki

pytestmark = pytest.mark.dcmtk


def storescp_accepting(pki: Pki, tmp_path: Path, option: str) -> Iterator[Scp]:
    port, out = free_port(), tmp_path / f"received{option}"
    log = tmp_path / f"storescp{option}.log"
    out.mkdir()
    command = storescp_tls_command(pki, out, port)
    command.insert(1, option)
    with running(command, port, log):
        yield Scp(port, out, log)


@pytest.fixture
def storescp_jpeg_ls(pki: Pki, tmp_path: Path) -> Iterator[Scp]:
    """storescp preferring JPEG-LS lossless (and still accepting uncompressed)."""
    yield from storescp_accepting(pki, tmp_path, "+xt")


@pytest.fixture
def storescp_rle(pki: Pki, tmp_path: Path) -> Iterator[Scp]:
    yield from storescp_accepting(pki, tmp_path, "+xr")


@pytest.fixture
def listener(home: Path, tmp_path: Path, pki: Pki) -> Iterator[StorageListener]:
    keystore = Keystore(home, lambda new: PASSWORD)
    keystore.import_identity("scp", pki.path("server", ".p12"), file_password=KEY_PASSWORD)
    settings = ListenerSettings("COURIER", "127.0.0.1", 0, tmp_path / "inbox", [])
    settings.tls_context, acceptor = listener_tls(keystore, "scp", Profile.BCP195_ND)
    server = StorageListener(settings, lambda record: None, acceptor).start()
    yield server
    server.stop()


def varied_instances(folder: Path) -> list[Path]:
    """16-bit signed CT, 16-bit unsigned multi-frame, 8-bit RGB multi-frame, 8-bit grey."""
    study = StudySpec(
        "WAN-1",
        "Wan^Test",
        "20250101",
        "compression",
        (
            SeriesSpec("CT", "signed 16-bit", count=2, rows=96, columns=80),
            SeriesSpec("XA", "unsigned 16-bit cine", count=1, rows=64, columns=48, frames=3),
            SeriesSpec("US", "RGB cine", count=1, rows=40, columns=56, frames=2, color=True),
        ),
    )
    files = write_files(folder, (study,))
    grey = pydicom.dcmread(files[0])
    grey.BitsAllocated, grey.BitsStored, grey.HighBit, grey.PixelRepresentation = 8, 8, 7, 0
    grey.PixelData = (np.arange(96 * 80) % 251).astype(np.uint8).tobytes()
    grey.SOPInstanceUID = grey.SOPInstanceUID + ".8"
    grey.save_as(folder / "grey8.dcm", enforce_file_format=True)
    return [*files, folder / "grey8.dcm"]


def received_by_uid(folder: Path) -> dict[str, pydicom.Dataset]:
    datasets = [pydicom.dcmread(p) for p in folder.rglob("*") if p.is_file()]
    return {str(d.SOPInstanceUID): d for d in datasets}


def assert_same_pixels(sources: list[Path], folder: Path, syntax: str) -> None:
    received = received_by_uid(folder)
    assert len(received) == len(sources)
    for path in sources:
        source = pydicom.dcmread(path)
        copy = received[str(source.SOPInstanceUID)]
        assert copy.file_meta.TransferSyntaxUID == syntax, path.name
        assert copy.pixel_array.dtype == source.pixel_array.dtype, path.name
        assert np.array_equal(copy.pixel_array, source.pixel_array), path.name


def send(capsys: pytest.CaptureFixture[str], port: int, ae: str, *args: object) -> str:
    status, out, err = cli(capsys, *node_add("peer", ae, port, "--tls", "--identity", "courier"))
    assert status == 0, err
    status, out, err = cli(capsys, "send", "peer", *args)
    assert status == 0, out + err
    return out


def test_jpeg_ls_to_storescp_is_lossless(
    capsys: pytest.CaptureFixture[str], home: Path, storescp_jpeg_ls: Scp, tmp_path: Path
) -> None:
    sources = varied_instances(tmp_path / "study")
    out = send(
        capsys,
        storescp_jpeg_ls.port,
        "DCMTK_SCP",
        tmp_path / "study",
        "--compress",
        "jpeg-ls-lossless",
    )
    assert f"compressed {len(sources)} instance(s) with JPEG-LS lossless" in out
    assert_same_pixels(sources, storescp_jpeg_ls.out, JPEGLSLossless)


def test_j2k_to_our_listener_is_lossless_and_compressed_files_go_as_stored(
    capsys: pytest.CaptureFixture[str], home: Path, listener: StorageListener, tmp_path: Path
) -> None:
    sources = varied_instances(tmp_path / "study")
    stored = tmp_path / "study" / "j2k.dcm"
    shutil.copy(sample_file("JPEG2000.dcm"), stored)
    out = send(capsys, listener.port, "COURIER", tmp_path / "study", "--compress", "j2k-lossless")
    assert f"compressed {len(sources)} instance(s) with JPEG 2000 lossless" in out
    inbox = tmp_path / "inbox"
    as_stored = received_by_uid(inbox).pop(str(pydicom.dcmread(stored).SOPInstanceUID))
    assert (
        as_stored.file_meta.TransferSyntaxUID == pydicom.dcmread(stored).file_meta.TransferSyntaxUID
    )
    assert as_stored.PixelData == pydicom.dcmread(stored).PixelData
    stored.unlink()
    received = {p for p in inbox.rglob("*") if p.is_file() and "j2k" not in p.name}
    assert len(received) == len(sources) + 1
    for path in received:
        if pydicom.dcmread(path).SOPInstanceUID == as_stored.SOPInstanceUID:
            path.unlink()
    assert_same_pixels(sources, inbox, JPEG2000Lossless)


def test_rle_to_storescp_is_lossless(
    capsys: pytest.CaptureFixture[str], home: Path, storescp_rle: Scp, tmp_path: Path
) -> None:
    sources = varied_instances(tmp_path / "study")
    out = send(capsys, storescp_rle.port, "DCMTK_SCP", tmp_path / "study", "--compress", "rle")
    assert f"compressed {len(sources)} instance(s) with RLE lossless" in out
    assert_same_pixels(sources, storescp_rle.out, RLELossless)


def test_auto_picks_the_best_codec_the_peer_accepts(
    home: Path, storescp_rle: Scp, storescp_jpeg_ls: Scp, tmp_path: Path
) -> None:
    """storescp +xr refuses JPEG-LS and JPEG 2000 and accepts RLE; +xt accepts JPEG-LS."""
    from desktop.commands.transfer import items_from
    from desktop.connect import node_connector
    from desktop.core.config import Node
    from desktop.core.media import open_media
    from desktop.net.association import Association
    from desktop.net.compression import codecs_for
    from desktop.net.store import choose_packing, plan_associations

    varied_instances(tmp_path / "study")
    items, _ = items_from([open_media(tmp_path / "study")], None, None)
    keystore = Keystore(home, lambda new: PASSWORD)
    chosen = []
    for scp in (storescp_rle, storescp_jpeg_ls):
        node = Node("peer", "DCMTK_SCP", "127.0.0.1", scp.port, tls=True, identity="courier")
        [plan] = plan_associations(items, codecs_for("auto"))
        association = Association.request(
            node_connector(node, keystore)(), "DCMTK_SCP", "COURIER", plan.contexts
        )
        ahead = choose_packing(association, plan, auto=True)
        assert ahead is not None
        chosen.append(ahead.codec.syntax)
        ahead.close()
        association.release()
    assert chosen == [RLELossless, JPEGLSLossless]


def test_auto_to_storescp_is_lossless(
    capsys: pytest.CaptureFixture[str], home: Path, storescp_jpeg_ls: Scp, tmp_path: Path
) -> None:
    """On loopback auto may send some or all as stored: every copy is exact either way."""
    sources = varied_instances(tmp_path / "study")
    send(capsys, storescp_jpeg_ls.port, "DCMTK_SCP", tmp_path / "study", "--compress", "auto")
    received = received_by_uid(storescp_jpeg_ls.out)
    for path in sources:
        source = pydicom.dcmread(path)
        copy = received[str(source.SOPInstanceUID)]
        assert copy.file_meta.TransferSyntaxUID in (JPEGLSLossless, ExplicitVRLittleEndian)
        assert np.array_equal(copy.pixel_array, source.pixel_array)


def test_a_file_changed_since_queued_is_not_compressed_nor_sent(
    home: Path, storescp_jpeg_ls: Scp, tmp_path: Path
) -> None:
    from desktop.connect import node_connector
    from desktop.core.config import Node
    from desktop.net.store import Peer, StoreItem, StoreOutcome, file_sha256, store

    [path, *_] = varied_instances(tmp_path / "study")
    source = pydicom.dcmread(path)
    item = StoreItem(
        path,
        source.SOPClassUID,
        source.SOPInstanceUID,
        source.file_meta.TransferSyntaxUID,
        path.stat().st_size,
        file_sha256(path),
    )
    with path.open("r+b") as handle:
        handle.seek(-2, 2)
        handle.write(b"\x01\x02")
    node = Node(
        "peer", "DCMTK_SCP", "127.0.0.1", storescp_jpeg_ls.port, tls=True, identity="courier"
    )
    keystore = Keystore(home, lambda new: PASSWORD)
    records = list(
        store(
            node_connector(node, keystore),
            Peer("DCMTK_SCP", "COURIER"),
            [item],
            compress="jpeg-ls-lossless",
        )
    )
    [outcome] = [r for r in records if isinstance(r, StoreOutcome)]
    assert not outcome.ok and "SHA-256 differs" in outcome.message
    assert not any(storescp_jpeg_ls.out.iterdir())


def test_a_node_keeps_its_compression(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    status, out, _ = cli(capsys, *node_add("peer", "PEER", 104, "--compress", "auto"))
    assert status == 0 and "compresses auto" in out
    status, out, _ = cli(capsys, "node", "list", "--json")
    assert json.loads(out)[0]["compress"] == "auto"
    status, out, _ = cli(capsys, "node", "edit", "peer", "--compress", "none")
    assert "compresses" not in out
    with pytest.raises(SystemExit):
        cli(capsys, "node", "edit", "peer", "--compress", "zip")
    assert "invalid choice: 'zip'" in capsys.readouterr().err


IMPORTED_AFTER = """
import sys
from desktop.cli import main
try:
    main(sys.argv[2:])
except SystemExit:
    pass
print(",".join(sorted(m for m in sys.argv[1].split(",") if m in sys.modules)))
"""


def test_jpeg_ls_of_grey_images_loads_neither_numpy_pydicom_nor_multiprocessing(
    capsys: pytest.CaptureFixture[str], home: Path, storescp_jpeg_ls: Scp, tmp_path: Path
) -> None:
    """CharLS is called straight from the files' bytes and its thread pool needs no
    process machinery: a send that compresses starts as light as one that does not."""
    make_study(tmp_path / "study", count=3)
    options = ("--tls", "--identity", "courier")
    cli(capsys, *node_add("pacs", "DCMTK_SCP", storescp_jpeg_ls.port, *options))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            IMPORTED_AFTER,
            "numpy,pydicom,multiprocessing,jpeg_ls",
            *("send", "pacs", str(tmp_path / "study"), "--compress", "jpeg-ls-lossless"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "compressed 3 instance(s) with JPEG-LS lossless" in result.stdout
    assert result.stdout.splitlines()[-1] == ""
