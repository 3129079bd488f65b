"""What the listener leaves behind: a bounded history, a rate limit per peer."""

import stat
from pathlib import Path

from desktop.net.history import History
from desktop.net.ratelimit import PeerLimiter


def test_history_is_rotated_and_bounded(tmp_path: Path) -> None:
    history = History(tmp_path / "history.jsonl", max_bytes=4000, keep=2)
    for number in range(1000):
        history.append({"event": "handshake", "number": number, "peer": "127.0.0.1:1"})
    files = sorted(tmp_path.iterdir())
    assert [p.name for p in files] == ["history.jsonl", "history.jsonl.1", "history.jsonl.2"]
    assert sum(p.stat().st_size for p in files) < 3 * 4000 + 200
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    numbers = [r["number"] for r in history.read()]
    assert numbers == list(range(numbers[0], 1000)) and numbers[0] > 800


def test_limiter_counts_what_it_left_out() -> None:
    now = [0.0]
    limiter = PeerLimiter(per_window=2, window=60, clock=lambda: now[0])
    assert [limiter.allow("10.0.0.1") for _ in range(5)] == [0, 0, None, None, None]
    assert limiter.allow("10.0.0.2") == 0  # another peer has its own allowance
    now[0] = 61
    assert limiter.allow("10.0.0.1") == 3
