"""auto's choice between packing and sending as stored, from the speeds it measured."""

from pathlib import Path

from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.net.compression import CODECS, Packed
from desktop.net.pipeline import PROBE, RETRY_AFTER, Ahead, Job, Pacer

MB = 1_000_000


def measured(link_seconds_per_mb: float, encode_seconds_per_mb: float, ratio: float) -> Pacer:
    pacer = Pacer(workers=2)
    for _ in range(PROBE):
        pacer.sent_stored(MB, link_seconds_per_mb)
    pacer.encoded(Packed(b"x" * int(MB / ratio), "syntax", MB, encode_seconds_per_mb))
    return pacer


def test_nothing_is_decided_before_both_sides_are_measured() -> None:
    pacer = Pacer(workers=2)
    assert pacer.worth_packing() is None
    pacer.sent_stored(MB, 0.08)
    pacer.sent_stored(MB, 0.08)
    assert pacer.worth_packing() is None


def test_encoders_start_only_once_the_link_is_measured_slow() -> None:
    """Loopback at 0.005 s per MB never loads a codec; 100 Mbit/s (0.08 s) does, after
    the first instances went as stored to measure it."""
    jpeg_ls = CODECS["jpeg-ls-lossless"]
    fast, slow = Pacer(workers=2), Pacer(workers=2)
    for count in range(PROBE):
        assert not slow.worth_starting(jpeg_ls)
        fast.sent_stored(MB, 0.005)
        slow.sent_stored(MB, 0.08 if count else 0.5)
    assert slow.worth_starting(jpeg_ls) and not fast.worth_starting(jpeg_ls)


def test_a_busy_machine_starts_encoders_only_for_a_slower_link() -> None:
    """At a load of 4 tasks per core, the codec gets a quarter of its usual speed: worth it
    at 20 Mbit/s (0.4 s per MB), not at 100 Mbit/s."""
    jpeg_ls = CODECS["jpeg-ls-lossless"]
    for seconds, worth in ((0.08, False), (0.4, True)):
        pacer = Pacer(workers=2, busy=4.0)
        for _ in range(PROBE):
            pacer.sent_stored(MB, seconds)
        assert pacer.worth_starting(jpeg_ls) is worth


def test_a_slow_link_is_worth_packing_for() -> None:
    """100 Mbit/s: 0.08 s per MB as stored; JPEG-LS at 0.02 s per MB on each of 2 cores."""
    assert measured(0.08, 0.02, 2.9).worth_packing() is True


def test_a_link_faster_than_the_encoders_is_not() -> None:
    """Loopback: 0.005 s per MB as stored."""
    assert measured(0.005, 0.02, 2.9).worth_packing() is False


def test_what_packing_really_costs_overrules_the_prediction() -> None:
    """Encoders that stall the sender (the machine is busy) lose to the link after all."""
    pacer = measured(0.08, 0.02, 2.9)
    for _ in range(5):
        pacer.sent_packed(MB, 0.09)
    assert pacer.worth_packing() is False


def test_packing_that_does_not_shrink_is_not_worth_it() -> None:
    """Noise does not compress: a 1.05 ratio saves less than the margin."""
    assert measured(0.08, 0.01, 1.05).worth_packing() is False


def test_auto_starts_no_encoder_before_the_link_is_measured_slow(tmp_path: Path) -> None:
    study = StudySpec("P", "Pacer^Test", "20250101", "pacer", (SeriesSpec("CT", "ax", count=6),))
    files = write_files(tmp_path, (study,))
    jobs = {i: Job(str(path), 0, "") for i, path in enumerate(files)}
    ahead = Ahead(jobs, CODECS["jpeg-ls-lossless"], auto=True, busy=0.0)
    try:
        for position in range(PROBE):
            assert ahead.take(position) == (None, 0.0)
            assert ahead.executor is None and not ahead.futures
            ahead.sent(None, MB, 0.08)  # 100 Mbit/s
        ahead.take(PROBE)
        assert ahead.executor is not None and set(ahead.futures) == set(range(PROBE + 1, 6))
    finally:
        ahead.close()


def test_auto_measures_again_a_while_after_it_stopped_packing(tmp_path: Path) -> None:
    study = StudySpec("P", "Pacer^Again", "20250101", "pacer", (SeriesSpec("CT", "ax", count=2),))
    files = write_files(tmp_path, (study,))
    count = PROBE + RETRY_AFTER + 2
    jobs = {i: Job(str(files[i % 2]), 0, "") for i in range(count)}
    ahead = Ahead(jobs, CODECS["jpeg-ls-lossless"], auto=True, busy=0.0)
    try:
        for position in range(PROBE):
            ahead.take(position)
            ahead.sent(None, MB, 0.4)  # 20 Mbit/s
        ahead.take(PROBE)
        assert ahead.started
        ahead.back_off()
        assert ahead.take(PROBE + 1) == (None, 0.0) and ahead.executor is None
        ahead.take(PROBE + RETRY_AFTER)
        assert not ahead.backed_off and not ahead.started  # measuring the link again
        assert ahead.pacer is not None and ahead.pacer.stored is None
    finally:
        ahead.close()


def test_one_stall_of_a_busy_machine_does_not_stop_packing() -> None:
    """A packed instance held up 16 times as long among quick ones (seen at load 4 on
    100 Mbit/s) is one of the last WINDOW weighed, not the verdict."""
    pacer = measured(0.08, 0.02, 2.9)
    for seconds in (0.05, 0.04, 0.04, 0.04, 0.04, 0.65):
        pacer.sent_packed(MB, seconds)
    assert pacer.worth_packing() is True


def test_one_stalled_instance_does_not_make_loopback_look_slow() -> None:
    """Loopback at 0.005 s per MB, one instance of the probe held up by a busy machine."""
    jpeg_ls = CODECS["jpeg-ls-lossless"]
    for first, second in ((0.005, 0.07), (0.07, 0.005)):
        pacer = Pacer(workers=2)
        pacer.sent_stored(MB, first)
        pacer.sent_stored(MB, second)
        assert not pacer.worth_starting(jpeg_ls)


def test_the_first_packing_is_waited_for_while_it_likely_saves_time(tmp_path: Path) -> None:
    """On a link measured slow (20 s an instance as stored), the instance after the one that
    started the encoders goes packed though its packing (~0.2 s) had only begun when its turn
    came."""
    series = SeriesSpec("CT", "ax", count=PROBE + 2, rows=1536, columns=1536)
    files = write_files(tmp_path, (StudySpec("P", "Pacer^Wait", "20250101", "pacer", (series,)),))
    jobs = {i: Job(str(path), path.stat().st_size, "") for i, path in enumerate(files)}
    ahead = Ahead(jobs, CODECS["jpeg-ls-lossless"], auto=True, busy=0.0)
    try:
        for position in range(PROBE):
            ahead.take(position)
            ahead.sent(None, jobs[position].size, 20.0)
        assert ahead.take(PROBE) == (None, 0.0)  # starts the encoders: this one goes as stored
        packed, waited = ahead.take(PROBE + 1)  # taken at once: its packing had just begun
        assert packed is not None and packed.data is not None and 0 < waited < 20.0
    finally:
        ahead.close()
