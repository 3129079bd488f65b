"""Instances received are reported per sender and study, after a quiet moment or at close."""

import threading
from collections import Counter

from desktop.core.audit.events import Node, Study
from desktop.core.audit.receipts import Receipts

CT = "1.2.840.10008.5.1.4.1.1.2"


def test_one_report_per_sender_and_study_at_close() -> None:
    reports: list[tuple[Node, Study]] = []
    receipts = Receipts(lambda sender, study: reports.append((sender, study)), quiet=60)
    modality, other = Node("MODALITY", "192.0.2.1"), Node("OTHER", "192.0.2.2")
    for sender, study in ((modality, "1.1"), (modality, "1.1"), (modality, "1.2"), (other, "1.1")):
        receipts.add(sender, Study(study, "P", sop_classes=Counter({CT: 1})))
    assert reports == []  # still within the quiet period
    receipts.close()
    counts = {(s.ae_title, study.study_uid): study.sop_classes[CT] for s, study in reports}
    assert counts == {("MODALITY", "1.1"): 2, ("MODALITY", "1.2"): 1, ("OTHER", "1.1"): 1}


def test_a_quiet_sender_is_reported_without_close() -> None:
    done = threading.Event()
    receipts = Receipts(lambda sender, study: done.set(), quiet=0.1)
    receipts.add(Node("MODALITY", ""), Study("1.1", sop_classes=Counter({CT: 1})))
    assert done.wait(5)
