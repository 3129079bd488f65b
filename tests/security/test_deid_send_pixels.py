"""Burned-in text on a de-identifying send (F19): with the pixels not searched (off, the
default) the images whose header says they may show text are held back, each named with why,
and the rest sent; with auto the text found is masked before the copies leave; review needs
a person and is refused for the queue's unattended sends. The queue, the history and the audit
trail say whether the pixels were searched."""

from pathlib import Path

import numpy as np
import pydicom
import pytest

from desktop.core.audit.store import AuditLog
from desktop.net.queue import TransferQueue
from tests.burned_in import Score, write_samples
from tests.core.deid.test_study import write_study
from tests.helpers import cli, node_add
from tests.peers import free_port, storescp_plain


@pytest.fixture
def home(signing_home_copy: Path) -> Path:
    return signing_home_copy


def test_unsearched_images_that_may_show_text_are_held_back_with_the_reason(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    burned = write_samples(tmp_path / "burned", 2)
    write_study(tmp_path / "plain", 2)
    port, received = free_port(), tmp_path / "received"
    assert cli(capsys, *node_add("Research", "DCMTK_SCP", port))[0] == 0
    with storescp_plain(received, port):
        status, out, err = cli(capsys, "send", "Research", tmp_path / "burned",
                               tmp_path / "plain", "--deid")  # fmt: skip
    assert status == 1  # not everything asked for was sent
    for path, _ in burned:
        assert f"{path}: not sent: its pixels may hold burned-in text (" in err
    assert "modality US" in err and "Secondary Capture" in err
    assert "2 of 4 images held back: their pixels may show the patient's name" in err
    assert "--pixels auto" in err
    assert "sent 2 of 4; 2 held back: may show burned-in text" in out  # not "2 of 2"
    assert "pixels not searched" in out
    modalities = {pydicom.dcmread(p).Modality for p in received.iterdir()}
    assert len(list(received.iterdir())) == 2 and not modalities & {"US", "SC", "OT"}
    [job] = TransferQueue(home / "queue.sqlite").jobs()
    assert "pixels not searched: images that may show burned-in text held back" in job.deidentified
    _, history, _ = cli(capsys, "history")
    assert "pixels not searched" in history
    [done] = [e for e in AuditLog(home / "audit").entries() if e.event == "110104"]
    assert "pixels not searched" in done.summary


def test_auto_masks_the_text_found_before_the_copies_leave(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [(source, sample)] = write_samples(tmp_path / "burned", 1)
    port, received = free_port(), tmp_path / "received"
    status, out, err = cli(capsys, *node_add("Research", "DCMTK_SCP", port, "--deid",
                           "--deid-pixels", "auto"))  # fmt: skip
    assert status == 0, err
    assert "de-identifies copies (no option), burned-in text masked" in out
    with storescp_plain(received, port):
        status, out, err = cli(capsys, "send", "Research", source)
    assert status == 0, err
    assert (
        "sent 1 of 1" in out and "pixels searched for burned-in text, the text found masked" in out
    )
    [copy] = received.iterdir()
    before, after = pydicom.dcmread(source).pixel_array, pydicom.dcmread(copy).pixel_array
    changed = (before != after).any(axis=-1)
    score = Score()
    score.add_mask(sample, changed if changed.ndim == 2 else np.any(changed, axis=0))
    assert score.identifying and score.masked == score.identifying  # every identifying text


def test_review_is_refused_on_a_send_and_for_a_node(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [(source, _)] = write_samples(tmp_path / "burned", 1)
    assert cli(capsys, *node_add("Research", "DCMTK_SCP", free_port()))[0] == 0
    status, _, err = cli(capsys, "send", "Research", source, "--deid", "--pixels", "review")
    assert status != 0 and "burned-in text cannot be reviewed on a send" in err
    assert "dicom-courier deid --pixels review" in err
    status, _, err = cli(capsys, "send", "Research", source, "--pixels", "auto")
    assert (
        status != 0
        and "--pixels says how a de-identifying send treats burned-in text: add --deid" in err
    )
    status, _, err = cli(capsys, "node", "edit", "Research", "--deid", "--deid-pixels", "review")
    assert status != 0 and "burned-in text cannot be reviewed on a send" in err
    assert TransferQueue(home / "queue.sqlite").jobs() == []
