"""Where a send over TLS idles on the wire: a tcpdump capture of one connection, cut into
instances by the peer's answers.

On a loopback shaped by tc, tcpdump sees a packet as it leaves the queue: its time is the
wire's. TLS hides the PDUs, but a DIMSE requestor waits for each C-STORE-RSP, so the client's
data packets between two of the server's payload packets are one instance, and what lies
between them is idle link: the tail (the last byte of instance n until its response leaves
the peer) and the turn (the response until the first byte of instance n+1).
"""

import itertools
import re
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

LINE = re.compile(
    r"^(?P<time>\d+\.\d+) IP (?P<src>[\d.]+)\.(?P<sport>\d+) > (?P<dst>[\d.]+)\.(?P<dport>\d+): "
    r"Flags \[(?P<flags>[^\]]*)\].*?length (?P<length>\d+)"
)
INSTANCE = 20_000  # bytes: a burst of client data this large is an instance, not a control PDU
FRAMING = 1514 / 1448  # what tbf counts per TCP payload byte at MTU 1500 (headers, timestamps)


@dataclass(frozen=True, slots=True)
class Burst:
    """Client data between two server answers."""

    first: float
    last: float
    size: int
    answer: float  # the server's first payload packet after it (inf when none came)


@dataclass(frozen=True, slots=True)
class Timeline:
    syn: float
    first_instance: float  # first byte of the first instance
    bursts: list[Burst]
    fin: float  # the client's FIN (or the last packet)

    def summary(
        self, launched: float | None = None, ended: float | None = None, rate: float = 0.0
    ) -> list[str]:
        instances = [b for b in self.bursts if b.size >= INSTANCE]
        if not instances:
            return ["no instance on the wire"]
        tails = [(b.answer - b.last) * 1000 for b in instances if b.answer != float("inf")]
        turns = [
            (following.first - before.answer) * 1000
            for before, following in itertools.pairwise(instances)
        ]
        busy = sum(b.last - b.first for b in instances)
        last = instances[-1]
        lines = []
        if launched is not None:
            lines.append(f"process start to SYN: {(self.syn - launched) * 1000:7.1f} ms")
        lines += [
            f"SYN to first instance byte: {(self.first_instance - self.syn) * 1000:7.1f} ms",
            f"{len(instances)} instances, {sum(b.size for b in instances) / 1e6:.1f} MB on the "
            f"wire in {busy:.2f} s of bursts, first byte to last "
            f"{last.last - instances[0].first:.2f} s",
            f"idle after an instance's last byte until its answer: median {_median(tails)} ms, "
            f"total {sum(tails) / 1000:.2f} s",
            f"answer to the next instance's first packet out of the token bucket: median "
            f"{_median(turns)} ms, total {sum(turns) / 1000:.2f} s, worst "
            f"{max(turns, default=0):.1f} ms (a large first packet leaves when the bucket has "
            "refilled for all of it)",
            f"last answer to FIN: {(self.fin - last.answer) * 1000:7.1f} ms",
        ]
        if rate:  # the link's own account: time from first to last byte not spent sending
            span = last.last - instances[0].first
            sending = sum(b.size for b in instances[1:]) * 8 * FRAMING / rate
            idle = span - sending
            lines.append(
                f"link idle between the first and the last instance byte: {idle:.2f} s, "
                f"{idle / max(len(instances) - 1, 1) * 1000:.2f} ms per instance (peer's and ours)"
            )
        if ended is not None:
            lines.append(f"FIN to process exit: {(ended - self.fin) * 1000:7.1f} ms")
        slow = sorted(range(len(turns)), key=lambda i: -turns[i])[:5]
        lines.append(
            "slowest turns (instance: ms): "
            + ", ".join(f"{i + 1}: {turns[i]:.1f}" for i in sorted(slow))
        )
        sizes = [b.size for b in instances]
        lines.append(
            "bytes per instance on the wire: first 8 "
            + " ".join(f"{s // 1000}k" for s in sizes[:8])
            + f"; over 300 KB: {sum(s > 300_000 for s in sizes)}"
        )
        return lines


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def read(capture: Path, server_port: int) -> Timeline:
    """The timeline of the one connection to ``server_port`` in ``capture``."""
    text = subprocess.run(
        ["tcpdump", "-r", str(capture), "-tt", "-n", "-S"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    syn = fin = 0.0
    bursts: list[Burst] = []
    first = last = 0.0
    size = 0
    for line in text.splitlines():
        match = LINE.match(line)
        if match is None:
            continue
        when, length = float(match["time"]), int(match["length"])
        to_server = int(match["dport"]) == server_port
        if to_server and "S" in match["flags"] and not syn:
            syn = when
        if to_server and "F" in match["flags"]:
            fin = fin or when
        if not length:
            continue
        if to_server:
            if not size:
                first = when
            last, size = when, size + length
        elif size:
            bursts.append(Burst(first, last, size, when))
            size = 0
    if size:
        bursts.append(Burst(first, last, size, float("inf")))
    start = next((b.first for b in bursts if b.size >= INSTANCE), syn)
    return Timeline(syn, start, bursts, fin or last)
