"""The log is a bounded model: after more entries than it keeps, row N still shows entry N."""

from desktop.ui.widgets.log import MAX_ENTRIES, LogPanel


def test_row_n_shows_entry_n_after_more_than_the_limit(qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = LogPanel()
    qtbot.addWidget(panel)
    total = MAX_ENTRIES + 2_500
    for n in range(total):
        panel.add("error" if n % 10 == 0 else "info", f"node{n % 3}", f"entry {n}")
    assert panel.filter.rowCount() == MAX_ENTRIES
    first = total - MAX_ENTRIES
    for row in (0, 1, 4_321, MAX_ENTRIES - 1):
        assert panel.filter.index(row, 3).data() == f"entry {first + row}"
    panel.table.selectRow(4_321)
    assert panel.details.toPlainText() == f"entry {first + 4_321}"
    panel.level_filter.setCurrentText("error")
    panel.node_filter.setCurrentText("node0")  # every 30th entry
    shown = [panel.filter.index(r, 3).data() for r in range(panel.filter.rowCount())]
    expected = [f"entry {n}" for n in range(first, total) if n % 30 == 0]
    assert shown == expected
    panel.table.selectRow(2)
    assert panel.details.toPlainText() == expected[2]
