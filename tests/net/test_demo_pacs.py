"""The demo PACS (our own listener on the demo's home) serves query/retrieve once stocked with
the sample media, so the GUI's Query/Retrieve tab has something to find and retrieve."""

from pathlib import Path
from typing import Any

import pytest

from desktop.app import InboxSettings, Services
from desktop.core.synthetic import DEMO_STUDIES
from desktop.demo import DEMO_AE, DEMO_NODE, prepare_demo, stock_pacs
from desktop.net.get import get
from desktop.net.query import find, move
from desktop.net.scp import ListenerSettings


def test_the_demo_pacs_answers_find_move_and_get_over_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = prepare_demo(tmp_path / "demo", media_cache=tmp_path / "cache")
    monkeypatch.setenv("DICOM_COURIER_HOME", str(demo.home))
    services = Services(demo.home, lambda new: demo.password)
    records: list[dict[str, Any]] = []
    services.start_inbox(InboxSettings(DEMO_AE, demo.port, identity="demo-pacs"), records.append)
    try:
        stock_pacs(services.store, demo.media).wait()
        _, connector, peer = services.connection(DEMO_NODE)
        studies = list(find(connector, peer, "study", {}))
        assert len(studies) == len(DEMO_STUDIES)
        assert {str(s.PatientName) for s in studies} == {s.patient_name for s in DEMO_STUDIES}
        uid = str(next(s for s in studies if s.StudyDescription == "MR Brain").StudyInstanceUID)
        # The GUI's Retrieve moves to the Inbox's AE title: the demo node itself.
        last = list(move(connector, peer, DEMO_AE, uid))[-1]
        assert last.status.code == 0 and last.completed >= 1 and not last.failed
        settings = ListenerSettings("COURIER", out=tmp_path / "got")
        got = list(get(connector, peer, settings, records.append, study_uid=uid))[-1]
        assert got.status.code == 0 and got.completed == last.completed
        assert len(list((tmp_path / "got").rglob("*.dcm"))) == got.completed
    finally:
        services.stop_inbox()
        services.store.close()
